//! A connection's upstream events, sent one at a time and in order, so a slow upstream never
//! stops the connection from receiving messages, and `disconnected` is always the last event.
//! User events hold a charge on the byte budgets ([`super::pending`]) until they are sent;
//! those still waiting when the connection ends are dropped, not sent.
//!
//! Most connections are idle most of their life, so an idle queue holds no task and no buffer:
//! a task that sends the jobs runs only while there are some, and the queues of jobs and
//! answers give their memory back once empty.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;
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

/// The session's end of a connection's event queue. Dropping it drops the answers nobody will
/// read; the jobs queued already are still sent.
#[derive(Debug)]
pub(super) struct EventQueue {
    queue: Arc<Queue>,
    budget: Arc<ConnectionBudget>,
}

/// What the session and the sending task share.
#[derive(Debug)]
struct Queue {
    upstream: Upstream,
    source: Arc<EventSource>,
    state: Mutex<QueueState>,
    /// Wakes the session when an outcome is ready.
    answered: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    jobs: VecDeque<(Job, Option<Charge>)>,
    /// Whether a task is sending the jobs; it ends once there are none.
    sending: bool,
    /// The outcomes of user events, for the session to answer.
    outcomes: VecDeque<Outcome>,
    /// The session is gone: outcomes have no reader.
    detached: bool,
}

/// The front of `queue`; an emptied queue gives its memory back, so an idle connection holds
/// none (a connection's first jobs and answers would otherwise keep their buffers for good).
fn pop_releasing<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let front = queue.pop_front();
    if queue.is_empty() {
        *queue = VecDeque::new();
    }
    front
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, QueueState> {
        // Every critical section leaves the queue consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `job`, and starts a task to send the jobs unless one runs already.
    fn push(self: &Arc<Self>, job: (Job, Option<Charge>)) {
        let start = {
            let mut state = self.state();
            state.jobs.push_back(job);
            !std::mem::replace(&mut state.sending, true)
        };
        if start {
            tokio::spawn(self.clone().send_all());
        }
    }

    /// Sends the jobs in order until none is left. Only one runs at a time (`sending`), so the
    /// upstream sees a connection's events in the order they were queued.
    async fn send_all(self: Arc<Self>) {
        loop {
            let (job, charge) = {
                let mut state = self.state();
                match pop_releasing(&mut state.jobs) {
                    Some(next) => next,
                    None => {
                        state.sending = false;
                        return;
                    }
                }
            };
            // Boxed while it runs: the task's future stays small between calls.
            let outcome = Box::pin(run(&self.upstream, &self.source, job)).await;
            // The budget comes back once the event is sent (not when it is taken), and before
            // the client hears so.
            drop(charge);
            if let Some(outcome) = outcome {
                let mut state = self.state();
                if !state.detached {
                    state.outcomes.push_back(outcome);
                    drop(state);
                    self.answered.notify_one();
                }
            }
        }
    }
}

impl EventQueue {
    /// The event queue of a connection, with its budget drawn on `total`. No task runs until
    /// a job is queued.
    pub(super) fn new(upstream: Upstream, source: Arc<EventSource>, total: &PendingBudget) -> Self {
        let queue = Arc::new(Queue {
            upstream,
            source,
            state: Mutex::default(),
            answered: Notify::new(),
        });
        let budget = total.connection();
        Self { queue, budget }
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
        self.queue.push((job, charge));
        Ok(())
    }

    /// The next outcome of a user event, once there is one. Cancel-safe: an outcome is taken
    /// only when it is returned.
    pub(super) async fn outcome(&self) -> Outcome {
        loop {
            if let Some(outcome) = pop_releasing(&mut self.queue.state().outcomes) {
                return outcome;
            }
            // An outcome added since the lock was released left a permit: this returns at once.
            self.queue.answered.notified().await;
        }
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
            user
        };
        if !dropped.is_empty() {
            tracing::debug!(
                events = dropped.len(),
                "dropped the user events of a closed connection"
            );
        }
        // Dropped outside the lock: each charge gives its bytes back.
        drop(dropped);
        self.queue.push((Job::Disconnected { reason }, None));
    }
}

impl Drop for EventQueue {
    fn drop(&mut self) {
        let outcomes = {
            let mut state = self.queue.state();
            state.detached = true;
            std::mem::take(&mut state.outcomes)
        };
        drop(outcomes);
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use webpubsub_protocol::AccessKey;

    use super::*;
    use crate::config::EmulatorConfig;

    /// A queue for hub `chat` of an emulator with no event handler: every user event comes
    /// back unhandled, without a network call.
    fn queue(total: &PendingBudget) -> EventQueue {
        let config = Arc::new(EmulatorConfig::new(
            "http://127.0.0.1:1".into(),
            vec![AccessKey::new("k")],
            [],
            false,
        ));
        let upstream = Upstream::new(config, Duration::from_secs(1)).expect("an upstream");
        let source = Arc::new(EventSource::new("chat", "c1".into(), None, None, None));
        EventQueue::new(upstream, source, total)
    }

    fn user(name: &str) -> Job {
        Job::User {
            name: name.into(),
            content_type: "text/plain",
            body: Bytes::from_static(b"hello"),
            reply: Reply::Message { ack_id: None },
        }
    }

    /// Whether the queue is back to idle: no task, and no memory in its queues.
    fn idle(events: &EventQueue) -> bool {
        let state = events.queue.state();
        !state.sending && state.jobs.capacity() == 0 && state.outcomes.capacity() == 0
    }

    #[tokio::test]
    async fn a_queue_sends_in_order_and_then_holds_no_task_and_no_buffer() {
        let total = PendingBudget::default();
        let events = queue(&total);
        assert!(idle(&events), "nothing runs before the first job");
        events.push(Job::Connected).unwrap();
        for name in ["first", "second", "third"] {
            events.push(user(name)).unwrap();
        }
        for expected in ["first", "second", "third"] {
            let outcome = tokio::time::timeout(Duration::from_secs(5), events.outcome())
                .await
                .expect("an outcome in time");
            assert!(
                matches!(&outcome, Outcome::Unhandled { name, .. } if name == expected),
                "{outcome:?}"
            );
        }
        // The task ends right after handing over the last outcome.
        for _ in 0..500 {
            if idle(&events) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            idle(&events),
            "the task ended and the queues gave their memory back"
        );
        assert_eq!(total.used(), 0, "every charge came back");
        // A later event starts a task again.
        events.push(user("later")).unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(5), events.outcome())
            .await
            .expect("an outcome in time");
        assert!(matches!(outcome, Outcome::Unhandled { .. }), "{outcome:?}");
    }
}
