//! The client endpoint: WebSocket upgrades at `/client/hubs/{hub}` and `/client/?hub=`.
//!
//! An upgrade is accepted after the access token checks out and the hub's `connect` handler (if
//! any) agrees; its answer can set the user id, groups, roles, subprotocol and state, and a 4xx
//! or 5xx answer refuses the upgrade with that status. A request with `awps_connection_id` and
//! `awps_reconnection_token` recovers a reliable connection instead, or is closed with 1008.

pub(crate) mod auth;
mod commands;
mod connect;
mod events;
mod pending;
mod protocol;
mod recovery;
mod sequence;
mod session;
mod socket;
mod traced;

use axum::Router;
use axum::extract::ws::{
    CloseFrame, Message as WsMessage, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use webpubsub_protocol::frames::{JSON_RELIABLE_SUBPROTOCOL, PROTOBUF_RELIABLE_SUBPROTOCOL};

pub(crate) use pending::{PendingBudget, PendingLimits};
pub(crate) use recovery::RecoveryStore;
pub(crate) use socket::DEFAULT_WRITE_TIMEOUT;

use crate::app::AppState;
use webpubsub_protocol::{HUB_NAME_RULE, is_valid_hub_name};

/// The initial size of each connection's read and write buffer.
const IO_BUFFER_BYTES: usize = 4 * 1024;

/// The routes of the client endpoint.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/client/hubs/{hub}", any(by_path))
        .route("/client/hubs/{hub}/", any(by_path))
        .route("/client", any(by_query))
        .route("/client/", any(by_query))
}

async fn by_path(
    State(app): State<AppState>,
    Path(hub): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    accept(app, hub, query, headers, upgrade).await
}

async fn by_query(
    State(app): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(hub) = query
        .iter()
        .find(|(k, _)| k == "hub")
        .map(|(_, v)| v.clone())
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the hub query parameter is missing: use /client/hubs/{hub} or /client/?hub={hub}"
                .into(),
        );
    };
    accept(app, hub, query, headers, upgrade).await
}

async fn accept(
    app: AppState,
    hub: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if !is_valid_hub_name(&hub) {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("invalid hub name {hub:?}: {HUB_NAME_RULE}"),
        );
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade
            .max_message_size(connect::READ_LIMIT)
            .max_frame_size(connect::READ_LIMIT)
            // Idle connections are the common case: start with small buffers (the library's
            // default is 128 KiB each); they grow for larger frames.
            .read_buffer_size(IO_BUFFER_BYTES)
            .write_buffer_size(IO_BUFFER_BYTES),
        Err(rejection) => {
            return refuse(
                rejection.status(),
                format!(
                    "the client endpoint takes WebSocket upgrades only: {}",
                    rejection.body_text()
                ),
            );
        }
    };
    let recover = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if let (Some(connection_id), Some(token)) = (
        recover("awps_connection_id"),
        recover("awps_reconnection_token"),
    ) {
        return reattach(&app, &hub, &connection_id, &token, upgrade);
    }
    match connect::connect(&app, &hub, &query, &headers).await {
        Ok(accepted) => {
            let upgrade = match &accepted.subprotocol {
                Some(p) => upgrade.protocols([p.clone()]),
                None => upgrade,
            };
            let (session, on_failure) = accepted.into_session(app);
            upgrade
                .on_failed_upgrade(move |error| {
                    tracing::debug!(%error, "the WebSocket upgrade failed after connect");
                    on_failure();
                })
                .on_upgrade(move |socket| session.run(socket))
        }
        Err((status, reason)) => refuse(status, reason),
    }
}

/// Hands a recovering client's socket to its connection, or closes it with 1008.
fn reattach(
    app: &AppState,
    hub: &str,
    connection_id: &str,
    token: &str,
    upgrade: WebSocketUpgrade,
) -> Response {
    match app.recovery.find(hub, connection_id, token) {
        Ok(attach) => {
            let connection_id = connection_id.to_owned();
            let upgrade = upgrade.protocols([attach.subprotocol]);
            upgrade.on_upgrade(move |socket| async move {
                if let Err(error) = attach.socket.send(socket).await {
                    tracing::debug!(
                        connection_id,
                        "the connection ended while its client recovered"
                    );
                    refuse_recovery(error.0, recovery::Refusal::UnknownConnection).await;
                }
            })
        }
        Err(refusal) => {
            tracing::debug!(connection_id, reason = refusal.reason(), "recovery refused");
            // Answer with the reliable subprotocol the client asked for (the upgrade picks the
            // first it requested of these), so that it reads the close code instead of failing
            // the handshake.
            let upgrade =
                upgrade.protocols([JSON_RELIABLE_SUBPROTOCOL, PROTOBUF_RELIABLE_SUBPROTOCOL]);
            upgrade.on_upgrade(move |socket| refuse_recovery(socket, refusal))
        }
    }
}

async fn refuse_recovery(mut socket: axum::extract::ws::WebSocket, refusal: recovery::Refusal) {
    let frame = CloseFrame {
        code: socket::close_code::POLICY_VIOLATION,
        reason: refusal.reason().into(),
    };
    let _ = socket::write(
        &mut socket,
        socket::DEFAULT_WRITE_TIMEOUT,
        WsMessage::Close(Some(frame)),
    )
    .await;
}

/// An HTTP refusal of an upgrade, with the reason in words.
fn refuse(status: StatusCode, reason: String) -> Response {
    tracing::debug!(%status, reason, "client connection refused");
    (status, reason).into_response()
}
