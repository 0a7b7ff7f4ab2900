//! The app side of the Azure Web PubSub gRPC upstream: the service is the gRPC server, your app
//! its client, so the app never needs to be reachable.
//!
//! [`GrpcUpstream`] registers with the service for one hub and receives the hub's client
//! events (`connect`, `connected`, user events, `disconnected`) on a stream. It serves them with
//! the same [`EventHandler`](webpubsub_tower::EventHandler) a
//! [`WebPubSubLayer`](webpubsub_tower::WebPubSubLayer) serves, through an
//! [`EventRunner`](webpubsub_tower::EventRunner) (timeout and panic guard included), and
//! answers blocking events with acks. It registers again with backoff when the stream ends,
//! runs a bounded number of events at once (one connection's events in order) and shuts down
//! gracefully. [`DataPlaneClient`] makes the data-plane calls (`send_to_all`, `join_group`, …).
//!
//! The protocol is `webpubsub.upstream.v1` (`crates/webpubsub-protocol/proto/`); the emulator
//! serves it for hubs configured with `--hub NAME=grpc`. The channel is plaintext HTTP/2
//! (`http://` endpoints, as the emulator serves); TLS endpoints are not supported by this crate.
//!
//! # Example
//!
//! ```
//! use webpubsub_emulator::{Emulator, EventHandlerSettings, HubSettings};
//! use webpubsub_grpc::GrpcUpstream;
//! use webpubsub_tower::{ConnectRequest, ConnectResponse, EventError, EventHandler, EventRunner};
//!
//! struct Chat;
//!
//! impl EventHandler for Chat {
//!     async fn on_connect(&self, request: ConnectRequest) -> Result<ConnectResponse, EventError> {
//!         Ok(ConnectResponse::new().user_id(request.context().connection_id()))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::builder()
//!     .hub(HubSettings::new("chat").event_handler(EventHandlerSettings::grpc()))
//!     .start()
//!     .await?;
//! let upstream = GrpcUpstream::from_connection_string(&emulator.connection_string(), "chat")?;
//! let mut registered = upstream.registrations();
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let serving = tokio::spawn(upstream.serve(EventRunner::new(Chat), async {
//!     let _ = stopped.await;
//! }));
//! registered.wait_for(|count| *count > 0).await?;
//! // ... clients connect to the emulator; their events reach `Chat` ...
//! let _ = stop.send(());
//! serving.await??;
//! # Ok(())
//! # }
//! ```

mod auth;
mod client;
mod convert;
mod error;
mod lanes;
mod upstream;

pub use client::DataPlaneClient;
pub use error::GrpcError;
pub use upstream::GrpcUpstream;
pub use webpubsub_protocol::grpc::{GroupConnectionsReply, GroupMember, Payload};
pub use webpubsub_protocol::token::Permission;

#[cfg(any(fuzzing, test))]
pub mod fuzzing {
    //! The event conversion, for the `grpc_event` fuzz target in `fuzz/` (and this crate's
    //! property test). Compiled only under `--cfg fuzzing`, which cargo-fuzz sets: not part of the API.

    use webpubsub_protocol::grpc::StreamingRequest;

    /// Decodes `bytes` as a `StreamingRequest` and converts it as the upstream does, answering
    /// with the ack it would send (as a debug string) or the reason it refused it. Never panics.
    pub fn convert(bytes: &[u8]) -> Result<String, String> {
        use prost::Message as _;
        let request = StreamingRequest::decode(bytes).map_err(|e| e.to_string())?;
        match super::convert::incoming(request) {
            Ok(incoming) => Ok(match incoming.ack {
                Some(to) => format!(
                    "{:?}",
                    super::convert::ack(to, Ok(webpubsub_tower::EventReply::Done))
                ),
                None => format!("{:?}", incoming.event),
            }),
            Err(invalid) => Err(invalid.reason),
        }
    }
}
