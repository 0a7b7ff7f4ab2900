//! The page (embedded in the binary, so `cargo run` needs nothing else) and `/negotiate`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::hub::Hub;
use super::messages::user_name;

const INDEX_HTML: &str = include_str!("../static/index.html");
const CHAT_JS: &str = include_str!("../static/chat.js");
const CHAT_CSS: &str = include_str!("../static/chat.css");

/// The routes of the page and `/negotiate`.
pub(crate) fn routes(hub: Hub) -> axum::Router {
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
        .with_state(hub)
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
}

/// `GET /negotiate?user=NAME` → `{"url": "ws://…/client/hubs/chat?access_token=…"}`, or a 4xx/5xx
/// with `{"error": "…"}`.
async fn negotiate(
    State(hub): State<Hub>,
    query: Result<Query<NegotiateQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let user = match query {
        Ok(Query(NegotiateQuery { user: Some(user) })) => user,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "missing query parameter user".into(),
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let user = match user_name(&user) {
        Ok(user) => user,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
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
