//! The running emulator's configuration, shared by the client endpoint, the REST API and the
//! upstream caller.

use std::collections::HashMap;
use std::time::Duration;

use webpubsub_protocol::AccessKey;

use crate::HubSettings;
use crate::trace::Trace;

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
        Self {
            endpoint,
            keys,
            hubs,
            allow_anonymous,
            recovery_window: DEFAULT_RECOVERY_WINDOW,
            trace: Trace::default(),
        }
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
        self.endpoint
            .split_once("://")
            .map_or(self.endpoint.as_str(), |(_, rest)| rest)
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
