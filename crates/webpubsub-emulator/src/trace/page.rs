//! The live trace page: `/trace` (HTML, script and style embedded in the binary, no CDN) and
//! `/trace/events`, the feed as server-sent events. `/` leads to it.
//!
//! The page shows every connection, message and call, so it is served only where that is safe:
//! when the emulator listens on a loopback address, and to requests whose `Host` is a loopback
//! name (`localhost`, `127.0.0.1`, `[::1]`, with any port), which a page on another site cannot
//! send even after rebinding its DNS name to 127.0.0.1. Anything else is a 403 that says why.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tokio::sync::broadcast::error::RecvError;

use crate::app::AppState;
use crate::config::EmulatorConfig;

/// The page's path, as the startup banner prints it.
pub(crate) const TRACE_PATH: &str = "/trace";
/// The most pages that may watch at once; more get a 503.
const MAX_VIEWERS: usize = 16;

const PAGE_HTML: &str = include_str!("trace.html");
const PAGE_JS: &str = include_str!("trace.js");
const PAGE_CSS: &str = include_str!("trace.css");

/// The page's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary(TRACE_PATH) }))
        .route(TRACE_PATH, get(page))
        .route("/trace/trace.js", get(script))
        .route("/trace/trace.css", get(style))
        .route("/trace/events", get(events))
        // Browsers ask for it; an empty answer keeps their consoles free of 404s.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

async fn page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    asset(&app.config, &headers, "text/html; charset=utf-8", PAGE_HTML)
}

async fn script(State(app): State<AppState>, headers: HeaderMap) -> Response {
    asset(
        &app.config,
        &headers,
        "text/javascript; charset=utf-8",
        PAGE_JS,
    )
}

async fn style(State(app): State<AppState>, headers: HeaderMap) -> Response {
    asset(&app.config, &headers, "text/css; charset=utf-8", PAGE_CSS)
}

fn asset(
    config: &EmulatorConfig,
    headers: &HeaderMap,
    content_type: &'static str,
    body: &'static str,
) -> Response {
    if let Some(refusal) = refusal(config, headers) {
        return refusal;
    }
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// The feed as server-sent events: one `message` per trace event (its JSON), a `dropped` event
/// with a count when this viewer fell behind; it ends when the emulator shuts down.
async fn events(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refusal(&app.config, &headers) {
        return refusal;
    }
    if app.config.trace.viewers() >= MAX_VIEWERS {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("at most {MAX_VIEWERS} live trace pages may be open at once"),
        )
            .into_response();
    }
    let feed = app.config.trace.subscribe();
    let stream = futures_util::stream::unfold(
        (feed, app.shutdown.clone()),
        |(mut feed, mut shutdown)| async move {
            let event = tokio::select! {
                // Either the emulator stops or its handle is gone: the stream ends.
                _ = shutdown.wait_for(|stopped| *stopped) => return None,
                received = feed.recv() => match received {
                    Ok(event) => Event::default().data(event.to_json()),
                    Err(RecvError::Lagged(dropped)) => {
                        Event::default().event("dropped").data(dropped.to_string())
                    }
                    Err(RecvError::Closed) => return None,
                },
            };
            Some((Ok::<_, Infallible>(event), (feed, shutdown)))
        },
    );
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("valid"));
    response
}

/// The 403 for a request the page must not be served to (see the module's docs), or `None`.
fn refusal(config: &EmulatorConfig, headers: &HeaderMap) -> Option<Response> {
    let refuse = |reason: String| Some((StatusCode::FORBIDDEN, reason).into_response());
    let listening = config.authority();
    let loopback = listening
        .parse::<SocketAddr>()
        .is_ok_and(|address| address.ip().is_loopback());
    if !loopback {
        return refuse(format!(
            "the live trace page is served only when the emulator listens on a loopback \
             address (it listens on {listening}), because it shows every connection and message"
        ));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or_default();
    if !is_loopback_host(host) {
        return refuse(
            "the live trace page is served only to the hosts localhost, 127.0.0.1 and [::1]"
                .to_owned(),
        );
    }
    None
}

/// Whether a `Host` header value names this machine: `localhost` or a loopback IP, with or
/// without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || port.starts_with(':') => ip,
            _ => return false,
        },
        None => host.split_once(':').map_or(host, |(name, _port)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_local() {
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.1.2.3:1",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.5:8080",
            "[::1]evil",
            "[fe80::1]:80",
            "::1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    fn headers(host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        headers
    }

    fn config(endpoint: &str) -> EmulatorConfig {
        EmulatorConfig::new(endpoint.to_owned(), Vec::new(), Vec::new(), false)
    }

    #[test]
    fn served_only_on_a_loopback_listener_to_a_loopback_host() {
        let local = config("http://127.0.0.1:8080");
        assert!(refusal(&local, &headers("localhost:8080")).is_none());
        let refused = refusal(&local, &headers("rebound.example:8080")).unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(refusal(&local, &HeaderMap::new()).is_some());
        let lan = config("http://0.0.0.0:8080");
        assert!(refusal(&lan, &headers("127.0.0.1:8080")).is_some());
        let lan = config("http://192.168.1.5:8080");
        assert!(refusal(&lan, &headers("localhost:8080")).is_some());
    }
}
