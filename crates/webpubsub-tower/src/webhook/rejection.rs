//! Why the layer refused a request on its path.

use http::{HeaderValue, Response, StatusCode, header};

/// Why the layer answered a request on its path with an error instead of calling the handler.
///
/// Every such answer carries its `Rejection` in the response extensions, so outer layers (and
/// tests) can tell the cases apart without parsing the text body, and emits a `tracing` event.
/// The body is the [message](Self::message) as `text/plain`.
///
/// This is an opaque struct rather than an enum so that later versions can add context without a
/// breaking change; match on [`kind`](Self::kind).
///
/// ```
/// use http::StatusCode;
/// use webpubsub_tower::{Rejection, RejectionKind};
///
/// # fn check(response: http::Response<()>) {
/// if let Some(rejection) = response.extensions().get::<Rejection>() {
///     if rejection.kind() == RejectionKind::InvalidSignature {
///         assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    kind: RejectionKind,
    message: String,
}

/// The cases of [`Rejection`], each with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// `OPTIONS` without `WebHook-Request-Origin` (400).
    MissingOrigin,
    /// `OPTIONS` from an origin that is not allowed (400).
    OriginNotAllowed,
    /// A method other than `OPTIONS` or `POST` (405, with `Allow: OPTIONS, POST`).
    MethodNotAllowed,
    /// A required `ce-*` header is missing (400).
    MissingHeader,
    /// A header is not valid UTF-8, repeated where only one is allowed, or has a bad value (400).
    MalformedHeader,
    /// `ce-type` is not an event type this layer handles (400).
    UnknownEventType,
    /// Keys are configured but the request has no `ce-signature` (401).
    MissingSignature,
    /// `ce-signature` matches no key configured for the request's origin (401).
    InvalidSignature,
    /// The event's hub is not served by this layer (404).
    HubNotServed,
    /// `ce-connectionState` cannot be decoded (400).
    InvalidState,
    /// The body is larger than the configured limit (413).
    PayloadTooLarge,
    /// A user event's `Content-Type` is not one the service sends (415).
    UnsupportedContentType,
    /// The body could not be read, or is not the JSON the event needs (400).
    InvalidBody,
    /// The handler panicked (500).
    HandlerPanicked,
    /// The handler did not finish within the configured timeout (504).
    HandlerTimedOut,
}

impl RejectionKind {
    /// The status the layer answers with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingOrigin
            | Self::OriginNotAllowed
            | Self::MissingHeader
            | Self::MalformedHeader
            | Self::UnknownEventType
            | Self::InvalidState
            | Self::InvalidBody => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::MissingSignature | Self::InvalidSignature => StatusCode::UNAUTHORIZED,
            Self::HubNotServed => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::HandlerPanicked => StatusCode::INTERNAL_SERVER_ERROR,
            Self::HandlerTimedOut => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

impl Rejection {
    pub(crate) fn new(kind: RejectionKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Which case this is.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The reason, in words; also the answer's body.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The answer: the status, the message as text, and `self` in the extensions. Logs the
    /// rejection (never with secrets: messages do not carry signatures or keys): at DEBUG, and
    /// for a refused signature also at WARN at most once a minute, so that a flood of forged
    /// requests cannot flood the logs.
    pub(crate) fn into_response<B: From<String>>(self) -> Response<B> {
        tracing::debug!(
            status = self.status().as_u16(),
            kind = ?self.kind,
            reason = %self.message,
            "web pubsub request rejected"
        );
        if matches!(
            self.kind,
            RejectionKind::MissingSignature | RejectionKind::InvalidSignature
        ) {
            refused_signatures::note(&self.message);
        }
        self.into_response_unlogged()
    }

    /// [`into_response`](Self::into_response) for a failure already logged where it happened.
    pub(crate) fn into_response_unlogged<B: From<String>>(self) -> Response<B> {
        let mut response = Response::new(B::from(self.message.clone()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if self.kind == RejectionKind::MethodNotAllowed {
            headers.insert(header::ALLOW, HeaderValue::from_static("OPTIONS, POST"));
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// The WARN line about requests refused for their signature: the first one, then at most one a
/// minute with the count of those in between (each is also logged at DEBUG).
mod refused_signatures {
    use std::{
        sync::{
            OnceLock,
            atomic::{AtomicU64, Ordering},
        },
        time::Instant,
    };

    const EVERY_SECS: u64 = 60;

    static START: OnceLock<Instant> = OnceLock::new();
    static THROTTLE: Throttle = Throttle::new();

    pub(super) fn note(reason: &str) {
        let now = START.get_or_init(Instant::now).elapsed().as_secs();
        if let Some(refused) = THROTTLE.count(now) {
            tracing::warn!(
                refused,
                last_reason = reason,
                "web pubsub requests refused for a missing or wrong ce-signature (not from the service, or the keys differ); the next such line comes in a minute at the earliest"
            );
        }
    }

    /// Counts refusals and says when a line is due: at the first, then at most once every
    /// `EVERY_SECS`, with the number counted since the last line.
    pub(super) struct Throttle {
        /// Seconds (on the caller's clock) from which the next line may be written.
        next: AtomicU64,
        /// Refusals counted and not yet reported.
        since: AtomicU64,
    }

    impl Throttle {
        pub(super) const fn new() -> Self {
            Self {
                next: AtomicU64::new(0),
                since: AtomicU64::new(0),
            }
        }

        /// Counts one refusal at `now` (seconds); `Some(count)` when a line is due.
        pub(super) fn count(&self, now: u64) -> Option<u64> {
            let refused = self.since.fetch_add(1, Ordering::Relaxed) + 1;
            let next = self.next.load(Ordering::Relaxed);
            // Of racing callers, only the one that moves `next` writes the line.
            if now < next
                || self
                    .next
                    .compare_exchange(next, now + EVERY_SECS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                return None;
            }
            self.since.fetch_sub(refused, Ordering::Relaxed);
            Some(refused)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::{EVERY_SECS, Throttle};

        #[test]
        fn the_first_refusal_is_reported_then_one_line_a_minute_with_the_count() {
            let throttle = Throttle::new();
            assert_eq!(throttle.count(5), Some(1));
            // A flood within the minute writes nothing.
            assert!((0..1_000).all(|_| throttle.count(6).is_none()));
            assert_eq!(throttle.count(5 + EVERY_SECS - 1), None);
            // The next line counts every refusal since the last one.
            assert_eq!(throttle.count(5 + EVERY_SECS), Some(1_002));
            assert_eq!(throttle.count(5 + EVERY_SECS), None);
            assert_eq!(throttle.count(5 + 3 * EVERY_SECS), Some(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_carries_status_text_and_itself() {
        let rejection = Rejection::new(RejectionKind::HubNotServed, "hub \"x\" is not served");
        let response: Response<String> = rejection.clone().into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.body(), "hub \"x\" is not served");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.extensions().get::<Rejection>(), Some(&rejection));
        assert_eq!(rejection.to_string(), rejection.message());
    }

    #[test]
    fn method_not_allowed_lists_the_methods() {
        let response: Response<String> =
            Rejection::new(RejectionKind::MethodNotAllowed, "method GET is not allowed")
                .into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "OPTIONS, POST");
    }
}
