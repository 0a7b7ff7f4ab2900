//! The layer's configuration, shared by every service it builds.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use webpubsub_protocol::signature::{self, SigningKey};

use crate::{
    origin::{request_origins, same_host},
    path::{DEFAULT_PATH, PathPattern},
};

/// The default body limit: 1 MiB, the service's own frame limit.
pub(crate) const DEFAULT_BODY_LIMIT: usize = 1 << 20;
/// The default handler timeout.
pub(crate) const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) path: PathPattern,
    /// `None` serves any hub; names are compared ASCII case-insensitively.
    pub(crate) hubs: Option<Vec<String>>,
    /// Normalized hosts (see [`host_of`](crate::origin::host_of)); empty answers `*`.
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) keys: Vec<ConfiguredKey>,
    pub(crate) limits: Limits,
}

/// The limits an event is handled within. `Copy`, so that an event's future takes them by value
/// and holds no reference to the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The largest body accepted.
    pub(crate) body: usize,
    /// How long a handler may take; `None`, as long as it likes.
    pub(crate) handler_timeout: Option<Duration>,
}

/// An access key (prepared once for the HMAC), and the origin host it is accepted from
/// (`None`: any origin).
#[derive(Debug, Clone)]
pub(crate) struct ConfiguredKey {
    pub(crate) host: Option<String>,
    pub(crate) key: SigningKey,
}

/// Why a signature check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureFailure {
    Missing,
    NoKeyForOrigin,
    Mismatch,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            path: PathPattern::parse(DEFAULT_PATH).expect("the default path is valid"),
            hubs: None,
            allowed_origins: Vec::new(),
            keys: Vec::new(),
            limits: Limits {
                body: DEFAULT_BODY_LIMIT,
                handler_timeout: Some(DEFAULT_HANDLER_TIMEOUT),
            },
        }
    }
}

impl Config {
    pub(crate) fn serves_hub(&self, hub: &str) -> bool {
        self.hubs
            .as_ref()
            .is_none_or(|hubs| hubs.iter().any(|h| h.eq_ignore_ascii_case(hub)))
    }

    /// The handshake's answer: the first request origin that is allowed (`*` when no list is
    /// configured), or `None` when none is.
    pub(crate) fn allowed_origin<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let mut origins = request_origins(headers);
        if self.allowed_origins.is_empty() {
            return origins.next().map(|_| "*");
        }
        origins.find(|origin| {
            self.allowed_origins
                .iter()
                .any(|host| same_host(origin, host))
        })
    }

    /// Checks the `ce-signature` lines `signatures` against the keys accepted from the
    /// origins in `headers`. Without any configured key there is nothing to check.
    pub(crate) fn check_signature<'h>(
        &self,
        headers: &HeaderMap,
        signatures: impl Iterator<Item = &'h HeaderValue>,
        connection_id: &str,
    ) -> Result<(), SignatureFailure> {
        if self.keys.is_empty() {
            return Ok(());
        }
        let mut signatures = signatures.peekable();
        if signatures.peek().is_none() {
            return Err(SignatureFailure::Missing);
        }
        let mut keys = self
            .keys
            .iter()
            .filter(|key| match &key.host {
                None => true,
                Some(host) => request_origins(headers).any(|origin| same_host(origin, host)),
            })
            .map(|key| &key.key)
            .peekable();
        if keys.peek().is_none() {
            return Err(SignatureFailure::NoKeyForOrigin);
        }
        let lines = signatures.filter_map(|value| std::str::from_utf8(value.as_bytes()).ok());
        if signature::verify_prepared(lines, connection_id, keys) {
            Ok(())
        } else {
            Err(SignatureFailure::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webpubsub_protocol::cloudevents::headers::WEBHOOK_REQUEST_ORIGIN;
    use webpubsub_protocol::{AccessKey, cloudevents::headers::CE_SIGNATURE};

    fn headers(origin: &str, signature: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            WEBHOOK_REQUEST_ORIGIN,
            HeaderValue::from_str(origin).unwrap(),
        );
        if let Some(signature) = signature {
            headers.insert(CE_SIGNATURE, HeaderValue::from_str(signature).unwrap());
        }
        headers
    }

    /// `config`'s check of the request `headers` for connection `c`.
    fn check(config: &Config, headers: &HeaderMap) -> Result<(), SignatureFailure> {
        config.check_signature(headers, headers.get_all(CE_SIGNATURE).iter(), "c")
    }

    fn keyed(host: Option<&str>, key: &str) -> ConfiguredKey {
        ConfiguredKey {
            host: host.map(str::to_owned),
            key: SigningKey::new(&AccessKey::new(key)),
        }
    }

    #[test]
    fn no_keys_no_check() {
        assert_eq!(check(&Config::default(), &HeaderMap::new()), Ok(()));
    }

    #[test]
    fn keys_are_picked_by_origin() {
        let config = Config {
            keys: vec![keyed(Some("a.com"), "ka"), keyed(Some("b.com"), "kb")],
            ..Config::default()
        };
        let sig_a = signature::sign(&AccessKey::new("ka"), "c");
        assert_eq!(check(&config, &headers("a.com", Some(&sig_a))), Ok(()));
        assert_eq!(
            check(&config, &headers("b.com", Some(&sig_a))),
            Err(SignatureFailure::Mismatch)
        );
        assert_eq!(
            check(&config, &headers("x.com", Some(&sig_a))),
            Err(SignatureFailure::NoKeyForOrigin)
        );
        assert_eq!(
            check(&config, &headers("a.com", None)),
            Err(SignatureFailure::Missing)
        );
    }

    #[test]
    fn any_origin_keys_and_secondary_keys() {
        let config = Config {
            keys: vec![keyed(None, "primary"), keyed(None, "secondary")],
            ..Config::default()
        };
        let sig = signature::sign(&AccessKey::new("secondary"), "c");
        assert_eq!(check(&config, &headers("anything", Some(&sig))), Ok(()));
    }

    #[test]
    fn handshake_echoes_the_matched_origin_or_star() {
        let open = Config::default();
        assert_eq!(open.allowed_origin(&headers("x.com", None)), Some("*"));
        assert_eq!(open.allowed_origin(&HeaderMap::new()), None);
        let listed = Config {
            allowed_origins: vec!["b.com".into()],
            ..Config::default()
        };
        assert_eq!(
            listed.allowed_origin(&headers("a.com, B.com", None)),
            Some("B.com")
        );
        assert_eq!(listed.allowed_origin(&headers("a.com", None)), None);
        assert!(listed.serves_hub("ANY"));
        let hubs = Config {
            hubs: Some(vec!["Chat".into()]),
            ..Config::default()
        };
        assert!(hubs.serves_hub("chat"));
        assert!(!hubs.serves_hub("other"));
    }
}
