//! The Azure Web PubSub client for Rust apps (CLIs, desktop apps, game servers, devices, load
//! generators): the counterpart of `@azure/web-pubsub-client`.
//!
//! - Subprotocols `json.reliable.webpubsub.azure.v1` (the default), `json.webpubsub.azure.v1`,
//!   `protobuf.reliable.webpubsub.azure.v1` and `protobuf.webpubsub.azure.v1` ([`Protocol`],
//!   chosen with [`ClientBuilder::protocol`]).
//! - Connects with a client access URL, or with a callback that fetches a fresh one for every
//!   new connection, so that expired tokens renew ([`WebPubSubClient::builder_with_url`]).
//! - [`join_group`](WebPubSubClient::join_group), [`leave_group`](WebPubSubClient::leave_group),
//!   [`send_to_group`](WebPubSubClient::send_to_group) (with `no_echo`, `fire_and_forget`),
//!   [`send_event`](WebPubSubClient::send_event) and
//!   [`invoke_event`](WebPubSubClient::invoke_event), each awaiting its ack or answer within a
//!   timeout; text, JSON, binary or (protobuf subprotocols) `google.protobuf.Any` data
//!   ([`FrameData`]).
//! - Events as a [`Stream`](futures_core::Stream) ([`Events`], [`ClientEvent`]), bounded in
//!   events and bytes (back-pressure, nothing dropped: see [`event`]).
//! - Reliability: a dropped reliable connection is recovered without loss or duplicates;
//!   otherwise the client reconnects with backoff and jitter and rejoins its groups (the
//!   lifecycle is described in the `driver` module's source and in the README).
//!
//! ```
//! use futures_util::StreamExt as _;
//! use webpubsub_client::{ClientEvent, SendOptions, WebPubSubClient};
//! use webpubsub_emulator::{Emulator, HubSettings};
//! use webpubsub_rest::WebPubSubServiceClient;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A local emulator of the service and a token for the client.
//! let emulator = Emulator::builder().hub(HubSettings::new("chat")).start().await?;
//! let service = WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), "chat")?;
//! let token = service
//!     .client_access_token()
//!     .user_id("ada")
//!     .roles(["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"])
//!     .await?;
//!
//! let (client, mut events) = WebPubSubClient::builder(token.url()).build();
//! client.start().await?;
//! client.join_group("room").await?;
//! client.send_to_group("room", "hello", SendOptions::new()).await?;
//!
//! while let Some(event) = events.next().await {
//!     if let ClientEvent::GroupMessage { group, data, .. } = event {
//!         assert_eq!(group, "room");
//!         assert_eq!(data, "hello".into());
//!         break;
//!     }
//! }
//! client.stop().await;
//! # Ok(())
//! # }
//! ```

mod builder;
mod client;
mod driver;
mod error;
pub mod event;
mod pending;
mod protocol;
mod sequence;
mod socket;
mod url;

pub use builder::{ClientBuilder, MAX_FRAME_BYTES};
pub use client::{SendOptions, WebPubSubClient};
pub use error::Error;
pub use event::{ClientEvent, Events};
pub use pending::SendResult;
pub use protocol::Protocol;
pub use url::BoxError;
pub use webpubsub_protocol::frames::{AckErrorName, FrameData};
