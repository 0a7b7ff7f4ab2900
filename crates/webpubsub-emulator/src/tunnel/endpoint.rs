//! `/server/tunnel`: the WebSocket an app dials to take a hub's events.
//!
//! Auth is the service's: an HS256 JWT signed with an access key, in the `access_token` query
//! parameter (or `Authorization: Bearer`), whose `aud` is the tunnel URL without the token
//! (`ws://host/server/tunnel?hub=chat`, scheme ignored). A Microsoft Entra ID token is refused
//! (401) with words that say so, as on the REST API: the emulator cannot verify one. The connection gets
//! `ConnectionConnected` first, then each event as an `HttpRequest`; the app answers with
//! `HttpResponse`s and may send its own REST calls as `HttpRequest`s with `LocalRouting`, which
//! the emulator's REST API answers for the tunnel's hub.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{
    CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::Bytes;
use jsonwebtoken::Algorithm;
use tokio::sync::{Semaphore, mpsc, watch};
use tower::ServiceExt as _;
use webpubsub_protocol::token::same_audience;
use webpubsub_protocol::tunnel::{
    ConnectedMessage, HttpRequestMessage, HttpResponseMessage, MAX_FRAME_LEN, TUNNEL_PATH,
    TunnelHeaders, TunnelMessage,
};
use webpubsub_protocol::{HUB_NAME_RULE, is_valid_hub_name};

use super::{Connection, Tunnels};
use crate::config::EmulatorConfig;
use crate::rest::TunnelPrincipal;

/// A WebSocket ping goes out after this long without a frame from the app.
const PING_AFTER: Duration = Duration::from_secs(20);
/// A connection with no frame from the app (pongs count) for this long is closed.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// The largest part of a REST answer sent in one frame; larger answers stream in parts.
const ANSWER_PART: usize = 512 * 1024;
/// The largest REST answer read for the app (the REST API answers small JSON).
const REST_ANSWER_LIMIT: usize = 16 << 20;
/// How many `LocalRouting` REST calls of one connection run at once; more are answered 429
/// (which the REST client retries after a pause).
const MAX_REST_CALLS: usize = 64;
/// Close code for a frame that breaks the protocol (RFC 6455: policy violation).
const POLICY_VIOLATION: u16 = 1008;

/// What the tunnel endpoint shares.
#[derive(Debug, Clone)]
pub(crate) struct TunnelEndpoint {
    pub(crate) tunnels: Tunnels,
    /// The REST API, which answers the apps' `LocalRouting` requests.
    pub(crate) rest: Router,
    pub(crate) config: Arc<EmulatorConfig>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// The route of the tunnel endpoint.
pub(crate) fn routes(endpoint: TunnelEndpoint) -> Router {
    Router::new()
        .route(TUNNEL_PATH, any(accept))
        .with_state(endpoint)
}

fn refuse(status: StatusCode, reason: String) -> Response {
    tracing::info!(%status, reason, "refused a tunnel connection");
    (status, reason).into_response()
}

async fn accept(
    State(endpoint): State<TunnelEndpoint>,
    uri: Uri,
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
            "the hub query parameter is missing: dial /server/tunnel?hub={hub}".into(),
        );
    };
    if !is_valid_hub_name(&hub) {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("invalid hub name {hub:?}: {HUB_NAME_RULE}"),
        );
    }
    let user_id = match authorize(&uri, &query, &headers, &endpoint.config) {
        Ok(user_id) => user_id,
        Err(reason) => return refuse(StatusCode::UNAUTHORIZED, reason),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade
            .max_message_size(MAX_FRAME_LEN + 4)
            .max_frame_size(MAX_FRAME_LEN + 4),
        Err(rejection) => {
            return refuse(
                rejection.status(),
                format!(
                    "the tunnel endpoint takes WebSocket upgrades only: {}",
                    rejection.body_text()
                ),
            );
        }
    };
    upgrade.on_upgrade(move |socket| run(endpoint, hub, user_id, socket))
}

/// Checks the tunnel token; returns its subject (the tunnel's id), if it has one.
fn authorize(
    uri: &Uri,
    query: &[(String, String)],
    headers: &HeaderMap,
    config: &EmulatorConfig,
) -> Result<Option<String>, String> {
    let token = crate::client::auth::token_of(query, headers).ok_or_else(|| {
        "the access token is missing: send access_token=<JWT> or Authorization: Bearer".to_owned()
    })?;
    refuse_entra(token)?;
    let claims =
        crate::client::auth::verify_signature(token, &config.keys).map_err(|e| e.to_string())?;
    // The audience is the URL the app dialed without its token, in the order it wrote it.
    let rest: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("access_token="))
        .collect();
    let target = format!("{TUNNEL_PATH}?{}", rest.join("&"));
    let matches = config
        .own_authorities()
        .iter()
        .any(|host| same_audience(&claims.aud, &format!("http://{host}{target}")));
    if matches {
        Ok(claims.sub)
    } else {
        Err(format!(
            "the access token's audience {:?} is not the tunnel URL without its token (ws://{}{target})",
            claims.aud,
            config.authority()
        ))
    }
}

/// A Microsoft Entra ID token (RS256, signed by Entra's keys, for the service's app) is one the
/// emulator cannot verify: it has no tenant and no trust in one, and accepting it unverified
/// would accept anything. It is refused with the remedy rather than as a bad signature.
fn refuse_entra(token: &str) -> Result<(), String> {
    match jsonwebtoken::decode_header(token) {
        Ok(header)
            if !matches!(
                header.alg,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            ) =>
        {
            Err(format!(
                "the access token is signed with {:?}, as Microsoft Entra ID tokens are; the emulator cannot verify Entra ID tokens: dial with an access key (a connection string)",
                header.alg
            ))
        }
        _ => Ok(()),
    }
}

/// Serves one tunnel connection until it closes or the emulator shuts down.
async fn run(
    endpoint: TunnelEndpoint,
    hub: String,
    user_id: Option<String>,
    mut socket: WebSocket,
) {
    let (connection, mut frames) = endpoint.tunnels.open(&hub);
    let connection_id = connection.id.clone();
    tracing::info!(hub, connection_id, "tunnel connection opened");
    let connected = TunnelMessage::ConnectionConnected(ConnectedMessage {
        tracing_id: None,
        connection_id: connection_id.clone(),
        user_id,
        reconnection_token: None,
    });
    let mut shutdown = endpoint.shutdown.clone();
    let greeted = match connected.encode() {
        Ok(frame) => socket.send(Message::Binary(frame.into())).await.is_ok(),
        Err(_) => false,
    };
    let reason = if greeted {
        serve(
            &endpoint,
            &connection,
            &mut socket,
            &mut frames,
            &mut shutdown,
        )
        .await
    } else {
        "the socket closed before the connected message".to_owned()
    };
    endpoint.tunnels.close(&connection);
    tracing::info!(hub, connection_id, reason, "tunnel connection closed");
}

/// The connection's loop; returns why it ended.
async fn serve(
    endpoint: &TunnelEndpoint,
    connection: &Arc<Connection>,
    socket: &mut WebSocket,
    frames: &mut mpsc::Receiver<Bytes>,
    shutdown: &mut watch::Receiver<bool>,
) -> String {
    let mut last_heard = tokio::time::Instant::now();
    let rest_calls = Arc::new(Semaphore::new(MAX_REST_CALLS));
    loop {
        let ping_at = last_heard + PING_AFTER;
        tokio::select! {
            frame = frames.recv() => {
                let Some(frame) = frame else { return "the emulator dropped it".into() };
                if socket.send(Message::Binary(frame)).await.is_err() {
                    return "the socket failed while sending".into();
                }
            }
            message = socket.recv() => {
                last_heard = tokio::time::Instant::now();
                match message {
                    Some(Ok(Message::Binary(frame))) => {
                        if let Err(reason) = take(endpoint, connection, &rest_calls, frame) {
                            close(socket, POLICY_VIOLATION, &reason).await;
                            return reason;
                        }
                    }
                    Some(Ok(Message::Text(_))) => {
                        let reason = "tunnel frames are binary messages, not text".to_owned();
                        close(socket, POLICY_VIOLATION, &reason).await;
                        return reason;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => return "the app closed it".into(),
                    Some(Err(error)) => return format!("the socket failed: {error}"),
                }
            }
            () = tokio::time::sleep_until(ping_at) => {
                if last_heard.elapsed() >= IDLE_LIMIT {
                    let reason = format!("nothing heard from the app for {IDLE_LIMIT:?}");
                    close(socket, POLICY_VIOLATION, &reason).await;
                    return reason;
                }
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    return "the socket failed while sending".into();
                }
                // Next ping one period on, unless the app speaks first.
                last_heard = last_heard.max(tokio::time::Instant::now() - PING_AFTER);
            }
            // The guard wait_for returns must not live across the close below.
            () = async { let _ = shutdown.wait_for(|stopped| *stopped).await; } => {
                close(socket, 1001, "the emulator is shutting down").await;
                return "the emulator shut down".into();
            }
        }
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    // A close reason is at most 123 bytes; cut on a character boundary.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason[..end].into(),
        })))
        .await;
}

/// Takes one frame from the app; an error closes the connection.
fn take(
    endpoint: &TunnelEndpoint,
    connection: &Arc<Connection>,
    rest_calls: &Arc<Semaphore>,
    frame: Bytes,
) -> Result<(), String> {
    match TunnelMessage::decode(&frame).map_err(|e| e.to_string())? {
        TunnelMessage::HttpResponse(answer) => connection.answer(answer),
        TunnelMessage::HttpRequest(request) if request.local_routing => {
            let endpoint = endpoint.clone();
            let connection = connection.clone();
            let permit = rest_calls.clone().try_acquire_owned();
            tokio::spawn(async move {
                let (ack_id, channel) = (request.ack_id, request.channel_name.clone());
                let answer = match permit {
                    Ok(_permit) => local_rest_call(&endpoint, &connection.hub, request).await,
                    Err(_) => plain_answer(
                        StatusCode::TOO_MANY_REQUESTS,
                        &format!(
                            "at most {MAX_REST_CALLS} REST calls run at once on one tunnel connection"
                        ),
                    ),
                };
                send_answer(&connection, ack_id, channel, answer).await;
            });
        }
        TunnelMessage::HttpRequest(request) => {
            let connection = connection.clone();
            tokio::spawn(async move {
                let answer = plain_answer(
                    StatusCode::BAD_REQUEST,
                    "the emulator serves only LocalRouting requests from a tunnel",
                );
                send_answer(&connection, request.ack_id, request.channel_name, answer).await;
            });
        }
        other => tracing::debug!(
            connection = connection.id,
            kind = ?other.message_type(),
            "ignored a tunnel message the service does not take from apps"
        ),
    }
    Ok(())
}

fn plain_answer(status: StatusCode, text: &str) -> (StatusCode, TunnelHeaders, Bytes) {
    (
        status,
        TunnelHeaders::from_iter([("Content-Type", "text/plain; charset=utf-8")]),
        Bytes::copy_from_slice(text.as_bytes()),
    )
}

/// Runs an app's REST call through the emulator's REST API, as the tunnel's hub.
async fn local_rest_call(
    endpoint: &TunnelEndpoint,
    hub: &str,
    request: HttpRequestMessage,
) -> (StatusCode, TunnelHeaders, Bytes) {
    let headers = match request.headers.to_header_map() {
        Ok(headers) => headers,
        Err(error) => return plain_answer(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let built = Request::builder()
        .method(request.method.as_str())
        .uri(request.url.as_str())
        .extension(TunnelPrincipal::new(hub))
        .body(Body::from(request.content));
    let Ok(mut http_request) = built else {
        return plain_answer(
            StatusCode::BAD_REQUEST,
            "the tunnel request's method or URL is not valid HTTP",
        );
    };
    *http_request.headers_mut() = headers;
    let response = match endpoint.rest.clone().oneshot(http_request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, REST_ANSWER_LIMIT).await else {
        return plain_answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the REST answer could not be read",
        );
    };
    match TunnelHeaders::from_header_map(&parts.headers) {
        Ok(headers) => (parts.status, headers, body),
        Err(error) => plain_answer(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

/// Sends an answer to the app's request `ack_id` (echoing its channel), in parts of at most [`ANSWER_PART`] bytes.
async fn send_answer(
    connection: &Connection,
    ack_id: u64,
    channel_name: String,
    (status, headers, body): (StatusCode, TunnelHeaders, Bytes),
) {
    let mut headers = Some(headers);
    let mut rest = body;
    loop {
        let part = rest.split_to(rest.len().min(ANSWER_PART));
        let message = TunnelMessage::HttpResponse(HttpResponseMessage {
            tracing_id: None,
            ack_id,
            local_routing: true,
            status_code: status.as_u16(),
            channel_name: channel_name.clone(),
            not_completed: !rest.is_empty(),
            headers: headers.take().unwrap_or_default(),
            content: part,
        });
        let Ok(frame) = message.encode() else { return };
        if connection.outbound.send(Bytes::from(frame)).await.is_err() || rest.is_empty() {
            return;
        }
    }
}
