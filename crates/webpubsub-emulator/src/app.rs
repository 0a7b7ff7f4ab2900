//! The HTTP application: the client endpoint and the REST API on one router, served until the
//! emulator shuts down.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::ServerLimits;
use crate::{
    Emulator, HandshakeReport, client,
    client::{PendingBudget, RecoveryStore},
    config::EmulatorConfig,
    registry::Registry,
    tunnel::{self, TunnelEndpoint},
    upstream::Upstream,
};

/// What the client endpoint's handlers and sessions share.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) config: Arc<EmulatorConfig>,
    pub(crate) upstream: Upstream,
    /// Turns true when the emulator shuts down; open connections close then.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Hubs, connections, groups: shared by client sessions and the REST API.
    pub(crate) registry: Registry,
    /// The reliable connections waiting for, or open to, recovery.
    pub(crate) recovery: RecoveryStore,
    /// The bytes of user events waiting for the upstream, in every connection.
    pub(crate) pending: PendingBudget,
}

/// Starts serving on `listener` and returns the handle that stops it.
pub(crate) fn serve(
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Arc<EmulatorConfig>,
    upstream: Upstream,
    handshakes: Vec<HandshakeReport>,
    limits: ServerLimits,
) -> Emulator {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let state = AppState {
        config: config.clone(),
        upstream,
        shutdown: shutdown_rx.clone(),
        registry: Registry::with_budget(config.outbound_budget),
        recovery: RecoveryStore::default(),
        pending: PendingBudget::new(config.pending_events),
    };
    let tunnels = state.upstream.tunnels().clone();
    let app = router(state);
    let server = tokio::spawn(crate::server::serve(listener, app, limits, shutdown_rx));
    tracing::info!(endpoint = %config.endpoint, "emulator started");
    Emulator::new(local_addr, config, handshakes, shutdown_tx, server, tunnels)
}

fn router(state: AppState) -> Router {
    let rest = crate::rest::router(state.registry.clone(), state.config.clone());
    let tunnel = tunnel::routes(TunnelEndpoint {
        tunnels: state.upstream.tunnels().clone(),
        rest: rest.clone(),
        config: state.config.clone(),
        shutdown: state.shutdown.clone(),
    });
    let grpc = crate::grpc::router(state.clone());
    client::routes()
        .merge(crate::trace::routes())
        .with_state(state)
        .merge(rest)
        .merge(tunnel)
        .merge(grpc)
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "no such endpoint: the emulator serves /client/hubs/{hub}, /server/tunnel, /api/... and /trace",
            )
        })
}
