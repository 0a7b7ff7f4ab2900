//! The running emulator's configuration, shared by the client endpoint, the REST API and the
//! upstream caller.

use std::collections::HashMap;
use std::time::Duration;

use webpubsub_protocol::AccessKey;

use crate::HubSettings;
use crate::client::PendingLimits;
use crate::registry::OutboundBudget;
use crate::trace::Trace;

/// How long a client's socket may stay silent, as the service's clients wait for it
/// (`keepAliveTimeoutInMs`, 120 s); it is pinged after a sixth of that.
pub(crate) const DEFAULT_CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a dropped reliable connection waits for its client, as in the service (at least
/// 30 s).
pub(crate) const DEFAULT_RECOVERY_WINDOW: Duration = Duration::from_secs(30);

/// What every part of a running emulator reads: its endpoint, keys and hub settings.
#[derive(Debug)]
pub(crate) struct EmulatorConfig {
    /// The endpoint clients and SDKs use, without a trailing slash: `http://127.0.0.1:PORT`.
    pub(crate) endpoint: String,
    /// The access keys; the first is the primary one, the one in the connection string.
    pub(crate) keys: Vec<AccessKey>,
    /// Settings by lower-cased hub name.
    hubs: HashMap<String, HubSettings>,
    /// Whether clients of hubs without their own setting may connect without a token.
    allow_anonymous: bool,
    /// How long a reliable connection whose socket dropped waits for its client.
    pub(crate) recovery_window: Duration,
    /// How long a client's socket may stay silent (pongs count) before it is taken for dead.
    pub(crate) client_idle_timeout: Duration,
    /// How long the server waits for a request's headers, and for each piece of a REST body.
    pub(crate) read_timeout: Duration,
    /// How long a write to a client may make no progress before the client is dropped.
    pub(crate) write_timeout: Duration,
    /// The byte budgets of the connections' outbound queues.
    pub(crate) outbound_budget: OutboundBudget,
    /// The `host:port` forms that tokens may name as their audience's host: see
    /// [`Self::own_authorities`].
    own_authorities: Vec<String>,
    /// The byte budgets of user events waiting for the upstream.
    pub(crate) pending_events: PendingLimits,
    /// The live trace every part reports its traffic to.
    pub(crate) trace: Trace,
}

impl EmulatorConfig {
    pub(crate) fn new(
        endpoint: String,
        keys: Vec<AccessKey>,
        hubs: impl IntoIterator<Item = HubSettings>,
        allow_anonymous: bool,
    ) -> Self {
        let hubs = hubs
            .into_iter()
            .map(|hub| (hub.name().to_ascii_lowercase(), hub))
            .collect();
        let own_authorities = loopback_aliases(authority_of(&endpoint));
        Self {
            endpoint,
            keys,
            hubs,
            allow_anonymous,
            recovery_window: DEFAULT_RECOVERY_WINDOW,
            client_idle_timeout: DEFAULT_CLIENT_IDLE_TIMEOUT,
            read_timeout: crate::server::DEFAULT_READ_TIMEOUT,
            write_timeout: crate::client::DEFAULT_WRITE_TIMEOUT,
            outbound_budget: OutboundBudget::default(),
            own_authorities,
            pending_events: PendingLimits::default(),
            trace: Trace::default(),
        }
    }

    /// The same configuration, also answering to `public_endpoint` (the URL clients and SDKs
    /// use through a reverse proxy): tokens naming it are accepted too.
    pub(crate) fn with_public_endpoint(mut self, public_endpoint: Option<&str>) -> Self {
        if let Some(endpoint) = public_endpoint {
            let authority = authority_of(endpoint.trim_end_matches('/')).to_ascii_lowercase();
            if !self.own_authorities.contains(&authority) {
                self.own_authorities.push(authority);
            }
        }
        self
    }

    /// The hosts (`host:port`, lower-case) a token's audience may name: the address the
    /// emulator serves (a loopback address also as `localhost`) and the configured public
    /// endpoint. Never the request's `Host`, which the client chooses.
    pub(crate) fn own_authorities(&self) -> &[String] {
        &self.own_authorities
    }

    /// The same configuration with another read timeout.
    pub(crate) fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The same configuration with another write timeout.
    pub(crate) fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// The same configuration with other outbound budgets.
    pub(crate) fn with_outbound_budget(mut self, budget: OutboundBudget) -> Self {
        self.outbound_budget = budget;
        self
    }

    /// The same configuration with other budgets for events waiting for the upstream.
    pub(crate) fn with_pending_events(mut self, limits: PendingLimits) -> Self {
        self.pending_events = limits;
        self
    }

    /// The same configuration with another client idle timeout.
    pub(crate) fn with_client_idle_timeout(mut self, timeout: Duration) -> Self {
        self.client_idle_timeout = timeout;
        self
    }

    /// The same configuration with another recovery window.
    pub(crate) fn with_recovery_window(mut self, window: Duration) -> Self {
        self.recovery_window = window;
        self
    }

    /// The primary access key.
    pub(crate) fn primary_key(&self) -> &AccessKey {
        &self.keys[0]
    }

    /// The settings of `hub`, matched case-insensitively.
    pub(crate) fn hub(&self, hub: &str) -> Option<&HubSettings> {
        self.hubs.get(&hub.to_ascii_lowercase())
    }

    /// Every configured hub.
    pub(crate) fn hubs(&self) -> impl Iterator<Item = &HubSettings> {
        self.hubs.values()
    }

    /// Whether clients of `hub` may connect without an access token.
    pub(crate) fn allows_anonymous(&self, hub: &str) -> bool {
        self.hub(hub)
            .and_then(HubSettings::anonymous_setting)
            .unwrap_or(self.allow_anonymous)
    }

    /// The host and port clients address, for example `127.0.0.1:8080`.
    pub(crate) fn authority(&self) -> &str {
        authority_of(&self.endpoint)
    }

    /// `Endpoint=…;AccessKey=…;Version=1.0;` with the primary key.
    pub(crate) fn connection_string(&self) -> String {
        format!(
            "Endpoint={};AccessKey={};Version=1.0;",
            self.endpoint,
            self.primary_key().expose()
        )
    }
}

/// `host:port` of `http://host:port`.
fn authority_of(endpoint: &str) -> &str {
    endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
}

/// `authority`, and `localhost:PORT` when its host is a loopback address: the same socket
/// under the name local tools use.
fn loopback_aliases(authority: &str) -> Vec<String> {
    let mut all = vec![authority.to_ascii_lowercase()];
    let loopback = authority
        .parse::<std::net::SocketAddr>()
        .ok()
        .filter(|a| a.ip().is_loopback());
    if let Some(address) = loopback {
        all.push(format!("localhost:{}", address.port()));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: &str) -> EmulatorConfig {
        EmulatorConfig::new(endpoint.into(), vec![AccessKey::new("k")], [], false)
    }

    #[test]
    fn own_authorities_are_the_address_its_loopback_name_and_the_public_endpoint() {
        assert_eq!(
            config("http://127.0.0.1:8080").own_authorities(),
            ["127.0.0.1:8080", "localhost:8080"]
        );
        assert_eq!(
            config("http://[::1]:81").own_authorities(),
            ["[::1]:81", "localhost:81"]
        );
        assert_eq!(
            config("http://192.168.1.5:8080")
                .with_public_endpoint(Some("https://Chat.Example.com/"))
                .own_authorities(),
            ["192.168.1.5:8080", "chat.example.com"]
        );
    }
}
