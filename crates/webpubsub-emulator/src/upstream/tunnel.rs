//! Sending one event over the hub's tunnel connections instead of HTTP: the same signed
//! CloudEvents request (method, URL, headers, body) as an `HttpRequest` frame. The frame's `Url`
//! is the handler's resolved `tunnel:///path?query` URL: an absolute URL, as the official tunnel
//! code expects (it reads `new URL(request.Url).pathname`).
//!
//! A connection that closes before it answers costs nothing but time: the event goes to another
//! open connection at once. With no connection open the event waits the same pauses as an
//! unreachable HTTP upstream (an app restarting gets that long to dial in again), and then fails
//! the same way, so a `connect` is refused as for an unreachable upstream.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use webpubsub_protocol::tunnel::{HttpRequestMessage, TunnelHeaders};

use super::call::{self, UpstreamError, UpstreamReply};
use crate::tunnel::{CallFailure, Tunnels};

/// POSTs `body` to `url` (`tunnel:///path?query`) through a tunnel connection of `hub`.
pub(super) async fn post(
    tunnels: &Tunnels,
    hub: &str,
    url: &str,
    headers: &HeaderMap,
    body: Bytes,
    timeout: Duration,
    retry_delays: &[Duration],
) -> Result<UpstreamReply, UpstreamError> {
    let shown = super::without_query(url).to_owned();
    let unreachable = |attempts: usize, reason: String| UpstreamError::Unreachable {
        url: shown.clone(),
        attempts,
        reason,
    };
    let headers = TunnelHeaders::from_header_map(headers)
        .map_err(|e| unreachable(0, format!("the event cannot cross the tunnel: {e}")))?;
    let request = HttpRequestMessage {
        method: "POST".into(),
        url: url.to_owned(),
        headers,
        content: body,
        ..HttpRequestMessage::default()
    };
    let mut tried = Vec::new();
    let mut pauses = retry_delays.iter();
    loop {
        match tunnels
            .call(hub, request.clone(), timeout, &mut tried)
            .await
        {
            Ok(answer) => {
                let status = StatusCode::from_u16(answer.status).map_err(|_| {
                    unreachable(tried.len(), format!("invalid status {}", answer.status))
                })?;
                let headers = answer
                    .headers
                    .to_header_map()
                    .map_err(|e| unreachable(tried.len(), format!("the answer's headers: {e}")))?;
                return call::reply(status, headers, answer.body, &shown);
            }
            // Another connection may still be open: try it at once.
            Err(CallFailure::Dropped(id)) => {
                tracing::warn!(
                    hub,
                    connection = id,
                    "tunnel connection closed mid-event; sending the event on another one"
                );
            }
            Err(CallFailure::NoConnection(_)) => {
                let Some(pause) = pauses.next() else {
                    return Err(unreachable(
                        tried.len() + 1,
                        format!("no tunnel connection is open for hub {hub:?}"),
                    ));
                };
                // Connections seen before may have come back: they are fair game again.
                tried.clear();
                tokio::time::sleep(*pause).await;
            }
            Err(failure @ (CallFailure::TimedOut(_) | CallFailure::BadAnswer(_))) => {
                return Err(unreachable(tried.len(), failure.to_string()));
            }
        }
    }
}
