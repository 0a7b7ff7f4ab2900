//! One tunnel connection: dial, serve its frames, and dial again when it breaks.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::{Request, Response};
use http_body_util::Full;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, coding::CloseCode};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tower::Service;
use tracing::Instrument as _;
use webpubsub_protocol::tunnel::{MAX_FRAME_LEN, TunnelMessage};

use crate::client::State;
use crate::transport::{Link, Links};
use crate::url::Auth;
use crate::{TunnelError, serve, url};

/// How long a dial may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A connection with no frame from the service (pings count) for this long is dialed again.
const IDLE_LIMIT: Duration = Duration::from_secs(120);
/// How many frames may wait for the socket.
const OUTBOUND_FRAMES: usize = 64;

/// The services a tunnel serves, spelled once.
pub(crate) trait TunnelService: Send + Sync + 'static {
    fn serve_request(&self, request: Request<Full<Bytes>>) -> serve::Answer;
}

impl<S, B> TunnelService for Context<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display + Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    fn serve_request(&self, request: Request<Full<Bytes>>) -> serve::Answer {
        serve::call(self.service.clone(), request)
    }
}

/// What every connection of a tunnel shares.
pub(crate) struct Context<S> {
    pub(crate) service: S,
    pub(crate) auth: Auth,
    pub(crate) hub: String,
    /// The tunnel's id: the `sub` of its tokens.
    pub(crate) id: String,
    /// One permit per request in flight, over all connections.
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) first_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) state: watch::Sender<State>,
    /// The open connections, as carriers of the app's REST calls.
    pub(crate) links: Arc<Links>,
}

/// Where a connection dials.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `http(s)://host`.
    pub(crate) endpoint: String,
    /// The service instance to ask for, from `Reconnect`/`Rebalance`.
    pub(crate) target: Option<String>,
}

/// How serving a socket ended.
enum Ending {
    /// The tunnel is shutting down.
    Stopped,
    /// The service closed this connection for good.
    Closed,
    /// The service asked to dial this target instead.
    Reconnect(Target),
    /// The socket broke; dial again.
    Broken(String),
}

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Keeps one connection going until the tunnel stops or the service closes it.
pub(crate) async fn run<S>(context: Arc<S>, mut target: Target, rebalance: mpsc::Sender<Target>)
where
    S: TunnelService + HasContext,
{
    let mut failures: u32 = 0;
    let mut stop = context.ctx().stop.clone();
    loop {
        if *stop.borrow() {
            return;
        }
        let url = url::tunnel_url(
            &target.endpoint,
            context.ctx().hub,
            target.target.as_deref(),
        );
        let span = tracing::info_span!("tunnel_connection", hub = context.ctx().hub, url);
        let dialed = dial(context.ctx(), &url).instrument(span.clone()).await;
        let ending = match dialed {
            Ok(socket) => {
                failures = 0;
                serve_socket(&context, socket, &rebalance)
                    .instrument(span.clone())
                    .await
            }
            Err(error) => Ending::Broken(error.to_string()),
        };
        let _entered = span.enter();
        match ending {
            Ending::Stopped => return,
            Ending::Closed => {
                tracing::info!("the service closed the tunnel connection");
                return;
            }
            Ending::Reconnect(mut next) => {
                if next.endpoint.is_empty() {
                    next.endpoint = target.endpoint;
                }
                tracing::info!(
                    endpoint = next.endpoint,
                    target = next.target,
                    "reconnecting as the service asked"
                );
                target = next;
            }
            Ending::Broken(reason) => {
                let delay = backoff(context.ctx(), failures);
                failures = failures.saturating_add(1);
                tracing::warn!(reason, ?delay, "tunnel connection lost; dialing again");
                drop(_entered);
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopped(&mut stop) => return,
                }
            }
        }
    }
}

/// Access to the shared context from the type-erased service.
pub(crate) trait HasContext {
    fn ctx(&self) -> ContextView<'_>;
}

/// The parts of a [`Context`] that do not depend on the service type.
pub(crate) struct ContextView<'a> {
    pub(crate) auth: &'a Auth,
    pub(crate) hub: &'a str,
    pub(crate) id: &'a str,
    pub(crate) permits: &'a Arc<Semaphore>,
    pub(crate) first_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) stop: &'a watch::Receiver<bool>,
    pub(crate) state: &'a watch::Sender<State>,
    pub(crate) links: &'a Arc<Links>,
}

impl<S> HasContext for Context<S> {
    fn ctx(&self) -> ContextView<'_> {
        ContextView {
            auth: &self.auth,
            hub: &self.hub,
            id: &self.id,
            permits: &self.permits,
            first_delay: self.first_delay,
            max_delay: self.max_delay,
            stop: &self.stop,
            state: &self.state,
            links: &self.links,
        }
    }
}

/// Resolves when the tunnel stops (the watch's guard never lives across an await).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// `first_delay · 2^failures`, at most `max_delay`, times a random factor in [0.5, 1.5).
fn backoff(context: ContextView<'_>, failures: u32) -> Duration {
    let base = context
        .first_delay
        .saturating_mul(2u32.saturating_pow(failures.min(16)))
        .min(context.max_delay);
    base.mul_f64(0.5 + fastrand::f64())
}

async fn dial(context: ContextView<'_>, url: &str) -> Result<Socket, TunnelError> {
    let failed = |reason: String| TunnelError::Connect {
        url: url.to_owned(),
        reason,
    };
    let signed = url::with_token(url, context.auth, context.id).await?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_LEN + 4))
        .max_frame_size(Some(MAX_FRAME_LEN + 4));
    let connector = if url.starts_with("wss://") {
        Connector::Rustls(webpubsub_protocol::tls::client_config().map_err(failed)?)
    } else {
        Connector::Plain
    };
    let handshake = tokio_tungstenite::connect_async_tls_with_config(
        signed,
        Some(config),
        true,
        Some(connector),
    );
    let (socket, _) = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
        .await
        .map_err(|_| failed(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        // tungstenite's errors name the status or the I/O failure, never the URL or its token.
        .map_err(|e| failed(e.to_string()))?;
    Ok(socket)
}

/// Serves one open socket until it ends.
async fn serve_socket<S>(
    context: &Arc<S>,
    socket: Socket,
    rebalance: &mpsc::Sender<Target>,
) -> Ending
where
    S: TunnelService + HasContext,
{
    let (mut sink, mut stream) = socket.split();
    let (outbound, mut frames) = mpsc::channel::<Message>(OUTBOUND_FRAMES);
    let writer = tokio::spawn(async move {
        while let Some(message) = frames.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut inflight = JoinSet::new();
    let mut stop = context.ctx().stop.clone();
    let mut counted = false;
    let mut link: Option<Arc<Link>> = None;
    let ending = loop {
        tokio::select! {
            message = tokio::time::timeout(IDLE_LIMIT, stream.next()) => {
                let frame = match message {
                    Err(_) => break Ending::Broken(format!("nothing heard for {IDLE_LIMIT:?}")),
                    Ok(None) => break Ending::Broken("the service closed the socket".into()),
                    Ok(Some(Err(error))) => break Ending::Broken(error.to_string()),
                    Ok(Some(Ok(Message::Binary(frame)))) => frame,
                    Ok(Some(Ok(Message::Close(close)))) => {
                        break Ending::Broken(format!("the service closed the socket: {close:?}"))
                    }
                    Ok(Some(Ok(_))) => continue,
                };
                let message = match TunnelMessage::decode(&frame) {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(%error, "dropped a tunnel frame that does not decode");
                        continue;
                    }
                };
                match message {
                    TunnelMessage::ConnectionConnected(connected) => {
                        tracing::info!(connection_id = connected.connection_id, "tunnel connected");
                        if !counted {
                            counted = true;
                            link = Some(context.ctx().links.open(outbound.clone()));
                            context.ctx().state.send_modify(|s| s.open += 1);
                        }
                    }
                    TunnelMessage::HttpRequest(request) if !request.local_routing => {
                        // The bound: with every permit taken, no more frames are read.
                        let Ok(permit) = context.ctx().permits.clone().acquire_owned().await else {
                            break Ending::Stopped;
                        };
                        let context = context.clone();
                        let outbound = outbound.clone();
                        inflight.spawn(async move {
                            serve::answer(&*context, request, &outbound).await;
                            drop(permit);
                        });
                    }
                    TunnelMessage::HttpRequest(request) => {
                        tracing::debug!(ack_id = request.ack_id, "ignored a LocalRouting request from the service");
                    }
                    TunnelMessage::HttpResponse(response) => match &link {
                        Some(link) => link.answer(response),
                        None => tracing::debug!(ack_id = response.ack_id, "ignored an answer before the connection was connected"),
                    },
                    TunnelMessage::ConnectionReconnect(next) => {
                        break Ending::Reconnect(Target {
                            endpoint: next.endpoint,
                            target: Some(next.target_id).filter(|t| !t.is_empty()),
                        });
                    }
                    TunnelMessage::ConnectionRebalance(next) => {
                        let _ = rebalance.try_send(Target {
                            endpoint: next.endpoint,
                            target: Some(next.target_id).filter(|t| !t.is_empty()),
                        });
                    }
                    TunnelMessage::ConnectionClose(close) => {
                        tracing::info!(message = close.message, "the service closes the tunnel connection");
                        break Ending::Closed;
                    }
                    TunnelMessage::ServiceStatus(status) => {
                        tracing::info!(message = status.message, "service status");
                    }
                    other => tracing::debug!(kind = ?other.message_type(), "ignored a tunnel message"),
                }
            }
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            () = stopped(&mut stop) => break Ending::Stopped,
        }
    };
    let graceful = matches!(
        ending,
        Ending::Stopped | Ending::Closed | Ending::Reconnect(_)
    );
    if graceful {
        // The requests in flight finish and send their answers before the close; the socket is
        // still read for the answers to REST calls they make over it.
        drain(&mut inflight, &mut stream, link.as_deref()).await;
    }
    if let Some(link) = link.take() {
        // No new REST call takes this connection; the ones still waiting on it fail now.
        context.ctx().links.close(&link);
    }
    if graceful {
        let _ = outbound
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
    } else {
        // Broken: the answers cannot arrive; the service sends those events elsewhere.
        inflight.abort_all();
    }
    drop(outbound);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    if counted {
        context.ctx().state.send_modify(|s| s.open -= 1);
    }
    ending
}

/// Waits for the requests in flight, passing the answers that arrive meanwhile to the REST
/// calls waiting on `link`; other frames are no longer served.
async fn drain(
    inflight: &mut JoinSet<()>,
    stream: &mut futures_util::stream::SplitStream<Socket>,
    link: Option<&Link>,
) {
    let mut reading = link.is_some();
    while !inflight.is_empty() {
        tokio::select! {
            _ = inflight.join_next() => {}
            message = stream.next(), if reading => match message {
                Some(Ok(Message::Binary(frame))) => {
                    if let (Ok(TunnelMessage::HttpResponse(answer)), Some(link)) =
                        (TunnelMessage::decode(&frame), link)
                    {
                        link.answer(answer);
                    }
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => reading = false,
            },
        }
    }
}
