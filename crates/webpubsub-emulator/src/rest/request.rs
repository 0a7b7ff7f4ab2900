//! Reading a REST request: path segments, query parameters (repeated keys included), the body
//! within its limit, and the send payload's data type.

use std::borrow::Cow;

use std::time::Duration;

use axum::{
    body::{Body, BodyDataStream},
    http::{HeaderMap, header},
};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use percent_encoding::percent_decode_str;
use webpubsub_protocol::filter::ParsedFilter;

use super::error::ApiError;
use crate::registry::DataType;

/// The largest body the REST API takes: the service's 1 MiB message limit.
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// Percent-decodes one path segment or query component. `plus_is_space` applies the form
/// encoding rule of query strings.
fn decode(raw: &str, plus_is_space: bool) -> Result<String, ApiError> {
    let raw: Cow<'_, str> = if plus_is_space && raw.contains('+') {
        raw.replace('+', " ").into()
    } else {
        raw.into()
    };
    percent_decode_str(&raw)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| ApiError::bad_request(format!("{raw:?} is not percent-encoded UTF-8")))
}

/// The decoded segments of a path, each decoded on its own so that `%2F` stays inside a name.
pub(crate) fn path_segments(path: &str) -> Result<Vec<String>, ApiError> {
    path.trim_start_matches('/')
        .split('/')
        .map(|segment| decode(segment, false))
        .collect()
}

/// The query parameters of a request, in order, keys matched case-insensitively.
///
/// Parsed by hand (a few lines over `percent-encoding`, already a dependency): serde-based query
/// extractors drop repeated keys, and the REST API repeats `excluded`, `role` and `group`.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let pairs = query
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                Ok((decode(key, true)?, decode(value, true)?))
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(Self { pairs })
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }

    /// Every value of `name`.
    pub(crate) fn all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.pairs
            .iter()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// `api-version` must be present, as on the service.
    pub(crate) fn require_api_version(&self) -> Result<(), ApiError> {
        match self.get("api-version") {
            Some(version) if !version.is_empty() => Ok(()),
            _ => Err(ApiError::bad_request(
                "the api-version query parameter is required (for example 2024-12-01)",
            )),
        }
    }

    /// An optional integer parameter within `min..=max`.
    pub(crate) fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        match value.parse::<i64>() {
            Ok(number) if (min..=max).contains(&number) => Ok(Some(number)),
            _ => Err(ApiError::bad_request(format!(
                "{name} must be an integer from {min} to {max}, got {value:?}"
            ))),
        }
    }

    /// The parsed `filter` parameter, if any.
    pub(crate) fn filter(&self) -> Result<Option<ParsedFilter>, ApiError> {
        optional_filter(self.get("filter"))
    }

    /// The `excluded` connection ids.
    pub(crate) fn excluded(&self) -> Vec<&str> {
        self.all("excluded").collect()
    }

    /// `messageTtlSeconds`, checked (0 to 300) but not enforced: the emulator delivers at once.
    pub(crate) fn check_message_ttl(&self) -> Result<(), ApiError> {
        self.int("messageTtlSeconds", 0, 300).map(drop)
    }
}

/// Parses an optional filter, turning its error into a 400 that names the position. An empty
/// filter selects everything, as if none was given (SDKs whose signature requires a filter send
/// an empty one).
pub(crate) fn optional_filter(source: Option<&str>) -> Result<Option<ParsedFilter>, ApiError> {
    match source {
        Some(source) if !source.trim().is_empty() => ParsedFilter::parse(source)
            .map(Some)
            .map_err(|error| ApiError::bad_request(error.to_string())),
        _ => Ok(None),
    }
}

/// How much of a refused body is still read (and dropped) so that the 413 reaches a client
/// that is still writing and the connection stays usable: closing a socket with unread data
/// resets it, and the client's write fails with `EPIPE` before it sees the answer.
const DRAIN_LIMIT: u64 = 16 << 20;

/// How long reading a refused body may take.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Reads the whole body, refusing one over [`MAX_BODY`] (by `Content-Length` before reading,
/// or while reading when the length is not announced). A refused body of up to
/// [`DRAIN_LIMIT`] is read to its end first; a larger one is answered with `Connection: close`.
/// Each piece of the body must arrive within `timeout` (else 408, and the connection closes).
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > DRAIN_LIMIT) {
        return Err(ApiError::payload_too_large(MAX_BODY).closing_connection());
    }
    let mut chunks = body.into_data_stream();
    let mut data = BytesMut::new();
    loop {
        let next = tokio::time::timeout(timeout, chunks.next())
            .await
            .map_err(|_| ApiError::request_timeout(timeout))?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(format!("the request body broke off: {e}")).closing_connection()
        })?;
        if data.len() + chunk.len() > MAX_BODY {
            let read = (data.len() + chunk.len()) as u64;
            return Err(drain(chunks, read).await);
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data.freeze())
}

/// Reads the rest of a refused body, `read` bytes of which are read already, and gives the
/// 413 to answer with.
async fn drain(mut chunks: BodyDataStream, mut read: u64) -> ApiError {
    let drained = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(chunk) = chunks.next().await {
            read += chunk.map_err(drop)?.len() as u64;
            if read > DRAIN_LIMIT {
                return Err(());
            }
        }
        Ok(())
    })
    .await;
    let error = ApiError::payload_too_large(MAX_BODY);
    match drained {
        Ok(Ok(())) => error,
        _ => error.closing_connection(),
    }
}

/// The data type of a send from its `Content-Type`, checking the payload as the service does:
/// JSON must parse, text must be UTF-8, charsets other than UTF-8 are refused.
pub(crate) fn payload_type(headers: &HeaderMap, payload: &[u8]) -> Result<DataType, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts
        .filter_map(|param| param.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, value)| value.trim().trim_matches('"').to_ascii_lowercase());
    let data_type = match essence.as_str() {
        "text/plain" => DataType::Text,
        "application/json" => DataType::Json,
        "application/octet-stream" => DataType::Binary,
        _ => return Err(ApiError::unsupported_media_type(content_type)),
    };
    if data_type != DataType::Binary {
        if charset
            .as_deref()
            .is_some_and(|charset| !matches!(charset, "utf-8" | "utf8" | "us-ascii"))
        {
            return Err(ApiError::unsupported_media_type(content_type));
        }
        if std::str::from_utf8(payload).is_err() {
            return Err(ApiError::bad_request("the message body is not valid UTF-8"));
        }
    }
    if data_type == DataType::Json {
        // The same parse delivery makes for JSON clients (serde_json's 128-level nesting limit
        // included), so whatever is accepted here reaches them as JSON, not as text.
        // `IgnoredAny` skips values without that limit.
        serde_json::from_slice::<serde_json::Value>(payload).map_err(|error| {
            ApiError::bad_request(format!("the message body is not valid JSON: {error}"))
        })?;
    }
    Ok(data_type)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn query_keeps_repeated_keys_and_decodes() {
        let query = Query::parse(Some(
            "excluded=a&Excluded=b%2Fc&filter=userId+eq+%27x%27&empty&api-version=1",
        ))
        .unwrap();
        assert_eq!(query.excluded(), ["a", "b/c"]);
        assert_eq!(query.get("filter"), Some("userId eq 'x'"));
        assert_eq!(query.get("empty"), Some(""));
        query.require_api_version().unwrap();
        assert!(Query::parse(None).unwrap().require_api_version().is_err());
        assert!(Query::parse(Some("a=%FF")).is_err());
    }

    #[test]
    fn integers_are_range_checked() {
        let query = Query::parse(Some("messageTtlSeconds=301&top=5&bad=x")).unwrap();
        assert!(
            query
                .check_message_ttl()
                .unwrap_err()
                .message
                .contains("0 to 300")
        );
        assert_eq!(query.int("top", 1, 10).unwrap(), Some(5));
        assert!(query.int("bad", 1, 10).is_err());
        assert_eq!(query.int("missing", 1, 10).unwrap(), None);
    }

    #[test]
    fn path_segments_decode_each_segment() {
        assert_eq!(
            path_segments("/api/hubs/h/users/a%2Fb/:send").unwrap(),
            ["api", "hubs", "h", "users", "a/b", ":send"]
        );
    }

    fn with_type(content_type: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers
    }

    #[test]
    fn payload_types_follow_the_content_type() {
        assert_eq!(
            payload_type(&with_type("text/plain"), b"hi").unwrap(),
            DataType::Text
        );
        assert_eq!(
            payload_type(&with_type("Application/JSON; charset=utf-8"), b"{\"a\":1}").unwrap(),
            DataType::Json
        );
        assert_eq!(
            payload_type(&with_type("application/octet-stream"), &[0xff]).unwrap(),
            DataType::Binary
        );
        assert_eq!(
            payload_type(&with_type("application/xml"), b"<a/>")
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(
            payload_type(&HeaderMap::new(), b"x").unwrap_err().status,
            415
        );
        assert_eq!(
            payload_type(&with_type("text/plain; charset=latin1"), b"x")
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(
            payload_type(&with_type("application/json"), b"{")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            payload_type(&with_type("text/plain"), &[0xff])
                .unwrap_err()
                .status,
            400
        );
    }

    mod properties {
        use axum::http::Method;
        use proptest::prelude::*;

        use super::*;
        use crate::rest::routes::route;

        proptest! {
            /// Any path and query a client can send is routed or refused, never a panic.
            #[test]
            fn arbitrary_paths_and_queries_never_panic(
                segments in proptest::collection::vec("([a-zA-Z:%0-9 .]|%[0-9A-Fa-f]{2}|%){0,6}", 0..8),
                query in "\\PC{0,40}",
                method in prop::sample::select(vec![Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE]),
            ) {
                let path = format!("/{}", segments.join("/"));
                if let Ok(decoded) = path_segments(&path) {
                    let _ = route(&method, &decoded, &path);
                }
                if let Ok(query) = Query::parse(Some(&query)) {
                    let _ = query.filter();
                    let _ = query.int("top", 1, 10);
                    let _ = query.check_message_ttl();
                }
            }
        }
    }
}
