//! TLS for `wss://` endpoints.

use std::sync::{Arc, OnceLock};

/// rustls on the ring provider (no aws-lc build), with the operating system's trust store; set
/// up once per process.
pub(crate) fn config() -> Result<Arc<rustls::ClientConfig>, String> {
    static TLS: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        let tls_error = |e: rustls::Error| format!("cannot set up tls: {e}");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls_platform_verifier::Verifier::new(provider.clone()).map_err(tls_error)?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Arc::new(config))
    })
    .clone()
}
