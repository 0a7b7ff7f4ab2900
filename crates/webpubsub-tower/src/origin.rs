//! `WebHook-Request-Origin` values and how they are compared.

use http::HeaderMap;
use webpubsub_protocol::cloudevents::headers::WEBHOOK_REQUEST_ORIGIN;

/// The origins of a request: every header line split on commas and whitespace (replicas and
/// custom domains send several, `a.webpubsub.azure.com, b.example.com`). Lines that are not UTF-8
/// are skipped.
pub(crate) fn request_origins(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(WEBHOOK_REQUEST_ORIGIN)
        .iter()
        .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
        .flat_map(|line| line.split(|c: char| c == ',' || c.is_whitespace()))
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
}
