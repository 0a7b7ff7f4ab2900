//! [`GrpcUpstream`]: registers with the service and serves an [`EventHandler`] over the event
//! stream until shut down.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use webpubsub_protocol::{AccessKey, IntoConnectionString, grpc as pb};
use webpubsub_tower::{EventHandler, EventRunner};

use crate::auth::TokenInterceptor;
use crate::convert::{self, AckMessage};
use crate::lanes::Lanes;
use crate::{DataPlaneClient, GrpcError};

pub(crate) type Client =
    pb::upstream_client::UpstreamClient<InterceptedService<Channel, TokenInterceptor>>;

/// The app side of the service's gRPC upstream: register for a hub, receive its clients' events
/// on a stream, answer them with the same [`EventHandler`] a [`WebPubSubLayer`] serves.
///
/// The handler runs through an [`EventRunner`], with its timeout and panic guard: a handler
/// cannot tell whether an event came over a webhook, the tunnel or gRPC. Events of one
/// connection run in order; events of different connections run concurrently, at most
/// [`max_concurrent_events`](Self::max_concurrent_events) at a time (acks included). When the
/// stream ends, the upstream registers again after a backoff; a refusal that retrying cannot fix
/// (a wrong key, a hub not in gRPC mode) ends [`serve`](Self::serve) with the reason.
///
/// [`WebPubSubLayer`]: webpubsub_tower::WebPubSubLayer
#[derive(Debug, Clone)]
pub struct GrpcUpstream {
    endpoint: String,
    hub: String,
    key: AccessKey,
    max_concurrent_events: usize,
    backoff: (Duration, Duration),
    shutdown_grace: Duration,
    registered: watch::Sender<u64>,
}

impl GrpcUpstream {
    /// An upstream for `hub` of the service in `connection_string` (text or parsed:
    /// [`IntoConnectionString`]). The gRPC endpoint is the
    /// connection string's endpoint (the emulator serves gRPC on its own port); change it with
    /// [`endpoint`](Self::endpoint).
    ///
    /// # Errors
    ///
    /// When the connection string cannot be read or the hub name is invalid.
    pub fn from_connection_string(
        connection_string: impl IntoConnectionString,
        hub: &str,
    ) -> Result<Self, GrpcError> {
        let parsed = connection_string.into_connection_string()?;
        if !webpubsub_protocol::is_valid_hub_name(hub) {
            return Err(GrpcError::InvalidHub(hub.to_owned()));
        }
        Ok(Self {
            endpoint: parsed.endpoint().to_owned(),
            hub: hub.to_owned(),
            key: parsed.access_key().clone(),
            max_concurrent_events: 256,
            backoff: (Duration::from_millis(100), Duration::from_secs(10)),
            shutdown_grace: Duration::from_secs(10),
            registered: watch::Sender::new(0),
        })
    }

    /// The service's gRPC endpoint, such as `http://localhost:8080`.
    #[must_use]
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// How many events may run (handler and ack) at once, over all connections (default 256;
    /// at least 1). The stream is not read further while all are busy.
    #[must_use]
    pub fn max_concurrent_events(mut self, max: usize) -> Self {
        self.max_concurrent_events = max.max(1);
        self
    }

    /// The pause before registering again after a failure: `min` at first, doubling up to
    /// `max` (defaults 100 ms and 10 s); a registration that succeeds resets it.
    #[must_use]
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = (min, max.max(min));
        self
    }

    /// How long [`serve`](Self::serve) waits, once shutdown is asked, for the running events to
    /// be answered (default 10 s).
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// How many times this upstream has registered so far; it changes at every (re)registration,
    /// so `wait_for(|n| *n > 0)` waits until events can arrive.
    pub fn registrations(&self) -> watch::Receiver<u64> {
        self.registered.subscribe()
    }

    fn connect(&self) -> Result<Client, GrpcError> {
        let endpoint =
            Endpoint::from_shared(self.endpoint.clone()).map_err(|e| GrpcError::Endpoint {
                endpoint: self.endpoint.clone(),
                reason: e.to_string(),
            })?;
        // HTTP/2 pings notice a dead connection while the stream is quiet, so the upstream
        // registers again instead of waiting for events that cannot come.
        let channel = endpoint
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(20))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true)
            .connect_lazy();
        let interceptor = TokenInterceptor::new(&self.endpoint, &self.hub, self.key.as_bytes());
        Ok(pb::upstream_client::UpstreamClient::with_interceptor(
            channel,
            interceptor,
        ))
    }

    /// A client of the data-plane calls for this hub, over its own channel.
    ///
    /// # Errors
    ///
    /// When the endpoint is not a URL a channel can dial.
    pub fn client(&self) -> Result<DataPlaneClient, GrpcError> {
        Ok(DataPlaneClient::new(self.connect()?, self.hub.clone()))
    }

    /// Registers and serves `runner`'s handler until `shutdown` completes, then stops reading
    /// events, waits up to the grace period for the running ones to be answered, and returns.
    ///
    /// # Errors
    ///
    /// When the endpoint is unusable, or the service refuses the registration for a reason that
    /// retrying cannot fix (`UNAUTHENTICATED`, `INVALID_ARGUMENT`, `FAILED_PRECONDITION`,
    /// `UNIMPLEMENTED`, `PERMISSION_DENIED`).
    pub async fn serve<H: EventHandler>(
        self,
        runner: EventRunner<H>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), GrpcError> {
        let client = self.connect()?;
        let permits = Arc::new(Semaphore::new(self.max_concurrent_events));
        let lanes = Lanes::default();
        let mut shutdown = pin!(shutdown);
        let (min, max) = self.backoff;
        let mut delay = min;
        loop {
            let mut registering = client.clone();
            let request = pb::RegisterRequest {
                hub: self.hub.clone(),
            };
            let registered = tokio::select! {
                () = &mut shutdown => break,
                registered = registering.register(request) => registered,
            };
            let failure = match registered {
                Ok(stream) => {
                    delay = min;
                    self.registered.send_modify(|count| *count += 1);
                    tracing::info!(
                        hub = self.hub,
                        endpoint = self.endpoint,
                        "registered as the gRPC upstream"
                    );
                    let mut stream = stream.into_inner();
                    let ended = loop {
                        let permit = tokio::select! {
                            () = &mut shutdown => break None,
                            permit = permits.clone().acquire_owned() => permit,
                        };
                        // The semaphore is never closed.
                        let Ok(permit) = permit else { break None };
                        let next = tokio::select! {
                            () = &mut shutdown => break None,
                            next = stream.message() => next,
                        };
                        match next {
                            Ok(Some(message)) => {
                                dispatch(message, permit, &runner, &client, &lanes);
                            }
                            Ok(None) => {
                                break Some("the service ended the event stream".to_owned());
                            }
                            Err(status) => {
                                break Some(format!("the event stream failed: {status}"));
                            }
                        }
                    };
                    match ended {
                        None => {
                            self.drain(&permits).await;
                            return Ok(());
                        }
                        Some(reason) => reason,
                    }
                }
                Err(status) if is_permanent(status.code()) => {
                    return Err(GrpcError::Refused {
                        code: status.code(),
                        message: status.message().to_owned(),
                    });
                }
                Err(status) => format!("registration failed: {status}"),
            };
            tracing::warn!(hub = self.hub, reason = failure, retry_in = ?delay, "gRPC upstream disconnected");
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(max);
        }
        self.drain(&permits).await;
        Ok(())
    }

    /// Waits until every running event is answered, or the grace period passes.
    async fn drain(&self, permits: &Semaphore) {
        let all = u32::try_from(self.max_concurrent_events).unwrap_or(u32::MAX);
        if tokio::time::timeout(self.shutdown_grace, permits.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(
                grace = ?self.shutdown_grace,
                "gRPC upstream stopped with events still running"
            );
        }
    }
}

/// Codes that registering again cannot change.
fn is_permanent(code: tonic::Code) -> bool {
    use tonic::Code;
    matches!(
        code,
        Code::Unauthenticated
            | Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::Unimplemented
            | Code::PermissionDenied
    )
}

/// Queues one event on its connection's lane; the permit is held until it is answered.
fn dispatch<H: EventHandler>(
    message: pb::StreamingRequest,
    permit: tokio::sync::OwnedSemaphorePermit,
    runner: &EventRunner<H>,
    client: &Client,
    lanes: &Lanes,
) {
    let client = client.clone();
    match convert::incoming(message) {
        Ok(incoming) => {
            let runner = runner.clone();
            let connection_id = incoming.connection_id.clone();
            lanes.submit(
                &connection_id,
                Box::pin(async move {
                    let outcome = runner.run(incoming.event).await;
                    if let Some(to) = incoming.ack {
                        send_ack(client, convert::ack(to, outcome)).await;
                    }
                    drop(permit);
                }),
            );
        }
        Err(invalid) => {
            tracing::warn!(reason = invalid.reason, "refused an event from the service");
            if let Some(to) = invalid.ack {
                tokio::spawn(async move {
                    send_ack(client, convert::refusal(to, invalid.reason)).await;
                    drop(permit);
                });
            }
        }
    }
}

async fn send_ack(mut client: Client, ack: AckMessage) {
    let (ack_id, result) = match ack {
        AckMessage::Connect(ack) => (ack.ack_id, client.ack_connect(ack).await),
        AckMessage::Message(ack) => (ack.ack_id, client.ack_message(ack).await),
    };
    if let Err(status) = result {
        // NOT_FOUND: the deadline passed or the stream ended first; the service gave up on it.
        tracing::warn!(ack_id, code = ?status.code(), message = status.message(), "the service refused an ack");
    }
}
