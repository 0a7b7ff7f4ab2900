//! The chat app: one axum router with the page, `/negotiate` and the event handler
//! (`WebPubSubLayer`), on the local emulator or on Azure Web PubSub.
//!
//! [`ChatServer::start`] is the whole app; `main.rs` adds the listener, the printed line and
//! Ctrl-C, and the tests run it in-process.

mod handler;
mod hub;
pub(crate) mod messages;
mod store;
mod web;

use std::fmt;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use webpubsub::ConnectionString;
use webpubsub::emulator::{Emulator, EventHandlerSettings, HubSettings};
use webpubsub::grpc::{GrpcError, GrpcUpstream};
use webpubsub::handler::{EventRunner, WebPubSubLayer};
use webpubsub::rest::WebPubSubServiceClient;
use webpubsub::tunnel::{Tunnel, WebPubSubTunnelClient};

use handler::ChatHandler;
use hub::Hub;
use store::ChatStore;

/// The path of the event handler on the app's router.
pub(crate) const EVENT_HANDLER_PATH: &str = "/eventhandler";
/// How long shutdown waits for open HTTP requests to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// What closed clients are told.
const SHUTDOWN_REASON: &str = "the chat server is shutting down";

/// Where the chat's Web PubSub service is.
#[derive(Clone)]
pub(crate) enum Service {
    /// Start the emulator in-process, with this app as the hub's event handler.
    Emulator,
    /// Use the service of this connection string (its event handler must be set to this app's
    /// `/eventhandler`, reachable from the service).
    ConnectionString(String),
}

impl fmt::Debug for Service {
    // The connection string holds the access key: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Emulator => f.write_str("Emulator"),
            Self::ConnectionString(_) => f.write_str("ConnectionString(<redacted>)"),
        }
    }
}

/// How the service's events reach the chat's handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upstream {
    /// The service calls the app's `/eventhandler` over HTTP (the layer).
    Webhook,
    /// The app registers with the service over gRPC and receives the events on a stream
    /// (`webpubsub::grpc`); the app needs no reachable endpoint for events.
    Grpc,
    /// The app dials the service's tunnel (`/server/tunnel`) and the same router serves the
    /// events that come down it (`webpubsub::tunnel`); the hub's event handler URL template is
    /// `tunnel:///eventhandler`, and the app needs no reachable endpoint for events.
    Tunnel,
}

/// How the chat runs.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The service.
    pub(crate) service: Service,
    /// The hub name.
    pub(crate) hub: String,
    /// How events reach the handler.
    pub(crate) upstream: Upstream,
}

impl Config {
    /// `WEBPUBSUB_CONNECTION_STRING` (unset: the emulator), `WEBPUBSUB_HUB` (default `chat`)
    /// and `CHAT_UPSTREAM` (`webhook`, `grpc` or `tunnel`; by default `tunnel` with a connection
    /// string, so a laptop needs no public endpoint, and `webhook` on the emulator).
    pub(crate) fn from_env() -> Result<Self, ChatError> {
        let service = match std::env::var("WEBPUBSUB_CONNECTION_STRING") {
            Ok(cs) if !cs.trim().is_empty() => Service::ConnectionString(cs),
            _ => Service::Emulator,
        };
        let hub = std::env::var("WEBPUBSUB_HUB")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| "chat".to_owned());
        let upstream = match std::env::var("CHAT_UPSTREAM").as_deref().map(str::trim) {
            Err(_) | Ok("") if matches!(service, Service::ConnectionString(_)) => Upstream::Tunnel,
            Err(_) | Ok("" | "webhook") => Upstream::Webhook,
            Ok("grpc") => Upstream::Grpc,
            Ok("tunnel") => Upstream::Tunnel,
            Ok(other) => return Err(ChatError::Upstream(other.to_owned())),
        };
        Ok(Self {
            service,
            hub,
            upstream,
        })
    }
}

/// Why the chat could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ChatError {
    /// The listener's address is unknown.
    #[error("cannot read the listener's address: {0}")]
    Listener(#[source] std::io::Error),
    /// `WEBPUBSUB_CONNECTION_STRING` does not parse.
    #[error("invalid WEBPUBSUB_CONNECTION_STRING: {0}")]
    ConnectionString(#[source] webpubsub::protocol::ConnectionStringError),
    /// The emulator did not start.
    #[error("cannot start the emulator: {0}")]
    Emulator(#[source] webpubsub::emulator::StartError),
    /// The REST client could not be built.
    #[error("cannot create the REST client: {0}")]
    Rest(#[source] webpubsub::rest::Error),
    /// `CHAT_UPSTREAM` names no upstream.
    #[error("invalid CHAT_UPSTREAM {0:?}: use webhook, grpc or tunnel")]
    Upstream(String),
    /// The tunnel did not connect.
    #[error("the tunnel did not connect: {0}")]
    Tunnel(String),
    /// The gRPC upstream could not register.
    #[error("the gRPC upstream did not start: {0}")]
    Grpc(String),
}

/// The running chat.
#[derive(Debug)]
pub(crate) struct ChatServer {
    address: SocketAddr,
    closing: Arc<AtomicBool>,
    hub: Hub,
    emulator: Option<Emulator>,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    /// The gRPC upstream's task, in gRPC mode; it stops with `stop`.
    grpc: Option<JoinHandle<Result<(), GrpcError>>>,
    /// The tunnel, in tunnel mode.
    tunnel: Option<Tunnel>,
}

impl ChatServer {
    /// Serves the chat on `listener` and connects it to its service (starting the emulator
    /// when `config.service` says so).
    pub(crate) async fn start(listener: TcpListener, config: Config) -> Result<Self, ChatError> {
        let address = listener.local_addr().map_err(ChatError::Listener)?;
        // The emulator binds first, so its connection string is known before the app serves;
        // it calls the app (the abuse-protection handshake) only once started, below.
        let (emulator, connection_string) = match config.service {
            Service::ConnectionString(cs) => (None, cs),
            Service::Emulator => {
                let settings = HubSettings::new(config.hub.as_str());
                let settings = match config.upstream {
                    Upstream::Webhook => {
                        settings.upstream(format!("http://{address}{EVENT_HANDLER_PATH}"))
                    }
                    Upstream::Grpc => settings.event_handler(EventHandlerSettings::grpc()),
                    Upstream::Tunnel => settings.upstream(format!("tunnel://{EVENT_HANDLER_PATH}")),
                };
                let bound = Emulator::builder()
                    .hub(settings)
                    .bind()
                    .await
                    .map_err(ChatError::Emulator)?;
                let cs = bound.connection_string();
                (Some(bound), cs)
            }
        };
        let parsed: ConnectionString = connection_string
            .parse()
            .map_err(ChatError::ConnectionString)?;
        let client = WebPubSubServiceClient::from_connection_string(&parsed, &config.hub)
            .map_err(ChatError::Rest)?;
        let hub = Hub::new(client);

        let store = Arc::new(ChatStore::new());
        let closing = Arc::new(AtomicBool::new(false));
        let handler = ChatHandler::new(store.clone(), hub.clone(), closing.clone());
        // The layer accepts only events signed with the service's key.
        let layer = WebPubSubLayer::new(handler.clone())
            .path(EVENT_HANDLER_PATH)
            .hub(config.hub.as_str())
            .connection_string(&parsed)
            .map_err(ChatError::ConnectionString)?;
        let router = web::routes(hub.clone(), store).layer(layer);
        let (stop, mut stopped) = watch::channel(false);
        let serve = axum::serve(listener, router.clone()).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        });
        let server = tokio::spawn(serve.into_future());

        let emulator = match emulator {
            None => None,
            Some(bound) => match bound.start().await {
                Ok(emulator) => Some(emulator),
                Err(e) => {
                    stop.send_replace(true);
                    return Err(ChatError::Emulator(e));
                }
            },
        };
        let tunnel = match config.upstream {
            Upstream::Tunnel => match serve_tunnel(&connection_string, &config.hub, router).await {
                Ok(tunnel) => Some(tunnel),
                Err(e) => {
                    stop.send_replace(true);
                    return Err(e);
                }
            },
            Upstream::Webhook | Upstream::Grpc => None,
        };
        let grpc = match config.upstream {
            Upstream::Webhook | Upstream::Tunnel => None,
            Upstream::Grpc => {
                match serve_grpc(&connection_string, &config.hub, handler, &stop).await {
                    Ok(task) => Some(task),
                    Err(e) => {
                        stop.send_replace(true);
                        return Err(e);
                    }
                }
            }
        };
        Ok(Self {
            address,
            closing,
            hub,
            emulator,
            stop,
            server,
            grpc,
            tunnel,
        })
    }

    /// The page's URL.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// The emulator's endpoint, when the chat runs on the emulator.
    pub(crate) fn emulator_endpoint(&self) -> Option<&str> {
        self.emulator.as_ref().map(Emulator::endpoint)
    }

    /// Closes every client connection cleanly (they are told why), stops the emulator, then
    /// stops serving once open requests are done.
    pub(crate) async fn shutdown(self) {
        self.closing.store(true, Ordering::Relaxed);
        // While the app still serves, so the `disconnected` events find it.
        if let Err(e) = self.hub.close_all(SHUTDOWN_REASON).await {
            tracing::warn!("cannot close the client connections: {e}");
        }
        if let Some(emulator) = self.emulator {
            emulator.shutdown().await;
        }
        if let Some(tunnel) = self.tunnel {
            // Answers the requests in flight, then closes.
            tunnel.shutdown().await;
        }
        self.stop.send_replace(true);
        if let Some(grpc) = self.grpc {
            match tokio::time::timeout(SHUTDOWN_GRACE, grpc).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!("the gRPC upstream failed: {e}"),
                Ok(Err(e)) => tracing::warn!("the gRPC upstream task failed: {e}"),
                Err(_) => {
                    tracing::warn!("the gRPC upstream did not stop within {SHUTDOWN_GRACE:?}")
                }
            }
        }
        match tokio::time::timeout(SHUTDOWN_GRACE, self.server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("the chat server failed: {e}"),
            Ok(Err(e)) => tracing::warn!("the chat server task failed: {e}"),
            Err(_) => tracing::warn!("open requests did not finish within {SHUTDOWN_GRACE:?}"),
        }
    }
}

/// How long the chat waits for its tunnel to connect before it gives up.
const TUNNEL_CONNECT_WAIT: Duration = Duration::from_secs(15);

/// Dials the hub's tunnel and serves the events that come down it with `router`, the same
/// router that serves the page and the webhooks.
async fn serve_tunnel(
    connection_string: &str,
    hub: &str,
    router: axum::Router,
) -> Result<Tunnel, ChatError> {
    let tunnel = WebPubSubTunnelClient::from_connection_string(connection_string, hub)
        .map_err(|e| ChatError::Tunnel(e.to_string()))?
        .serve(router);
    match tokio::time::timeout(TUNNEL_CONNECT_WAIT, tunnel.connected()).await {
        Ok(Ok(())) => Ok(tunnel),
        Ok(Err(e)) => Err(ChatError::Tunnel(e.to_string())),
        Err(_) => Err(ChatError::Tunnel(format!(
            "not connected within {TUNNEL_CONNECT_WAIT:?}"
        ))),
    }
}

/// How long the chat waits for its gRPC upstream to register before it gives up.
const GRPC_REGISTRATION_WAIT: Duration = Duration::from_secs(10);

/// Registers `handler` as the hub's gRPC upstream and serves it until `stop` turns true.
async fn serve_grpc(
    connection_string: &str,
    hub: &str,
    handler: ChatHandler,
    stop: &watch::Sender<bool>,
) -> Result<JoinHandle<Result<(), GrpcError>>, ChatError> {
    let upstream = GrpcUpstream::from_connection_string(connection_string, hub)
        .map_err(|e| ChatError::Grpc(e.to_string()))?;
    let mut registered = upstream.registrations();
    let mut stopped = stop.subscribe();
    let task = tokio::spawn(upstream.serve(EventRunner::new(handler), async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    }));
    match tokio::time::timeout(GRPC_REGISTRATION_WAIT, registered.wait_for(|n| *n > 0)).await {
        Ok(Ok(_)) => Ok(task),
        // The task ended (a refusal): its error says why.
        Ok(Err(_)) => Err(ChatError::Grpc(match task.await {
            Ok(Err(e)) => e.to_string(),
            _ => "the upstream stopped before it registered".to_owned(),
        })),
        Err(_) => {
            task.abort();
            Err(ChatError::Grpc(format!(
                "not registered within {GRPC_REGISTRATION_WAIT:?}"
            )))
        }
    }
}
