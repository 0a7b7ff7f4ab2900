//! When and how long to wait before sending a request again.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

use crate::error::{Error, Kind};

/// How failed requests are retried. The default: 3 retries, 800 ms doubling to at most 60 s.
///
/// Retried: answers 408, 429, 500, 502, 503 and 504, failed connections and timed-out
/// attempts, with exponential backoff and ±20 % jitter, honouring the service's
/// `Retry-After` (seconds or HTTP date), `retry-after-ms` and `x-ms-retry-after-ms` headers.
///
/// **Sends are the exception.** The official SDKs (Azure Core pipelines in JS, .NET, Java,
/// Python) retry every operation, `POST …/:send` included; when the first attempt did reach the
/// service, the message is then delivered twice. This crate does not do that by default: a send
/// is retried only when the service cannot have acted on it — the connection was never made,
/// or the service answered 408, 429 or 503 (it refused the request before handling it). After a
/// 500, 502 or 504, a timeout or a connection dropped mid-request, the send's error is
/// returned. [`RetryPolicy::retry_sends`] restores the official SDKs' behaviour for callers who
/// prefer duplicates to losses. Every other operation is idempotent (`PUT`, `DELETE`, `HEAD`,
/// `GET`, and the `POST`s that close connections, change group membership or mint a token) and
/// is retried on every retryable failure.
///
/// ```
/// use std::time::Duration;
/// use webpubsub_rest::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_retries(5)
///     .initial_delay(Duration::from_millis(200))
///     .max_delay(Duration::from_secs(10));
/// assert_eq!(policy.get_max_retries(), 5);
/// assert_eq!(RetryPolicy::none().get_max_retries(), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct RetryPolicy {
    max_retries: u32,
    initial_delay: Duration,
    max_delay: Duration,
    retry_sends: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_delay: Duration::from_millis(800),
            max_delay: Duration::from_secs(60),
            retry_sends: false,
        }
    }
}

/// Whether an operation may be sent twice without a visible effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Sending twice changes nothing (membership, permissions, closes, reads, tokens).
    Idempotent,
    /// Sending twice delivers a message twice.
    Send,
}

impl RetryPolicy {
    /// No retries: every failure is returned at once.
    pub fn none() -> Self {
        Self::default().max_retries(0)
    }

    /// How many times a request is sent again after the first attempt.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The wait before the first retry; each later retry waits twice as long.
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest wait between two attempts, also the cap on a `Retry-After` from the service.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Also retry sends after failures the service may have acted on (500, 502, 504, timeouts,
    /// dropped connections), as the official SDKs do: a message may then arrive twice.
    pub fn retry_sends(mut self, retry: bool) -> Self {
        self.retry_sends = retry;
        self
    }

    /// The number of retries after the first attempt.
    pub fn get_max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Whether `error`, from attempt number `attempt` (1-based), should be retried.
    pub(crate) fn should_retry(&self, error: &Error, attempt: u32, op: Idempotency) -> bool {
        if attempt > self.max_retries {
            return false;
        }
        let surely_unhandled = match error.kind() {
            Kind::Connect => true,
            Kind::Status => matches!(
                error.status(),
                Some(
                    StatusCode::REQUEST_TIMEOUT
                        | StatusCode::TOO_MANY_REQUESTS
                        | StatusCode::SERVICE_UNAVAILABLE
                )
            ),
            _ => false,
        };
        let maybe_handled = match error.kind() {
            Kind::Timeout | Kind::Transport => true,
            Kind::Status => matches!(
                error.status(),
                Some(
                    StatusCode::INTERNAL_SERVER_ERROR
                        | StatusCode::BAD_GATEWAY
                        | StatusCode::GATEWAY_TIMEOUT
                )
            ),
            _ => false,
        };
        surely_unhandled || (maybe_handled && (op == Idempotency::Idempotent || self.retry_sends))
    }

    /// The wait before retry number `attempt` (1-based): the service's hint if it gave one,
    /// else exponential backoff with jitter; never more than `max_delay`.
    pub(crate) fn delay(&self, attempt: u32, headers: Option<&HeaderMap>) -> Duration {
        let hinted = headers.and_then(retry_after);
        let delay = hinted.unwrap_or_else(|| {
            let exponent = attempt.saturating_sub(1).min(31);
            let base = self.initial_delay.saturating_mul(1 << exponent);
            // ±20 % so that many clients throttled together do not retry together.
            base.mul_f64(0.8 + fastrand::f64() * 0.4)
        });
        delay.min(self.max_delay)
    }
}

/// The wait the service asks for, from `retry-after-ms`, `x-ms-retry-after-ms` or `Retry-After`
/// (delta seconds or an HTTP date).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = value(name).and_then(|v| v.parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let retry_after = value("retry-after")?;
    if let Ok(seconds) = retry_after.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(retry_after).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Error {
        Error::from_answer(StatusCode::from_u16(code).unwrap(), None, b"")
    }

    #[test]
    fn retryable_statuses_are_retried_for_idempotent_operations() {
        let policy = RetryPolicy::default();
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(
                policy.should_retry(&status(code), 1, Idempotency::Idempotent),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 409, 413, 501, 505] {
            assert!(
                !policy.should_retry(&status(code), 1, Idempotency::Idempotent),
                "{code}"
            );
        }
        assert!(policy.should_retry(&Error::new(Kind::Connect), 1, Idempotency::Idempotent));
        assert!(policy.should_retry(&Error::new(Kind::Transport), 1, Idempotency::Idempotent));
        assert!(!policy.should_retry(&Error::invalid_argument("x"), 1, Idempotency::Idempotent));
    }

    #[test]
    fn sends_are_retried_only_when_the_service_cannot_have_acted() {
        let policy = RetryPolicy::default();
        for code in [408, 429, 503] {
            assert!(policy.should_retry(&status(code), 1, Idempotency::Send));
        }
        for code in [500, 502, 504] {
            assert!(!policy.should_retry(&status(code), 1, Idempotency::Send));
        }
        assert!(policy.should_retry(&Error::new(Kind::Connect), 1, Idempotency::Send));
        assert!(!policy.should_retry(&Error::new(Kind::Transport), 1, Idempotency::Send));
        assert!(!policy.should_retry(&Error::new(Kind::Timeout), 1, Idempotency::Send));
        let like_official = RetryPolicy::default().retry_sends(true);
        assert!(like_official.should_retry(&status(500), 1, Idempotency::Send));
        assert!(like_official.should_retry(&Error::new(Kind::Transport), 1, Idempotency::Send));
    }

    #[test]
    fn the_budget_is_respected() {
        let policy = RetryPolicy::default().max_retries(2);
        assert!(policy.should_retry(&status(503), 2, Idempotency::Idempotent));
        assert!(!policy.should_retry(&status(503), 3, Idempotency::Idempotent));
        assert!(!RetryPolicy::none().should_retry(&status(503), 1, Idempotency::Idempotent));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy::default()
            .initial_delay(Duration::from_secs(1))
            .max_delay(Duration::from_secs(5));
        for _ in 0..50 {
            let first = policy.delay(1, None);
            assert!(first >= Duration::from_millis(800) && first <= Duration::from_millis(1200));
            let third = policy.delay(3, None);
            assert!(third >= Duration::from_millis(3200) && third <= Duration::from_secs(5));
            assert_eq!(policy.delay(30, None), Duration::from_secs(5));
            assert_eq!(policy.delay(u32::MAX, None), Duration::from_secs(5));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_retry_after_value_is_read_without_panicking(value in "[ -~]{0,40}") {
            let mut headers = HeaderMap::new();
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.insert("retry-after", value.clone());
                headers.insert("retry-after-ms", value);
            }
            let delay = RetryPolicy::default().delay(1, Some(&headers));
            proptest::prop_assert!(delay <= Duration::from_secs(60));
        }
    }

    #[test]
    fn the_service_hint_wins() {
        let policy = RetryPolicy::default();
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(policy.delay(1, Some(&headers)), Duration::from_secs(2));
        headers.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(policy.delay(1, Some(&headers)), Duration::from_millis(150));
        let mut dated = HeaderMap::new();
        dated.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&dated),
            Some(Duration::ZERO),
            "a past date means now"
        );
        let mut garbage = HeaderMap::new();
        garbage.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&garbage), None);
        // A hint longer than the cap is capped.
        headers.insert("retry-after-ms", "999999999".parse().unwrap());
        assert_eq!(policy.delay(1, Some(&headers)), Duration::from_secs(60));
    }
}
