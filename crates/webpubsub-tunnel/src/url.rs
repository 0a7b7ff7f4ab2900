//! The tunnel URL and its access token.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use webpubsub_protocol::AccessKey;
use webpubsub_protocol::tunnel::TUNNEL_PATH;
use webpubsub_rest::{ENTRA_SCOPE, TokenCredential};

use crate::TunnelError;

/// What JavaScript's `encodeURIComponent` escapes, as the official client encodes the token: a
/// JWT (letters, digits, `-_.`) goes through unchanged.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

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

/// How the tunnel proves who it is.
#[derive(Clone)]
pub(crate) enum Auth {
    /// An access key: each dial signs its own token.
    Key(AccessKey),
    /// Microsoft Entra ID: each dial asks the credential for a token for [`ENTRA_SCOPE`].
    Entra(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(key) => f.debug_tuple("Key").field(key).finish(),
            Self::Entra(credential) => f.debug_tuple("Entra").field(credential).finish(),
        }
    }
}

/// The URL with its token, in the `access_token` query parameter as the official client sends
/// it: with a key, an HS256 JWT whose `aud` is `url` and `sub` the tunnel's id; with Entra ID,
/// the credential's bearer token.
pub(crate) async fn with_token(url: &str, auth: &Auth, id: &str) -> Result<String, TunnelError> {
    let token = match auth {
        Auth::Key(key) => sign(url, key, id)?,
        Auth::Entra(credential) => credential
            .get_token(&[ENTRA_SCOPE])
            .await
            .map_err(|e| TunnelError::Credential(e.to_string()))?
            .secret()
            .to_owned(),
    };
    Ok(format!(
        "{url}&access_token={}",
        utf8_percent_encode(&token, URI_COMPONENT)
    ))
}

fn sign(url: &str, key: &AccessKey, id: &str) -> Result<String, TunnelError> {
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
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .map_err(|e| TunnelError::Token(e.to_string()))
}

/// Whether a bearer token may travel to `endpoint` (`http(s)://host…`): over TLS, or to a
/// loopback address (a local emulator), where it never leaves the machine; as the REST client
/// decides.
pub(crate) fn bearer_may_go_to(endpoint: &str) -> bool {
    let Ok(uri) = endpoint.parse::<http::Uri>() else {
        return false;
    };
    let loopback = webpubsub_protocol::is_loopback_host(uri.host().unwrap_or_default());
    uri.scheme_str() == Some("https") || (uri.scheme_str() == Some("http") && loopback)
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

    #[tokio::test]
    async fn the_token_names_the_url_without_itself() {
        let url = tunnel_url("http://127.0.0.1:1", "chat", None);
        let signed = with_token(&url, &Auth::Key(AccessKey::new("k")), "id-1")
            .await
            .unwrap();
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

    #[test]
    fn bearer_tokens_go_over_tls_or_to_loopback_only() {
        for ok in [
            "https://x.webpubsub.azure.com",
            "http://localhost:8080",
            "http://127.0.0.1:1",
            "http://[::1]:8080",
        ] {
            assert!(bearer_may_go_to(ok), "{ok}");
        }
        for refused in [
            "http://x.example",
            "http://10.0.0.1",
            "ftp://localhost",
            "nonsense",
        ] {
            assert!(!bearer_may_go_to(refused), "{refused}");
        }
    }
}
