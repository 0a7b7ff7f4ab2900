//! The abuse-protection handshake (CloudEvents webhook §4): before it sends events, the service
//! asks each upstream with `OPTIONS` whether it accepts them.

use std::fmt;
use std::time::Duration;

use http::{HeaderValue, Method};

use webpubsub_protocol::cloudevents::headers::{
    AWPS_VERSION, CE_AWPS_VERSION, WEBHOOK_ALLOWED_ORIGIN, WEBHOOK_REQUEST_ORIGIN,
};

/// How long an upstream has to answer the handshake, as in the service.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an upstream did not pass the abuse-protection handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The request failed: no connection, a timeout, or a broken response.
    #[error("the upstream is unreachable: {0}")]
    Unreachable(String),
    /// The upstream answered with a status that is not 2xx.
    #[error("the upstream answered {0} instead of 2xx")]
    Status(u16),
    /// The answer has no `WebHook-Allowed-Origin` header.
    #[error("the answer has no WebHook-Allowed-Origin header")]
    MissingAllowedOrigin,
    /// `WebHook-Allowed-Origin` names neither `*` nor the emulator's host.
    #[error("WebHook-Allowed-Origin {allowed:?} does not allow origin {origin:?}")]
    OriginNotAllowed {
        /// The header's value.
        allowed: String,
        /// The origin the emulator sent.
        origin: String,
    },
}

/// The outcome of the handshake with one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeReport {
    hub: String,
    url: String,
    result: Result<(), HandshakeError>,
}

impl HandshakeReport {
    /// The hub whose setting names the upstream.
    pub fn hub(&self) -> &str {
        &self.hub
    }

    /// The URL the `OPTIONS` request went to (`{event}` is `validate`), without its query.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the upstream accepted.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// Why the upstream did not accept, if it did not.
    pub fn error(&self) -> Option<&HandshakeError> {
        self.result.as_ref().err()
    }
}

impl fmt::Display for HandshakeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(()) => write!(f, "hub {}: upstream {} accepted", self.hub, self.url),
            Err(e) => write!(f, "hub {}: upstream {} refused: {e}", self.hub, self.url),
        }
    }
}

/// Sends `OPTIONS url` with `WebHook-Request-Origin: origin` and checks the answer.
pub(super) async fn run(
    client: &reqwest::Client,
    hub: &str,
    url: String,
    origin: &str,
    timeout: Duration,
) -> HandshakeReport {
    let result = check(client, &url, origin, timeout).await;
    let report = HandshakeReport {
        hub: hub.to_owned(),
        url: super::without_query(&url).to_owned(),
        result,
    };
    if report.is_ok() {
        tracing::info!(
            hub,
            url = report.url,
            "upstream accepted the abuse-protection handshake"
        );
    } else {
        tracing::error!(hub, url = report.url, error = %report.error().map(ToString::to_string).unwrap_or_default(),
            "upstream refused the abuse-protection handshake; events are still sent to it");
    }
    report
}

/// `timeout` is the emulator's upstream timeout: a shorter one than [`HANDSHAKE_TIMEOUT`] also
/// bounds the handshake, so that a hanging upstream cannot hold `start()` for longer.
async fn check(
    client: &reqwest::Client,
    url: &str,
    origin: &str,
    timeout: Duration,
) -> Result<(), HandshakeError> {
    let response = client
        .request(Method::OPTIONS, url)
        .header(WEBHOOK_REQUEST_ORIGIN, origin)
        .header(CE_AWPS_VERSION, AWPS_VERSION)
        .timeout(timeout.min(HANDSHAKE_TIMEOUT))
        .send()
        .await
        .map_err(|e| HandshakeError::Unreachable(super::describe(e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(HandshakeError::Status(status.as_u16()));
    }
    let allowed: Vec<&HeaderValue> = response
        .headers()
        .get_all(WEBHOOK_ALLOWED_ORIGIN)
        .iter()
        .collect();
    if allowed.is_empty() {
        return Err(HandshakeError::MissingAllowedOrigin);
    }
    let values: Vec<&str> = allowed
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ' ']))
        .filter(|v| !v.is_empty())
        .collect();
    if values
        .iter()
        .any(|v| *v == "*" || v.eq_ignore_ascii_case(origin))
    {
        Ok(())
    } else {
        Err(HandshakeError::OriginNotAllowed {
            allowed: values.join(", "),
            origin: origin.to_owned(),
        })
    }
}
