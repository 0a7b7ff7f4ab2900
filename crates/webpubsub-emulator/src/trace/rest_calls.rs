//! The REST API's calls in the trace: method, path (never the query), status, error code and
//! latency, one event per call.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{TraceKind, TraceRecord};
use crate::config::EmulatorConfig;

/// An axum middleware around the REST router that reports each call once it is answered.
pub(crate) async fn trace_rest_calls(
    State(config): State<Arc<EmulatorConfig>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // The path only: the query is not secret today, but keeping it out means no future
    // parameter can leak through here.
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    config.trace.emit(TraceKind::Rest, hub_of(&path), || {
        let error_code = response
            .headers()
            .get("x-ms-error-code")
            .and_then(|v| v.to_str().ok());
        TraceRecord::new(format!("{method} {path}"))
            .detail("status", response.status().as_u16())
            .detail_opt("error_code", error_code)
            .latency(started.elapsed())
    });
    response
}

/// The hub a REST path names (`/api/hubs/{hub}/…`), or "" (the health check, a bad path).
fn hub_of(path: &str) -> &str {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("api"), Some("hubs"), Some(hub)) => hub,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_comes_from_the_path() {
        assert_eq!(hub_of("/api/hubs/chat/:send"), "chat");
        assert_eq!(hub_of("/api/hubs/chat"), "chat");
        assert_eq!(hub_of("/api/health"), "");
        assert_eq!(hub_of("/api"), "");
    }
}
