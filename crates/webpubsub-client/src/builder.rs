//! [`ClientBuilder`]: the client's settings, with the official clients' defaults.

use std::future::Future;
use std::time::Duration;

use crate::event;
use crate::url::{BoxError, UrlSource};
use crate::{Events, Protocol, WebPubSubClient};

/// The largest frame the service accepts from a client (1 MB).
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// The settings the client runs with.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) protocol: Protocol,
    pub(crate) auto_reconnect: bool,
    pub(crate) auto_rejoin_groups: bool,
    pub(crate) ack_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) recovery_window: Duration,
    pub(crate) recovery_retry_delay: Duration,
    pub(crate) reconnect_delay: Duration,
    pub(crate) max_reconnect_delay: Duration,
    pub(crate) max_reconnect_attempts: Option<u32>,
    pub(crate) keep_alive_interval: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) sequence_ack_interval: Duration,
    pub(crate) quick_sequence_ack_gap: u64,
    pub(crate) max_in_flight: usize,
    pub(crate) max_frame_bytes: usize,
    pub(crate) max_incoming_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            protocol: Protocol::default(),
            auto_reconnect: true,
            auto_rejoin_groups: true,
            ack_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            recovery_window: Duration::from_secs(30),
            recovery_retry_delay: Duration::from_secs(1),
            reconnect_delay: Duration::from_secs(1),
            max_reconnect_delay: Duration::from_secs(30),
            max_reconnect_attempts: None,
            keep_alive_interval: Duration::from_secs(20),
            keep_alive_timeout: Duration::from_secs(120),
            sequence_ack_interval: Duration::from_secs(1),
            quick_sequence_ack_gap: 300,
            max_in_flight: 1024,
            max_frame_bytes: MAX_FRAME_BYTES,
            // A 1 MB binary payload is ~1.4 MB of base64 inside a JSON frame.
            max_incoming_bytes: 2 * MAX_FRAME_BYTES,
        }
    }
}

/// Builds a [`WebPubSubClient`]; from [`WebPubSubClient::builder`] or
/// [`WebPubSubClient::builder_with_url`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    source: UrlSource,
    options: Options,
    event_capacity: usize,
    event_budget_bytes: usize,
}

impl ClientBuilder {
    pub(crate) fn new(source: UrlSource) -> Self {
        Self {
            source,
            options: Options::default(),
            event_capacity: 1024,
            event_budget_bytes: 16 * 1024 * 1024,
        }
    }

    pub(crate) fn fetching<F, Fut>(fetch: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, BoxError>> + Send + 'static,
    {
        Self::new(UrlSource::fetcher(fetch))
    }

    /// The subprotocol (default [`Protocol::JsonReliable`]).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.options.protocol = protocol;
        self
    }

    /// Whether a connection that cannot be recovered is replaced by a new one (default `true`).
    pub fn auto_reconnect(mut self, enabled: bool) -> Self {
        self.options.auto_reconnect = enabled;
        self
    }

    /// Whether a new connection joins the groups the client had joined (default `true`).
    pub fn auto_rejoin_groups(mut self, enabled: bool) -> Self {
        self.options.auto_rejoin_groups = enabled;
        self
    }

    /// How long an operation waits for its ack or answer, recovery included (default 30 s).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.options.ack_timeout = timeout;
        self
    }

    /// How long opening a connection may take, up to its `connected` frame (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = timeout;
        self
    }

    /// How long the client tries to recover a dropped reliable connection before it starts a
    /// new one (default 30 s, the service's window).
    pub fn recovery_window(mut self, window: Duration) -> Self {
        self.options.recovery_window = window;
        self
    }

    /// The pause between failed recovery attempts (default 1 s; the first attempt is at once).
    pub fn recovery_retry_delay(mut self, delay: Duration) -> Self {
        self.options.recovery_retry_delay = delay;
        self
    }

    /// Reconnect backoff: the first delay, doubled after each failed attempt up to `max`, each
    /// with random jitter of up to half of it (defaults 1 s and 30 s).
    pub fn reconnect_delay(mut self, first: Duration, max: Duration) -> Self {
        self.options.reconnect_delay = first;
        self.options.max_reconnect_delay = max.max(first);
        self
    }

    /// How many failed reconnect attempts in a row end in [`ClientEvent::Stopped`]
    /// (default: no limit).
    ///
    /// [`ClientEvent::Stopped`]: crate::ClientEvent::Stopped
    pub fn max_reconnect_attempts(mut self, attempts: Option<u32>) -> Self {
        self.options.max_reconnect_attempts = attempts;
        self
    }

    /// Keep-alive: a `ping` after `interval` (default 20 s); the connection counts as lost when
    /// nothing arrives for `timeout` (default 120 s).
    pub fn keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.options.keep_alive_interval = interval.max(Duration::from_millis(1));
        self.options.keep_alive_timeout = timeout;
        self
    }

    /// How often a reliable connection acknowledges what it received (default 1 s); it also
    /// acknowledges at once when 300 messages are unacknowledged.
    pub fn sequence_ack_interval(mut self, interval: Duration) -> Self {
        self.options.sequence_ack_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How many operations may await their ack at once; more wait for a slot (default 1024).
    pub fn max_in_flight(mut self, operations: usize) -> Self {
        self.options.max_in_flight = operations.max(1);
        self
    }

    /// The largest frame the client reads from the service (default 2 MiB).
    pub fn max_incoming_bytes(mut self, bytes: usize) -> Self {
        self.options.max_incoming_bytes = bytes;
        self
    }

    /// The event stream's bounds: how many events and how many payload bytes it holds before
    /// the client stops reading (defaults 1024 and 16 MiB). See [`Events`].
    pub fn event_buffer(mut self, capacity: usize, budget_bytes: usize) -> Self {
        self.event_capacity = capacity;
        self.event_budget_bytes = budget_bytes;
        self
    }

    /// The client, not yet started, and its event stream.
    pub fn build(self) -> (WebPubSubClient, Events) {
        let (sink, events) = event::channel(self.event_capacity, self.event_budget_bytes);
        (
            WebPubSubClient::new(self.source, self.options, sink),
            events,
        )
    }
}
