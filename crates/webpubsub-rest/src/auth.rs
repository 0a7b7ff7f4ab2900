//! How requests are authorized: an access key signs a short HS256 JWT per request, or a
//! [`TokenCredential`] (Microsoft Entra ID) supplies a bearer token.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use webpubsub_protocol::AccessKey;

use crate::{
    error::{BoxError, Error},
    urls::RequestUrls,
};

/// The OAuth scope of Web PubSub data-plane tokens.
pub const ENTRA_SCOPE: &str = "https://webpubsub.azure.com/.default";

/// How long a REST token signed with the access key is valid (as the .NET SDK).
pub(crate) const REST_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// A refreshed bearer token is requested this long before the cached one expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The future a [`TokenCredential`] returns.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<AccessToken, BoxError>> + Send + 'a>>;

/// A source of Microsoft Entra ID bearer tokens. The client asks for [`ENTRA_SCOPE`] and caches
/// the token until five minutes before it expires.
///
/// The trait is this crate's own, small and object-safe, so that any identity library (such as
/// `azure_identity`) or your own token cache plugs in with a few lines:
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use webpubsub_rest::{AccessToken, TokenCredential, TokenFuture, WebPubSubServiceClient};
///
/// /// Stands in for a real identity library.
/// #[derive(Debug)]
/// struct Fixed;
///
/// impl TokenCredential for Fixed {
///     fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
///         Box::pin(async move {
///             assert_eq!(scopes, [webpubsub_rest::ENTRA_SCOPE]);
///             Ok(AccessToken::new("eyJ0eXAi…", SystemTime::now() + Duration::from_secs(3600)))
///         })
///     }
/// }
///
/// let client = WebPubSubServiceClient::builder("https://demo.webpubsub.azure.com", "chat")
///     .credential(Fixed)
///     .build()?;
/// # Ok::<(), webpubsub_rest::Error>(())
/// ```
pub trait TokenCredential: fmt::Debug + Send + Sync {
    /// A token for `scopes`.
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a>;
}

/// A shared credential (for example an `Arc<dyn TokenCredential>` used by several clients).
impl<T: TokenCredential + ?Sized> TokenCredential for Arc<T> {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        (**self).get_token(scopes)
    }
}

/// A bearer token and its expiry. `Debug` never shows the token.
#[derive(Clone)]
pub struct AccessToken {
    token: String,
    expires_on: SystemTime,
}

impl AccessToken {
    /// A token valid until `expires_on`.
    pub fn new(token: impl Into<String>, expires_on: SystemTime) -> Self {
        Self {
            token: token.into(),
            expires_on,
        }
    }

    /// The token itself.
    pub fn secret(&self) -> &str {
        &self.token
    }

    /// When the token expires.
    pub fn expires_on(&self) -> SystemTime {
        self.expires_on
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[redacted]")
            .field("expires_on", &self.expires_on)
            .finish()
    }
}

/// What signs the requests of a client.
#[derive(Clone)]
pub(crate) enum Credential {
    Key(Arc<KeySigner>),
    Entra(Arc<EntraCache>),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(_) => f.write_str("AccessKey([redacted])"),
            Self::Entra(cache) => f.debug_tuple("Entra").field(&cache.credential).finish(),
        }
    }
}

impl Credential {
    pub(crate) fn key(key: AccessKey) -> Self {
        Self::Key(Arc::new(KeySigner::new(&key)))
    }

    pub(crate) fn entra(credential: Arc<dyn TokenCredential>) -> Self {
        Self::Entra(Arc::new(EntraCache {
            credential,
            cached: Mutex::new(None),
        }))
    }

    /// The `Authorization` value (marked sensitive) for a request to `urls`: signed for
    /// (the audience is) its service URL.
    pub(crate) async fn authorization(&self, urls: &RequestUrls) -> Result<HeaderValue, Error> {
        match self {
            Self::Key(signer) => signer.rest_authorization(urls, unix_now()),
            Self::Entra(cache) => cache.authorization().await,
        }
    }
}

/// The last REST `Authorization` value signed for one audience, with its issue second. Claims
/// only hold whole seconds, so the same URL in the same second gets the same bytes: requests to
/// one target within a second reuse them instead of signing again (signing costs about half as
/// much as the rest of a send). Each target keeps its own (in its [`RequestUrls`]), so sends
/// that alternate between targets reuse them too.
#[derive(Debug, Default)]
pub(crate) struct TokenSlot(Mutex<Option<(u64, HeaderValue)>>);

impl TokenSlot {
    fn get(&self, now: u64) -> Option<HeaderValue> {
        let last = self.lock();
        last.as_ref()
            .filter(|(at, _)| *at == now)
            .map(|(_, header)| header.clone())
    }

    fn set(&self, now: u64, header: HeaderValue) {
        *self.lock() = Some((now, header));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, HeaderValue)>> {
        // A panic while holding this lock cannot leave a half-written entry: recover it.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An access key ready to sign HS256 tokens with its UTF-8 bytes.
pub(crate) struct KeySigner {
    key: EncodingKey,
}

impl KeySigner {
    pub(crate) fn new(key: &AccessKey) -> Self {
        Self {
            key: EncodingKey::from_secret(key.as_bytes()),
        }
    }

    /// `Bearer <REST token for the service URL of urls, issued at now>`, from the URLs' token
    /// slot if it was signed in the same second.
    pub(crate) fn rest_authorization(
        &self,
        urls: &RequestUrls,
        now: u64,
    ) -> Result<HeaderValue, Error> {
        if let Some(header) = urls.token.get(now) {
            return Ok(header);
        }
        let claims = webpubsub_protocol::token::RestTokenClaims::new(
            urls.service.as_str(),
            now,
            REST_TOKEN_LIFETIME.as_secs(),
        );
        let header = bearer(&self.sign(&claims)?)?;
        urls.token.set(now, header.clone());
        Ok(header)
    }

    pub(crate) fn sign(&self, claims: &impl Serialize) -> Result<String, Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.key)
            .map_err(|e| Error::credential("cannot sign the token").with_source(e))
    }
}

pub(crate) struct EntraCache {
    credential: Arc<dyn TokenCredential>,
    /// The last token's expiry and its `Authorization` value, built once per token rather than
    /// per request.
    cached: Mutex<Option<(SystemTime, HeaderValue)>>,
}

impl EntraCache {
    /// The `Authorization` of the cached token, or of a new one when it is close to expiry.
    async fn authorization(&self) -> Result<HeaderValue, Error> {
        let fresh = |expires_on: &SystemTime| {
            expires_on
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > REFRESH_MARGIN)
        };
        if let Some((_, header)) = self.lock().as_ref().filter(|(at, _)| fresh(at)) {
            return Ok(header.clone());
        }
        let token = self
            .credential
            .get_token(&[ENTRA_SCOPE])
            .await
            .map_err(|e| {
                Error::credential("the token credential returned an error").with_source(e)
            })?;
        let header = bearer(&token.token)?;
        *self.lock() = Some((token.expires_on, header.clone()));
        Ok(header)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(SystemTime, HeaderValue)>> {
        // A panic while holding this lock cannot leave a half-written token: recover it.
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `Bearer <token>` as a header value that debug output and HTTP/2 header compression leave
/// alone.
fn bearer(token: &str) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|_| Error::credential("the token is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};
    use std::sync::atomic::{AtomicU32, Ordering};
    use webpubsub_protocol::token::RestTokenClaims;

    fn urls(service: &str) -> RequestUrls {
        RequestUrls::new(reqwest::Url::parse(service).unwrap(), None)
    }

    #[test]
    fn a_rest_token_is_reused_only_for_the_same_url_and_second() {
        let signer = KeySigner::new(&AccessKey::new("k3y"));
        let (a, b) = (
            "http://h/api/hubs/x/:send?a=1",
            "http://h/api/hubs/x/:send?a=2",
        );
        let (urls_a, urls_b) = (urls(a), urls(b));
        let first = signer.rest_authorization(&urls_a, 1_700_000_000).unwrap();
        let other_url = signer.rest_authorization(&urls_b, 1_700_000_000).unwrap();
        // Alternating targets: each one's token is still there, for this second only.
        assert_eq!(urls_a.token.get(1_700_000_000), Some(first.clone()));
        assert_eq!(
            signer.rest_authorization(&urls_a, 1_700_000_000).unwrap(),
            first
        );
        assert_eq!(urls_a.token.get(1_700_000_001), None);
        let token = first.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        assert!(
            !format!("{urls_a:?}").contains(token),
            "a token in debug output"
        );
        let audience = |header: &HeaderValue| {
            assert!(header.is_sensitive());
            let token = header.to_str().unwrap().strip_prefix("Bearer ").unwrap();
            let mut validation = Validation::new(Algorithm::HS256);
            validation.validate_aud = false;
            validation.validate_exp = false;
            jsonwebtoken::decode::<RestTokenClaims>(
                token,
                &DecodingKey::from_secret(b"k3y"),
                &validation,
            )
            .unwrap()
            .claims
        };
        assert_eq!(audience(&other_url).aud, b);
        let later = signer.rest_authorization(&urls_b, 1_700_000_001).unwrap();
        assert_ne!(later, other_url);
        assert_eq!(audience(&later).iat, Some(1_700_000_001));
        assert_eq!(audience(&first).aud, a);
    }

    #[tokio::test]
    async fn key_tokens_are_hs256_over_the_key_bytes_with_the_url_as_audience() {
        let credential = Credential::key(AccessKey::new("k3y"));
        let url = "http://h/api/hubs/x/:send?api-version=2024-12-01";
        let header = credential.authorization(&urls(url)).await.unwrap();
        assert!(header.is_sensitive());
        let token = header.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[url]);
        validation.set_required_spec_claims(&["exp", "aud", "iat", "nbf"]);
        let claims = jsonwebtoken::decode::<RestTokenClaims>(
            token,
            &DecodingKey::from_secret(b"k3y"),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims.aud, url);
        assert_eq!(
            claims.exp - claims.iat.unwrap(),
            REST_TOKEN_LIFETIME.as_secs()
        );
        assert!(format!("{credential:?}").contains("redacted"));
    }

    #[derive(Debug, Default)]
    struct Counting(AtomicU32);

    impl TokenCredential for Counting {
        fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
            Box::pin(async move {
                assert_eq!(scopes, [ENTRA_SCOPE]);
                let n = self.0.fetch_add(1, Ordering::SeqCst);
                // The first token is nearly expired, the second one is good for an hour.
                let left = if n == 0 { 60 } else { 3600 };
                Ok(AccessToken::new(
                    format!("t{n}"),
                    SystemTime::now() + Duration::from_secs(left),
                ))
            })
        }
    }

    #[tokio::test]
    async fn entra_tokens_are_cached_until_close_to_expiry() {
        let source = Arc::new(Counting::default());
        let credential = Credential::entra(source.clone());
        let u = urls("http://h/u");
        assert_eq!(credential.authorization(&u).await.unwrap(), "Bearer t0");
        // t0 expires within the refresh margin, so a new token is fetched, then reused.
        assert_eq!(credential.authorization(&u).await.unwrap(), "Bearer t1");
        assert_eq!(credential.authorization(&u).await.unwrap(), "Bearer t1");
        assert_eq!(source.0.load(Ordering::SeqCst), 2);
        let token = AccessToken::new("secret-token", SystemTime::now());
        assert!(!format!("{token:?}").contains("secret-token"));
    }
}
