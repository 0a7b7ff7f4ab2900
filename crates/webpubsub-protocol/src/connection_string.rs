//! Connection strings: `Endpoint=https://<name>.webpubsub.azure.com;AccessKey=<key>;Version=1.0;`.
//!
//! Parsing follows the strictest official SDK (.NET): entries are split on `;`, each entry on its
//! first `=`, keys and values are trimmed and keys compared case-insensitively; a duplicate key,
//! an entry without `=`, a missing `Endpoint` or `AccessKey`, an endpoint that is not an absolute
//! `http`/`https` URL, and a `Port` outside 1..=65535 are errors. `Port` replaces the endpoint's
//! port. `Version` and unknown keys are accepted and ignored, as every SDK does.
//!
//! ```
//! use webpubsub_protocol::ConnectionString;
//!
//! let cs: ConnectionString = "Endpoint=http://localhost/;AccessKey=abc;Port=8080;Version=1.0;".parse()?;
//! assert_eq!(cs.endpoint(), "http://localhost:8080");
//! assert_eq!(cs.host(), "localhost");
//! assert_eq!(cs.access_key().expose(), "abc");
//! // The key never prints.
//! assert!(!format!("{cs:?}").contains("abc"));
//! # Ok::<(), webpubsub_protocol::ConnectionStringError>(())
//! ```

use std::{fmt, str::FromStr};

use http::Uri;

use crate::AccessKey;

/// A parsed connection string: the service endpoint and its access key.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    endpoint: String,
    host: String,
    access_key: AccessKey,
}

/// Why a connection string could not be parsed. Messages never include the access key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionStringError {
    /// An entry has no `=`.
    #[error("connection string entry {0:?} is not of the form key=value")]
    MalformedEntry(String),
    /// A key appears twice.
    #[error("connection string has the key {0:?} more than once")]
    DuplicateKey(String),
    /// A required key is absent or empty.
    #[error("connection string has no {0}")]
    Missing(&'static str),
    /// The endpoint is not an absolute `http` or `https` URL.
    #[error("connection string endpoint {0:?} is not an absolute http or https url")]
    InvalidEndpoint(String),
    /// `Port` is not a number in 1..=65535.
    #[error("connection string port {0:?} is not a number from 1 to 65535")]
    InvalidPort(String),
}

impl ConnectionString {
    /// Builds a connection string from its parts, checking the endpoint as [`FromStr`] does.
    pub fn new(
        endpoint: &str,
        access_key: impl Into<AccessKey>,
    ) -> Result<Self, ConnectionStringError> {
        let (endpoint, host) = normalize_endpoint(endpoint, None)?;
        Ok(Self {
            endpoint,
            host,
            access_key: access_key.into(),
        })
    }

    /// The endpoint without a trailing slash, for example `https://demo.webpubsub.azure.com`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The endpoint's host name, lower-cased and without the port: what the service sends in
    /// `WebHook-Request-Origin`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The access key.
    pub fn access_key(&self) -> &AccessKey {
        &self.access_key
    }
}

impl FromStr for ConnectionString {
    type Err = ConnectionStringError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut endpoint = None;
        let mut access_key = None;
        let mut port = None;
        let mut seen: Vec<String> = Vec::new();
        for entry in s.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((key, value)) = entry.split_once('=') else {
                // The entry may be a bare secret pasted in the wrong place: say only its shape.
                return Err(ConnectionStringError::MalformedEntry(redact_entry(entry)));
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            if seen.contains(&key) {
                return Err(ConnectionStringError::DuplicateKey(key));
            }
            match key.as_str() {
                "endpoint" => endpoint = Some(value),
                "accesskey" => access_key = Some(value),
                "port" => port = Some(value),
                _ => {}
            }
            seen.push(key);
        }
        let endpoint = endpoint
            .filter(|v| !v.is_empty())
            .ok_or(ConnectionStringError::Missing("Endpoint"))?;
        let access_key = access_key
            .filter(|v| !v.is_empty())
            .ok_or(ConnectionStringError::Missing("AccessKey"))?;
        let port = port
            .map(|p| match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(ConnectionStringError::InvalidPort(p.to_owned())),
            })
            .transpose()?;
        let (endpoint, host) = normalize_endpoint(endpoint, port)?;
        Ok(Self {
            endpoint,
            host,
            access_key: AccessKey::new(access_key),
        })
    }
}

/// A connection string as the SDK's constructors take it: its text (`&str`, `&String`) or a
/// parsed [`ConnectionString`]. `WebPubSubLayer::connection_string`, the REST client's, the
/// tunnel's and the gRPC upstream's `from_connection_string` all accept
/// `impl IntoConnectionString`, so the same value works for each.
///
/// ```
/// use webpubsub_protocol::{ConnectionString, IntoConnectionString};
///
/// let text = "Endpoint=https://demo.webpubsub.azure.com;AccessKey=k;Version=1.0;";
/// let parsed: ConnectionString = text.parse()?;
/// assert_eq!(text.into_connection_string()?, parsed);
/// assert_eq!((&parsed).into_connection_string()?, parsed);
/// assert!("AccessKey=k".into_connection_string().is_err());
/// # Ok::<(), webpubsub_protocol::ConnectionStringError>(())
/// ```
pub trait IntoConnectionString {
    /// The parsed connection string.
    ///
    /// # Errors
    ///
    /// Why the text is not a connection string (see [`FromStr`]).
    fn into_connection_string(self) -> Result<ConnectionString, ConnectionStringError>;
}

impl IntoConnectionString for ConnectionString {
    fn into_connection_string(self) -> Result<ConnectionString, ConnectionStringError> {
        Ok(self)
    }
}

impl IntoConnectionString for &ConnectionString {
    fn into_connection_string(self) -> Result<ConnectionString, ConnectionStringError> {
        Ok(self.clone())
    }
}

impl IntoConnectionString for &str {
    fn into_connection_string(self) -> Result<ConnectionString, ConnectionStringError> {
        self.parse()
    }
}

impl IntoConnectionString for &String {
    fn into_connection_string(self) -> Result<ConnectionString, ConnectionStringError> {
        self.parse()
    }
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .finish()
    }
}

fn redact_entry(entry: &str) -> String {
    if entry.len() > 12 {
        format!("{}…", entry.chars().take(4).collect::<String>())
    } else {
        entry.to_owned()
    }
}

/// `scheme://authority` without path or trailing slash, with `port` applied, plus the host.
fn normalize_endpoint(
    raw: &str,
    port: Option<u16>,
) -> Result<(String, String), ConnectionStringError> {
    let invalid = || ConnectionStringError::InvalidEndpoint(raw.to_owned());
    // A URL is ASCII (international hosts are written in punycode). `http::Uri` lets other
    // bytes into the path, where a trailing U+0085 (whitespace to `str::trim`) made an endpoint
    // that read back differently (found by fuzz/connection_string).
    if !raw.is_ascii() {
        return Err(invalid());
    }
    let uri: Uri = raw
        .trim()
        .trim_end_matches('/')
        .parse()
        .map_err(|_| invalid())?;
    let scheme = uri
        .scheme_str()
        .map(str::to_ascii_lowercase)
        .ok_or_else(invalid)?;
    if scheme != "http" && scheme != "https" {
        return Err(invalid());
    }
    let authority = uri.authority().ok_or_else(invalid)?;
    if authority.as_str().contains('@') || uri.query().is_some() {
        return Err(invalid());
    }
    let host = authority
        .host()
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    if host.is_empty() {
        return Err(invalid());
    }
    let path = uri.path().trim_end_matches('/');
    let port = port.or_else(|| authority.port_u16());
    let host_part = authority.host().to_ascii_lowercase();
    // `http::Uri` lets brackets through in a name (`m[x::1]`), and applying `Port` to such a
    // host made an endpoint that no longer parses (found by fuzz/connection_string): brackets
    // only around an IPv6 address.
    let valid_host = match host_part
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
    {
        Some(ip) => ip.parse::<std::net::Ipv6Addr>().is_ok(),
        None => !host_part.contains(['[', ']']),
    };
    if !valid_host {
        return Err(invalid());
    }
    let endpoint = match port {
        Some(port) => format!("{scheme}://{host_part}:{port}{path}"),
        None => format!("{scheme}://{host_part}{path}"),
    };
    Ok((endpoint, host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<ConnectionString, ConnectionStringError> {
        s.parse()
    }

    /// Regression (fuzz/connection_string): a bracket inside a host name passed, and `Port`
    /// then produced the endpoint `https://m[mm:65535`, which does not parse.
    #[test]
    fn brackets_only_around_an_ipv6_address() {
        for endpoint in [
            "https://m[mm::1]:443",
            "https://m[mm",
            "https://[not-ip]",
            "http://a]b",
        ] {
            for port in ["", ";Port=65535"] {
                let cs = format!("Endpoint={endpoint};AccessKey=k{port}");
                assert!(
                    matches!(parse(&cs), Err(ConnectionStringError::InvalidEndpoint(_))),
                    "{cs}"
                );
            }
        }
        let cs = parse("Endpoint=http://[::1]:8080;AccessKey=k;Port=9090").unwrap();
        assert_eq!(cs.endpoint(), "http://[::1]:9090");
        assert_eq!(
            cs.endpoint(),
            parse(&format!("Endpoint={};AccessKey=k", cs.endpoint()))
                .unwrap()
                .endpoint()
        );
    }

    /// Regression (fuzz/connection_string): a non-ASCII path ending in U+0085 was accepted, and
    /// `Endpoint=<that endpoint>` then parsed to another endpoint (`trim` removes U+0085).
    #[test]
    fn endpoints_are_ascii() {
        for endpoint in [
            "https://x.com/a\u{85}/",
            "https://x.com/é",
            "https://bücher.example",
        ] {
            let cs = format!("Endpoint={endpoint};AccessKey=k");
            assert!(
                matches!(parse(&cs), Err(ConnectionStringError::InvalidEndpoint(_))),
                "{cs}"
            );
        }
    }

    #[test]
    fn parses_the_portal_form() {
        let cs =
            parse("Endpoint=https://demo.webpubsub.azure.com;AccessKey=k=;Version=1.0;").unwrap();
        assert_eq!(cs.endpoint(), "https://demo.webpubsub.azure.com");
        assert_eq!(cs.host(), "demo.webpubsub.azure.com");
        assert_eq!(cs.access_key().expose(), "k=", "only the first = splits");
    }

    #[test]
    fn keys_are_case_insensitive_and_values_trimmed() {
        let cs = parse(" endpoint = HTTP://Local.Host/ ; ACCESSKEY = abc ").unwrap();
        assert_eq!(cs.endpoint(), "http://local.host");
        assert_eq!(cs.access_key().expose(), "abc");
    }

    #[test]
    fn port_replaces_the_endpoint_port() {
        let cs = parse("Endpoint=http://localhost:1234/;AccessKey=a;Port=8080").unwrap();
        assert_eq!(cs.endpoint(), "http://localhost:8080");
        assert_eq!(cs.host(), "localhost");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            parse("AccessKey=a"),
            Err(ConnectionStringError::Missing("Endpoint"))
        );
        assert_eq!(
            parse("Endpoint=http://h;AccessKey="),
            Err(ConnectionStringError::Missing("AccessKey"))
        );
        assert_eq!(
            parse("Endpoint=http://h;endpoint=http://i;AccessKey=a"),
            Err(ConnectionStringError::DuplicateKey("endpoint".into()))
        );
        assert_eq!(
            parse("Endpoint=http://h;AccessKey=a;Port=0"),
            Err(ConnectionStringError::InvalidPort("0".into()))
        );
        assert_eq!(
            parse("Endpoint=http://h;AccessKey=a;Port=99999"),
            Err(ConnectionStringError::InvalidPort("99999".into()))
        );
        assert!(matches!(
            parse("Endpoint=ftp://h;AccessKey=a"),
            Err(ConnectionStringError::InvalidEndpoint(_))
        ));
        assert!(matches!(
            parse("Endpoint=h;AccessKey=a"),
            Err(ConnectionStringError::InvalidEndpoint(_))
        ));
        assert!(matches!(
            parse("Endpoint=http://h;AccessKey=a;garbage"),
            Err(ConnectionStringError::MalformedEntry(_))
        ));
    }

    #[test]
    fn errors_and_debug_never_show_the_key() {
        let secret = "VerySecretAccessKeyValue0123456789";
        let cs = parse(&format!("Endpoint=http://h;AccessKey={secret}")).unwrap();
        assert!(!format!("{cs:?}").contains(secret));
        let err = parse(&format!("Endpoint=http://h;{secret}")).unwrap_err();
        assert!(!err.to_string().contains(secret));
    }

    proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = parse(&s);
        }

        #[test]
        fn round_trips_its_parts(host in "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,5}){0,2}", key in "[A-Za-z0-9+/=]{1,44}", port in 1u16..) {
            let cs = parse(&format!("Endpoint=https://{host}/;AccessKey={key};Port={port};Version=1.0;")).unwrap();
            prop_assert_eq!(cs.endpoint(), format!("https://{host}:{port}"));
            prop_assert_eq!(cs.host(), host.as_str());
            prop_assert_eq!(cs.access_key().expose(), key.as_str());
        }
    }
}
