//! The gRPC upstream (`webpubsub.upstream.v1.Upstream`), served on the emulator's own port next
//! to the WebSocket and REST endpoints (HTTP/2 without TLS, as gRPC clients dial `http://`).
//!
//! Apps call `Register` for a hub in gRPC mode (`--hub chat=grpc`) and receive its clients'
//! events on the stream; `AckConnect` and `AckMessage` answer them; the data-plane calls run
//! the REST operations of the same name, with their checks and errors. Every call needs an
//! access-key JWT whose audience is `{endpoint}/hubs/{hub}`.

mod registrations;
mod service;

pub(crate) use registrations::{Ack, Registrations};

use axum::Router;
use webpubsub_protocol::grpc::upstream_server::UpstreamServer;

use crate::app::AppState;

/// The largest message the emulator decodes: an ack's answer may carry a client message
/// (at most 1 MiB) plus its fields.
const MAX_MESSAGE_BYTES: usize = 2 << 20;

/// The gRPC service's routes, to merge into the emulator's router.
pub(crate) fn router(state: AppState) -> Router {
    let server = UpstreamServer::new(service::UpstreamService::new(state))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    Router::new().route_service("/webpubsub.upstream.v1.Upstream/{method}", server)
}
