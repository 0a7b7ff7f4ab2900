//! The reliable subprotocol's outgoing side: sequence ids and the buffer of messages the client
//! has not acknowledged yet, replayed after recovery.

use std::collections::VecDeque;

use std::sync::Arc;

use crate::registry::Message;

/// At most this many unacknowledged messages, as in the service.
pub(super) const MAX_UNACKED_MESSAGES: usize = 1000;
/// At most this many bytes of unacknowledged messages, as in the service.
pub(super) const MAX_UNACKED_BYTES: usize = 16 << 20;

/// The buffer is full: the client acknowledges too slowly, and the connection cannot be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Overflow {
    /// More than [`MAX_UNACKED_MESSAGES`].
    Messages,
    /// More bytes than allowed: [`MAX_UNACKED_BYTES`], or less while the process is over its
    /// outbound budget.
    Bytes(usize),
}

impl Overflow {
    /// Why the connection is closed, for the client.
    pub(super) fn reason(self) -> String {
        match self {
            Self::Messages => format!(
                "the client acknowledged too slowly: more than {MAX_UNACKED_MESSAGES} messages are unacknowledged"
            ),
            Self::Bytes(max) if max >= MAX_UNACKED_BYTES => format!(
                "the client acknowledged too slowly: more than {} MiB are unacknowledged",
                max >> 20
            ),
            Self::Bytes(max) => format!(
                "the client acknowledged too slowly: more than {max} bytes are unacknowledged while the emulator's outbound memory budget is spent"
            ),
        }
    }
}

/// Numbers messages and keeps each until the client acknowledges it. The messages are shared
/// with every other recipient (no copy per connection); the frame with the id is built when
/// written.
#[derive(Debug)]
pub(super) struct SequenceBuffer {
    next_id: u64,
    unacked: VecDeque<(u64, Arc<Message>)>,
    bytes: usize,
}

impl SequenceBuffer {
    pub(super) fn new() -> Self {
        Self {
            next_id: 1,
            unacked: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Gives `message` the next id and keeps it, unless that would pass
    /// [`MAX_UNACKED_MESSAGES`] or `max_bytes`. Returns the id.
    pub(super) fn push(
        &mut self,
        message: Arc<Message>,
        max_bytes: usize,
    ) -> Result<u64, Overflow> {
        let cost = message.queue_cost();
        if self.unacked.len() >= MAX_UNACKED_MESSAGES {
            return Err(Overflow::Messages);
        }
        if self.bytes + cost > max_bytes {
            return Err(Overflow::Bytes(max_bytes));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.bytes += cost;
        self.unacked.push_back((id, message));
        Ok(id)
    }

    /// Forgets every message up to and including `sequence_id`.
    pub(super) fn ack(&mut self, sequence_id: u64) {
        while let Some((id, message)) = self.unacked.front() {
            if *id > sequence_id {
                break;
            }
            self.bytes -= message.queue_cost();
            self.unacked.pop_front();
        }
    }

    /// The oldest unacknowledged message whose id is at least `id`: the next one to replay
    /// after recovery. Acknowledgements that arrive during the replay shrink what is left.
    pub(super) fn unacked_from(&self, id: u64) -> Option<(u64, Arc<Message>)> {
        let at = self.unacked.partition_point(|(seq, _)| *seq < id);
        self.unacked
            .get(at)
            .map(|(seq, message)| (*seq, message.clone()))
    }

    /// The id of the oldest unacknowledged message.
    pub(super) fn first_unacked(&self) -> Option<u64> {
        self.unacked.front().map(|(seq, _)| *seq)
    }

    /// The payloads not acknowledged yet, oldest first.
    #[cfg(test)]
    fn unacked(&self) -> impl Iterator<Item = &[u8]> {
        self.unacked.iter().map(|(_, message)| &message.data[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{DataType, Origin, OutboundBudget, Registry};

    fn message(data: &str) -> Arc<Message> {
        Arc::new(Message::new(
            data.to_owned(),
            DataType::Text,
            Origin::Server,
        ))
    }

    fn push(buffer: &mut SequenceBuffer, data: &str) -> Result<u64, Overflow> {
        buffer.push(message(data), MAX_UNACKED_BYTES)
    }

    #[test]
    fn ids_start_at_one_and_acks_release_messages() {
        let mut buffer = SequenceBuffer::new();
        for n in 1..=3 {
            assert_eq!(push(&mut buffer, &format!("m{n}")), Ok(n));
        }
        assert_eq!(buffer.unacked().collect::<Vec<_>>(), [b"m1", b"m2", b"m3"]);
        buffer.ack(2);
        assert_eq!(buffer.unacked().collect::<Vec<_>>(), [b"m3"]);
        // An old or repeated ack changes nothing.
        buffer.ack(1);
        assert_eq!(buffer.unacked().count(), 1);
        buffer.ack(u64::MAX);
        assert_eq!(buffer.unacked().count(), 0);
        assert_eq!(buffer.bytes, 0);
        assert_eq!(push(&mut buffer, "m4"), Ok(4));
    }

    #[test]
    fn the_replay_cursor_skips_what_was_acknowledged_meanwhile() {
        let mut buffer = SequenceBuffer::new();
        for n in 1..=5 {
            push(&mut buffer, &format!("m{n}")).unwrap();
        }
        assert_eq!(buffer.first_unacked(), Some(1));
        let at = |buffer: &SequenceBuffer, id| {
            buffer
                .unacked_from(id)
                .map(|(seq, message)| (seq, message.data.clone()))
        };
        assert_eq!(at(&buffer, 1), Some((1, "m1".into())));
        // The client acknowledged up to 3 while 1 and 2 were being replayed.
        buffer.ack(3);
        assert_eq!(at(&buffer, 3), Some((4, "m4".into())));
        assert_eq!(at(&buffer, 6), None);
        buffer.ack(5);
        assert_eq!(buffer.first_unacked(), None);
    }

    #[test]
    fn overflow_by_count_and_by_size() {
        let mut buffer = SequenceBuffer::new();
        for _ in 0..MAX_UNACKED_MESSAGES {
            push(&mut buffer, "x").unwrap();
        }
        assert_eq!(push(&mut buffer, "x"), Err(Overflow::Messages));
        buffer.ack(1);
        assert!(push(&mut buffer, "x").is_ok());

        let mut buffer = SequenceBuffer::new();
        let big = "x".repeat(MAX_UNACKED_BYTES);
        assert_eq!(
            push(&mut buffer, &big),
            Err(Overflow::Bytes(MAX_UNACKED_BYTES))
        );
        assert!(
            Overflow::Bytes(MAX_UNACKED_BYTES)
                .reason()
                .contains("16 MiB")
        );
        // A smaller limit (the process is over its budget) counts what is kept already.
        push(&mut buffer, &"y".repeat(100)).unwrap();
        assert_eq!(buffer.push(message("z"), 150), Err(Overflow::Bytes(150)));
    }

    #[test]
    fn buffers_share_messages_and_the_process_counts_each_once() {
        let registry = Registry::with_budget(OutboundBudget::default());
        let hub = registry.hub("h");
        let mut buffers: Vec<SequenceBuffer> = (0..40).map(|_| SequenceBuffer::new()).collect();
        for _ in 0..15 {
            let shared = hub.charged(Message::new(
                vec![7_u8; 1 << 20],
                DataType::Binary,
                Origin::Server,
            ));
            for buffer in &mut buffers {
                buffer.push(shared.clone(), MAX_UNACKED_BYTES).unwrap();
            }
        }
        // 40 recipients of 15 MiB: the process holds 15 MiB (and some bookkeeping), not 600.
        let held = registry.outbound_bytes();
        assert!((15 << 20..16 << 20).contains(&held), "{held}");
        assert!(buffers.iter().all(|b| b.bytes >= 15 << 20));
        for buffer in &mut buffers {
            buffer.ack(u64::MAX);
        }
        assert_eq!(registry.outbound_bytes(), 0);
    }
}
