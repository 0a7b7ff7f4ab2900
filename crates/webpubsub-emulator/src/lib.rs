//! A local emulator of the Azure Web PubSub service, for tests, examples and offline development.
//!
//! It serves what the service serves, on one loopback port:
//! - `/client/hubs/{hub}` (and `/client/?hub=`): WebSocket clients authenticated with an access
//!   token (`access_token` query or `Authorization: Bearer`), as plain WebSocket clients or with
//!   the `json.webpubsub.azure.v1` and `json.reliable.webpubsub.azure.v1` subprotocols (groups,
//!   acks, `ping`/`pong`, sequence ids and recovery after a dropped socket);
//! - `/api/…`: the data-plane REST API (sends, groups, users, permissions, tokens);
//! - upstream: signed CloudEvents requests to each hub's event handler, after the
//!   abuse-protection handshake, honouring the responses as the service does.
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
#[doc(hidden)]
pub mod fuzzing;
mod hub_settings;
mod random;
pub mod registry;
mod rest;
mod upstream;

pub use builder::EmulatorBuilder;
pub use emulator::Emulator;
pub use error::StartError;
pub use hub_settings::{EventHandlerSettings, HubSettings, SystemEvent};
pub use upstream::{HandshakeError, HandshakeReport};
