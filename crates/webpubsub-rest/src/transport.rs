//! The seam between the client and the wire: reqwest by default, or any [`Transport`] (the
//! tunnel's, in `webpubsub-tunnel`, carries REST calls over the app's tunnel connection).
//!
//! The client does everything else the same through either: the URL, the signed
//! `Authorization` header, the per-attempt timeout, retries and the errors. A transport only
//! moves one request and brings back its answer, or says why it could not.
//!
//! ```
//! use bytes::Bytes;
//! use webpubsub_rest::{Transport, TransportError, TransportFuture, WebPubSubServiceClient};
//!
//! /// A transport that answers every request itself (a test double; a real one sends it).
//! #[derive(Debug)]
//! struct Answers;
//!
//! impl Transport for Answers {
//!     fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
//!         Box::pin(async move {
//!             assert!(request.headers().contains_key(http::header::AUTHORIZATION));
//!             if request.uri().path().ends_with("/:send") {
//!                 Ok(http::Response::builder().status(202).body(Bytes::new()).unwrap())
//!             } else {
//!                 Err(TransportError::connect("nothing to send it over"))
//!             }
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let client = WebPubSubServiceClient::builder("https://demo.webpubsub.azure.com", "chat")
//!     .access_key("key")
//!     .transport(Answers)
//!     .retry_policy(webpubsub_rest::RetryPolicy::none())
//!     .build()
//!     .unwrap();
//! client.send_to_all("hello").await.unwrap();
//! let error = client.add_user_to_group("room", "alice").await.unwrap_err();
//! assert!(error.is_connect());
//! # }
//! ```

use std::{fmt, future::Future, pin::Pin};

use bytes::Bytes;

use crate::error::{BoxError, Kind};

/// What a [`Transport`] returns: the answer, its body read whole.
pub type TransportFuture<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, TransportError>> + Send + 'a>>;

/// Carries one REST request to the service and brings back its answer.
///
/// The request's URI is absolute (the service URL, or the reverse proxy's); its headers carry
/// `Authorization`, `User-Agent` and, with a body, `Content-Type`. The answer is any HTTP
/// answer the service gave, 2xx or not: the client reads statuses, `Retry-After` and
/// `x-ms-error-code` from it as it does over HTTP. The client bounds each attempt with its own
/// timeout (the future is dropped when it runs out), so a transport cancels cleanly on drop.
pub trait Transport: fmt::Debug + Send + Sync {
    /// Sends `request` and waits for its whole answer.
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_>;
}

/// Why a [`Transport`] brought back no answer. Its kind decides the client's retries: a
/// request that was [never sent](Self::connect) is retried even when it is a send, one
/// [lost in flight](Self::broken) or [timed out](Self::timeout) only when it is idempotent (see
/// [`RetryPolicy`](crate::RetryPolicy)), one the transport [cannot carry](Self::invalid)
/// never.
#[derive(Debug)]
pub struct TransportError {
    kind: Kind,
    source: BoxError,
}

impl TransportError {
    /// The request was not sent: no connection to send it over.
    pub fn connect(source: impl Into<BoxError>) -> Self {
        Self {
            kind: Kind::Connect,
            source: source.into(),
        }
    }

    /// The request may have reached the service, but no whole answer came back (the connection
    /// broke, the answer was too large or malformed).
    pub fn broken(source: impl Into<BoxError>) -> Self {
        Self {
            kind: Kind::Transport,
            source: source.into(),
        }
    }

    /// No answer came in time.
    pub fn timeout(source: impl Into<BoxError>) -> Self {
        Self {
            kind: Kind::Timeout,
            source: source.into(),
        }
    }

    /// The transport cannot carry this request (too large for it, a header it cannot
    /// express): it was not sent, and sending it again would fail the same way, so it is not
    /// retried ([`Error::is_invalid_argument`](crate::Error::is_invalid_argument)).
    pub fn invalid(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            kind: Kind::InvalidArgument(message.clone()),
            source: message.into(),
        }
    }

    pub(crate) fn into_parts(self) -> (Kind, BoxError) {
        (self.kind, self.source)
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            Kind::Connect | Kind::InvalidArgument(_) => "not sent",
            Kind::Timeout => "no answer in time",
            _ => "no whole answer",
        };
        write!(f, "{what}: {}", self.source)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}
