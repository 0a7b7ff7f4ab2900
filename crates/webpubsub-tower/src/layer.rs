//! The layer: the configuration, and the factory of services.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tower_layer::Layer;
use webpubsub_protocol::{AccessKey, ConnectionStringError, IntoConnectionString};

use crate::{
    EventHandler, EventRunner, WebPubSubService,
    webhook::{
        Config,
        auth::{ScopedKey, host_of},
        path::PathPattern,
    },
};

/// Serves the Azure Web PubSub event-handler protocol on one path and dispatches the events to
/// an [`EventHandler`]; every other request goes to the inner service untouched.
///
/// Defaults: the path `/api/webpubsub/hubs/{hub}/` (a prefix, as the JavaScript SDK), any hub,
/// any origin for the handshake, **no signature check**, a body limit of 1 MiB and a handler
/// timeout of 30 s.
///
/// **Configure the access keys** ([`connection_string`](Self::connection_string) or
/// [`access_key`](Self::access_key)) in production: without a key, the layer cannot tell the
/// service's requests from anyone else's, and anyone who can reach the path can send it events.
///
/// See the [crate docs](crate) for examples.
#[must_use]
pub struct WebPubSubLayer<H> {
    config: Arc<Config>,
    runner: EventRunner<H>,
    /// Whether the layer said that it checks no signature (once, shared by its clones).
    warned_unsigned: Arc<AtomicBool>,
}

impl<H: EventHandler> WebPubSubLayer<H> {
    /// A layer with the default configuration that dispatches to `handler`.
    pub fn new(handler: H) -> Self {
        Self::with_runner(EventRunner::new(handler))
    }

    /// A layer that dispatches through `runner` (its handler and timeout), for example one
    /// shared with another transport.
    pub fn with_runner(runner: EventRunner<H>) -> Self {
        Self {
            config: Arc::new(Config::default()),
            runner,
            warned_unsigned: Arc::new(AtomicBool::new(false)),
        }
    }
    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The path the layer owns (the path of the hub's event-handler URL template).
    ///
    /// `{hub}` and `{event}` stand for one segment each; `{hub}` must then be a served hub and
    /// the event's `ce-hub`. A path ending in `/` is a prefix. Segments compare
    /// case-insensitively.
    ///
    /// ```
    /// # use webpubsub_tower::{ClosureHandler, WebPubSubLayer};
    /// // Upstream URL template: http://host/eventhandler/{event}
    /// let layer = WebPubSubLayer::new(ClosureHandler::new()).path("/eventhandler/{event}");
    /// ```
    ///
    /// # Panics
    ///
    /// When `path` does not start with `/`, has an empty segment, more than one `{hub}`, or a
    /// brace outside a whole `{hub}`/`{event}` segment: a programming error, caught at startup.
    pub fn path(mut self, path: &str) -> Self {
        self.config().path = PathPattern::parse(path).unwrap_or_else(|err| panic!("{err}"));
        self
    }

    /// Serves `hub` (in addition to hubs given before). Hub names compare case-insensitively.
    pub fn hub(mut self, hub: impl Into<String>) -> Self {
        self.config()
            .hubs
            .get_or_insert_with(Vec::new)
            .push(hub.into());
        self
    }

    /// Serves these hubs (in addition to hubs given before).
    pub fn hubs<I>(mut self, hubs: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.config()
            .hubs
            .get_or_insert_with(Vec::new)
            .extend(hubs.into_iter().map(Into::into));
        self
    }

    /// Serves every hub (the default); forgets hubs given before.
    pub fn any_hub(mut self) -> Self {
        self.config().hubs = None;
        self
    }

    /// Origins allowed by the handshake: the service's host names, such as
    /// `demo.webpubsub.azure.com` (URLs work too; only the host counts, compared exactly and
    /// case-insensitively). With no origin configured, here or through a connection string, the
    /// handshake answers `WebHook-Allowed-Origin: *`.
    pub fn allowed_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let auth = &mut self.config().auth;
        auth.allowed_origins
            .extend(origins.into_iter().map(|origin| host_of(origin.as_ref())));
        self
    }

    /// Accepts the signatures of a service endpoint: its access key, for requests whose
    /// `WebHook-Request-Origin` is the endpoint's host. The host is also an allowed origin.
    ///
    /// Takes the connection string as text or parsed ([`IntoConnectionString`]), as the REST
    /// client's `from_connection_string` does. Repeat for several endpoints (replicas, custom
    /// domains, key rotation: add one connection string per key).
    ///
    /// ```
    /// # use webpubsub_tower::{ClosureHandler, WebPubSubLayer};
    /// let layer = WebPubSubLayer::new(ClosureHandler::new())
    ///     .connection_string("Endpoint=https://demo.webpubsub.azure.com;AccessKey=k;Version=1.0;")?;
    /// # Ok::<(), webpubsub_tower::ConnectionStringError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When the text is not a connection string (the error never includes the key).
    pub fn connection_string(
        mut self,
        connection_string: impl IntoConnectionString,
    ) -> Result<Self, ConnectionStringError> {
        let connection_string = connection_string.into_connection_string()?;
        let auth = &mut self.config().auth;
        let host = host_of(connection_string.host());
        auth.keys.push(ScopedKey::new(
            Some(host.clone()),
            connection_string.access_key(),
        ));
        if !auth.allowed_origins.contains(&host) {
            auth.allowed_origins.push(host);
        }
        Ok(self)
    }

    /// Accepts signatures made with `key`, whatever the request's origin (give the primary and
    /// the secondary key to survive key rotation).
    pub fn access_key(mut self, key: impl Into<AccessKey>) -> Self {
        self.config()
            .auth
            .keys
            .push(ScopedKey::new(None, &key.into()));
        self
    }

    /// The largest body accepted (default 1 MiB, the service's frame limit); larger bodies get
    /// `413`, checked on `Content-Length` and while the body streams.
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.config().body_limit = limit;
        self
    }

    /// How long a handler may take (default 30 s); slower calls are dropped and answered `504`.
    /// The timer is tokio's: see [`EventRunner`]'s "Runtime" for other executors.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.runner = self.runner.timeout(timeout);
        self
    }

    /// Lets handlers take as long as they like (no timer is used then).
    pub fn no_handler_timeout(mut self) -> Self {
        self.runner = self.runner.no_timeout();
        self
    }
}

impl<S, H> Layer<S> for WebPubSubLayer<H> {
    type Service = WebPubSubService<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        if self.config.auth.keys.is_empty() && !self.warned_unsigned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "WebPubSubLayer has no access key: it checks no ce-signature, so anyone who can reach its path can post events; configure .connection_string(..) or .access_key(..) outside local development"
            );
        }
        WebPubSubService::new(inner, Arc::clone(&self.config), self.runner.clone())
    }
}

impl<H> Clone for WebPubSubLayer<H> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            runner: self.runner.clone(),
            warned_unsigned: Arc::clone(&self.warned_unsigned),
        }
    }
}

impl<H> fmt::Debug for WebPubSubLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebPubSubLayer")
            .field("config", &self.config)
            .field("runner", &self.runner)
            .finish()
    }
}
