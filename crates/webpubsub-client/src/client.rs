//! [`WebPubSubClient`]: the handle the application calls; a driver task owns the connection.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use webpubsub_protocol::frames::{ClientFrame, FrameData};

use crate::Error;
use crate::builder::{ClientBuilder, Options};
use crate::driver;
use crate::event::EventSink;
use crate::pending::{Pending, SendResult};
use crate::url::{BoxError, UrlSource};

/// Frames queued for the driver: a few, so that senders feel the back-pressure of a slow socket.
const OUTBOUND_CAPACITY: usize = 64;

/// Options of a send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct SendOptions {
    pub(crate) no_echo: bool,
    pub(crate) fire_and_forget: bool,
    pub(crate) ack_id: Option<u64>,
}

impl SendOptions {
    /// Acknowledged, echoed to the sender if it is in the group, with a generated ack id.
    pub fn new() -> Self {
        Self::default()
    }

    /// Group sends only: the sender does not receive its own message.
    pub fn no_echo(mut self, no_echo: bool) -> Self {
        self.no_echo = no_echo;
        self
    }

    /// Send without an ack id: returns once the frame is queued, with no answer.
    pub fn fire_and_forget(mut self, fire_and_forget: bool) -> Self {
        self.fire_and_forget = fire_and_forget;
        self
    }

    /// Use this ack id instead of a generated one (to make a send idempotent across restarts of
    /// the application's own retry: the service answers a repeated ack id with `Duplicate`).
    pub fn ack_id(mut self, ack_id: u64) -> Self {
        self.ack_id = Some(ack_id);
        self
    }
}

/// A Web PubSub client: joins groups, sends to groups and to the event handler, receives
/// messages, and keeps its connection through drops (recovering a reliable connection, or
/// reconnecting and rejoining its groups).
///
/// Cheap to clone; all clones share one connection. The connection closes when
/// [`stop`](Self::stop) is called or the last clone is dropped. See the [crate docs](crate).
#[derive(Debug, Clone)]
pub struct WebPubSubClient {
    inner: Arc<Inner>,
    _owner: Arc<Owner>,
}

/// Stops the driver when the last handle goes (the driver itself holds only `Inner`).
#[derive(Debug)]
struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(running) = self.0.running().take() {
            let _ = running.stop.send(true);
        }
    }
}

/// What the driver and the handles share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) source: UrlSource,
    pub(crate) options: Options,
    pub(crate) events: EventSink,
    pending: Mutex<Pending>,
    groups: Mutex<BTreeSet<String>>,
    connection: Mutex<Option<String>>,
    running: Mutex<Option<Running>>,
    next_ack_id: AtomicU64,
    next_invocation_id: AtomicU64,
    next_generation: AtomicU64,
    in_flight: Semaphore,
}

/// A started client's driver.
#[derive(Debug)]
struct Running {
    generation: u64,
    outbound: mpsc::Sender<Outbound>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// What a handle asks the driver to write.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// The pending frame with this ack id.
    Acked(u64),
    /// A frame nobody waits for an ack of.
    Frame(Message),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WebPubSubClient {
    /// A client that connects with a client access URL (`wss://…/client/hubs/{hub}?access_token=…`,
    /// e.g. from `WebPubSubServiceClient::client_access_token`). The token in it expires: use
    /// [`builder_with_url`](Self::builder_with_url) for clients that live longer.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(UrlSource::Fixed(url.into()))
    }

    /// A client that calls `fetch` for a fresh client access URL before every new connection
    /// (the negotiate pattern: ask the application server, which mints a token). Recovering a
    /// dropped reliable connection reuses the connection's URL, as the service expects.
    pub fn builder_with_url<F, Fut>(fetch: F) -> ClientBuilder
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, BoxError>> + Send + 'static,
    {
        ClientBuilder::fetching(fetch)
    }

    pub(crate) fn new(source: UrlSource, options: Options, events: EventSink) -> Self {
        let in_flight = Semaphore::new(options.max_in_flight);
        let inner = Arc::new(Inner {
            source,
            options,
            events,
            pending: Mutex::default(),
            groups: Mutex::default(),
            connection: Mutex::default(),
            running: Mutex::default(),
            next_ack_id: AtomicU64::new(1),
            next_invocation_id: AtomicU64::new(1),
            next_generation: AtomicU64::new(1),
            in_flight,
        });
        Self {
            _owner: Arc::new(Owner(inner.clone())),
            inner,
        }
    }

    /// Connects, and returns once the connection is ready: [`connection_id`](Self::connection_id)
    /// knows it, and [`ClientEvent::Connected`] follows on the events. Returns at once if the
    /// client is already started.
    ///
    /// # Errors
    ///
    /// [`Error::UrlFetch`], [`Error::InvalidUrl`] or [`Error::Connect`] when the first
    /// connection fails (the client stays stopped; later drops are handled by reconnecting).
    ///
    /// [`ClientEvent::Connected`]: crate::ClientEvent::Connected
    pub async fn start(&self) -> Result<(), Error> {
        let started = {
            let mut running = self.inner.running();
            if running.is_some() {
                return Ok(());
            }
            let (outbound, outbound_rx) = mpsc::channel(OUTBOUND_CAPACITY);
            let (stop, stop_rx) = watch::channel(false);
            let (started, started_rx) = oneshot::channel();
            let generation = self.inner.next_generation.fetch_add(1, Ordering::Relaxed);
            let task = tokio::spawn(driver::run(
                self.inner.clone(),
                generation,
                outbound_rx,
                stop_rx,
                started,
            ));
            *running = Some(Running {
                generation,
                outbound,
                stop,
                task,
            });
            started_rx
        };
        started.await.unwrap_or(Err(Error::NotStarted))
    }

    /// Closes the connection and waits for the driver to end: operations still waiting fail
    /// with [`Error::Stopped`], and the events end with [`ClientEvent::Stopped`]. The client can
    /// be started again.
    ///
    /// [`ClientEvent::Stopped`]: crate::ClientEvent::Stopped
    pub async fn stop(&self) {
        let running = self.inner.running().take();
        if let Some(running) = running {
            let _ = running.stop.send(true);
            let _ = running.task.await;
        }
    }

    /// The current connection's id, while connected.
    pub fn connection_id(&self) -> Option<String> {
        lock(&self.inner.connection).clone()
    }

    /// Joins `group`; after a reconnect the client joins it again by itself.
    ///
    /// # Errors
    ///
    /// [`Error::Ack`] when the service refuses (e.g. `Forbidden`), [`Error::Timeout`],
    /// [`Error::ConnectionLost`], [`Error::NotStarted`], [`Error::InvalidName`].
    pub async fn join_group(&self, group: &str) -> Result<SendResult, Error> {
        check_group(group)?;
        let result = self.inner.join(group).await?;
        lock(&self.inner.groups).insert(group.to_owned());
        Ok(result)
    }

    /// Leaves `group`.
    ///
    /// # Errors
    ///
    /// As [`join_group`](Self::join_group).
    pub async fn leave_group(&self, group: &str) -> Result<SendResult, Error> {
        check_group(group)?;
        let group = group.to_owned();
        let result = self
            .inner
            .send_acked(None, |ack_id| ClientFrame::LeaveGroup {
                group: group.clone(),
                ack_id: Some(ack_id),
            })
            .await?;
        lock(&self.inner.groups).remove(&group);
        Ok(result)
    }

    /// Sends `data` to everyone in `group` (the client needs the permission to).
    ///
    /// # Errors
    ///
    /// As [`join_group`](Self::join_group), plus [`Error::TooLarge`].
    pub async fn send_to_group(
        &self,
        group: &str,
        data: impl Into<FrameData>,
        options: SendOptions,
    ) -> Result<SendResult, Error> {
        check_group(group)?;
        let (group, data) = (group.to_owned(), data.into());
        let frame = |ack_id| ClientFrame::SendToGroup {
            group,
            ack_id,
            no_echo: options.no_echo,
            data,
        };
        self.inner.send(options, frame).await
    }

    /// Sends the user event `event` to the hub's event handler.
    ///
    /// # Errors
    ///
    /// As [`send_to_group`](Self::send_to_group); `InternalServerError` acks when the handler
    /// fails.
    pub async fn send_event(
        &self,
        event: &str,
        data: impl Into<FrameData>,
        options: SendOptions,
    ) -> Result<SendResult, Error> {
        check_event(event)?;
        let (event, data) = (event.to_owned(), data.into());
        let frame = |ack_id| ClientFrame::Event {
            event,
            ack_id,
            data,
        };
        self.inner.send(options, frame).await
    }

    /// Sends the user event `event` and returns the event handler's answer (`None` when it
    /// answered without a body). An invocation is not resent after a drop (the handler would
    /// run twice): it fails with [`Error::ConnectionLost`].
    ///
    /// # Errors
    ///
    /// [`Error::Invocation`] when the handler or the service fails it,
    /// [`Error::Unsupported`] on the protobuf subprotocols (they have no invoke), and as
    /// [`send_event`](Self::send_event).
    pub async fn invoke_event(
        &self,
        event: &str,
        data: impl Into<FrameData>,
    ) -> Result<Option<FrameData>, Error> {
        check_event(event)?;
        self.inner.invoke(event, data.into()).await
    }
}

fn check_group(group: &str) -> Result<(), Error> {
    let reason = if group.is_empty() {
        "a group name cannot be empty"
    } else if group.len() > 1024 {
        "a group name has at most 1024 bytes"
    } else if group.trim().is_empty() {
        "a group name cannot be only whitespace"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        what: "group",
        reason,
    })
}

fn check_event(event: &str) -> Result<(), Error> {
    if event.is_empty() {
        return Err(Error::InvalidName {
            what: "event",
            reason: "an event name cannot be empty",
        });
    }
    Ok(())
}

/// Removes a pending entry when its waiter goes (answered, timed out or dropped).
struct Forget<'a> {
    inner: &'a Inner,
    ack_id: Option<u64>,
    invocation: Option<String>,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        let mut pending = self.inner.pending();
        if let Some(ack_id) = self.ack_id {
            pending.forget_ack(ack_id);
        }
        if let Some(id) = &self.invocation {
            pending.forget_invocation(id);
        }
    }
}

impl Inner {
    pub(crate) fn pending(&self) -> MutexGuard<'_, Pending> {
        lock(&self.pending)
    }

    fn running(&self) -> MutexGuard<'_, Option<Running>> {
        lock(&self.running)
    }

    pub(crate) fn set_connection(&self, connection_id: Option<String>) {
        *lock(&self.connection) = connection_id;
    }

    /// The groups to join again on a new connection.
    pub(crate) fn joined_groups(&self) -> Vec<String> {
        lock(&self.groups).iter().cloned().collect()
    }

    /// The driver is done: forget it, unless a newer start replaced it.
    pub(crate) fn driver_ended(&self, generation: u64) {
        let mut running = self.running();
        if running.as_ref().is_some_and(|r| r.generation == generation) {
            *running = None;
        }
        drop(running);
        self.set_connection(None);
    }

    fn outbound(&self) -> Result<mpsc::Sender<Outbound>, Error> {
        self.running()
            .as_ref()
            .map(|r| r.outbound.clone())
            .ok_or(Error::NotStarted)
    }

    fn encode(&self, frame: &ClientFrame) -> Result<Message, Error> {
        let message = self
            .options
            .protocol
            .encode(frame)
            .map_err(|e| Error::Unsupported(e.reason().to_owned()))?;
        let size = message.len();
        if size > self.options.max_frame_bytes {
            return Err(Error::TooLarge {
                size,
                limit: self.options.max_frame_bytes,
            });
        }
        Ok(message)
    }

    pub(crate) async fn join(&self, group: &str) -> Result<SendResult, Error> {
        self.send_acked(None, |ack_id| ClientFrame::JoinGroup {
            group: group.to_owned(),
            ack_id: Some(ack_id),
        })
        .await
    }

    async fn send(
        &self,
        options: SendOptions,
        frame: impl FnOnce(Option<u64>) -> ClientFrame,
    ) -> Result<SendResult, Error> {
        if !options.fire_and_forget {
            return self.send_acked(options.ack_id, |id| frame(Some(id))).await;
        }
        let message = self.encode(&frame(None))?;
        let outbound = self.outbound()?;
        let timeout = self.options.ack_timeout;
        match tokio::time::timeout(timeout, outbound.send(Outbound::Frame(message))).await {
            Ok(Ok(())) => Ok(SendResult {
                ack_id: None,
                is_duplicated: false,
            }),
            Ok(Err(_)) => Err(Error::NotStarted),
            Err(_) => Err(Error::Timeout {
                what: "a fire-and-forget frame".into(),
                timeout,
            }),
        }
    }

    /// Sends the frame with an ack id and waits for its ack, for at most the ack timeout.
    async fn send_acked(
        &self,
        ack_id: Option<u64>,
        frame: impl FnOnce(u64) -> ClientFrame,
    ) -> Result<SendResult, Error> {
        let timeout = self.options.ack_timeout;
        let ack_id = ack_id.unwrap_or_else(|| self.next_ack_id.fetch_add(1, Ordering::Relaxed));
        let what = format!("ack id {ack_id}");
        let message = self.encode(&frame(ack_id))?;
        let attempt = async {
            // The semaphore is never closed.
            let _slot = self
                .in_flight
                .acquire()
                .await
                .map_err(|_| Error::NotStarted)?;
            let outbound = self.outbound()?;
            let (reply, answer) = oneshot::channel();
            if !self.pending().add_ack(ack_id, message, reply) {
                return Err(Error::AckIdInUse(ack_id));
            }
            let _forget = Forget {
                inner: self,
                ack_id: Some(ack_id),
                invocation: None,
            };
            outbound
                .send(Outbound::Acked(ack_id))
                .await
                .map_err(|_| Error::NotStarted)?;
            answer.await.unwrap_or_else(|_| {
                Err(Error::Stopped {
                    what: format!("ack id {ack_id}"),
                })
            })
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .unwrap_or(Err(Error::Timeout { what, timeout }))
    }

    async fn invoke(&self, event: &str, data: FrameData) -> Result<Option<FrameData>, Error> {
        let timeout = self.options.ack_timeout;
        let id = self
            .next_invocation_id
            .fetch_add(1, Ordering::Relaxed)
            .to_string();
        let message = self.encode(&ClientFrame::Invoke {
            invocation_id: id.clone(),
            event: event.to_owned(),
            data: Some(data),
        })?;
        let outbound = self.outbound()?;
        let attempt = async {
            let _slot = self
                .in_flight
                .acquire()
                .await
                .map_err(|_| Error::NotStarted)?;
            let (reply, answer) = oneshot::channel();
            // Ids come from a counter: never in use.
            self.pending().add_invocation(id.clone(), reply);
            let _forget = Forget {
                inner: self,
                ack_id: None,
                invocation: Some(id.clone()),
            };
            outbound
                .send(Outbound::Frame(message))
                .await
                .map_err(|_| Error::NotStarted)?;
            answer.await.unwrap_or_else(|_| {
                Err(Error::Stopped {
                    what: format!("invocation {id}"),
                })
            })
        };
        let result = tokio::time::timeout(timeout, attempt).await;
        result.unwrap_or_else(|_| {
            // Tell the service the answer is no longer awaited (best effort: the queue may be full).
            if let Ok(cancel) = self.encode(&ClientFrame::CancelInvocation {
                invocation_id: id.clone(),
            }) {
                let _ = outbound.try_send(Outbound::Frame(cancel));
            }
            Err(Error::Timeout {
                what: format!("invocation {id}"),
                timeout,
            })
        })
    }
}
