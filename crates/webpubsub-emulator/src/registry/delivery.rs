//! What the registry hands to a connection: messages and close commands, through a
//! per-connection queue counted in bytes, and the pressure that slows a sender down while its
//! recipients catch up.

use std::{
    fmt,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use super::budget::{BudgetState, Charge, ITEM_OVERHEAD_BYTES, OutboundBudget};

/// How a message's bytes are to be read, from the REST `Content-Type` or a client's `dataType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DataType {
    /// UTF-8 text (`text/plain`).
    Text,
    /// A JSON value (`application/json`).
    Json,
    /// Bytes (`application/octet-stream`).
    Binary,
    /// An encoded `google.protobuf.Any`, sent by a protobuf (or JSON `dataType: protobuf`)
    /// client.
    Protobuf,
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
    /// The bytes this message holds in the process's outbound budget, from when the registry
    /// takes it until the last recipient (queue, socket write, unacknowledged buffer) lets go.
    charge: Option<Charge>,
}

impl Message {
    /// A message with `data` read as `data_type`, from `origin`.
    pub(crate) fn new(data: impl Into<Bytes>, data_type: DataType, origin: Origin) -> Self {
        Self {
            data: data.into(),
            data_type,
            origin,
            encoded: OnceLock::new(),
            charge: None,
        }
    }

    /// The shared encoding of this message, made by `encode` on first use. Every caller must
    /// pass the same encoding (the registry does not know the wire format).
    pub(crate) fn encoded_or_init(&self, encode: impl FnOnce(&Self) -> Utf8Bytes) -> Utf8Bytes {
        self.encoded
            .get_or_init(|| {
                let encoded = encode(self);
                if let Some(charge) = &self.charge {
                    charge.add(encoded.len());
                }
                encoded
            })
            .clone()
    }

    /// What one queued copy of this message counts against its connection's budget.
    pub(crate) fn queue_cost(&self) -> usize {
        self.data.len() + ITEM_OVERHEAD_BYTES
    }

    /// The message, counted in `budget`'s process total while it lives, ready to share.
    pub(crate) fn charged(mut self, budget: &Arc<BudgetState>) -> Arc<Self> {
        let origin = match &self.origin {
            Origin::Server => 0,
            Origin::Group {
                group,
                from_user_id,
            } => group.len() + from_user_id.as_ref().map_or(0, String::len),
        };
        let bytes = self.data.len() + origin + std::mem::size_of::<Self>();
        self.charge = Some(budget.charge(bytes));
        Arc::new(self)
    }
}

// A copy is a new message: it shares the payload but not the encoding cache or the charge.
impl Clone for Message {
    fn clone(&self) -> Self {
        Self::new(self.data.clone(), self.data_type, self.origin.clone())
    }
}

// The encoding and the charge are bookkeeping: equality and `Debug` are about the message.
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

/// The reason a connection gets when its queue passes its byte budget.
pub(crate) const QUEUE_FULL_REASON: &str =
    "the connection's outbound queue is full: the client reads too slowly";

/// The reason a lagging connection gets when the process holds its whole outbound budget.
pub(crate) const OVER_BUDGET_REASON: &str =
    "the emulator's outbound memory budget is spent and the client reads too slowly";

/// What a connection's queue shares with its senders: the bytes queued, the out-of-band kill
/// switch (a close that cannot wait behind the backlog) and the signal that the queue drained
/// below its high-water mark.
#[derive(Debug)]
pub(super) struct QueueState {
    bytes: AtomicUsize,
    high_water: usize,
    kill_reason: OnceLock<String>,
    killed: Notify,
    /// The receiving end is gone or killed: senders waiting for it stop waiting.
    closed: AtomicBool,
    drained: Notify,
}

impl QueueState {
    fn new(high_water: usize) -> Self {
        Self {
            bytes: AtomicUsize::new(0),
            high_water,
            kill_reason: OnceLock::new(),
            killed: Notify::new(),
            closed: AtomicBool::new(false),
            drained: Notify::new(),
        }
    }

    pub(super) fn kill(&self, reason: &str) {
        if self.kill_reason.set(reason.to_owned()).is_ok() {
            // `notify_one` keeps a permit if no one waits yet, so the signal is never missed.
            self.killed.notify_one();
            self.close();
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.drained.notify_waiters();
    }

    /// Whether a sender may go on: the queue is at or below its high-water mark, or over.
    fn relieved(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.bytes.load(Ordering::Acquire) <= self.high_water
    }

    /// The bytes queued now.
    pub(super) fn queued_bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    fn release(&self, cost: usize) {
        let before = self.bytes.fetch_sub(cost, Ordering::AcqRel);
        if before > self.high_water && before - cost <= self.high_water {
            self.drained.notify_waiters();
        }
    }
}

/// The sending end of a connection's queue, kept by the hub: in the connection's entry and in
/// each index (user, groups) that lists it. The receiving end sees the queue closed once every
/// copy is gone, so the hub drops them together when it forgets the connection.
#[derive(Debug, Clone)]
pub(super) struct Queue {
    sender: mpsc::UnboundedSender<Delivery>,
    pub(super) state: Arc<QueueState>,
}

/// What became of an offered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Offered {
    /// Queued.
    Queued,
    /// Queued, and the queue is above its high-water mark: a sender that can wait should.
    Congested,
    /// Not queued: the connection must be dropped (it was killed, or its receiver is gone).
    Dropped,
}

impl Queue {
    /// A connection's queue: the hub's end and the session's.
    pub(super) fn new(budget: &OutboundBudget) -> (Self, Outbound) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(QueueState::new(budget.high_water_bytes));
        let outbound = Outbound {
            receiver,
            state: state.clone(),
            finished: false,
        };
        (Self { sender, state }, outbound)
    }

    /// Queues `message` without waiting, within the budgets: a connection whose queue would pass
    /// its byte budget, or that lags while the process is over its total, is killed instead, so
    /// a slow client never stalls the sender and never holds more than its share.
    pub(super) fn offer(&self, message: &Arc<Message>, budget: &BudgetState) -> Offered {
        let cost = message.queue_cost();
        let queued = self.state.queued_bytes();
        if queued + cost > budget.limits.max_connection_bytes {
            self.state.kill(QUEUE_FULL_REASON);
            return Offered::Dropped;
        }
        if queued > budget.limits.high_water_bytes && budget.over_total() {
            self.state.kill(OVER_BUDGET_REASON);
            return Offered::Dropped;
        }
        // Counted before it is visible, so the receiver never subtracts what was not added.
        self.state.bytes.fetch_add(cost, Ordering::AcqRel);
        if self
            .sender
            .send(Delivery::Message(message.clone()))
            .is_err()
        {
            self.state.release(cost);
            return Offered::Dropped;
        }
        if queued + cost > self.state.high_water {
            Offered::Congested
        } else {
            Offered::Queued
        }
    }

    /// Queues a close, behind what is queued already.
    pub(super) fn close(&self, reason: Option<String>) {
        let _ = self.sender.send(Delivery::Close { reason });
    }
}

/// The queues a sender filled past their high-water mark. A client that sends to a group waits
/// on it before its next frame is read, so a burst slows the sender instead of overflowing its
/// recipients.
#[derive(Debug, Default)]
#[must_use = "a sender that can wait should wait until the pressure is relieved"]
pub(crate) struct Pressure {
    congested: Vec<Arc<QueueState>>,
}

impl Pressure {
    pub(super) fn add(&mut self, state: Arc<QueueState>) {
        self.congested.push(state);
    }

    /// Whether no recipient is congested.
    pub(crate) fn is_empty(&self) -> bool {
        self.congested.is_empty()
    }

    /// Adds the congested queues of `other`.
    pub(crate) fn extend(&mut self, other: Self) {
        self.congested.extend(other.congested);
    }

    /// Resolves once every congested recipient is back at or below its high-water mark, or
    /// gone. A recipient that makes no progress is dropped by its own session's write timeout,
    /// which ends the wait. Cancel-safe: what is relieved stays relieved.
    pub(crate) async fn relieved(&mut self) {
        while let Some(state) = self.congested.last().cloned() {
            let notified = state.drained.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a drain between the two is not missed.
            notified.as_mut().enable();
            if state.relieved() {
                self.congested.pop();
                continue;
            }
            notified.await;
        }
    }
}

/// The receiving end of a connection's queue, drained by the connection's session.
#[derive(Debug)]
pub(crate) struct Outbound {
    receiver: mpsc::UnboundedReceiver<Delivery>,
    state: Arc<QueueState>,
    finished: bool,
}

impl Outbound {
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
            () = self.state.killed.notified() => return self.killed(),
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
                self.finish();
                Some(close)
            }
            Some(Delivery::Message(message)) => {
                self.state.release(message.queue_cost());
                Some(Delivery::Message(message))
            }
            None => {
                let close = self.killed();
                self.finish();
                close
            }
        }
    }

    fn killed(&mut self) -> Option<Delivery> {
        let reason = self.state.kill_reason.get()?.clone();
        self.finish();
        Some(Delivery::Close {
            reason: Some(reason),
        })
    }

    /// Nothing more comes: the backlog is dropped (and uncounted) and waiting senders go on.
    fn finish(&mut self) {
        self.finished = true;
        self.receiver.close();
        while let Ok(delivery) = self.receiver.try_recv() {
            if let Delivery::Message(message) = delivery {
                self.state.release(message.queue_cost());
            }
        }
        self.state.close();
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        self.finish();
    }
}
