//! A connection's upstream events, sent one at a time and in order by a task of its own, so a
//! slow upstream never stops the connection from receiving messages, and `disconnected` is
//! always the last event. User events hold a charge on the byte budgets ([`super::pending`])
//! until they are sent; those still waiting when the connection ends are dropped, not sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use webpubsub_protocol::cloudevents::{DisconnectedEventBody, EventType};
use webpubsub_protocol::frames::FrameData;

use super::pending::{Charge, ConnectionBudget, PendingBudget};
use crate::upstream::{EventSource, Upstream, UpstreamError, UpstreamReply};

/// An event to send.
#[derive(Debug)]
pub(super) enum Job {
    Connected,
    /// A user event; the answer goes back to the client.
    User {
        name: String,
        content_type: &'static str,
        body: Bytes,
        /// How the answer goes back.
        reply: Reply,
    },
    Disconnected {
        reason: Option<String>,
    },
}

/// How a user event's answer goes back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    /// A `message` frame (JSON clients) or a data frame (plain clients), then an ack if the
    /// frame had an ack id.
    Message { ack_id: Option<u64> },
    /// An `invokeResponse` to this invocation.
    Invocation(String),
}

/// What became of a user event.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The upstream answered 2xx; `data` is its answer, if it had a body.
    Answered {
        reply: Reply,
        data: Option<FrameData>,
    },
    /// No handler takes the event.
    Unhandled { reply: Reply, name: String },
    /// The upstream failed or refused.
    Failed { reply: Reply, reason: String },
}

/// The session's end of a connection's event queue. Dropping it ends the queue: the task sends
/// what is queued (nothing but system events, after [`Self::finish`]) and stops.
#[derive(Debug)]
pub(super) struct EventQueue {
    queue: Arc<Queue>,
    budget: Arc<ConnectionBudget>,
}

#[derive(Debug, Default)]
struct Queue {
    state: Mutex<QueueState>,
    /// Wakes the task when a job is queued or the queue ends.
    queued: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    jobs: VecDeque<(Job, Option<Charge>)>,
    ended: bool,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, QueueState> {
        // Every critical section leaves the queue consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next job, or `None` once the queue ended and is empty.
    async fn next(&self) -> Option<(Job, Option<Charge>)> {
        loop {
            {
                let mut state = self.state();
                if let Some(job) = state.jobs.pop_front() {
                    return Some(job);
                }
                if state.ended {
                    return None;
                }
            }
            // A job queued since the lock was released left a permit: this returns at once.
            self.queued.notified().await;
        }
    }

    fn end(&self) {
        self.state().ended = true;
        self.queued.notify_one();
    }
}

impl EventQueue {
    /// Starts the event task of a connection, with its budget drawn on `total`.
    pub(super) fn spawn(
        upstream: Upstream,
        source: Arc<EventSource>,
        total: &PendingBudget,
    ) -> (Self, mpsc::UnboundedReceiver<Outcome>) {
        let queue = Arc::new(Queue::default());
        let (outcomes, results) = mpsc::unbounded_channel();
        let jobs = queue.clone();
        tokio::spawn(async move {
            while let Some((job, charge)) = jobs.next().await {
                // Boxed while it runs: the idle task (most of a connection's life) stays small.
                let outcome = Box::pin(run(&upstream, &source, job)).await;
                // The budget comes back once the event is sent (not when it is taken), and
                // before the client hears so.
                drop(charge);
                if let Some(outcome) = outcome {
                    // The session may be gone; then nobody needs the answer.
                    let _ = outcomes.send(outcome);
                }
            }
        });
        let budget = total.connection();
        (Self { queue, budget }, results)
    }

    /// Queues `job`. A user event is charged its body's bytes; when the connection's or the
    /// process's budget has no room for them, it is refused and comes back as a failed outcome
    /// to answer.
    pub(super) fn push(&self, job: Job) -> Result<(), Outcome> {
        let charge = match &job {
            Job::User { body, reply, .. } => match self.budget.charge(body.len()) {
                Ok(charge) => Some(charge),
                Err(over) => {
                    return Err(Outcome::Failed {
                        reply: reply.clone(),
                        reason: over.to_string(),
                    });
                }
            },
            Job::Connected | Job::Disconnected { .. } => None,
        };
        self.queue.state().jobs.push_back((job, charge));
        self.queue.queued.notify_one();
        Ok(())
    }

    /// Ends the queue with `disconnected`: the user events still waiting belong to a
    /// connection that is gone, so they are dropped (and their budget freed) instead of sent.
    /// `connected` stays, so the upstream sees the pair.
    pub(super) fn finish(&self, reason: Option<String>) {
        let dropped: VecDeque<_> = {
            let mut state = self.queue.state();
            let (user, system) = std::mem::take(&mut state.jobs)
                .into_iter()
                .partition(|(job, _)| matches!(job, Job::User { .. }));
            state.jobs = system;
            state.jobs.push_back((Job::Disconnected { reason }, None));
            user
        };
        if !dropped.is_empty() {
            tracing::debug!(
                events = dropped.len(),
                "dropped the user events of a closed connection"
            );
        }
        // Dropped outside the lock: each charge wakes the session.
        drop(dropped);
        self.queue.end();
    }
}

impl Drop for EventQueue {
    fn drop(&mut self) {
        self.queue.end();
    }
}

async fn run(upstream: &Upstream, source: &EventSource, job: Job) -> Option<Outcome> {
    match job {
        Job::Connected => {
            // Non-blocking event: failures are logged by the upstream caller.
            let _ = upstream
                .send(
                    source,
                    EventType::Connected,
                    JSON,
                    Bytes::from_static(b"{}"),
                )
                .await;
            None
        }
        Job::Disconnected { reason } => {
            let body = DisconnectedEventBody {
                reason,
                ..DisconnectedEventBody::default()
            };
            let body = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
            let _ = upstream
                .send(source, EventType::Disconnected, JSON, body.into())
                .await;
            None
        }
        Job::User {
            name,
            content_type,
            body,
            reply,
        } => Some(
            match upstream
                .send(source, EventType::User(name.clone()), content_type, body)
                .await
            {
                None => Outcome::Unhandled { reply, name },
                Some(Ok(answered)) => Outcome::Answered {
                    reply,
                    data: answer(&answered),
                },
                Some(Err(error)) => Outcome::Failed {
                    reply,
                    reason: failure(&error),
                },
            },
        ),
    }
}

/// The content type of system events, as the service sends it.
const JSON: &str = "application/json; charset=utf-8";

/// The data of a user-event answer, by its `Content-Type` as the service reads it.
fn answer(reply: &UpstreamReply) -> Option<FrameData> {
    if reply.body.is_empty() || reply.status == http::StatusCode::NO_CONTENT {
        return None;
    }
    let body = &reply.body;
    Some(match reply.media_type().as_deref() {
        Some("text/plain") => match std::str::from_utf8(body) {
            Ok(text) => FrameData::Text(text.to_owned()),
            Err(_) => FrameData::Binary(body.to_vec()),
        },
        Some("application/json") => match serde_json::from_slice(body) {
            Ok(value) => FrameData::Json(value),
            // Not JSON after all: deliver the bytes rather than lose them.
            Err(_) => FrameData::Binary(body.to_vec()),
        },
        _ => FrameData::Binary(body.to_vec()),
    })
}

/// A failure in words for the client; the upstream's own message is kept when it refused.
fn failure(error: &UpstreamError) -> String {
    match error {
        UpstreamError::Status { status, body, .. } if !body.is_empty() => format!(
            "the upstream answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(512)])
        ),
        UpstreamError::Status { status, .. } => format!("the upstream answered {status}"),
        other => format!("the upstream call failed: {other}"),
    }
}

/// A user event's content type and body (the frame's payload, moved, not copied).
pub(super) fn content_type_of(data: FrameData) -> (&'static str, Bytes) {
    match data {
        FrameData::Text(text) => ("text/plain; charset=utf-8", Bytes::from(text)),
        FrameData::Json(value) => ("application/json", Bytes::from(value.to_string())),
        FrameData::Binary(bytes) => ("application/octet-stream", Bytes::from(bytes)),
        // The service sends a protobuf client's `protobuf_data` (the encoded Any) as is.
        FrameData::Protobuf(bytes) => ("application/x-protobuf", Bytes::from(bytes)),
    }
}
