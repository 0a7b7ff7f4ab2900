//! What one operation sends, before the client turns it into an HTTP request: method, path,
//! query and body, plus the future every operation returns.

use std::{
    borrow::Cow,
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::Method;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use webpubsub_protocol::token::encode_path_segment;

use crate::{Error, Message, retry::Idempotency};

/// Query values are encoded like JavaScript's `encodeURIComponent` plus `'!()*`, so that the
/// URL a URL parser normalises is byte-for-byte the URL that was signed.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One REST request, described.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) operation: &'static str,
    pub(crate) method: Method,
    /// The path after the endpoint, already percent-encoded, starting with `/api/`.
    pub(crate) path: String,
    /// Query parameters other than `api-version`, in order; list parameters repeat their key.
    pub(crate) query: Vec<(Cow<'static, str>, String)>,
    pub(crate) body: Option<Message>,
    pub(crate) idempotency: Idempotency,
}

impl Spec {
    pub(crate) fn new(operation: &'static str, method: Method, path: String) -> Self {
        Self {
            operation,
            method,
            path,
            query: Vec::new(),
            body: None,
            idempotency: Idempotency::Idempotent,
        }
    }

    /// The spec of `operation` at `path`, or the error in building the path, attributed to
    /// `operation`.
    pub(crate) fn at(
        operation: &'static str,
        method: Method,
        path: Result<String, Error>,
    ) -> Described {
        match path {
            Ok(path) => Ok(Self::new(operation, method, path)),
            Err(error) => Err(error.with_operation(operation)),
        }
    }

    pub(crate) fn param(&mut self, key: &'static str, value: impl Into<String>) {
        self.query.push((Cow::Borrowed(key), value.into()));
    }

    pub(crate) fn params<I, S>(&mut self, key: &'static str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for value in values {
            self.param(key, value);
        }
    }

    /// `path?api-version=…&k=v…`, api-version first as the official SDKs send it.
    pub(crate) fn path_and_query(&self, api_version: &str) -> String {
        // Built with pushes rather than `format!`, which costs more than the copies.
        let mut out = String::with_capacity(self.path.len() + 64);
        out.push_str(&self.path);
        out.push_str("?api-version=");
        out.extend(utf8_percent_encode(api_version, QUERY_VALUE));
        for (key, value) in &self.query {
            if key == "api-version" {
                continue;
            }
            out.push('&');
            out.push_str(key);
            out.push('=');
            out.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        out
    }
}

/// A `Spec`, or the error found while describing it; reported when the operation is awaited,
/// as reqwest's builders do, so that builder chains stay infallible.
pub(crate) type Described = Result<Spec, Error>;

/// The kinds of names in REST paths, for error messages and validation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Name {
    Group,
    User,
    Connection,
}

impl Name {
    /// The path segment before a name of this kind, with its slashes.
    pub(crate) fn collection(self) -> &'static str {
        match self {
            Self::Group => "/groups/",
            Self::User => "/users/",
            Self::Connection => "/connections/",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Group => "group name",
            Self::User => "user id",
            Self::Connection => "connection id",
        }
    }

    /// `value` as an encoded path segment, or an error saying what is wrong with it: names are
    /// non-empty; a group name is at most 1024 characters and not only whitespace.
    pub(crate) fn segment(self, value: &str) -> Result<String, Error> {
        if value.is_empty() {
            return Err(Error::invalid_argument(format!(
                "the {} is empty",
                self.label()
            )));
        }
        if value == "." || value == ".." {
            // URL parsers (WHATWG, and so reqwest, also for `%2E`) resolve dot segments: `..`
            // would silently address another resource, e.g. `users/../groups`.
            return Err(Error::invalid_argument(format!(
                "the {} {value:?} cannot be sent as a url path segment",
                self.label()
            )));
        }
        if let Self::Group = self {
            if value.chars().count() > 1024 {
                return Err(Error::invalid_argument(format!(
                    "the group name {:?}… is longer than 1024 characters",
                    value.chars().take(16).collect::<String>()
                )));
            }
            if value.chars().all(char::is_whitespace) {
                return Err(Error::invalid_argument(format!(
                    "the group name {value:?} is only whitespace"
                )));
            }
        }
        Ok(encode_path_segment(value))
    }
}

/// The future of an operation: resolves to its result once the service answered (after any
/// retries).
#[must_use = "futures do nothing unless awaited"]
pub struct ResponseFuture<'a, T> {
    inner: Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>,
}

impl<'a, T> ResponseFuture<'a, T> {
    pub(crate) fn new(future: impl Future<Output = Result<T, Error>> + Send + 'a) -> Self {
        Self {
            inner: Box::pin(future),
        }
    }
}

impl<T> Future for ResponseFuture<'_, T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> fmt::Debug for ResponseFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_repeats_list_keys_and_encodes_values() {
        let mut spec = Spec::new("t", Method::POST, "/api/hubs/h/:send".into());
        spec.params("excluded", ["a", "b&c"]);
        spec.param("filter", "userId eq 'x y'");
        assert_eq!(
            spec.path_and_query("2024-12-01"),
            "/api/hubs/h/:send?api-version=2024-12-01&excluded=a&excluded=b%26c&filter=userId%20eq%20%27x%20y%27"
        );
    }

    #[test]
    fn names_are_validated_and_encoded() {
        assert_eq!(Name::User.segment("a/b").unwrap(), "a%2Fb");
        let empty = Name::Connection.segment("").unwrap_err();
        assert!(empty.is_invalid_argument());
        assert_eq!(
            empty.to_string(),
            "invalid argument: the connection id is empty"
        );
        assert_eq!(
            Name::Group.segment("  ").unwrap_err().to_string(),
            "invalid argument: the group name \"  \" is only whitespace"
        );
        assert!(Name::Group.segment(&"g".repeat(1025)).is_err());
        assert!(Name::Group.segment(&"g".repeat(1024)).is_ok());
        // Dot segments would be resolved away by URL parsing.
        for dots in [".", ".."] {
            let error = Name::User.segment(dots).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("cannot be sent as a url path segment")
            );
        }
        assert_eq!(Name::Group.segment("...").unwrap(), "...");
        // Whitespace is fine for user ids.
        assert_eq!(Name::User.segment(" ").unwrap(), "%20");
    }
}
