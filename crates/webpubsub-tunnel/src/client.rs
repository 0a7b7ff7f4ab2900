//! The tunnel client: its settings, the running [`Tunnel`] and the supervisor of its connections.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tower::Service;
use webpubsub_protocol::{IntoConnectionString, is_valid_hub_name};
use webpubsub_rest::{TokenCredential, WebPubSubServiceClient};

use crate::connection::{self, Context, HasContext, Target};
use crate::transport::{Links, TunnelTransport};
use crate::url::Auth;
use crate::{TunnelError, url};

/// A tunnel client: dials the service's `/server/tunnel` for one hub and serves the hub's events
/// through a tower service. See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct WebPubSubTunnelClient {
    endpoint: String,
    auth: Auth,
    hub: String,
    id: String,
    max_concurrency: usize,
    first_delay: Duration,
    max_delay: Duration,
}

impl std::fmt::Debug for WebPubSubTunnelClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebPubSubTunnelClient")
            .field("endpoint", &self.endpoint)
            .field("auth", &self.auth)
            .field("hub", &self.hub)
            .field("id", &self.id)
            .field("max_concurrency", &self.max_concurrency)
            .finish_non_exhaustive()
    }
}

impl WebPubSubTunnelClient {
    /// A client for `hub` of the service that `connection_string`
    /// (`Endpoint=…;AccessKey=…;Version=1.0;`, as text or parsed: [`IntoConnectionString`])
    /// names, authenticating with its access key.
    ///
    /// # Errors
    /// A connection string that does not parse, or an invalid hub name.
    pub fn from_connection_string(
        connection_string: impl IntoConnectionString,
        hub: &str,
    ) -> Result<Self, TunnelError> {
        let parsed = connection_string
            .into_connection_string()
            .map_err(|e| TunnelError::ConnectionString(e.to_string()))?;
        Self::new(
            parsed.endpoint(),
            hub,
            Auth::Key(parsed.access_key().clone()),
        )
    }

    /// A client for `hub` at `endpoint` (`https://<name>.webpubsub.azure.com`) that
    /// authenticates with Microsoft Entra ID: each dial asks `credential` for a token for
    /// [`ENTRA_SCOPE`](webpubsub_rest::ENTRA_SCOPE) and sends it as the `access_token`, as the
    /// official client does. The identity needs the *Web PubSub Service Owner* role.
    ///
    /// ```
    /// use webpubsub_rest::{AccessToken, TokenCredential, TokenFuture};
    /// use webpubsub_tunnel::WebPubSubTunnelClient;
    ///
    /// #[derive(Debug)]
    /// struct MyCredential; // azure_identity's credentials fit behind this trait
    ///
    /// impl TokenCredential for MyCredential {
    ///     fn get_token<'a>(&'a self, _scopes: &'a [&'a str]) -> TokenFuture<'a> {
    ///         Box::pin(async { Ok(AccessToken::new("eyJ…", std::time::SystemTime::now())) })
    ///     }
    /// }
    ///
    /// let client =
    ///     WebPubSubTunnelClient::with_credential("https://demo.webpubsub.azure.com", "chat", MyCredential)?;
    /// // A bearer token never travels in clear, except to this machine (a local emulator).
    /// assert!(WebPubSubTunnelClient::with_credential("http://demo.example", "chat", MyCredential).is_err());
    /// # Ok::<(), webpubsub_tunnel::TunnelError>(())
    /// ```
    ///
    /// # Errors
    /// An endpoint that is neither `https` nor a loopback address, or an invalid hub name.
    pub fn with_credential(
        endpoint: &str,
        hub: &str,
        credential: impl TokenCredential + 'static,
    ) -> Result<Self, TunnelError> {
        let endpoint = endpoint.trim().trim_end_matches('/');
        if !url::bearer_may_go_to(endpoint) {
            return Err(TunnelError::InsecureEndpoint(endpoint.to_owned()));
        }
        Self::new(endpoint, hub, Auth::Entra(Arc::new(credential)))
    }

    fn new(endpoint: &str, hub: &str, auth: Auth) -> Result<Self, TunnelError> {
        if !is_valid_hub_name(hub) {
            return Err(TunnelError::InvalidHub {
                hub: hub.to_owned(),
            });
        }
        Ok(Self {
            endpoint: endpoint.to_owned(),
            auth,
            hub: hub.to_owned(),
            id: format!("tunnel-{:016x}", fastrand::u64(..)),
            max_concurrency: 128,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        })
    }

    /// How many requests may run at once, over all connections (128 by default). When they all
    /// run, the tunnel reads no more frames until one finishes.
    #[must_use]
    pub fn max_concurrency(mut self, max: usize) -> Self {
        self.max_concurrency = max.max(1);
        self
    }

    /// The pause before dialing again after a connection breaks: `first`, doubling per failed
    /// attempt up to `max`, each with ±50 % jitter (250 ms and 30 s by default).
    #[must_use]
    pub fn reconnect_delays(mut self, first: Duration, max: Duration) -> Self {
        self.first_delay = first;
        self.max_delay = max.max(first);
        self
    }

    /// Starts the tunnel: dials the service and serves each incoming request with `service`
    /// until [`Tunnel::shutdown`], or until the service closes every connection.
    ///
    /// Must be called inside a tokio runtime.
    pub fn serve<S, B>(self, service: S) -> Tunnel
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: std::fmt::Display + Send,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
    {
        let (stop, stopped) = watch::channel(false);
        let (state, watcher) = watch::channel(State::default());
        let links = Arc::new(Links::default());
        let context = Arc::new(Context {
            service,
            auth: self.auth.clone(),
            hub: self.hub.clone(),
            id: self.id,
            permits: Arc::new(Semaphore::new(self.max_concurrency)),
            first_delay: self.first_delay,
            max_delay: self.max_delay,
            stop: stopped,
            state,
            links: links.clone(),
        });
        let first = Target {
            endpoint: self.endpoint.clone(),
            target: None,
        };
        let supervisor = tokio::spawn(supervise(context, first, self.endpoint.clone()));
        Tunnel {
            stop,
            state: watcher,
            supervisor: Some(supervisor),
            links,
            endpoint: self.endpoint,
            hub: self.hub,
            auth: self.auth,
        }
    }
}

/// What a running tunnel shows: its open connections, and whether it has ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) open: usize,
    pub(crate) ended: bool,
}

/// Runs the connections: the first one, each one a `Rebalance` asks for, until all have ended.
async fn supervise<C>(context: Arc<C>, first: Target, default_endpoint: String)
where
    C: connection::TunnelService + HasContext,
{
    let (more, mut asked) = mpsc::channel::<Target>(16);
    let mut connections = JoinSet::new();
    connections.spawn(connection::run(context.clone(), first, more.clone()));
    loop {
        tokio::select! {
            Some(mut target) = asked.recv() => {
                if *context.ctx().stop.borrow() {
                    continue;
                }
                if target.endpoint.is_empty() {
                    target.endpoint.clone_from(&default_endpoint);
                }
                connections.spawn(connection::run(context.clone(), target, more.clone()));
            }
            ended = connections.join_next() => {
                if let Some(Err(error)) = &ended {
                    tracing::error!(%error, "a tunnel connection task failed");
                }
                if connections.is_empty() {
                    break;
                }
            }
        }
    }
    context.ctx().links.end();
    context.ctx().state.send_modify(|state| state.ended = true);
}

/// A running tunnel. Dropping it stops the tunnel at once; [`shutdown`](Self::shutdown) lets the
/// requests in flight finish first.
#[derive(Debug)]
pub struct Tunnel {
    stop: watch::Sender<bool>,
    state: watch::Receiver<State>,
    supervisor: Option<JoinHandle<()>>,
    links: Arc<Links>,
    endpoint: String,
    hub: String,
    auth: Auth,
}

impl Tunnel {
    /// Waits until at least one connection is open.
    ///
    /// # Errors
    /// [`TunnelError::Stopped`] when the tunnel ended first.
    pub async fn connected(&self) -> Result<(), TunnelError> {
        let mut state = self.state.clone();
        let state = state
            .wait_for(|s| s.open > 0 || s.ended)
            .await
            .map_err(|_| TunnelError::Stopped)?;
        if state.open > 0 {
            Ok(())
        } else {
            Err(TunnelError::Stopped)
        }
    }

    /// A [`webpubsub_rest::Transport`] that carries REST calls over this tunnel's connections
    /// (`LocalRouting`); give it to [`WebPubSubServiceClientBuilder::transport`](webpubsub_rest::WebPubSubServiceClientBuilder::transport),
    /// or take [`rest_client`](Self::rest_client), which does.
    pub fn rest_transport(&self) -> TunnelTransport {
        TunnelTransport::new(self.links.clone())
    }

    /// A REST client for the tunnel's hub whose calls travel over the tunnel: the same
    /// endpoint and credential, no other connection. See [`TunnelTransport`] for how calls
    /// fail when no connection is open.
    ///
    /// # Errors
    /// As [`WebPubSubServiceClientBuilder::build`](webpubsub_rest::WebPubSubServiceClientBuilder::build).
    pub fn rest_client(&self) -> Result<WebPubSubServiceClient, webpubsub_rest::Error> {
        let builder = WebPubSubServiceClient::builder(&self.endpoint, &self.hub)
            .transport(self.rest_transport());
        match &self.auth {
            Auth::Key(key) => builder.access_key(key.clone()),
            Auth::Entra(credential) => builder.credential(credential.clone()),
        }
        .build()
    }

    /// How many connections are open now.
    pub fn connections(&self) -> usize {
        self.state.borrow().open
    }

    /// Stops taking new requests, lets the ones in flight finish and send their answers, then
    /// closes every connection.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.await;
        }
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.abort();
        }
    }
}
