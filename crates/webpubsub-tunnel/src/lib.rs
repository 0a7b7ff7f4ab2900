//! The app side of the Azure Web PubSub tunnel: the app dials the service at `/server/tunnel`
//! and the service sends the hub's events down that WebSocket, so an event handler needs no
//! public endpoint. Set the hub's event handler URL template to `tunnel:///eventhandler` (on
//! Azure, or `--hub chat=tunnel:///eventhandler` on the emulator) and serve the same tower
//! service that would serve the webhooks:
//!
//! ```
//! use webpubsub_tunnel::WebPubSubTunnelClient;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let emulator = webpubsub_emulator::Emulator::builder()
//! #     .hub(webpubsub_emulator::HubSettings::new("chat").upstream("tunnel:///eventhandler"))
//! #     .start().await?;
//! # let connection_string = emulator.connection_string();
//! // Any tower service of http requests: an axum Router with WebPubSubLayer, for one.
//! let app = axum::Router::new().route("/eventhandler", axum::routing::post(|| async { "" }));
//!
//! let tunnel = WebPubSubTunnelClient::from_connection_string(&connection_string, "chat")?
//!     .max_concurrency(64)
//!     .serve(app);
//! tunnel.connected().await?; // optional: wait for the first connection
//! // ... the hub's events now reach `app` ...
//! tunnel.shutdown().await; // finishes the requests in flight, then closes
//! # Ok(())
//! # }
//! ```
//!
//! What it does, as the official `WebPubSubTunnelClient` does: each `HttpRequest` frame becomes
//! an `http::Request` (method, path and query, headers, body) for the service, and its answer
//! goes back as `HttpResponse` frames, streamed in parts when it is large. Requests run
//! concurrently up to a bound. `ConnectionReconnect` drops the connection and dials the named
//! endpoint, `ConnectionRebalance` opens one more connection, `ConnectionClose` ends one; a
//! connection that breaks is dialed again with exponential backoff and jitter. Each connection
//! and each request runs in a `tracing` span.
//!
//! # REST over the tunnel
//!
//! The app's REST calls can travel over the tunnel too (`LocalRouting`), so that it needs no
//! other outbound connection: [`Tunnel::rest_client`] is a `WebPubSubServiceClient` for the
//! tunnel's hub and credential whose calls go over the open connections
//! ([`TunnelTransport`]); everything else (signing, timeouts, retries, errors) is as over HTTP.
//! With no connection open, a call fails as not sent (`error.is_connect()`), which the
//! client's retry policy retries while the tunnel dials again.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let emulator = webpubsub_emulator::Emulator::builder()
//! #     .hub(webpubsub_emulator::HubSettings::new("chat"))
//! #     .start().await?;
//! # let connection_string = emulator.connection_string();
//! use webpubsub_tunnel::WebPubSubTunnelClient;
//!
//! let tunnel = WebPubSubTunnelClient::from_connection_string(&connection_string, "chat")?
//!     .serve(axum::Router::new());
//! tunnel.connected().await?;
//! let rest = tunnel.rest_client()?;
//! rest.send_to_all("over the tunnel").await?;
//! assert!(!rest.group_exists("room").await?);
//! tunnel.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Microsoft Entra ID
//!
//! [`WebPubSubTunnelClient::with_credential`] dials with a `webpubsub_rest::TokenCredential`'s
//! token for `https://webpubsub.azure.com/.default`, sent as the `access_token` query parameter
//! as the official client does; its REST client then uses the same credential. The emulator
//! cannot verify Entra ID tokens and refuses them with a 401 that says so.

mod client;
mod connection;
mod error;
mod serve;
mod transport;
mod url;

pub use client::{Tunnel, WebPubSubTunnelClient};
pub use error::TunnelError;
pub use transport::{DEFAULT_MAX_ANSWER_BYTES, DEFAULT_REST_TIMEOUT, TunnelTransport};
