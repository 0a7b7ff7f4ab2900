//! A local emulator of the Azure Web PubSub service, for tests, examples and offline development.
//!
//! It serves what the service serves, on one loopback port:
//! - `/client/hubs/{hub}` (and `/client/?hub=`): WebSocket clients authenticated with an access
//!   token (`access_token` query or `Authorization: Bearer`), as plain WebSocket clients or with
//!   the `json.webpubsub.azure.v1`, `json.reliable.webpubsub.azure.v1`,
//!   `protobuf.webpubsub.azure.v1` and `protobuf.reliable.webpubsub.azure.v1` subprotocols
//!   (groups, acks, `ping`/`pong`, sequence ids and recovery after a dropped socket; protobuf
//!   frames are binary, and protobuf data, an encoded `google.protobuf.Any`, reaches JSON clients
//!   as `dataType: protobuf` in base64, plain clients as a binary frame and the upstream as an
//!   `application/x-protobuf` user event);
//! - `/api/…`: the data-plane REST API (sends, groups, users, permissions, tokens);
//! - upstream: signed CloudEvents requests to each hub's event handler, after the
//!   abuse-protection handshake, honouring the responses as the service does;
//! - `/trace`: the live trace page (see below).
//!
//! # Seeing what happens
//!
//! Every connect, disconnect, client message, group change, REST call and upstream call is one
//! INFO line of the `tracing` target [`TRACE_TARGET`] (`webpubsub_emulator::trace`), with its
//! status and latency, and one [`TraceEvent`] on the live trace:
//! [`Emulator::trace_url`] (`http://127.0.0.1:PORT/trace`, printed at start by the command) is a
//! page that shows them as they happen, filterable by hub and kind, and
//! [`Emulator::subscribe_trace`] is the same feed in code. The page shows all traffic, so it is
//! served only when the emulator listens on a loopback address, and only to requests whose
//! `Host` is `localhost`, `127.0.0.1` or `[::1]` (which also stops DNS-rebinding pages); other
//! requests get a 403 that says so. No event carries an access token, a key, a URL query or a
//! message's content.
//!
//! # Keys
//!
//! Without [`key`](EmulatorBuilder::key), the emulator uses the fixed, public
//! [`DEVELOPMENT_KEY`] (as Azurite does), so its connection string is the same at every start;
//! [`random_key`](EmulatorBuilder::random_key) makes a fresh one instead.
//!
//! # Behaviour worth knowing
//!
//! - **Tokens**: HS256/384/512 signed with any configured key; `exp` (and `nbf`) checked with a
//!   60 s leeway; `aud` must name the hub's client endpoint on the emulator's host (or the
//!   request's `Host`), scheme ignored, hub case-insensitive. A refusal is a 401 with the reason.
//! - **Connect**: the hub's `connect` handler (if it takes the event) may set the user id, add
//!   groups and roles, pick a subprotocol the client asked for and set the state; a 4xx/5xx
//!   answer refuses the upgrade with that status and body. Without a handler, the first Web
//!   PubSub subprotocol the client asked for is used.
//! - **Close codes**: 1000 after a REST close, 1001 at shutdown, 1002 for a frame that is not a
//!   valid frame of the subprotocol (a frame with a readable `ackId` or `invocationId` gets a
//!   `BadRequest` answer instead), 1008 when recovery is refused or a reliable client leaves more
//!   than 1000 messages or 16 MiB unacknowledged, 1009 for frames over 1 MiB, 1011 when a plain
//!   client's message has no handler or its handler fails. Subprotocol clients get a
//!   `disconnected` system frame first (`{"type":"system","event":"disconnected"}` on JSON).
//! - **Slow clients**: each connection has a bounded queue; a client whose queue fills is dropped
//!   and never slows the others.
//! - **Recovery**: a reliable connection whose socket drops keeps its groups and messages for
//!   the [recovery window](EmulatorBuilder::recovery_window) (30 s by default).
//! - **Upstream**: `ce-awpsversion: 1.0`, `WebHook-Request-Origin: <emulator host>` and one
//!   `ce-signature` entry per key on every request; `ce-connectionState` as last set by a
//!   blocking answer. Each attempt is bounded by a timeout; connection failures, timeouts, 408,
//!   429, 502, 503 and 504 are retried twice (after 0.5 s and 2 s), and every failure is logged.
//!   A JSON client's failed event is acked `InternalServerError`; an event nobody handles is
//!   acked as a success. `disconnected` always follows a successful `connect`, last.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), webpubsub_emulator::StartError> {
//! use webpubsub_emulator::{Emulator, EventHandlerSettings, HubSettings, SystemEvent};
//!
//! // A port nobody listens on.
//! let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
//! let emulator = Emulator::builder()
//!     .hub(
//!         HubSettings::new("chat").event_handler(
//!             EventHandlerSettings::new(format!("http://{closed}/eventhandler/{{event}}"))
//!                 .system_events([SystemEvent::Connected]),
//!         ),
//!     )
//!     .start()
//!     .await?;
//! // The upstream is unreachable, so the handshake failed, and the emulator says so.
//! assert!(!emulator.handshakes()[0].is_ok());
//! // SDKs take the connection string, as with the real service.
//! let connection_string = emulator.connection_string();
//! assert!(connection_string.starts_with(&format!("Endpoint={};", emulator.endpoint())));
//! # Ok(())
//! # }
//! ```

mod app;
mod builder;
mod client;
mod config;
mod emulator;
mod error;
#[cfg(fuzzing)]
pub mod fuzzing;
mod grpc;
mod hub_settings;
mod random;
mod registry;
mod rest;
mod server;
mod trace;
mod tunnel;
mod upstream;

pub use builder::{BoundEmulator, DEVELOPMENT_KEY, EmulatorBuilder};
pub use emulator::Emulator;
pub use error::StartError;
pub use hub_settings::{EventHandlerSettings, HubSettings, SystemEvent};
pub use registry::OutboundBudget;
pub use trace::{MAX_VALUE_CHARS, TRACE_TARGET, TraceEvent, TraceKind};
pub use upstream::{HandshakeError, HandshakeReport};
