//! Access-key authentication of REST requests: an HS256 JWT in `Authorization: Bearer`, signed
//! with the UTF-8 bytes of any configured access key, unexpired, whose `aud` is the request URL.
//!
//! SDKs disagree on the audience (the exact URL with its query, or without it, and with the
//! scheme of the endpoint they were given), so, like the service, the emulator accepts the URL
//! with or without the query and ignores the scheme. The host is one of the emulator's own
//! (its address, `localhost` for a loopback address, the configured public endpoint), never the
//! request's `Host`: a token minted for another endpoint that shares the key is refused.

use axum::http::{HeaderMap, Uri, header};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use webpubsub_protocol::{
    AccessKey,
    token::{RestTokenClaims, same_audience},
};

use super::error::ApiError;

/// Checks the bearer token of a request to `uri`.
pub(crate) fn authorize(
    headers: &HeaderMap,
    uri: &Uri,
    keys: &[AccessKey],
    own_authorities: &[impl AsRef<str>],
) -> Result<(), ApiError> {
    let token = bearer_token(headers)?;
    let claims = verify_signature(token, keys)?;
    let path = uri.path();
    let path_and_query = uri.path_and_query().map_or(path, |pq| pq.as_str());
    let own = || own_authorities.iter().map(AsRef::as_ref);
    let accepted = own().any(|host| {
        [path_and_query, path]
            .iter()
            .any(|target| same_audience(&claims.aud, &format!("http://{host}{target}")))
    });
    if accepted {
        Ok(())
    } else {
        Err(ApiError::unauthorized(format!(
            "the access token's audience {:?} is not the request URL (http(s)://{}{path_and_query}, with or without the query)",
            claims.aud,
            own().next().unwrap_or_default(),
        )))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("the Authorization header is missing: send `Bearer <access token>`")
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not visible ASCII"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::unauthorized(
            "the Authorization header is not `Bearer <access token>`",
        )),
    }
}

/// The claims of `token` when it is an unexpired HS256 JWT signed with one of `keys`; the
/// audience is the caller's to check.
pub(crate) fn verify_signature(
    token: &str,
    keys: &[AccessKey],
) -> Result<RestTokenClaims, ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // The audience is checked by hand: the service's rule (scheme ignored, query optional) is
    // not an exact string match.
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "aud"]);
    for key in keys {
        match jsonwebtoken::decode::<RestTokenClaims>(
            token,
            &DecodingKey::from_secret(key.as_bytes()),
            &validation,
        ) {
            Ok(data) => return Ok(data.claims),
            Err(error) if *error.kind() == ErrorKind::InvalidSignature => {}
            Err(error) => return Err(ApiError::unauthorized(describe(error.kind()))),
        }
    }
    Err(ApiError::unauthorized(
        "the access token's signature matches no access key of the emulator",
    ))
}

/// Says what is wrong with a token without quoting it.
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the access token has expired".to_owned(),
        ErrorKind::ImmatureSignature => {
            "the access token is not valid yet (nbf is in the future)".to_owned()
        }
        ErrorKind::InvalidAlgorithm => {
            "the access token is not signed with HS256 (a Microsoft Entra ID token? the emulator cannot verify those: use an access key)".to_owned()
        }
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("the access token has no `{claim}` claim")
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => "the access token is not a well-formed JWT".to_owned(),
        other => format!("the access token is invalid: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use jsonwebtoken::{EncodingKey, Header};

    use super::*;

    const KEY: &str = "primary-key-for-tests-only-0123456789";

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn token(aud: &str, exp: u64, key: &str) -> String {
        let mut claims = RestTokenClaims::new(aud, now(), 60);
        claims.exp = exp;
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap()
    }

    fn check(token: &str, url: &str) -> Result<(), ApiError> {
        let uri: Uri = url.parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        authorize(
            &headers,
            &uri,
            &[AccessKey::new("other"), AccessKey::new(KEY)],
            &["127.0.0.1:8080", "localhost:8080"],
        )
    }

    #[test]
    fn accepts_the_url_with_or_without_query_in_any_scheme_and_either_host() {
        let url = "/api/hubs/h/:send?api-version=2024-12-01";
        for aud in [
            "http://127.0.0.1:8080/api/hubs/h/:send?api-version=2024-12-01",
            "https://127.0.0.1:8080/api/hubs/h/:send",
            "http://localhost:8080/api/hubs/h/:send?api-version=2024-12-01",
        ] {
            check(&token(aud, now() + 60, KEY), url).unwrap_or_else(|e| panic!("{aud}: {e:?}"));
        }
    }

    #[test]
    fn the_host_header_is_not_an_audience() {
        let uri: Uri = "/api/hubs/h/:send".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("other.example:9999"));
        let aud = "http://other.example:9999/api/hubs/h/:send";
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {}", token(aud, now() + 60, KEY))
                .parse()
                .unwrap(),
        );
        let error =
            authorize(&headers, &uri, &[AccessKey::new(KEY)], &["127.0.0.1:8080"]).unwrap_err();
        assert_eq!(error.status, 401);
        assert!(error.message.contains("audience"), "{}", error.message);
    }

    #[test]
    fn rejects_wrong_audience_signature_expiry_and_shape() {
        let url = "/api/hubs/h/:send?api-version=2024-12-01";
        let good_aud = "http://127.0.0.1:8080/api/hubs/h/:send";
        for (token, expected) in [
            (
                token(
                    "http://127.0.0.1:8080/api/hubs/other/:send",
                    now() + 60,
                    KEY,
                ),
                "audience",
            ),
            (
                token("http://example.com/api/hubs/h/:send", now() + 60, KEY),
                "audience",
            ),
            (
                token(good_aud, now() + 60, "wrong-key"),
                "matches no access key",
            ),
            (token(good_aud, now() - 600, KEY), "expired"),
            ("not-a-jwt".to_owned(), "well-formed"),
        ] {
            let error = check(&token, url).unwrap_err();
            assert_eq!(error.status, 401);
            assert!(error.message.contains(expected), "{}", error.message);
            assert!(
                !error.message.contains(&token),
                "the token must not be echoed"
            );
        }
        let missing = authorize(
            &HeaderMap::new(),
            &url.parse().unwrap(),
            &[AccessKey::new(KEY)],
            &["h"],
        );
        assert!(missing.unwrap_err().message.contains("missing"));
    }
}
