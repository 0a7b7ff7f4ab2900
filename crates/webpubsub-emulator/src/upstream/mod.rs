//! Calls to the hubs' event handlers: the abuse-protection handshake and the signed CloudEvents
//! requests, with bounded timeouts and retries.

mod handshake;

use std::sync::Arc;

pub use handshake::{HandshakeError, HandshakeReport};

use crate::{StartError, config::EmulatorConfig};

const HEADER_REQUEST_ORIGIN: &str = "webhook-request-origin";
const HEADER_ALLOWED_ORIGIN: &str = "webhook-allowed-origin";
const HEADER_AWPS_VERSION: &str = "ce-awpsversion";
const AWPS_VERSION: &str = "1.0";

/// The upstream caller of a running emulator. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    client: reqwest::Client,
    config: Arc<EmulatorConfig>,
    /// What the emulator sends in `WebHook-Request-Origin`: its host name, as the service does.
    origin: Arc<str>,
}

impl Upstream {
    pub(crate) fn new(config: Arc<EmulatorConfig>) -> Result<Self, StartError> {
        install_ring_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StartError::HttpClient(describe(e)))?;
        let origin = config
            .authority()
            .rsplit_once(':')
            .map_or(config.authority(), |(host, _port)| host)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .into();
        Ok(Self {
            client,
            config,
            origin,
        })
    }

    /// Runs the handshake with every upstream of every hub, concurrently.
    pub(crate) async fn validate_all(&self) -> Vec<HandshakeReport> {
        let checks = self.config.hubs().flat_map(|hub| {
            hub.event_handlers().iter().map(move |handler| {
                handshake::run(
                    &self.client,
                    hub.name(),
                    handler.url(hub.name(), "validate"),
                    &self.origin,
                )
            })
        });
        futures_util::future::join_all(checks).await
    }
}

/// reqwest is built without a default TLS crypto provider (`rustls-no-provider`) so the build
/// stays pure Rust; choose ring, unless the application installed a provider already.
fn install_ring_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may win the race; its provider is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A reqwest error in words, with its causes, and without the URL's query (it may hold a code).
fn describe(error: reqwest::Error) -> String {
    use std::error::Error as _;
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
