//! Client access tokens: where a client puts its token, and whether the token lets it into a
//! hub (signature by any access key, expiry, audience host and path with the scheme ignored).

use http::{HeaderMap, header::AUTHORIZATION};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use webpubsub_protocol::{
    AccessKey,
    token::{ClientProtocol, ClientTokenClaims, same_audience},
};

/// Why a token was refused. The message never holds the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not yet valid")]
    NotYetValid,
    #[error("the access token's signature matches no access key")]
    BadSignature,
    #[error(
        "the access token's audience {audience:?} is not this hub's client endpoint {expected:?}"
    )]
    WrongAudience { audience: String, expected: String },
    #[error("the access token is malformed: {0}")]
    Malformed(String),
}

/// The token of a client request: the `access_token` query parameter, else an
/// `Authorization: Bearer` header.
pub(crate) fn token_of<'a>(
    query: &'a [(String, String)],
    headers: &'a HeaderMap,
) -> Option<&'a str> {
    query
        .iter()
        .find(|(name, _)| name == "access_token")
        .map(|(_, value)| value.as_str())
        .or_else(|| {
            let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty())
}

/// Verifies `token` for `hub`: HS256/384/512 with any of `keys`, `exp` (and `nbf` if present)
/// with the library's default 60 s leeway, and an audience naming one of `authorities`
/// (`host:port`) and the hub's client path, scheme ignored, hub case-insensitive.
pub(crate) fn verify(
    token: &str,
    keys: &[AccessKey],
    hub: &str,
    authorities: &[impl AsRef<str>],
) -> Result<ClientTokenClaims, TokenError> {
    let claims = verify_signature(token, keys)?;
    let path = ClientProtocol::Default.path(hub).to_ascii_lowercase();
    let audience = claims.aud.to_ascii_lowercase();
    let matches = authorities.iter().any(|authority| {
        same_audience(
            &audience,
            &format!("http://{}/{path}", authority.as_ref().to_ascii_lowercase()),
        )
    });
    if matches {
        Ok(claims)
    } else {
        Err(TokenError::WrongAudience {
            audience: claims.aud,
            expected: format!(
                "http://{}/{path}",
                authorities.first().map_or("", AsRef::as_ref)
            ),
        })
    }
}

/// Verifies `token`'s signature (HS256/384/512 with any of `keys`) and times (`exp`, and `nbf`
/// if present, with the library's default 60 s leeway); the audience is the caller's to check.
pub(crate) fn verify_signature(
    token: &str,
    keys: &[AccessKey],
) -> Result<ClientTokenClaims, TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "aud"]);
    let mut last = TokenError::BadSignature;
    let mut claims = None;
    for key in keys {
        match jsonwebtoken::decode::<ClientTokenClaims>(
            token,
            &DecodingKey::from_secret(key.as_bytes()),
            &validation,
        ) {
            Ok(data) => {
                claims = Some(data.claims);
                break;
            }
            Err(error) => {
                last = match error.kind() {
                    ErrorKind::InvalidSignature => TokenError::BadSignature,
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                    kind => TokenError::Malformed(format!("{kind:?}")),
                };
                // Only a signature mismatch can be cured by another key.
                if last != TokenError::BadSignature {
                    return Err(last);
                }
            }
        }
    }
    claims.ok_or(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use std::time::{SystemTime, UNIX_EPOCH};

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn mint(key: &str, aud: &str, lifetime: i64) -> String {
        let now = now();
        let claims = ClientTokenClaims::new(aud, now, 0).with_user("alice");
        let mut claims = serde_json::to_value(claims).unwrap();
        claims["exp"] = serde_json::json!(now as i64 + lifetime);
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn accepts_any_key_and_any_scheme() {
        let keys = [AccessKey::new("primary"), AccessKey::new("secondary")];
        let token = mint("secondary", "wss://127.0.0.1:8080/client/hubs/Chat", 600);
        let claims = verify(&token, &keys, "chat", &["127.0.0.1:8080"]).unwrap();
        assert_eq!(claims.sub.as_deref(), Some("alice"));
    }

    #[test]
    fn refuses_with_a_reason() {
        let keys = [AccessKey::new("primary")];
        let at = ["127.0.0.1:8080"];
        let good_aud = "http://127.0.0.1:8080/client/hubs/chat";
        assert_eq!(
            verify(&mint("other", good_aud, 600), &keys, "chat", &at),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify(&mint("primary", good_aud, -600), &keys, "chat", &at),
            Err(TokenError::Expired)
        );
        let err = verify(
            &mint("primary", "http://127.0.0.1:8080/client/hubs/other", 600),
            &keys,
            "chat",
            &at,
        )
        .unwrap_err();
        assert!(matches!(err, TokenError::WrongAudience { .. }), "{err}");
        let err = verify(
            &mint("primary", "http://evil:8080/client/hubs/chat", 600),
            &keys,
            "chat",
            &at,
        )
        .unwrap_err();
        assert!(matches!(err, TokenError::WrongAudience { .. }), "{err}");
        assert!(matches!(
            verify("not-a-jwt", &keys, "chat", &at),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn token_comes_from_query_then_bearer_header() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "Bearer from-header".parse().unwrap());
        let query = vec![("access_token".to_owned(), "from-query".to_owned())];
        assert_eq!(token_of(&query, &headers), Some("from-query"));
        assert_eq!(token_of(&[], &headers), Some("from-header"));
        assert_eq!(token_of(&[], &HeaderMap::new()), None);
    }
}
