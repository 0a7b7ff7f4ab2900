//! A tower [`Layer`](tower_layer::Layer) that serves the Azure Web PubSub event-handler protocol
//! (CloudEvents over HTTP) and hands typed events to your [`EventHandler`].
//!
//! The service calls your server's event-handler URL for every client event: `connect`,
//! `connected`, user events, `disconnected`, group joins and leaves. [`WebPubSubLayer`] owns that
//! path: it answers the abuse-protection handshake, checks `ce-signature`, reads the `ce-*`
//! headers and the body, calls the handler, and turns its answer back into HTTP. Every other
//! request passes to the inner service untouched, so the layer fits axum, a
//! `tower::ServiceBuilder` stack or a bare hyper service alike.
//!
//! # Example
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt as _;
//! use webpubsub_tower::{
//!     ConnectRequest, ConnectResponse, EventError, EventHandler, UserEventRequest,
//!     UserEventResponse, WebPubSubLayer,
//! };
//!
//! struct Echo;
//!
//! impl EventHandler for Echo {
//!     async fn on_connect(&self, request: ConnectRequest) -> Result<ConnectResponse, EventError> {
//!         Ok(ConnectResponse::new().user_id(request.context().connection_id()))
//!     }
//!
//!     async fn on_user_event(&self, request: UserEventRequest) -> Result<UserEventResponse, EventError> {
//!         Ok(UserEventResponse::text(request.text().unwrap_or("<binary>")))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Router::new()
//!     .route("/", get(|| async { "the rest of the app" }))
//!     .layer(WebPubSubLayer::new(Echo).path("/eventhandler").hub("chat"));
//! // In production also give the keys: `.connection_string(&cs)` (see WebPubSubLayer).
//!
//! // What the service sends when a client sends "hi":
//! let event = Request::post("/eventhandler")
//!     .header("ce-type", "azure.webpubsub.user.message")
//!     .header("ce-hub", "chat")
//!     .header("ce-connectionId", "conn1")
//!     .header("content-type", "text/plain")
//!     .body(Body::from("hi"))?;
//! let response = app.clone().oneshot(event).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! // Other paths reach the router.
//! let page = app.oneshot(Request::get("/").body(Body::empty())?).await?;
//! assert_eq!(page.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```
//!
//! # Status map
//!
//! On the layer's path:
//!
//! | request | answer |
//! |---|---|
//! | `OPTIONS` with an allowed `WebHook-Request-Origin` (several, comma/space separated, allowed) | `200`, `WebHook-Allowed-Origin` (the matched origin, or `*` when no origin is configured), `Allow: POST` |
//! | `OPTIONS` with a missing or disallowed origin | `400` |
//! | another method than `POST`/`OPTIONS` | `405`, `Allow: OPTIONS, POST` |
//! | missing or malformed `ce-type`/`ce-hub`/`ce-connectionId`, an unknown `ce-type`, a bad `ce-connectionState`, a body that is not the event's JSON | `400` |
//! | `ce-signature` missing or matching no configured key (when keys are configured) | `401` |
//! | a hub this layer does not serve (checked after the signature: who holds no key cannot tell served hubs from others; the handshake answers by origin alone) | `404` |
//! | a body over the limit (by `Content-Length` or while streaming) | `413` |
//! | a user event whose `Content-Type` is not `text/plain`, `application/json`, `application/octet-stream` or `application/x-protobuf` | `415` |
//! | a user event whose `text/plain` data is not UTF-8, or whose `application/json` data does not parse (the handler is not called) | `400` |
//! | the handler returns an [`EventError`] | its status and message (or the MQTT error JSON) |
//! | the handler panics / times out | `500` / `504`, without details |
//! | `connect` accepted | `204`, or `200` + JSON when the answer says something |
//! | user event answered | `204`, or `200` + `text/plain`, `application/json` or `application/octet-stream` |
//! | `connected`, `disconnected`, `gp.joined`, `gp.left` | `200`, whatever the handler does (failures are logged) |
//!
//! Each refusal by the layer itself puts a [`Rejection`] in the response extensions and emits
//! a `tracing` event at DEBUG; refused signatures also at WARN, at most once a minute.
//!
//! # Layout
//!
//! - [`event`]: the transport-agnostic event API: [`EventHandler`], the requests and answers,
//!   [`ConnectionContext`], [`EventError`], and [`EventRunner`], which runs a handler on an
//!   [`Event`] under its timeout and panic guard, in one `tracing` span per event. Other
//!   transports (a tunnel, a gRPC stream) build on it.
//! - The HTTP binding (private): the webhook request read into an [`Event`], the signature and
//!   handshake decisions, the answer written back as HTTP, [`Rejection`].
//! - The tower shell: [`WebPubSubLayer`], [`WebPubSubService`], [`ResponseFuture`],
//!   [`ResponseBody`].
//!
//! # Security
//!
//! Without [`connection_string`](WebPubSubLayer::connection_string) or
//! [`access_key`](WebPubSubLayer::access_key) the layer **does not check signatures**: anyone
//! who can reach the path can post events, and the layer says so once at WARN. Configure the
//! keys outside local development.
//! Signatures are compared in constant time; keys, tokens and signatures never reach `Debug`
//! output, logs or error messages.
//!
//! # Connection state
//!
//! [`ConnectionContext::states`] holds the state the service echoes with every event.
//! [`ConnectResponse`] and [`UserEventResponse`] change it with `set_state`, `remove_state` and
//! `clear_states`; the layer then sends the whole merged state in `ce-connectionState` (see
//! [`webpubsub_protocol::state`] for the encoding, which also reads the .NET SDK's).

mod body;
pub mod event;
mod future;
mod layer;
mod service;
#[cfg(test)]
mod test_support;
#[cfg(feature = "testing")]
pub mod testing;
mod webhook;

pub use body::ResponseBody;
pub use event::{
    ClosureHandler, ConnectRequest, ConnectResponse, ConnectedRequest, ConnectionContext, DataType,
    DisconnectedRequest, Event, EventError, EventHandler, EventReply, EventRunner,
    GroupEventRequest, InvalidData, MqttContext, StateChanges, UserEventRequest, UserEventResponse,
};
pub use future::ResponseFuture;
pub use layer::WebPubSubLayer;
pub use service::WebPubSubService;
pub use webhook::rejection::{Rejection, RejectionKind};
pub use webpubsub_protocol::{
    AccessKey, ConnectionString, ConnectionStringError, IntoConnectionString,
};
