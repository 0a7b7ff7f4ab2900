//! Sending one event: one total deadline for every attempt, a few retries for transient
//! failures within it, and a bounded answer.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use tokio::time::Instant;

/// The pauses before the second and third attempt. Like the service, only failures that may be
/// transient are retried: no connection, a timeout, 408, 429, 502, 503, 504.
pub(super) const RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];

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
    /// An event name that cannot go into a URL or a header; nothing was sent.
    #[error("invalid event name {0:?}: {rule}", rule = webpubsub_protocol::EVENT_NAME_RULE)]
    InvalidEventName(String),
    /// An answer over [`MAX_RESPONSE_BYTES`].
    #[error("upstream {url} answered with more than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge { url: String },
}

/// POSTs `body` to `url` with `headers`; every attempt, the pauses between them and reading the
/// answer end by `deadline`.
pub(super) async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: HeaderMap,
    body: Bytes,
    deadline: Instant,
    retry_delays: &[Duration],
) -> Result<UpstreamReply, UpstreamError> {
    // Owned only for an error: a successful call allocates nothing for it.
    let shown = super::without_query(url);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = client
            .post(url)
            .headers(headers.clone())
            .body(body.clone())
            .timeout(deadline.saturating_duration_since(Instant::now()))
            .send()
            .await;
        let retry_reason = match result {
            Ok(response) if is_transient(response.status()) => {
                format!("status {}", response.status())
            }
            Ok(response) => return read(response, shown).await,
            Err(error) => super::describe(error),
        };
        let delay = retry_delays
            .get(attempt - 1)
            // A retry that could not finish before the deadline is not made.
            .filter(|delay| Instant::now() + **delay < deadline);
        let Some(delay) = delay else {
            return Err(UpstreamError::Unreachable {
                url: shown.to_owned(),
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

async fn read(mut response: reqwest::Response, url: &str) -> Result<UpstreamReply, UpstreamError> {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = BytesMut::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(UpstreamError::TooLarge {
                        url: url.to_owned(),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(error) => {
                return Err(UpstreamError::Unreachable {
                    url: url.to_owned(),
                    attempts: 1,
                    reason: format!("the answer broke off: {}", super::describe(error)),
                });
            }
        }
    }
    reply(status, headers, body.freeze(), url)
}

/// A complete answer as the caller sees it: a 2xx reply, or the non-2xx status as an error.
// The error carries the handler's whole answer, which the caller passes on; it is built once
// per failed event, so its size costs nothing worth a box.
#[allow(clippy::result_large_err)]
pub(super) fn reply(
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    url: &str,
) -> Result<UpstreamReply, UpstreamError> {
    if status.is_success() {
        Ok(UpstreamReply {
            status,
            headers,
            body,
        })
    } else {
        Err(UpstreamError::Status {
            url: url.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const FAST: [Duration; 2] = [Duration::from_millis(5), Duration::from_millis(5)];

    /// An upstream answering the statuses in `script` in turn (the last one repeats); returns its
    /// URL and the count of requests it got.
    async fn upstream(script: &'static [u16]) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let status = script[n.min(script.len() - 1)];
                async move { (StatusCode::from_u16(status).unwrap(), "answer") }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, hits)
    }

    async fn call(url: &str) -> Result<UpstreamReply, UpstreamError> {
        call_within(url, Duration::from_secs(5)).await
    }

    async fn call_within(url: &str, total: Duration) -> Result<UpstreamReply, UpstreamError> {
        let client = super::super::http_client().unwrap();
        post(
            &client,
            url,
            HeaderMap::new(),
            Bytes::new(),
            Instant::now() + total,
            &FAST,
        )
        .await
    }

    #[tokio::test]
    async fn the_deadline_bounds_every_attempt_together() {
        // An upstream that accepts and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let started = std::time::Instant::now();
        let error = call_within(&url, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(
            matches!(error, UpstreamError::Unreachable { .. }),
            "{error}"
        );
        // Three attempts of the whole 300 ms each would take 900 ms.
        assert!(
            started.elapsed() < Duration::from_millis(800),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn transient_failures_are_retried() {
        let (url, hits) = upstream(&[503, 502, 200]).await;
        let reply = call(&url).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "answer");
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_are_bounded() {
        let (url, hits) = upstream(&[503]).await;
        let error = call(&url).await.unwrap_err();
        assert!(
            matches!(error, UpstreamError::Unreachable { attempts: 3, .. }),
            "{error}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_handler_error_is_not_retried() {
        let (url, hits) = upstream(&[500]).await;
        let error = call(&url).await.unwrap_err();
        let UpstreamError::Status { status, body, .. } = error else {
            panic!("{error}")
        };
        assert_eq!(
            (status, body.as_ref()),
            (StatusCode::INTERNAL_SERVER_ERROR, b"answer".as_ref())
        );
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_reported_without_the_query() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let error = call(&format!("http://{closed}/hook?code=secret"))
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(error, UpstreamError::Unreachable { attempts: 3, .. }),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
    }
}
