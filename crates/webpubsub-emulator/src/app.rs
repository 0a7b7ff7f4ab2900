//! The HTTP application: the client endpoint and the REST API on one router, served until the
//! emulator shuts down.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::serve::ListenerExt as _;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{
    Emulator, HandshakeReport, client,
    client::RecoveryStore,
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
}

/// Starts serving on `listener` and returns the handle that stops it.
pub(crate) fn serve(
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Arc<EmulatorConfig>,
    upstream: Upstream,
    handshakes: Vec<HandshakeReport>,
) -> Emulator {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let state = AppState {
        config: config.clone(),
        upstream,
        shutdown: shutdown_rx.clone(),
        registry: Registry::new(),
        recovery: RecoveryStore::default(),
    };
    let tunnels = state.upstream.tunnels().clone();
    let app = router(state);
    let mut stop = shutdown_rx;
    let server = tokio::spawn(async move {
        let stopped = async move {
            // An error means the handle is gone, which is a shutdown too.
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        // No Nagle delay: a gRPC upstream stream and a WebSocket answer followed by its ack are
        // small writes in a row, which Nagle holds for the peer's delayed ACK (about 40 ms).
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(%error, "the emulator's server stopped");
        }
    });
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
