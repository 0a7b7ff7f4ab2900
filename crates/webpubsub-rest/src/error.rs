//! The one error type of the crate, opaque like `reqwest::Error`: its kind is asked through
//! `is_*` predicates, so new kinds and new context never break callers.

use std::{error::Error as StdError, fmt};

use http::StatusCode;
use serde::Deserialize;

pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// An error of a REST operation or of building a client.
///
/// The service's answer, when there was one, is kept: [`status`](Self::status), the
/// `x-ms-error-code` header ([`error_code`](Self::error_code)) and the JSON
/// [`ErrorDetail`](Self::detail) body. Messages never contain access keys or tokens.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    operation: Option<&'static str>,
    status: Option<StatusCode>,
    error_code: Option<String>,
    detail: Option<ErrorDetail>,
    attempts: u32,
    /// Where the request went (`scheme://host:port`), for failures to reach it.
    endpoint: Option<String>,
    source: Option<BoxError>,
}

/// What went wrong. Private so that kinds can be added; callers use the `is_*` predicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The client could not be built (bad endpoint, hub, TLS setup).
    Builder(String),
    /// An argument of an operation is invalid; the request was not sent.
    InvalidArgument(String),
    /// The service answered with a non-2xx status.
    Status,
    /// The request (one attempt) took longer than the timeout.
    Timeout,
    /// No connection could be made to the service.
    Connect,
    /// The connection failed while the request or response was in flight.
    Transport,
    /// The response body was not what the operation expects.
    Decode(String),
    /// The token credential could not provide a token, or a token could not be signed.
    Credential(String),
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                operation: None,
                status: None,
                error_code: None,
                detail: None,
                attempts: 0,
                endpoint: None,
                source: None,
            }),
        }
    }

    pub(crate) fn builder(message: impl Into<String>) -> Self {
        Self::new(Kind::Builder(message.into()))
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Kind::InvalidArgument(message.into()))
    }

    pub(crate) fn credential(message: impl Into<String>) -> Self {
        Self::new(Kind::Credential(message.into()))
    }

    pub(crate) fn decode(message: impl Into<String>) -> Self {
        Self::new(Kind::Decode(message.into()))
    }

    /// An answer with a non-2xx status; `body` is parsed as an [`ErrorDetail`] when it is one.
    pub(crate) fn from_answer(status: StatusCode, error_code: Option<String>, body: &[u8]) -> Self {
        let mut error = Self::new(Kind::Status);
        error.inner.status = Some(status);
        error.inner.error_code = error_code;
        error.inner.detail = serde_json::from_slice::<ErrorDetail>(body).ok();
        error
    }

    /// A reqwest failure, classified.
    pub(crate) fn transport(source: reqwest::Error) -> Self {
        let kind = if source.is_timeout() {
            Kind::Timeout
        } else if source.is_connect() {
            Kind::Connect
        } else if source.is_decode() {
            Kind::Decode("the response body could not be read".to_owned())
        } else if source.is_builder() {
            Kind::InvalidArgument("the request could not be built".to_owned())
        } else {
            Kind::Transport
        };
        // reqwest errors carry the URL, and a URL never carries a secret here (tokens travel in
        // the Authorization header), but strip it anyway so messages stay short.
        Self::new(kind).with_source(source.without_url())
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn with_operation(mut self, operation: &'static str) -> Self {
        self.inner.operation.get_or_insert(operation);
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// Names where the request went when it could not get there (a timeout, no connection, a
    /// broken one): `target`'s scheme, host and port only. A URL here never holds a secret
    /// (tokens travel in the `Authorization` header), and the path and query are left out.
    pub(crate) fn with_endpoint(mut self, target: &reqwest::Url) -> Self {
        if matches!(
            self.inner.kind,
            Kind::Timeout | Kind::Connect | Kind::Transport
        ) {
            self.inner.endpoint = Some(target.origin().ascii_serialization());
        }
        self
    }

    pub(crate) fn kind(&self) -> &Kind {
        &self.inner.kind
    }

    /// The HTTP status the service answered with, if the error is an answer.
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// The service's `x-ms-error-code` header, for example `Error.Connection.NotExisted`.
    pub fn error_code(&self) -> Option<&str> {
        self.inner.error_code.as_deref()
    }

    /// The service's JSON error body, when it sent one (`HEAD` answers have none).
    pub fn detail(&self) -> Option<&ErrorDetail> {
        self.inner.detail.as_ref()
    }

    /// The name of the operation that failed, for example `send_to_group`.
    pub fn operation(&self) -> Option<&'static str> {
        self.inner.operation
    }

    /// How many times the request was sent (0 when it never was, more than 1 after retries).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// Whether the service answered with a non-2xx status.
    pub fn is_status(&self) -> bool {
        self.inner.kind == Kind::Status
    }

    /// Whether the service answered 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Whether the service answered 401 Unauthorized or 403 Forbidden.
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self.status(),
            Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
        )
    }

    /// Whether the service answered 429 Too Many Requests.
    pub fn is_throttled(&self) -> bool {
        self.status() == Some(StatusCode::TOO_MANY_REQUESTS)
    }

    /// Whether an attempt took longer than the request timeout.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == Kind::Timeout
    }

    /// Whether no connection could be made (the request never reached the service).
    pub fn is_connect(&self) -> bool {
        self.inner.kind == Kind::Connect
    }

    /// Whether the connection failed while the request or its answer was in flight.
    pub fn is_transport(&self) -> bool {
        self.inner.kind == Kind::Transport
    }

    /// Whether an argument was rejected before anything was sent (an empty user id, a group
    /// name of blanks, a token lifetime under one minute…).
    pub fn is_invalid_argument(&self) -> bool {
        matches!(self.inner.kind, Kind::InvalidArgument(_))
    }

    /// Whether the client could not be built.
    pub fn is_builder(&self) -> bool {
        matches!(self.inner.kind, Kind::Builder(_))
    }

    /// Whether the answer body could not be read or parsed.
    pub fn is_decode(&self) -> bool {
        matches!(self.inner.kind, Kind::Decode(_))
    }

    /// Whether the token credential failed or a token could not be signed.
    pub fn is_credential(&self) -> bool {
        matches!(self.inner.kind, Kind::Credential(_))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Error");
        s.field("kind", &self.inner.kind);
        if let Some(operation) = self.inner.operation {
            s.field("operation", &operation);
        }
        if let Some(status) = self.inner.status {
            s.field("status", &status);
        }
        if let Some(code) = &self.inner.error_code {
            s.field("error_code", code);
        }
        if let Some(detail) = &self.inner.detail {
            s.field("detail", detail);
        }
        if self.inner.attempts > 1 {
            s.field("attempts", &self.inner.attempts);
        }
        if let Some(source) = &self.inner.source {
            s.field("source", source);
        }
        s.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(operation) = self.inner.operation {
            write!(f, "{operation}: ")?;
        }
        match &self.inner.kind {
            Kind::Builder(message) => write!(f, "cannot build the client: {message}")?,
            Kind::InvalidArgument(message) => write!(f, "invalid argument: {message}")?,
            Kind::Status => {
                let status = self
                    .inner
                    .status
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                write!(f, "the service answered {status}")?;
                let code = self
                    .inner
                    .error_code
                    .as_deref()
                    .or_else(|| self.detail().and_then(|d| d.code.as_deref()));
                if let Some(code) = code {
                    write!(f, " ({code})")?;
                }
                if let Some(message) = self.detail().and_then(|d| d.message.as_deref()) {
                    write!(f, ": {message}")?;
                }
            }
            Kind::Timeout => write!(f, "the request{} timed out", At(&self.inner.endpoint, "to"))?,
            Kind::Connect => write!(
                f,
                "cannot connect to the service{}",
                At(&self.inner.endpoint, "at")
            )?,
            Kind::Transport => write!(
                f,
                "the connection to the service{} failed",
                At(&self.inner.endpoint, "at")
            )?,
            Kind::Decode(message) => write!(f, "unexpected answer: {message}")?,
            Kind::Credential(message) => write!(f, "credential failed: {message}")?,
        }
        if self.inner.attempts > 1 {
            write!(f, " (gave up after {} attempts)", self.inner.attempts)?;
        }
        Ok(())
    }
}

/// ` at http://host:port` when the endpoint is known, else nothing.
struct At<'a>(&'a Option<String>, &'static str);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(endpoint) => write!(f, " {} {endpoint}", self.1),
            None => Ok(()),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The service's error body (`ErrorDetail` in the REST specification).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[non_exhaustive]
pub struct ErrorDetail {
    /// One of a server-defined set of error codes.
    pub code: Option<String>,
    /// A human-readable description.
    pub message: Option<String>,
    /// The target of the error.
    pub target: Option<String>,
    /// Details about specific errors that led to this one.
    #[serde(default)]
    pub details: Vec<Self>,
    /// A more specific error code.
    pub inner: Option<InnerError>,
}

/// A more specific error code of an [`ErrorDetail`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[non_exhaustive]
pub struct InnerError {
    /// The more specific code.
    pub code: Option<String>,
    /// An even more specific error.
    pub inner: Option<Box<Self>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_show_code_and_message() {
        let body = br#"{"code":"Error.Connection.NotExisted","message":"Connection `x` is not found.","target":"Connection"}"#;
        let error = Error::from_answer(
            StatusCode::NOT_FOUND,
            Some("Error.Connection.NotExisted".into()),
            body,
        )
        .with_operation("add_connection_to_group");
        assert!(error.is_status() && error.is_not_found());
        assert_eq!(error.error_code(), Some("Error.Connection.NotExisted"));
        assert_eq!(
            error.detail().and_then(|d| d.target.as_deref()),
            Some("Connection")
        );
        assert_eq!(
            error.to_string(),
            "add_connection_to_group: the service answered 404 Not Found (Error.Connection.NotExisted): Connection `x` is not found."
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_not_a_detail() {
        let error = Error::from_answer(StatusCode::BAD_GATEWAY, None, b"<html>").with_attempts(4);
        assert!(error.detail().is_none());
        assert_eq!(
            error.to_string(),
            "the service answered 502 Bad Gateway (gave up after 4 attempts)"
        );
    }

    #[test]
    fn nested_details_parse() {
        let body =
            br#"{"code":"a","details":[{"code":"b"}],"inner":{"code":"c","inner":{"code":"d"}}}"#;
        let error = Error::from_answer(StatusCode::BAD_REQUEST, None, body);
        let detail = error.detail().unwrap();
        assert_eq!(detail.details[0].code.as_deref(), Some("b"));
        let inner = detail.inner.as_ref().unwrap();
        assert_eq!(inner.inner.as_ref().unwrap().code.as_deref(), Some("d"));
    }
}
