//! A connection's upstream events, sent one at a time and in order by a task of its own, so a
//! slow upstream never stops the connection from receiving messages, and `disconnected` is
//! always the last event.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use webpubsub_protocol::cloudevents::{DisconnectedEventBody, EventType};
use webpubsub_protocol::frames::FrameData;

use crate::upstream::{EventSource, Upstream, UpstreamError, UpstreamReply};

/// How many events of one connection may wait for the upstream before the connection's reader
/// waits too.
const PENDING_EVENTS: usize = 64;

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

/// Starts the event task of a connection. It ends after the sender is dropped and every queued
/// event is sent.
pub(super) fn spawn(
    upstream: Upstream,
    source: Arc<EventSource>,
) -> (mpsc::Sender<Job>, mpsc::UnboundedReceiver<Outcome>) {
    let (jobs, mut queue) = mpsc::channel::<Job>(PENDING_EVENTS);
    let (outcomes, results) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(job) = queue.recv().await {
            if let Some(outcome) = run(&upstream, &source, job).await {
                // The session may be gone; then nobody needs the answer.
                let _ = outcomes.send(outcome);
            }
        }
    });
    (jobs, results)
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
