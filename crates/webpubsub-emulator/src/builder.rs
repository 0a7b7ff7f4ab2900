//! [`EmulatorBuilder`]: how an emulator is configured before it starts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use webpubsub_protocol::{AccessKey, is_valid_hub_name};

use crate::client::DEFAULT_WRITE_TIMEOUT;
use crate::client::PendingLimits;
use crate::config::{DEFAULT_CLIENT_IDLE_TIMEOUT, DEFAULT_RECOVERY_WINDOW, EmulatorConfig};
use crate::registry::OutboundBudget;
use crate::server::ServerLimits;
use crate::{Emulator, HubSettings, StartError, app, upstream};

/// How long an upstream event may take in all, by default.
const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// The access key an emulator uses when none is given: fixed and public, so the emulator's
/// connection string stays the same across restarts (as Azurite's well-known key does).
///
/// It is a development key, not a secret: anyone who reads this page knows it. Give an emulator
/// that others can reach its own key with [`EmulatorBuilder::key`], or a fresh one per start with
/// [`EmulatorBuilder::random_key`].
pub const DEVELOPMENT_KEY: &str = "webpubsub-emulator-dev-key-public-not-secret";

/// Configures and starts an [`Emulator`]. Made by [`Emulator::builder`].
///
/// Defaults: an ephemeral port on 127.0.0.1, the fixed [`DEVELOPMENT_KEY`], no hub settings
/// (every hub accepts clients with a valid token and has no upstream), anonymous clients refused.
///
/// [`start`](Self::start) binds and serves at once. When the app that handles the hub's events
/// needs the emulator's connection string (for its REST client) before it can serve,
/// [`bind`](Self::bind) first: the [`BoundEmulator`] knows its connection string, and its
/// [`start`](BoundEmulator::start) runs the upstream handshake once the app serves.
#[derive(Debug, Clone)]
#[must_use]
pub struct EmulatorBuilder {
    ip: IpAddr,
    port: u16,
    keys: Vec<AccessKey>,
    random_key: bool,
    hubs: Vec<HubSettings>,
    allow_anonymous: bool,
    require_valid_upstreams: bool,
    upstream_timeout: Duration,
    recovery_window: Duration,
    client_idle_timeout: Duration,
    write_timeout: Duration,
    outbound_budget: OutboundBudget,
    public_endpoint: Option<String>,
    server_limits: ServerLimits,
    pending_events: PendingLimits,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            keys: Vec::new(),
            random_key: false,
            hubs: Vec::new(),
            allow_anonymous: false,
            require_valid_upstreams: false,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            recovery_window: DEFAULT_RECOVERY_WINDOW,
            client_idle_timeout: DEFAULT_CLIENT_IDLE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            outbound_budget: OutboundBudget::default(),
            public_endpoint: None,
            server_limits: ServerLimits::default(),
            pending_events: PendingLimits::default(),
        }
    }
}

impl EmulatorBuilder {
    /// The TCP port to listen on; 0 (the default) picks a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The IP address to listen on (default 127.0.0.1). The endpoint names this address, so
    /// choose one clients can reach.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = ip;
        self
    }

    /// Adds an access key. The first key is the primary one (the one in the connection string);
    /// tokens signed with any key are accepted and upstream requests carry a signature per key.
    /// Without a key, the emulator uses the [`DEVELOPMENT_KEY`] (or a random one, with
    /// [`random_key`](Self::random_key)).
    pub fn key(mut self, key: impl Into<AccessKey>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Whether, when no [`key`](Self::key) is given, the emulator makes a random 44-character
    /// key at start instead of using the fixed [`DEVELOPMENT_KEY`] (default false).
    pub fn random_key(mut self, random: bool) -> Self {
        self.random_key = random;
        self
    }

    /// Adds the settings of a hub, replacing earlier settings of the same hub.
    pub fn hub(mut self, hub: HubSettings) -> Self {
        self.hubs
            .retain(|h| !h.name().eq_ignore_ascii_case(hub.name()));
        self.hubs.push(hub);
        self
    }

    /// Whether clients of hubs without their own setting may connect without an access token
    /// (default false, as in the service).
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.allow_anonymous = allow;
        self
    }

    /// Whether [`start`](Self::start) fails when an upstream refuses the abuse-protection
    /// handshake (default false: the failure is logged and reported by
    /// [`Emulator::handshakes`], and events are still sent).
    pub fn require_valid_upstreams(mut self, require: bool) -> Self {
        self.require_valid_upstreams = require;
        self
    }

    /// How long an upstream event may take in all, every attempt and any transport included
    /// (default 30 s): a client's `connect` or event gets its answer within it. Transient
    /// failures are retried (twice at most) while time is left. A timeout under 10 s also
    /// bounds the start-up handshake.
    pub fn upstream_timeout(mut self, timeout: Duration) -> Self {
        self.upstream_timeout = timeout;
        self
    }

    /// How many connections may be open at once (default 10,000): more are answered
    /// `503 Service Unavailable` and closed, so that one client cannot take every descriptor of
    /// the process. At least 1.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.server_limits.max_connections = max.max(1);
        self
    }

    /// How long a connection may take to send a request's headers, and a REST request each
    /// piece of its body (default 10 s). A slower connection is closed (a REST request gets
    /// `408` first). An idle keep-alive connection gets as long for its next request.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.server_limits.read_timeout = timeout;
        self
    }

    /// How many bytes of user events one connection may have waiting for a slow upstream
    /// (default 4 MiB; at most 1,000 events however small; one event always fits when none
    /// waits). An event over it is refused at once, as over
    /// [`max_pending_event_bytes`](Self::max_pending_event_bytes): the connection is never
    /// left unread, so a client that leaves is seen at once and its events dropped. At least 1.
    pub fn max_pending_event_bytes_per_connection(mut self, bytes: usize) -> Self {
        self.pending_events.connection_bytes = bytes.max(1);
        self
    }

    /// How many bytes of user events all connections together may have waiting for a slow
    /// upstream (default 256 MiB). An event that does not fit is refused at once: its client
    /// gets an error ack (or `invokeResponse` error; a plain client is closed with 1011), and
    /// others are not slowed down by it. Events of a connection that ended are dropped, not
    /// sent, and free their bytes (its `disconnected` event is still sent).
    pub fn max_pending_event_bytes(mut self, bytes: usize) -> Self {
        self.pending_events.total_bytes = bytes;
        self
    }

    /// How long a client's WebSocket may stay silent before it is taken for dead (default
    /// 120 s, what the service's clients allow the service). A silent socket is pinged after a
    /// sixth of it; any frame, pongs included, counts. A dead one is closed (1001) and its
    /// connection ends, or waits for recovery if it is reliable. Time a sender spends not
    /// being read while its recipients catch up does not count.
    pub fn client_idle_timeout(mut self, timeout: Duration) -> Self {
        self.client_idle_timeout = timeout.max(Duration::from_millis(6));
        self
    }

    /// How long a `json.reliable.webpubsub.azure.v1` connection whose socket dropped waits
    /// for its client to recover it (default 30 s, as the service). Messages sent meanwhile are
    /// kept; after the window the connection ends and `disconnected` is sent upstream.
    pub fn recovery_window(mut self, window: Duration) -> Self {
        self.recovery_window = window;
        self
    }

    /// How long a write to a client may make no progress before the client counts as gone and
    /// its connection is dropped (default 30 s). A client that sends to a group is not read
    /// while one of its recipients is over its high-water mark
    /// ([`OutboundBudget::high_water_bytes`]), so this is also the longest a recipient that does
    /// not read can hold its senders up.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// The byte budgets of the connections' outbound queues (default
    /// [`OutboundBudget::default`]: a 1 MiB high-water mark that slows group senders, 16 MiB per
    /// connection, 256 MiB for the process).
    pub fn outbound_budget(mut self, budget: OutboundBudget) -> Self {
        self.outbound_budget = budget;
        self
    }

    /// The URL clients and SDKs use to reach the emulator through a reverse proxy, for example
    /// `https://chat.example.com` (default none). Tokens are accepted when their audience names
    /// the emulator's own address (`localhost` too, for a loopback address) or this endpoint;
    /// the request's `Host` header, which the client chooses, never counts.
    pub fn public_endpoint(mut self, url: impl Into<String>) -> Self {
        self.public_endpoint = Some(url.into());
        self
    }

    /// Checks the settings, binds the port, runs the abuse-protection handshake with every
    /// upstream and starts serving: [`bind`](Self::bind) then [`BoundEmulator::start`].
    ///
    /// # Errors
    ///
    /// A [`StartError`] when a setting is invalid, the port cannot be bound, or (with
    /// [`require_valid_upstreams`](Self::require_valid_upstreams)) a handshake fails.
    pub async fn start(self) -> Result<Emulator, StartError> {
        self.bind().await?.start().await
    }

    /// Checks the settings and binds the port, without serving yet: the [`BoundEmulator`]
    /// knows its endpoint and connection string, so an in-process app can build its REST
    /// client and start serving its event handler before the emulator calls it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), webpubsub_emulator::StartError> {
    /// use webpubsub_emulator::{Emulator, HubSettings};
    ///
    /// let app = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let upstream = format!("http://{}/eventhandler", app.local_addr().unwrap());
    /// let bound = Emulator::builder()
    ///     .hub(HubSettings::new("chat").upstream(upstream))
    ///     .bind()
    ///     .await?;
    /// // Known before anything is served: hand it to the app's REST client.
    /// let connection_string = bound.connection_string();
    /// // ... build the app with it and serve it on `app` ...
    /// # drop(app);
    /// let emulator = bound.start().await?;
    /// assert_eq!(emulator.connection_string(), connection_string);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`StartError`] when a setting is invalid or the port cannot be bound.
    pub async fn bind(self) -> Result<BoundEmulator, StartError> {
        let mut keys = self.keys;
        if let Some(index) = keys.iter().position(|k| k.expose().is_empty()) {
            return Err(StartError::EmptyKey { index });
        }
        if keys.is_empty() {
            keys.push(if self.random_key {
                random_key()
            } else {
                AccessKey::new(DEVELOPMENT_KEY)
            });
        }
        for hub in &self.hubs {
            validate_hub(hub)?;
        }
        let public_endpoint = self
            .public_endpoint
            .as_deref()
            .map(public_origin)
            .transpose()?;
        let address = SocketAddr::new(self.ip, self.port);
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StartError::Bind {
                address: address.to_string(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| StartError::Bind {
            address: address.to_string(),
            source,
        })?;
        let endpoint = format!("http://{local}");
        let config = Arc::new(
            EmulatorConfig::new(endpoint, keys, self.hubs, self.allow_anonymous)
                .with_recovery_window(self.recovery_window)
                .with_client_idle_timeout(self.client_idle_timeout)
                .with_read_timeout(self.server_limits.read_timeout)
                .with_write_timeout(self.write_timeout)
                .with_outbound_budget(self.outbound_budget)
                .with_pending_events(self.pending_events)
                .with_public_endpoint(public_endpoint.as_deref()),
        );
        Ok(BoundEmulator {
            listener,
            local,
            config,
            require_valid_upstreams: self.require_valid_upstreams,
            upstream_timeout: self.upstream_timeout,
            server_limits: self.server_limits,
        })
    }
}

/// An emulator whose port is bound but that serves nothing yet. Made by
/// [`EmulatorBuilder::bind`]; [`start`](Self::start) makes it an [`Emulator`].
///
/// Until then, connections to its port wait in the listen queue.
#[derive(Debug)]
#[must_use = "a bound emulator serves nothing until it is started"]
pub struct BoundEmulator {
    listener: TcpListener,
    local: SocketAddr,
    config: Arc<EmulatorConfig>,
    require_valid_upstreams: bool,
    upstream_timeout: Duration,
    server_limits: ServerLimits,
}

impl BoundEmulator {
    /// The endpoint, for example `http://127.0.0.1:8080` (no trailing slash).
    pub fn endpoint(&self) -> &str {
        &self.config.endpoint
    }

    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The connection string SDKs take, the same as the started [`Emulator`]'s.
    ///
    /// It holds the primary access key: treat it as a secret.
    pub fn connection_string(&self) -> String {
        self.config.connection_string()
    }

    /// The primary access key.
    pub fn access_key(&self) -> &AccessKey {
        self.config.primary_key()
    }

    /// Runs the abuse-protection handshake with every upstream and starts serving.
    ///
    /// # Errors
    ///
    /// A [`StartError`] when the upstream HTTP client cannot be built or (with
    /// [`require_valid_upstreams`](EmulatorBuilder::require_valid_upstreams)) a handshake
    /// fails.
    pub async fn start(self) -> Result<Emulator, StartError> {
        let upstream = upstream::Upstream::new(self.config.clone(), self.upstream_timeout)?;
        let handshakes = upstream.validate_all().await;
        if let Some(failed) = handshakes
            .iter()
            .find(|h| self.require_valid_upstreams && !h.is_ok())
        {
            return Err(StartError::Handshake(failed.to_string()));
        }
        Ok(app::serve(
            self.listener,
            self.local,
            self.config,
            upstream,
            handshakes,
            self.server_limits,
        ))
    }
}

/// A 44-character random key, the length of the service's keys.
fn random_key() -> AccessKey {
    AccessKey::new(crate::random::alphanumeric(44))
}

fn validate_hub(hub: &HubSettings) -> Result<(), StartError> {
    if !is_valid_hub_name(hub.name()) {
        return Err(StartError::InvalidHub(hub.name().to_owned()));
    }
    for handler in hub.event_handlers().iter().filter(|h| !h.is_grpc()) {
        let sample = handler.url(hub.name(), "connect");
        let invalid = |reason: String| StartError::InvalidUpstream {
            hub: hub.name().to_owned(),
            template: upstream::without_query(handler.url_template()).to_owned(),
            reason,
        };
        if handler.is_tunnel() {
            // `tunnel:///path`: events go through the hub's tunnel connections to `/path`.
            continue;
        }
        let url = reqwest::Url::parse(&sample).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "scheme {:?} is not http, https or tunnel (tunnel:///path)",
                url.scheme()
            )));
        }
    }
    Ok(())
}

/// `scheme://host[:port]` of a public endpoint, which must be an http(s) URL without a path,
/// query or fragment.
fn public_origin(endpoint: &str) -> Result<String, StartError> {
    let invalid = |reason: &str| StartError::InvalidPublicEndpoint {
        endpoint: upstream::without_query(endpoint).to_owned(),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(endpoint).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("it is not an http or https URL with a host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it has a path, query or fragment"));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_endpoint_is_an_http_origin() {
        assert_eq!(
            public_origin("https://Chat.Example.com/").unwrap(),
            "https://chat.example.com"
        );
        assert_eq!(
            public_origin("http://proxy:8443").unwrap(),
            "http://proxy:8443"
        );
        for bad in [
            "ftp://x",
            "https://x/path",
            "https://x/?code=1",
            "not a url",
        ] {
            assert!(
                matches!(
                    public_origin(bad),
                    Err(StartError::InvalidPublicEndpoint { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn upstream_templates_must_be_http_urls() {
        let bad = HubSettings::new("h").upstream("ftp://x/{event}");
        assert!(matches!(
            validate_hub(&bad),
            Err(StartError::InvalidUpstream { .. })
        ));
        let bad = HubSettings::new("h").upstream("not a url");
        assert!(validate_hub(&bad).is_err());
        let good = HubSettings::new("h").upstream("http://127.0.0.1:1/{hub}/{event}");
        assert!(validate_hub(&good).is_ok());
    }

    #[tokio::test]
    async fn the_default_key_is_the_development_key_unless_random_is_asked() {
        let bound = EmulatorBuilder::default().bind().await.unwrap();
        assert_eq!(bound.access_key().expose(), DEVELOPMENT_KEY);
        let random = EmulatorBuilder::default()
            .random_key(true)
            .bind()
            .await
            .unwrap();
        assert_ne!(random.access_key().expose(), DEVELOPMENT_KEY);
        assert_eq!(random.access_key().expose().len(), 44);
        let given = EmulatorBuilder::default()
            .random_key(true)
            .key("mine")
            .bind()
            .await
            .unwrap();
        assert_eq!(given.access_key().expose(), "mine");
    }

    #[test]
    fn random_keys_differ() {
        assert_ne!(random_key(), random_key());
        assert_eq!(random_key().expose().len(), 44);
    }
}
