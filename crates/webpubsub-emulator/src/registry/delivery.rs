//! What the registry hands to a connection: messages and close commands, through a bounded
//! per-connection queue.

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

/// How a message's bytes are to be read, from the REST `Content-Type` or a client's `dataType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DataType {
    /// UTF-8 text (`text/plain`).
    Text,
    /// A JSON value (`application/json`).
    Json,
    /// Bytes (`application/octet-stream`).
    Binary,
}

/// Where a message comes from, which decides the `from` of a subprotocol `message` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Sent by the server (REST), or a user-event response: `"from": "server"`.
    Server,
    /// Sent by a client to a group: `"from": "group"`.
    Group {
        /// The group.
        group: String,
        /// The user id of the sending connection, if it has one.
        from_user_id: Option<String>,
    },
}

/// A message to deliver. Shared by every recipient through an `Arc`.
#[derive(Clone)]
pub(crate) struct Message {
    /// The payload.
    pub(crate) data: Bytes,
    /// How to read the payload.
    pub(crate) data_type: DataType,
    /// Who sent it.
    pub(crate) origin: Origin,
    /// The message as written to the socket, encoded by the first recipient that needs it and
    /// shared by the others: one serialization per broadcast instead of one per recipient.
    encoded: OnceLock<Utf8Bytes>,
}

impl Message {
    /// A message with `data` read as `data_type`, from `origin`.
    pub(crate) fn new(data: impl Into<Bytes>, data_type: DataType, origin: Origin) -> Self {
        Self {
            data: data.into(),
            data_type,
            origin,
            encoded: OnceLock::new(),
        }
    }

    /// The shared encoding of this message, made by `encode` on first use. Every caller must
    /// pass the same encoding (the registry does not know the wire format).
    pub(crate) fn encoded_or_init(&self, encode: impl FnOnce(&Self) -> Utf8Bytes) -> Utf8Bytes {
        self.encoded.get_or_init(|| encode(self)).clone()
    }
}

// The encoding is a cache: equality and `Debug` are about the message.
impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data && self.data_type == other.data_type && self.origin == other.origin
    }
}

impl Eq for Message {}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("data", &self.data)
            .field("data_type", &self.data_type)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// One item of a connection's outbound queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// A message to write to the client.
    Message(Arc<Message>),
    /// Close the connection. The registry has already forgotten it.
    Close {
        /// Why, for the `disconnected` frame and event.
        reason: Option<String>,
    },
}

/// The reason a connection gets when its queue overflows.
pub(crate) const QUEUE_FULL_REASON: &str =
    "the connection's outbound queue is full: the client reads too slowly";

/// The out-of-band kill switch of a connection: used when its queue is full, so the close
/// cannot be queued behind the backlog.
#[derive(Debug, Default)]
pub(super) struct Kill {
    reason: OnceLock<String>,
    notify: Notify,
}

impl Kill {
    pub(super) fn fire(&self, reason: &str) {
        if self.reason.set(reason.to_owned()).is_ok() {
            // `notify_one` keeps a permit if no one waits yet, so the signal is never missed.
            self.notify.notify_one();
        }
    }
}

/// Pushes `delivery` without waiting. On a full queue the connection is killed instead, so a
/// slow client never stalls the sender. Returns `false` when the connection must be dropped
/// (full queue or a receiver that is gone).
pub(super) fn offer(sender: &mpsc::Sender<Delivery>, kill: &Kill, delivery: Delivery) -> bool {
    match sender.try_send(delivery) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            kill.fire(QUEUE_FULL_REASON);
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// The receiving end of a connection's queue, drained by the connection's session.
#[derive(Debug)]
pub(crate) struct Outbound {
    receiver: mpsc::Receiver<Delivery>,
    kill: Arc<Kill>,
    finished: bool,
}

impl Outbound {
    pub(super) fn new(receiver: mpsc::Receiver<Delivery>, kill: Arc<Kill>) -> Self {
        Self {
            receiver,
            kill,
            finished: false,
        }
    }

    /// The next delivery; `None` once the connection is closed or unregistered.
    ///
    /// A [`Delivery::Close`] is the last item. When the queue overflowed, the close (with
    /// [`QUEUE_FULL_REASON`]) comes first and the backlog is dropped. Cancel-safe: use it in
    /// `tokio::select!`.
    pub(crate) async fn recv(&mut self) -> Option<Delivery> {
        // Under load something is usually queued already: take it without arming the kill
        // signal's waiter, which locks the `Notify` on every call.
        if let Some(delivery) = self.try_recv() {
            return Some(delivery);
        }
        if self.finished {
            return None;
        }
        let delivery = tokio::select! {
            biased;
            () = self.kill.notify.notified() => return self.killed(),
            delivery = self.receiver.recv() => delivery,
        };
        self.take(delivery)
    }

    /// The next delivery if one is queued now, without waiting: for draining a batch after
    /// [`recv`](Self::recv) returned one, to write it with a single flush. `None` means nothing
    /// is ready (or the connection is over: `recv` then says which). Same order and close
    /// semantics as `recv`.
    pub(crate) fn try_recv(&mut self) -> Option<Delivery> {
        if self.finished {
            return None;
        }
        if let Some(close) = self.killed() {
            return Some(close);
        }
        match self.receiver.try_recv() {
            Ok(delivery) => self.take(Some(delivery)),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => self.take(None),
        }
    }

    /// What the queue handed over means: a close is the last item, and a queue without senders
    /// (the connection was unregistered) ends with the kill's close, if there was one.
    fn take(&mut self, delivery: Option<Delivery>) -> Option<Delivery> {
        match delivery {
            Some(close @ Delivery::Close { .. }) => {
                self.finished = true;
                Some(close)
            }
            Some(message) => Some(message),
            None => {
                let close = self.killed();
                self.finished = true;
                close
            }
        }
    }

    fn killed(&mut self) -> Option<Delivery> {
        let reason = self.kill.reason.get()?.clone();
        self.finished = true;
        self.receiver.close();
        Some(Delivery::Close {
            reason: Some(reason),
        })
    }
}
