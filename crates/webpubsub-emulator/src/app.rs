//! The HTTP application: the client endpoint and the REST API on one router, served until the
//! emulator shuts down.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{Emulator, HandshakeReport, config::EmulatorConfig, upstream::Upstream};

/// What the client endpoint's handlers share.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) config: Arc<EmulatorConfig>,
    pub(crate) upstream: Upstream,
    /// Turns true when the emulator shuts down; open connections close then.
    pub(crate) shutdown: watch::Receiver<bool>,
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
    };
    let app = router(state);
    let mut stop = shutdown_rx;
    let server = tokio::spawn(async move {
        let stopped = async move {
            // An error means the handle is gone, which is a shutdown too.
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(%error, "the emulator's server stopped");
        }
    });
    tracing::info!(endpoint = %config.endpoint, "emulator started");
    Emulator::new(local_addr, config, handshakes, shutdown_tx, server)
}

fn router(state: AppState) -> Router {
    // REST MOUNT: `.merge(crate::rest::router(registry, config))` once EMU-REST's router lands.
    Router::new().with_state(state).fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            "no such endpoint: the emulator serves /client/hubs/{hub} and /api/...",
        )
    })
}
