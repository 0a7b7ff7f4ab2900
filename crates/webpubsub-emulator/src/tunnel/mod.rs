//! Tunnel connections: apps that dialed `/server/tunnel` and take a hub's events over that
//! WebSocket (a hub whose event handler URL template is `tunnel:///path`).
//!
//! [`Tunnels`] keeps each hub's open connections. An event goes to the next connection in turn
//! as an `HttpRequest` frame with a fresh `AckId`, and the `HttpResponse` frames with that id
//! (one, or several with `NotCompleted`) are its answer. When a connection closes, every request
//! still waiting on it fails at once, so the caller can send it on another connection.

mod endpoint;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};
use webpubsub_protocol::tunnel::{
    ConnectionTargetMessage, HttpRequestMessage, HttpResponseMessage, TunnelHeaders, TunnelMessage,
};

pub(crate) use endpoint::{TunnelEndpoint, routes};

use crate::upstream::MAX_RESPONSE_BYTES;

/// How many encoded frames may wait for one connection's socket.
const OUTBOUND_FRAMES: usize = 256;

/// The open tunnel connections of every hub. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tunnels {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Lower-cased hub name to its open connections, oldest first.
    hubs: Mutex<HashMap<String, Vec<Arc<Connection>>>>,
    /// Which connection the next event takes (round robin).
    turn: AtomicUsize,
}

/// One open tunnel connection.
#[derive(Debug)]
pub(crate) struct Connection {
    id: String,
    hub: String,
    outbound: mpsc::Sender<Bytes>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_ack: AtomicU64,
}

/// A request waiting for its answer, with the parts of a streamed answer so far.
#[derive(Debug)]
struct Pending {
    reply: oneshot::Sender<Result<TunnelAnswer, CallFailure>>,
    partial: Option<TunnelAnswer>,
}

/// The answer to a request over a tunnel.
#[derive(Debug)]
pub(crate) struct TunnelAnswer {
    pub(crate) status: u16,
    pub(crate) headers: TunnelHeaders,
    pub(crate) body: Bytes,
}

/// Why a request over a tunnel got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CallFailure {
    /// No connection of the hub is open.
    #[error("no tunnel connection is open for hub {0:?}")]
    NoConnection(String),
    /// The connection closed before the answer was complete (nothing was answered).
    #[error("the tunnel connection {0} closed before it answered")]
    Dropped(String),
    /// No complete answer in time.
    #[error("no answer over the tunnel within {0:?}")]
    TimedOut(Duration),
    /// The answer broke a rule (too large, a bad status).
    #[error("{0}")]
    BadAnswer(String),
}

impl Tunnels {
    fn hubs(&self) -> MutexGuard<'_, HashMap<String, Vec<Arc<Connection>>>> {
        // A panic elsewhere while holding the lock leaves the map consistent: keep serving.
        self.inner.hubs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a connection of `hub`; the receiver gets its outbound frames.
    fn open(&self, hub: &str) -> (Arc<Connection>, mpsc::Receiver<Bytes>) {
        let (outbound, frames) = mpsc::channel(OUTBOUND_FRAMES);
        let connection = Arc::new(Connection {
            id: crate::random::alphanumeric(22),
            hub: hub.to_ascii_lowercase(),
            outbound,
            pending: Mutex::default(),
            next_ack: AtomicU64::new(1),
        });
        self.hubs()
            .entry(connection.hub.clone())
            .or_default()
            .push(connection.clone());
        (connection, frames)
    }

    /// Removes a closed connection and fails the requests still waiting on it.
    fn close(&self, connection: &Connection) {
        {
            let mut hubs = self.hubs();
            if let Some(open) = hubs.get_mut(&connection.hub) {
                open.retain(|c| c.id != connection.id);
                if open.is_empty() {
                    hubs.remove(&connection.hub);
                }
            }
        }
        let waiting = std::mem::take(&mut *connection.pending());
        for (_, pending) in waiting {
            let _ = pending
                .reply
                .send(Err(CallFailure::Dropped(connection.id.clone())));
        }
    }

    /// How many tunnel connections `hub` has open.
    pub(crate) fn count(&self, hub: &str) -> usize {
        self.hubs()
            .get(&hub.to_ascii_lowercase())
            .map_or(0, Vec::len)
    }

    /// The next open connection of `hub` in turn, skipping `tried`.
    fn pick(&self, hub: &str, tried: &[String]) -> Option<Arc<Connection>> {
        let hubs = self.hubs();
        let open: Vec<_> = hubs
            .get(&hub.to_ascii_lowercase())?
            .iter()
            .filter(|c| !tried.contains(&c.id))
            .collect();
        if open.is_empty() {
            return None;
        }
        let turn = self.inner.turn.fetch_add(1, Ordering::Relaxed);
        Some(open[turn % open.len()].clone())
    }

    /// Sends `request` (its `ack_id` is set here) over one open connection of `hub`, not one of
    /// `tried`, and waits up to `timeout` for the complete answer. The id of the connection used
    /// is pushed onto `tried`.
    pub(crate) async fn call(
        &self,
        hub: &str,
        mut request: HttpRequestMessage,
        timeout: Duration,
        tried: &mut Vec<String>,
    ) -> Result<TunnelAnswer, CallFailure> {
        let connection = self
            .pick(hub, tried)
            .ok_or_else(|| CallFailure::NoConnection(hub.to_owned()))?;
        tried.push(connection.id.clone());
        request.ack_id = connection.next_ack.fetch_add(1, Ordering::Relaxed);
        let ack_id = request.ack_id;
        let frame = TunnelMessage::HttpRequest(request)
            .encode()
            .map_err(|e| CallFailure::BadAnswer(format!("the event cannot be framed: {e}")))?;
        let (reply, answer) = oneshot::channel();
        connection.pending().insert(
            ack_id,
            Pending {
                reply,
                partial: None,
            },
        );
        let sent_and_answered = async {
            if connection.outbound.send(Bytes::from(frame)).await.is_err() {
                return Err(CallFailure::Dropped(connection.id.clone()));
            }
            answer
                .await
                .unwrap_or_else(|_| Err(CallFailure::Dropped(connection.id.clone())))
        };
        let result = tokio::time::timeout(timeout, sent_and_answered)
            .await
            .unwrap_or(Err(CallFailure::TimedOut(timeout)));
        // Answered, failed or timed out: a late answer with this id is dropped.
        connection.pending().remove(&ack_id);
        result
    }

    /// Sends `message` on every open connection of `hub`; returns how many took it.
    pub(crate) fn broadcast(&self, hub: &str, message: &TunnelMessage) -> usize {
        let Ok(frame) = message.encode() else {
            return 0;
        };
        let frame = Bytes::from(frame);
        let open = self
            .hubs()
            .get(&hub.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default();
        open.iter()
            .filter(|c| c.outbound.try_send(frame.clone()).is_ok())
            .count()
    }

    /// Asks every tunnel connection of `hub` to drop and dial `endpoint` again (`Reconnect`).
    pub(crate) fn reconnect(&self, hub: &str, endpoint: &str) -> usize {
        self.broadcast(
            hub,
            &TunnelMessage::ConnectionReconnect(target(endpoint, "reconnect asked by a test")),
        )
    }

    /// Asks every tunnel connection of `hub` to open one more connection to `endpoint`
    /// (`Rebalance`).
    pub(crate) fn rebalance(&self, hub: &str, endpoint: &str) -> usize {
        self.broadcast(
            hub,
            &TunnelMessage::ConnectionRebalance(target(endpoint, "rebalance asked by a test")),
        )
    }
}

fn target(endpoint: &str, message: &str) -> ConnectionTargetMessage {
    ConnectionTargetMessage {
        tracing_id: None,
        target_id: String::new(),
        endpoint: endpoint.to_owned(),
        message: message.to_owned(),
    }
}

impl Connection {
    fn pending(&self) -> MutexGuard<'_, HashMap<u64, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one `HttpResponse` frame: a part of a streamed answer is kept until the last part
    /// comes. A frame for no waiting request (late, or never asked) is dropped.
    fn answer(&self, part: HttpResponseMessage) {
        let mut pending = self.pending();
        let Some(waiting) = pending.get_mut(&part.ack_id) else {
            tracing::debug!(
                connection = self.id,
                ack_id = part.ack_id,
                "dropped a tunnel answer no request waits for"
            );
            return;
        };
        let answer = match waiting.partial.take() {
            // Later parts add only content; the first carried the status and headers.
            Some(mut answer) => {
                let mut body = BytesMut::with_capacity(answer.body.len() + part.content.len());
                body.extend_from_slice(&answer.body);
                body.extend_from_slice(&part.content);
                answer.body = body.freeze();
                answer
            }
            None => TunnelAnswer {
                status: part.status_code,
                headers: part.headers,
                body: part.content,
            },
        };
        if answer.body.len() > MAX_RESPONSE_BYTES {
            if let Some(waiting) = pending.remove(&part.ack_id) {
                let _ = waiting.reply.send(Err(CallFailure::BadAnswer(format!(
                    "the answer over the tunnel is over {MAX_RESPONSE_BYTES} bytes"
                ))));
            }
        } else if part.not_completed {
            waiting.partial = Some(answer);
        } else if let Some(waiting) = pending.remove(&part.ack_id) {
            let _ = waiting.reply.send(Ok(answer));
        }
    }
}
