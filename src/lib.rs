//! Azure Web PubSub for Rust.
//!
//! A whole app in one page: an axum server whose [`handler::WebPubSubLayer`] answers a client's
//! events, the [`rest`] client that talks to the service, the in-process emulator (`webpubsub::emulator`,
//! the `emulator` feature) standing in for Azure, and a Rust [`client`] connecting to it. On Azure, only the connection string
//! changes (`WEBPUBSUB_CONNECTION_STRING`), and the hub's event handler is set to the app's
//! `/eventhandler` in the portal.
//!
//! ```
//! use webpubsub::client::WebPubSubClient;
//! use webpubsub::emulator::{Emulator, HubSettings};
//! use webpubsub::handler::{EventError, EventHandler, UserEventRequest, UserEventResponse, WebPubSubLayer};
//! use webpubsub::rest::WebPubSubServiceClient;
//!
//! /// Answers every `echo` event with the text it got.
//! struct Echo;
//!
//! impl EventHandler for Echo {
//!     async fn on_user_event(
//!         &self,
//!         request: UserEventRequest,
//!     ) -> Result<UserEventResponse, EventError> {
//!         let user = request.context().user_id().unwrap_or("someone");
//!         Ok(UserEventResponse::text(format!("{user} said {}", request.text()?)))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The app's port, and the emulator bound (not yet started) with the app as the hub's handler.
//! let app = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let emulator = Emulator::builder()
//!     .hub(HubSettings::new("chat").upstream(format!("http://{}/eventhandler", app.local_addr()?)))
//!     .bind()
//!     .await?;
//! // The layer and the REST client take the same connection string (text or parsed).
//! let connection_string = emulator.connection_string();
//!
//! // The app: the layer answers on /eventhandler, checks the service's signatures, and passes
//! // every other request on to the app's own routes.
//! let events = WebPubSubLayer::new(Echo)
//!     .path("/eventhandler")
//!     .hub("chat")
//!     .connection_string(&connection_string)?;
//! let router = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "the app's own page" }))
//!     .layer(events);
//! tokio::spawn(async move { axum::serve(app, router).await });
//! let emulator = emulator.start().await?;
//!
//! // Commands out: the REST client mints a client URL (and sends, manages groups, ...).
//! let service = WebPubSubServiceClient::from_connection_string(&connection_string, "chat")?;
//! let token = service.client_access_token().user_id("ada").await?;
//!
//! // A client connects and sends an event; the app's handler answers it.
//! let (client, _events) = WebPubSubClient::builder(token.url()).build();
//! client.start().await?;
//! let answer = client.invoke_event("echo", "hello").await?;
//! assert_eq!(answer, Some("ada said hello".into()));
//! client.stop().await;
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Where to go next: [`handler`] for the events and their answers (and how to mount the layer
//! in axum, hyper or a tower stack), [`rest`] for every operation of the REST API,
//! `emulator` (the `emulator` feature) for local runs, tests and its live trace page.
//!
//! This facade gathers the project's crates under one name:
//!
//! | module | crate | what it is for |
//! |---|---|---|
//! | [`handler`] | `webpubsub-tower` | events in: the tower layer that serves the event-handler protocol |
//! | [`rest`] | `webpubsub-rest` | commands out: the data-plane REST API and client access tokens |
//! | [`tunnel`] | `webpubsub-tunnel` | events in, with no public endpoint: the app dials the service's tunnel and serves its events through any tower service |
//! | [`client`] | `webpubsub-client` | clients: the Web PubSub client protocol for Rust apps, with reliable recovery |
//! | [`grpc`] | `webpubsub-grpc` | events in over gRPC: the app registers with the service and serves the same handler (feature `grpc`, on by default) |
//! | `emulator` | `webpubsub-emulator` | the service itself, in-process, for local runs and tests (feature `emulator`, opt-in: `webpubsub = { version = "0.1", features = ["emulator"] }`) |
//! | [`protocol`] | `webpubsub-protocol` | what they all agree on: connection strings, keys, signatures, tokens, events, frames, filters |
//!
//! Each crate can also be used on its own. The feature `testing` adds `handler::testing`: signed
//! events as the service sends them, to test a handler (see its "Testing your handler").

pub use webpubsub_client as client;
pub use webpubsub_protocol as protocol;
pub use webpubsub_rest as rest;
pub use webpubsub_tower as handler;
pub use webpubsub_tunnel as tunnel;

#[cfg(feature = "emulator")]
pub use webpubsub_emulator as emulator;

#[cfg(feature = "grpc")]
pub use webpubsub_grpc as grpc;

pub use webpubsub_protocol::{
    AccessKey, ConnectionString, ConnectionStringError, IntoConnectionString,
};

// The README's examples are compiled as doctests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
