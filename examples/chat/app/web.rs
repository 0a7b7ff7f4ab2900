//! The page (embedded in the binary, so `cargo run` needs nothing else) and `/negotiate`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use std::sync::Arc;

use super::hub::Hub;
use super::messages::user_name;
use super::store::ChatStore;

const INDEX_HTML: &str = include_str!("../static/index.html");
const CHAT_JS: &str = include_str!("../static/chat.js");
const CHAT_CSS: &str = include_str!("../static/chat.css");

/// The routes of the page and `/negotiate`.
pub(crate) fn routes(hub: Hub, store: Arc<ChatStore>) -> axum::Router {
    axum::Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/chat.js",
            get(|| async { page("text/javascript; charset=utf-8", CHAT_JS) }),
        )
        .route(
            "/chat.css",
            get(|| async { page("text/css; charset=utf-8", CHAT_CSS) }),
        )
        .route("/negotiate", get(negotiate))
        .with_state((hub, store))
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct NegotiateQuery {
    user: Option<String>,
    /// The page's own id (kept across its reloads): a name in use by another page is refused.
    session: Option<String>,
}

/// The longest session id a page may send.
const MAX_SESSION_LEN: usize = 64;

/// `GET /negotiate?user=NAME&session=ID` → `{"url": "ws://…/client/hubs/chat?access_token=…"}`,
/// or a 4xx/5xx with `{"error": "…"}` (409 when another page uses the name).
async fn negotiate(
    State((hub, store)): State<(Hub, Arc<ChatStore>)>,
    query: Result<Query<NegotiateQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (user, session) = match query {
        Ok(Query(NegotiateQuery {
            user: Some(user),
            session: Some(session),
        })) => (user, session),
        Ok(Query(NegotiateQuery { user: None, .. })) => {
            return error(
                StatusCode::BAD_REQUEST,
                "missing query parameter user".into(),
            );
        }
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "missing query parameter session (the page's own id)".into(),
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let user = match user_name(&user) {
        Ok(user) => user,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if session.is_empty() || session.len() > MAX_SESSION_LEN {
        return error(
            StatusCode::BAD_REQUEST,
            format!("the session id must have 1 to {MAX_SESSION_LEN} bytes"),
        );
    }
    if let Err(e) = store.claim(&user, &session) {
        return error(StatusCode::CONFLICT, e.to_string());
    }
    match hub.client_url(&user).await {
        Ok(url) => Json(json!({ "url": url })).into_response(),
        Err(e) => {
            tracing::warn!(%user, "cannot mint a client access URL: {e}");
            error(
                StatusCode::BAD_GATEWAY,
                format!("cannot reach the Web PubSub service: {e}"),
            )
        }
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}
