//! Deciding whether a client may connect: its token, the hub's `connect` handler, and the
//! registration that follows.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde_json::Value;
use webpubsub_protocol::USER_ID_RULE;
use webpubsub_protocol::cloudevents::{ConnectEventBody, ConnectResponseBody, EventType, MultiMap};
use webpubsub_protocol::token::ClientTokenClaims;

use super::auth;
use super::protocol::{self, ClientKind};
use super::recovery;
use super::session::Session;
use crate::app::AppState;
use crate::registry::{ConnectionGuard, ConnectionInfo, Hub, Outbound, RegistryError};
use crate::upstream::{EventSource, UpstreamError};

/// The largest frame the WebSocket reader takes at all. Frames over 1 MiB but under this are
/// read and refused with 1009 by the session; larger ones fail in the reader and get 1009 too.
pub(super) const READ_LIMIT: usize = 16 << 20;

/// A refusal: the HTTP status and the reason in words.
pub(super) type Refusal = (StatusCode, String);

/// A client that may connect, registered and ready for its session.
#[derive(Debug)]
pub(super) struct Accepted {
    hub: Hub,
    guard: ConnectionGuard,
    outbound: Outbound,
    source: EventSource,
    pub(super) subprotocol: Option<String>,
    recovery: Option<super::recovery::Recoverable>,
}

impl Accepted {
    /// The session to run after the upgrade, and what to do if the upgrade fails instead. The
    /// session is boxed: the upgrade's task keeps what its callback captured for the
    /// connection's whole life, and the box is freed when the session starts.
    pub(super) fn into_session(
        self,
        app: AppState,
    ) -> (Box<Session>, impl FnOnce() + Send + 'static) {
        let source = Arc::new(self.source);
        let on_failure = {
            let upstream = app.upstream.clone();
            let store = app.recovery.clone();
            let source = source.clone();
            move || {
                store.remove(&source.hub, &source.connection_id);
                // `connect` succeeded, so `disconnected` must follow.
                tokio::spawn(async move {
                    let _ = upstream
                        .send(
                            &source,
                            EventType::Disconnected,
                            "application/json; charset=utf-8",
                            Bytes::from_static(b"{\"reason\":\"the WebSocket upgrade failed\"}"),
                        )
                        .await;
                });
            }
        };
        let session = Box::new(Session {
            app,
            hub: self.hub,
            guard: self.guard,
            outbound: self.outbound,
            kind: ClientKind::of(self.subprotocol.as_deref()),
            source,
            recovery: self.recovery,
        });
        (session, on_failure)
    }
}

/// Checks the token, asks the `connect` handler, and registers the connection.
pub(super) async fn connect(
    app: &AppState,
    hub_name: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Accepted, Refusal> {
    let claims = authenticate(app, hub_name, query, headers)?;
    let requested = protocol::requested(headers);
    let connection_id = new_connection_id();
    let mut user_id = claims.as_ref().and_then(|c| c.sub.clone());
    let mut roles = claims.as_ref().map(|c| c.role.clone()).unwrap_or_default();
    let mut groups = claims
        .as_ref()
        .map(|c| c.groups.clone())
        .unwrap_or_default();
    let mut subprotocol = None;
    let source = EventSource::new(hub_name, connection_id.clone(), user_id.clone(), None, None);

    let request = ConnectRequest {
        claims: claims.as_ref(),
        query,
        headers,
        requested: &requested,
    };
    if let Some(answer) = ask_upstream(app, &source, request).await? {
        if let Some(id) = answer.user_id {
            user_id = Some(id);
        }
        groups.extend(answer.groups.unwrap_or_default());
        roles.extend(answer.roles.unwrap_or_default());
        if let Some(chosen) = answer.subprotocol.filter(|p| !p.is_empty()) {
            if !requested.contains(&chosen) {
                return Err(internal(format!(
                    "the upstream chose subprotocol {chosen:?}, which the client did not ask for"
                )));
            }
            subprotocol = Some(chosen);
        }
    }

    let subprotocol = subprotocol.or_else(|| protocol::default_choice(&requested));
    let kind = ClientKind::of(subprotocol.as_deref());
    let hub = app.registry.hub(hub_name);
    let info = ConnectionInfo {
        connection_id: connection_id.clone(),
        user_id: user_id.clone(),
        protocol: subprotocol.clone(),
        roles,
        groups,
    };
    let (guard, outbound) = hub.register(info).map_err(|e| match e {
        RegistryError::InvalidGroup(_) | RegistryError::TooManyGroups(_) => {
            (StatusCode::BAD_REQUEST, e.to_string())
        }
        other => internal(other.to_string()),
    })?;
    let recovery = kind.is_reliable().then(|| {
        let token =
            recovery::reconnection_token(app.config.primary_key(), hub_name, &connection_id);
        let receiver = app
            .recovery
            .insert(hub_name, &connection_id, token.clone(), kind.name());
        (token, receiver)
    });
    Ok(Accepted {
        hub,
        guard,
        outbound,
        source: source.after_connect(user_id, subprotocol.clone()),
        subprotocol,
        recovery,
    })
}

/// The client's token claims, `None` for an anonymous client where that is allowed.
fn authenticate(
    app: &AppState,
    hub_name: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Option<ClientTokenClaims>, Refusal> {
    match auth::token_of(query, headers) {
        Some(token) => {
            let claims = auth::verify(
                token,
                &app.config.keys,
                hub_name,
                app.config.own_authorities(),
            )
            .map_err(|e| (StatusCode::UNAUTHORIZED, e.to_string()))?;
            match claims.sub.as_deref() {
                Some(user_id) if !webpubsub_protocol::is_valid_user_id(user_id) => Err((
                    StatusCode::UNAUTHORIZED,
                    format!(
                        "the access token's sub is not a valid user id: {}",
                        USER_ID_RULE
                    ),
                )),
                _ => Ok(Some(claims)),
            }
        }
        None if app.config.allows_anonymous(hub_name) => Ok(None),
        None => Err((
            StatusCode::UNAUTHORIZED,
            "no access token: pass access_token in the query or an Authorization: Bearer header"
                .into(),
        )),
    }
}

/// What the `connect` event is made of.
struct ConnectRequest<'a> {
    claims: Option<&'a ClientTokenClaims>,
    query: &'a [(String, String)],
    headers: &'a HeaderMap,
    requested: &'a [String],
}

/// Sends `connect` to the hub's handler. `Ok(None)` when no handler takes it or it answered
/// without a body (204); a 4xx/5xx answer is the client's refusal.
async fn ask_upstream(
    app: &AppState,
    source: &EventSource,
    request: ConnectRequest<'_>,
) -> Result<Option<ConnectResponseBody>, Refusal> {
    if !app.upstream.handles(&source.hub, &EventType::Connect) {
        return Ok(None);
    }
    let body = ConnectEventBody {
        claims: request.claims.map(claims_map).unwrap_or_default(),
        // The credentials are not the upstream's business.
        query: multimap(
            request
                .query
                .iter()
                .filter(|(k, _)| k != "access_token")
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ),
        headers: multimap(
            request
                .headers
                .iter()
                .filter(|(name, _)| *name != http::header::AUTHORIZATION)
                .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
        ),
        subprotocols: request.requested.to_vec(),
        ..ConnectEventBody::default()
    };
    let body = serde_json::to_vec(&body)
        .map_err(|e| internal(format!("cannot encode the connect event: {e}")))?;
    let reply = app
        .upstream
        .send(
            source,
            EventType::Connect,
            "application/json; charset=utf-8",
            body.into(),
        )
        .await;
    match reply {
        None => Ok(None),
        Some(Ok(reply)) if reply.body.is_empty() => Ok(None),
        Some(Ok(reply)) => connect_answer(&reply.body).map(Some).map_err(internal),
        Some(Err(UpstreamError::Status { status, body, .. })) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned();
            let reason = if text.is_empty() {
                format!("the upstream refused the connection with {status}")
            } else {
                text
            };
            Err((status, reason))
        }
        Some(Err(error)) => Err(internal(format!("the connect event failed: {error}"))),
    }
}

/// The upstream's `connect` answer: a JSON object whose user id, groups and roles are valid as
/// REST input would have to be. Anything else fails the connect, as in the layer.
fn connect_answer(body: &[u8]) -> Result<ConnectResponseBody, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the upstream's connect answer is not valid JSON: {e}"))?;
    if !value.is_object() {
        // serde would read `["mallory"]` as a struct's fields in order.
        return Err("the upstream's connect answer is not a JSON object".into());
    }
    let answer: ConnectResponseBody = serde_json::from_value(value)
        .map_err(|e| format!("the upstream's connect answer is malformed: {e}"))?;
    if let Some(user_id) = answer.user_id.as_deref()
        && !webpubsub_protocol::is_valid_user_id(user_id)
    {
        return Err(format!(
            "the upstream's connect answer has an invalid userId: {USER_ID_RULE}"
        ));
    }
    for group in answer.groups.iter().flatten() {
        crate::registry::validate_group(group)
            .map_err(|e| format!("the upstream's connect answer has an {e}"))?;
    }
    for role in answer.roles.iter().flatten() {
        if role.is_empty() || role.len() > MAX_ROLE_LENGTH || role.chars().any(char::is_control) {
            return Err(format!(
                "the upstream's connect answer has an invalid role {:?}: a role has 1 to {MAX_ROLE_LENGTH} bytes and no control characters",
                role.chars().take(64).collect::<String>()
            ));
        }
    }
    Ok(answer)
}

/// The longest role a `connect` answer may give: `webpubsub.sendToGroup.` and a group name of
/// the longest kind.
const MAX_ROLE_LENGTH: usize = 64 + 4 * crate::registry::MAX_GROUP_NAME_LENGTH;

fn internal(reason: String) -> Refusal {
    tracing::warn!(reason, "client connection failed");
    (StatusCode::INTERNAL_SERVER_ERROR, reason)
}

/// A new connection id: 22 random letters and digits, like the service's.
fn new_connection_id() -> String {
    crate::random::alphanumeric(22)
}

fn multimap<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> MultiMap {
    let mut map = MultiMap::new();
    for (key, value) in pairs {
        map.entry(key.to_owned())
            .or_default()
            .push(value.to_owned());
    }
    map
}

/// The token's claims as the `connect` event lists them: every claim, each as a list of strings.
fn claims_map(claims: &ClientTokenClaims) -> MultiMap {
    let Ok(Value::Object(object)) = serde_json::to_value(claims) else {
        return MultiMap::new();
    };
    object
        .into_iter()
        .map(|(key, value)| {
            let values = match value {
                Value::Array(items) => items.into_iter().map(claim_text).collect(),
                other => vec![claim_text(other)],
            };
            (key, values)
        })
        .collect()
}

fn claim_text(value: Value) -> String {
    match value {
        Value::String(text) => text,
        other => other.to_string(),
    }
}
