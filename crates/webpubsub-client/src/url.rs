//! Where the client access URL comes from, and the URLs built from it.
//!
//! The URL's query holds the access token: it is never printed; errors show [`endpoint`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::Error;

/// The error a URL-fetching callback may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type FetchFuture = Pin<Box<dyn Future<Output = Result<String, BoxError>> + Send>>;
type Fetch = Arc<dyn Fn() -> FetchFuture + Send + Sync>;

/// A fixed client access URL, or a callback that fetches a fresh one for every new connection.
#[derive(Clone)]
pub(crate) enum UrlSource {
    Fixed(String),
    Fetch(Fetch),
}

impl fmt::Debug for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(url) => write!(f, "Fixed({})", endpoint(url)),
            Self::Fetch(_) => f.write_str("Fetch(<fn>)"),
        }
    }
}

impl UrlSource {
    pub(crate) fn fetcher<F, Fut>(fetch: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, BoxError>> + Send + 'static,
    {
        Self::Fetch(Arc::new(move || Box::pin(fetch())))
    }

    /// The URL for a new connection, as a `ws://` or `wss://` URL.
    pub(crate) async fn get(&self) -> Result<String, Error> {
        let url = match self {
            Self::Fixed(url) => url.clone(),
            Self::Fetch(fetch) => fetch().await.map_err(|e| Error::UrlFetch(e.to_string()))?,
        };
        websocket_url(url)
    }
}

/// `url` with an `http(s)` scheme turned into `ws(s)`; any other scheme is an error.
pub(crate) fn websocket_url(url: String) -> Result<String, Error> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::InvalidUrl(format!("{} has no scheme", endpoint(&url))))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        other => {
            return Err(Error::InvalidUrl(format!(
                "the scheme {other:?} is not ws, wss, http or https"
            )));
        }
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(Error::InvalidUrl("the url has no host".into()));
    }
    Ok(format!("{scheme}://{rest}"))
}

/// The URL that recovers `connection_id` with `token`: the connection's URL plus
/// `awps_connection_id` and `awps_reconnection_token`.
pub(crate) fn recovery_url(url: &str, connection_id: &str, token: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}awps_connection_id={}&awps_reconnection_token={}",
        utf8_percent_encode(connection_id, NON_ALPHANUMERIC),
        utf8_percent_encode(token, NON_ALPHANUMERIC)
    )
}

/// `url` without its query and fragment: safe to print.
pub(crate) fn endpoint(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_schemes_become_websocket_schemes() {
        assert_eq!(
            websocket_url("https://h/client/hubs/chat?access_token=t".into()).unwrap(),
            "wss://h/client/hubs/chat?access_token=t"
        );
        assert_eq!(websocket_url("HTTP://h".into()).unwrap(), "ws://h");
        assert_eq!(websocket_url("ws://h".into()).unwrap(), "ws://h");
        for bad in ["ftp://h", "h/client", "ws://", "wss:///path"] {
            assert!(websocket_url(bad.into()).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_never_show_the_token() {
        let error = websocket_url("ftp://h/x?access_token=secret".into()).unwrap_err();
        assert!(!error.to_string().contains("secret"));
        let error = websocket_url("nothing?access_token=secret".into()).unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
        let source = UrlSource::Fixed("ws://h/c?access_token=secret".into());
        assert_eq!(format!("{source:?}"), "Fixed(ws://h/c)");
    }

    #[test]
    fn recovery_urls_keep_the_query_and_encode_the_values() {
        assert_eq!(
            recovery_url("ws://h/c?access_token=t", "a b", "x+/="),
            "ws://h/c?access_token=t&awps_connection_id=a%20b&awps_reconnection_token=x%2B%2F%3D"
        );
        assert_eq!(
            recovery_url("ws://h/c", "c", "t"),
            "ws://h/c?awps_connection_id=c&awps_reconnection_token=t"
        );
    }
}
