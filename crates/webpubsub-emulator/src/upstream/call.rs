//! Sending one event: bounded time per attempt, a few retries for transient failures, and a
//! bounded answer.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};

/// The pauses before the second and third attempt. Like the service, only failures that may be
/// transient are retried: no connection, a timeout, 408, 429, 502, 503, 504.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];

/// The largest answer read from an upstream, as in the service.
pub(crate) const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// A 2xx answer of an upstream.
#[derive(Debug)]
pub(crate) struct UpstreamReply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl UpstreamReply {
    /// The media type of the answer, lower-cased and without parameters.
    pub(crate) fn media_type(&self) -> Option<String> {
        media_type(&self.headers)
    }
}

/// Why an event failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// No answer after every attempt.
    #[error("upstream {url} is unreachable after {attempts} attempts: {reason}")]
    Unreachable {
        url: String,
        attempts: usize,
        reason: String,
    },
    /// An answer that is not 2xx.
    #[error("upstream {url} answered {status}")]
    Status {
        url: String,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    /// An answer over [`MAX_RESPONSE_BYTES`].
    #[error("upstream {url} answered with more than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge { url: String },
}

/// POSTs `body` to `url` with `headers`.
pub(super) async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
) -> Result<UpstreamReply, UpstreamError> {
    // The URL may hold a `code=` secret: logs and errors show it without the query.
    let shown = url.split('?').next().unwrap_or_default().to_owned();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = client
            .post(url)
            .headers(headers.clone())
            .body(body.clone())
            .timeout(timeout)
            .send()
            .await;
        let retry_reason = match result {
            Ok(response) if is_transient(response.status()) => {
                format!("status {}", response.status())
            }
            Ok(response) => return read(response, shown).await,
            Err(error) => super::describe(error),
        };
        let Some(delay) = RETRY_DELAYS.get(attempt - 1) else {
            return Err(UpstreamError::Unreachable {
                url: shown,
                attempts: attempt,
                reason: retry_reason,
            });
        };
        tracing::warn!(
            url = shown,
            attempt,
            reason = retry_reason,
            ?delay,
            "upstream call failed; retrying"
        );
        tokio::time::sleep(*delay).await;
    }
}

fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504)
}

async fn read(
    mut response: reqwest::Response,
    url: String,
) -> Result<UpstreamReply, UpstreamError> {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = BytesMut::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(UpstreamError::TooLarge { url });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(error) => {
                return Err(UpstreamError::Unreachable {
                    url,
                    attempts: 1,
                    reason: format!("the answer broke off: {}", super::describe(error)),
                });
            }
        }
    }
    let body = body.freeze();
    if status.is_success() {
        Ok(UpstreamReply {
            status,
            headers,
            body,
        })
    } else {
        Err(UpstreamError::Status {
            url,
            status,
            headers,
            body,
        })
    }
}

/// The media type of `Content-Type`, lower-cased and without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}
