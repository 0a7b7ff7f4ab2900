//! Who may call the event path: the origins the abuse-protection handshake allows, and the access
//! keys whose `ce-signature` an event must carry. The one home of both decisions.

use bytes::Bytes;
use hmac::{Hmac, Mac as _};
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use sha2::Sha256;
use webpubsub_protocol::{
    AccessKey,
    cloudevents::headers::{WEBHOOK_ALLOWED_ORIGIN, WEBHOOK_REQUEST_ORIGIN},
    signature,
};

use super::rejection::{Rejection, RejectionKind};

/// An HMAC-SHA256 keyed with an access key (the key absorbed once; each check clones it).
type KeyedMac = Hmac<Sha256>;

/// The service signs with each of its keys (primary, secondary): more entries than this in one
/// request are not the service's, and are not worth an HMAC each.
const MAX_SIGNATURE_ENTRIES: usize = 8;

/// The handshake's origins and the signature keys. Plain data, built by the layer's methods.
#[derive(Clone, Default)]
pub(crate) struct Auth {
    /// Normalized hosts (see [`host_of`]); empty answers `*`.
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) keys: Vec<ScopedKey>,
}

/// An access key, and the origin host it is accepted from (`None`: any origin).
#[derive(Clone)]
pub(crate) struct ScopedKey {
    pub(crate) host: Option<String>,
    mac: KeyedMac,
}

impl ScopedKey {
    pub(crate) fn new(host: Option<String>, key: &AccessKey) -> Self {
        // HMAC takes keys of any length, so this cannot fail.
        let mac = KeyedMac::new_from_slice(key.as_bytes()).expect("hmac accepts any key length");
        Self { host, mac }
    }

    /// Whether the key is accepted from `origin` (every `WebHook-Request-Origin` line, joined).
    fn accepts(&self, origin: Option<&str>) -> bool {
        match &self.host {
            None => true,
            Some(host) => origin
                .into_iter()
                .flat_map(origins_in)
                .any(|origin| same_host(origin, host)),
        }
    }
}

impl Auth {
    /// Whether `signature` (every `ce-signature` line of the request, joined with `, `) signs
    /// `connection_id` with a key accepted from `origin` (every `WebHook-Request-Origin` line,
    /// joined the same way). Without any configured key there is nothing to check.
    ///
    /// Each entry is `sha256=` + the hex HMAC-SHA256 of the connection id, parsed by the protocol
    /// crate's [`signature::digests`] (the one parser of entries) and checked with the keys
    /// prepared here by `Mac::verify_slice` (constant time).
    pub(crate) fn verify(
        &self,
        origin: Option<&str>,
        signature: Option<&str>,
        connection_id: &str,
    ) -> Result<(), Rejection> {
        if self.keys.is_empty() {
            return Ok(());
        }
        let Some(signature) = signature else {
            return Err(Rejection::new(
                RejectionKind::MissingSignature,
                "missing ce-signature header",
            ));
        };
        let mut keys = self
            .keys
            .iter()
            .filter(|key| key.accepts(origin))
            .peekable();
        if keys.peek().is_none() {
            let message = match origin {
                Some(origins) => format!("no access key is configured for the origin {origins:?}"),
                None => {
                    "missing WebHook-Request-Origin header, which selects the access key".to_owned()
                }
            };
            return Err(Rejection::new(RejectionKind::InvalidSignature, message));
        }
        let entries = signature::digests([signature.as_bytes()]);
        let signed = entries.take(MAX_SIGNATURE_ENTRIES).any(|digest| {
            keys.clone().any(|key| {
                key.mac
                    .clone()
                    .chain_update(connection_id.as_bytes())
                    .verify_slice(&digest)
                    .is_ok()
            })
        });
        if signed {
            Ok(())
        } else {
            Err(Rejection::new(
                RejectionKind::InvalidSignature,
                format!(
                    "ce-signature matches no configured access key for connection {connection_id:?}"
                ),
            ))
        }
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

    /// The abuse-protection handshake (CloudEvents webhook spec §4): `200` with
    /// `WebHook-Allowed-Origin` for an allowed origin, else `400`.
    pub(crate) fn handshake(&self, headers: &HeaderMap) -> Response<Full<Bytes>> {
        let Some(origin) = self.allowed_origin(headers) else {
            let rejection = match joined(headers, &WEBHOOK_REQUEST_ORIGIN) {
                Some(origins) => Rejection::new(
                    RejectionKind::OriginNotAllowed,
                    format!("origin {origins:?} is not allowed"),
                ),
                None => Rejection::new(
                    RejectionKind::MissingOrigin,
                    "missing WebHook-Request-Origin header",
                ),
            };
            return rejection.into_response();
        };
        // The origin is a piece of a header value, so it is a valid one; stay total anyway.
        let Ok(allowed) = HeaderValue::from_str(origin) else {
            return Rejection::new(
                RejectionKind::OriginNotAllowed,
                "origin is not a valid header value",
            )
            .into_response();
        };
        let mut response = Response::new(Full::default());
        *response.status_mut() = StatusCode::OK;
        response
            .headers_mut()
            .insert(WEBHOOK_ALLOWED_ORIGIN, allowed);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        response
    }
}

/// Every line of the header `name`, joined with `, ` (bytes that are not UTF-8 replaced), for
/// messages; `None` when there is none.
pub(crate) fn joined(headers: &HeaderMap, name: &http::HeaderName) -> Option<String> {
    let lines: Vec<_> = headers
        .get_all(name)
        .iter()
        .map(|line| String::from_utf8_lossy(line.as_bytes()))
        .collect();
    (!lines.is_empty()).then(|| lines.join(", "))
}

impl std::fmt::Debug for ScopedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedKey")
            .field("host", &self.host)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("allowed_origins", &self.allowed_origins)
            .field("keys", &self.keys)
            .finish()
    }
}

/// The origins of a request: every header line split on commas and whitespace (replicas and
/// custom domains send several, `a.webpubsub.azure.com, b.example.com`). Lines that are not UTF-8
/// are skipped.
pub(crate) fn request_origins(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(WEBHOOK_REQUEST_ORIGIN)
        .iter()
        .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
        .flat_map(origins_in)
}

/// The origins in one header line (or lines joined with `, `), split on commas and whitespace.
fn origins_in(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|origin| !origin.is_empty())
}

/// The host of an origin or configured endpoint: without a scheme, path or port, lower-cased.
/// Hosts are then compared exactly, never by prefix or suffix (`trusted.example.com.evil.tld`
/// is not `trusted.example.com`).
pub(crate) fn host_of(origin: &str) -> String {
    let rest = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        // Keep IPv6 literals whole: `[::1]:8080` → `[::1]`, `[::1]` stays.
        Some((host, port)) if !port.contains(']') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => authority,
    };
    host.to_ascii_lowercase()
}

/// Whether `origin` (as sent) has the configured, already normalized, `host`.
pub(crate) fn same_host(origin: &str, host: &str) -> bool {
    // The common case, a bare host name, needs no allocation.
    origin.eq_ignore_ascii_case(host) || host_of(origin) == host
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    #[test]
    fn splits_lines_commas_and_spaces() {
        let mut headers = HeaderMap::new();
        headers.append(
            WEBHOOK_REQUEST_ORIGIN,
            HeaderValue::from_static("a.com, b.com"),
        );
        headers.append(
            WEBHOOK_REQUEST_ORIGIN,
            HeaderValue::from_static("c.com,d.com  e.com"),
        );
        let origins: Vec<_> = request_origins(&headers).collect();
        assert_eq!(origins, ["a.com", "b.com", "c.com", "d.com", "e.com"]);
    }

    #[test]
    fn hosts_drop_scheme_port_and_path() {
        assert_eq!(
            host_of("Demo.WebPubSub.Azure.com"),
            "demo.webpubsub.azure.com"
        );
        assert_eq!(
            host_of("https://demo.webpubsub.azure.com/"),
            "demo.webpubsub.azure.com"
        );
        assert_eq!(host_of("localhost:8080"), "localhost");
        assert_eq!(host_of("http://[::1]:8080/x"), "[::1]");
        assert_eq!(host_of("[::1]"), "[::1]");
    }

    #[test]
    fn same_host_is_exact() {
        assert!(same_host(
            "DEMO.webpubsub.azure.com",
            "demo.webpubsub.azure.com"
        ));
        assert!(same_host("localhost:8080", "localhost"));
        assert!(!same_host(
            "demo.webpubsub.azure.com.evil.tld",
            "demo.webpubsub.azure.com"
        ));
        assert!(!same_host(
            "evil-demo.webpubsub.azure.com",
            "demo.webpubsub.azure.com"
        ));
    }

    proptest! {
        #[test]
        fn origin_parsing_never_panics(value in ".*") {
            let _ = host_of(&value);
            let _ = same_host(&value, "a.com");
            if let Ok(value) = HeaderValue::from_str(&value) {
                let mut headers = HeaderMap::new();
                headers.insert(WEBHOOK_REQUEST_ORIGIN, value);
                let _ = request_origins(&headers).count();
            }
        }
    }

    mod decisions {
        use super::super::*;
        use webpubsub_protocol::{cloudevents::headers::CE_SIGNATURE, signature};

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

        fn auth(keys: &[(Option<&str>, &str)]) -> Auth {
            Auth {
                keys: keys
                    .iter()
                    .map(|(host, key)| {
                        ScopedKey::new(host.map(str::to_owned), &AccessKey::new(*key))
                    })
                    .collect(),
                ..Auth::default()
            }
        }

        /// `verify` with the origin and `ce-signature` lines joined, as `read_head` passes them.
        fn verify(auth: &Auth, headers: &HeaderMap, connection_id: &str) -> Result<(), Rejection> {
            let origin = joined(headers, &WEBHOOK_REQUEST_ORIGIN);
            let signature = joined(headers, &CE_SIGNATURE);
            auth.verify(origin.as_deref(), signature.as_deref(), connection_id)
        }

        fn kind(auth: &Auth, headers: &HeaderMap) -> Option<RejectionKind> {
            verify(auth, headers, "c")
                .err()
                .map(|rejection| rejection.kind())
        }

        #[test]
        fn no_keys_no_check() {
            assert_eq!(kind(&Auth::default(), &HeaderMap::new()), None);
        }

        #[test]
        fn keys_are_picked_by_origin() {
            let auth = auth(&[(Some("a.com"), "ka"), (Some("b.com"), "kb")]);
            let sig_a = signature::sign(&AccessKey::new("ka"), "c");
            assert_eq!(kind(&auth, &headers("a.com", Some(&sig_a))), None);
            assert_eq!(
                kind(&auth, &headers("https://A.com:443", Some(&sig_a))),
                None
            );
            assert_eq!(
                kind(&auth, &headers("b.com", Some(&sig_a))),
                Some(RejectionKind::InvalidSignature)
            );
            let rejection = verify(&auth, &headers("x.com", Some(&sig_a)), "c").unwrap_err();
            assert_eq!(rejection.kind(), RejectionKind::InvalidSignature);
            assert!(
                rejection
                    .message()
                    .contains("no access key is configured for the origin \"x.com\"")
            );
            assert_eq!(
                kind(&auth, &headers("a.com", None)),
                Some(RejectionKind::MissingSignature)
            );
        }

        #[test]
        fn any_entry_of_any_line_may_match_any_key() {
            let auth = auth(&[(None, "primary"), (None, "secondary")]);
            let good = signature::sign(&AccessKey::new("secondary"), "c");
            let upper = good.to_uppercase().replacen("SHA256=", "sha256=", 1);
            for value in [
                good.clone(),
                format!("sha256=00,{good}"),
                format!("junk {good}"),
                upper,
                // The prefix in either case, as the protocol crate's `verify` reads it.
                good.to_uppercase(),
            ] {
                assert_eq!(
                    kind(&auth, &headers("anything", Some(&value))),
                    None,
                    "{value}"
                );
            }
            let mut two_lines = headers("anything", Some("sha256=00"));
            two_lines.append(CE_SIGNATURE, HeaderValue::from_str(&good).unwrap());
            assert_eq!(kind(&auth, &two_lines), None);
            // Bound to the connection id, and to the key.
            assert!(verify(&auth, &headers("x", Some(&good)), "other").is_err());
            let other = signature::sign(&AccessKey::new("other"), "c");
            assert_eq!(
                kind(&auth, &headers("x", Some(&other))),
                Some(RejectionKind::InvalidSignature)
            );
        }

        #[test]
        fn only_the_first_entries_are_worth_an_hmac() {
            let auth = auth(&[(None, "k")]);
            let good = signature::sign(&AccessKey::new("k"), "c");
            let filler = vec![format!("sha256={}", "0".repeat(64)); MAX_SIGNATURE_ENTRIES];
            let late = format!("{},{good}", filler.join(","));
            assert_eq!(
                kind(&auth, &headers("x", Some(&late))),
                Some(RejectionKind::InvalidSignature)
            );
        }

        #[test]
        fn handshake_echoes_the_matched_origin_or_star() {
            let open = Auth::default();
            assert_eq!(open.allowed_origin(&headers("x.com", None)), Some("*"));
            assert_eq!(open.allowed_origin(&HeaderMap::new()), None);
            let listed = Auth {
                allowed_origins: vec!["b.com".into()],
                ..Auth::default()
            };
            assert_eq!(
                listed.allowed_origin(&headers("a.com, B.com", None)),
                Some("B.com")
            );
            assert_eq!(listed.allowed_origin(&headers("a.com", None)), None);
        }

        #[test]
        fn debug_redacts_the_keys() {
            let auth = auth(&[(None, "super-secret")]);
            assert!(!format!("{auth:?}").contains("super-secret"));
        }
    }
}
