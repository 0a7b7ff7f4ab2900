//! The tunnel URL and its access token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use webpubsub_protocol::AccessKey;
use webpubsub_protocol::tunnel::TUNNEL_PATH;

use crate::TunnelError;

/// How long a tunnel token is valid, as the official client signs it.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// `ws(s)://host/server/tunnel?hub={hub}[&target={target}]` for `endpoint` (`http(s)://host`,
/// possibly with a path).
pub(crate) fn tunnel_url(endpoint: &str, hub: &str, target: Option<&str>) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    let ws = if let Some(rest) = endpoint.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = endpoint.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        endpoint.to_owned()
    };
    let mut url = format!(
        "{ws}{TUNNEL_PATH}?hub={}",
        utf8_percent_encode(hub, NON_ALPHANUMERIC)
    );
    if let Some(target) = target.filter(|t| !t.is_empty()) {
        url.push_str("&target=");
        url.extend(utf8_percent_encode(target, NON_ALPHANUMERIC));
    }
    url
}

/// The URL with its token: an HS256 JWT whose `aud` is `url` and `sub` the tunnel's id.
pub(crate) fn with_token(url: &str, key: &AccessKey, id: &str) -> Result<String, TunnelError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = serde_json::json!({
        "aud": url,
        "sub": id,
        "iat": now,
        "exp": now + TOKEN_LIFETIME.as_secs(),
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .map_err(|e| TunnelError::Token(e.to_string()))?;
    Ok(format!("{url}&access_token={token}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_follows_the_endpoint_scheme_and_encodes_hub_and_target() {
        assert_eq!(
            tunnel_url("https://x.webpubsub.azure.com/", "chat", None),
            "wss://x.webpubsub.azure.com/server/tunnel?hub=chat"
        );
        assert_eq!(
            tunnel_url("http://127.0.0.1:8080", "chat", Some("a b&c")),
            "ws://127.0.0.1:8080/server/tunnel?hub=chat&target=a%20b%26c"
        );
    }

    #[test]
    fn the_token_names_the_url_without_itself() {
        let url = tunnel_url("http://127.0.0.1:1", "chat", None);
        let signed = with_token(&url, &AccessKey::new("k"), "id-1").unwrap();
        let token = signed
            .strip_prefix(&format!("{url}&access_token="))
            .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&[url.as_str()]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            token,
            &jsonwebtoken::DecodingKey::from_secret(b"k"),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["sub"], "id-1");
    }
}
