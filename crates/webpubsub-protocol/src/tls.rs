//! The one TLS client setup of the project's clients (REST, tunnel, WebSocket client): rustls
//! on the ring provider, so that no crate depends on a process-wide default provider (or pulls
//! aws-lc), with certificates checked against the operating system's trust store.
//!
//! ```
//! let config = webpubsub_protocol::tls::client_config().expect("the trust store loads");
//! // Set up once per process: every caller shares the same configuration.
//! assert!(std::sync::Arc::ptr_eq(&config, &webpubsub_protocol::tls::client_config().unwrap()));
//! ```

use std::sync::{Arc, OnceLock};

/// The rustls client configuration, built on first use and shared after that.
///
/// # Errors
/// When the platform verifier cannot be set up; the message says why ("cannot set up tls: …").
pub fn client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG.get_or_init(build).clone()
}

fn build() -> Result<Arc<rustls::ClientConfig>, String> {
    let tls_error = |e: rustls::Error| format!("cannot set up tls: {e}");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(tls_error)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}
