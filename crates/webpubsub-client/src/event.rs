//! [`ClientEvent`] and [`Events`], the stream the application reads them from.
//!
//! # Memory
//!
//! The stream is bounded twice: by a number of events and by the bytes of their payloads
//! (`ClientBuilder::event_capacity` and `event_budget_bytes`). When either is used up the client
//! stops reading its socket until the application takes events out: the back-pressure reaches
//! the service over TCP (the reliable service then keeps the messages for the client, up to its
//! own limits). Nothing is dropped. An application that stops polling while it awaits an ack
//! can therefore wait for that ack until its timeout; poll the stream in its own task.
//! Dropping the stream is fine: events are then discarded.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use webpubsub_protocol::frames::FrameData;

use crate::Error;

/// Something that happened to the client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A new connection is ready (once per connection: a recovered connection is the same one).
    Connected {
        /// The connection id.
        connection_id: String,
        /// The user id, if the token or the `connect` handler gave one.
        user_id: Option<String>,
    },
    /// The connection ended and could not be recovered; the client reconnects unless told not
    /// to, or it was stopped.
    Disconnected {
        /// The connection's id, if it had connected.
        connection_id: Option<String>,
        /// The service's `disconnected` message, or what ended the connection.
        message: Option<String>,
    },
    /// The client stopped: [`WebPubSubClient::stop`](crate::WebPubSubClient::stop) was called,
    /// or reconnecting gave up. No event follows until it is started again.
    Stopped,
    /// A message from the server (REST API or an event handler's answer).
    ServerMessage {
        /// The payload.
        data: FrameData,
        /// Its sequence id on a reliable connection.
        sequence_id: Option<u64>,
    },
    /// A message sent to a group the client is in.
    GroupMessage {
        /// The group.
        group: String,
        /// The sender's user id, if a client with a user id sent it.
        from_user_id: Option<String>,
        /// The payload.
        data: FrameData,
        /// Its sequence id on a reliable connection.
        sequence_id: Option<u64>,
    },
    /// After a reconnect, joining a group the client had joined failed.
    RejoinGroupFailed {
        /// The group.
        group: String,
        /// Why.
        error: Error,
    },
}

/// One queued event and the share of the byte budget it holds until it is taken.
#[derive(Debug)]
struct Queued {
    event: ClientEvent,
    _budget: Option<OwnedSemaphorePermit>,
}

/// The client's events, in order: a [`Stream`](futures_core::Stream) of [`ClientEvent`].
///
/// See the [module docs](self) for how it bounds memory.
#[derive(Debug)]
pub struct Events {
    receiver: mpsc::Receiver<Queued>,
}

impl Events {
    /// The next event; `None` once the client is dropped.
    pub async fn recv(&mut self) -> Option<ClientEvent> {
        self.receiver.recv().await.map(|queued| queued.event)
    }
}

impl futures_core::Stream for Events {
    type Item = ClientEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        self.receiver
            .poll_recv(cx)
            .map(|queued| queued.map(|q| q.event))
    }
}

/// The sending side of [`Events`].
#[derive(Debug)]
pub(crate) struct EventSink {
    sender: mpsc::Sender<Queued>,
    budget: Arc<Semaphore>,
    budget_bytes: usize,
}

/// An event stream of `capacity` events and `budget_bytes` bytes of payload.
pub(crate) fn channel(capacity: usize, budget_bytes: usize) -> (EventSink, Events) {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    let budget_bytes = budget_bytes.clamp(1, Semaphore::MAX_PERMITS);
    let sink = EventSink {
        sender,
        budget: Arc::new(Semaphore::new(budget_bytes)),
        budget_bytes,
    };
    (sink, Events { receiver })
}

impl EventSink {
    /// Queues `event`, waiting while the stream is full. An event larger than the whole budget
    /// waits for the whole budget.
    pub(crate) async fn emit(&self, event: ClientEvent) {
        if self.sender.is_closed() {
            return;
        }
        let bytes = payload_bytes(&event).clamp(1, self.budget_bytes);
        // `bytes` is at most the budget, which is at most `Semaphore::MAX_PERMITS` (< u32::MAX).
        let permits = u32::try_from(bytes).unwrap_or(u32::MAX);
        let Ok(budget) = self.budget.clone().acquire_many_owned(permits).await else {
            return;
        };
        // A closed stream only means nobody listens.
        let _ = self
            .sender
            .send(Queued {
                event,
                _budget: Some(budget),
            })
            .await;
    }
}

/// The bytes an event's payload occupies.
fn payload_bytes(event: &ClientEvent) -> usize {
    let (ClientEvent::ServerMessage { data, .. } | ClientEvent::GroupMessage { data, .. }) = event
    else {
        return 64;
    };
    match data {
        FrameData::Text(text) => text.len(),
        FrameData::Binary(bytes) | FrameData::Protobuf(bytes) => bytes.len(),
        // The serialized size is a fair measure of a JSON value's memory without walking it twice.
        FrameData::Json(value) => value.to_string().len(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn text(n: usize) -> ClientEvent {
        ClientEvent::ServerMessage {
            data: FrameData::Text("x".repeat(n)),
            sequence_id: None,
        }
    }

    #[tokio::test]
    async fn a_full_byte_budget_holds_the_sender_until_the_reader_takes_events() {
        let (sink, mut events) = channel(100, 1000);
        sink.emit(text(600)).await;
        let blocked = tokio::time::timeout(Duration::from_millis(50), sink.emit(text(600))).await;
        assert!(blocked.is_err(), "the second event is over the budget");
        assert_eq!(events.recv().await, Some(text(600)));
        // Taking the first one frees its bytes.
        tokio::time::timeout(Duration::from_secs(5), sink.emit(text(600)))
            .await
            .expect("room again");
        // An event larger than the whole budget still goes through, alone.
        events.recv().await;
        tokio::time::timeout(Duration::from_secs(5), sink.emit(text(5000)))
            .await
            .expect("a large event waits for the whole budget, not forever");
    }

    #[tokio::test]
    async fn a_full_count_holds_the_sender_and_a_dropped_stream_discards() {
        let (sink, events) = channel(1, 1 << 20);
        sink.emit(ClientEvent::Stopped).await;
        let blocked =
            tokio::time::timeout(Duration::from_millis(50), sink.emit(ClientEvent::Stopped));
        assert!(blocked.await.is_err());
        drop(events);
        tokio::time::timeout(Duration::from_secs(5), sink.emit(ClientEvent::Stopped))
            .await
            .expect("nobody listens: discarded at once");
    }
}
