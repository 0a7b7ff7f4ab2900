//! The access-key JWT every call carries: audience `{endpoint}/hubs/{hub}`, signed per call so
//! a long-lived registration never sends an expired token.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tonic::{Request, Status, metadata::MetadataValue, service::Interceptor};
use webpubsub_protocol::{grpc::upstream_audience, token::RestTokenClaims};

/// How long each call's token is valid.
const TOKEN_LIFETIME_SECS: u64 = 3600;

/// Adds `authorization: Bearer <JWT>` to every call.
#[derive(Clone)]
pub(crate) struct TokenInterceptor {
    audience: String,
    key: EncodingKey,
}

impl std::fmt::Debug for TokenInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenInterceptor")
            .field("audience", &self.audience)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl TokenInterceptor {
    pub(crate) fn new(endpoint: &str, hub: &str, key: &[u8]) -> Self {
        Self {
            audience: upstream_audience(endpoint, hub),
            key: EncodingKey::from_secret(key),
        }
    }

    fn token(&self) -> Result<String, Status> {
        let claims = RestTokenClaims::new(
            self.audience.clone(),
            jsonwebtoken::get_current_timestamp(),
            TOKEN_LIFETIME_SECS,
        );
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|e| Status::internal(format!("cannot sign the access token: {e}")))
    }
}

impl Interceptor for TokenInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let value: MetadataValue<_> = format!("Bearer {}", self.token()?)
            .parse()
            .map_err(|_| Status::internal("the access token is not a valid header value"))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_gets_a_token_for_the_hub() {
        let mut interceptor = TokenInterceptor::new("http://127.0.0.1:1/", "Chat", b"key");
        let request = interceptor.call(Request::new(())).unwrap();
        let value = request
            .metadata()
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap();
        let token = value.strip_prefix("Bearer ").unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.set_audience(&["http://127.0.0.1:1/hubs/chat"]);
        jsonwebtoken::decode::<RestTokenClaims>(
            token,
            &jsonwebtoken::DecodingKey::from_secret(b"key"),
            &validation,
        )
        .unwrap();
        assert!(!format!("{interceptor:?}").contains("key\""));
    }
}
