//! The reliable subprotocol's outgoing side: sequence ids and the buffer of messages the client
//! has not acknowledged yet, replayed after recovery.

use std::collections::VecDeque;

use axum::extract::ws::Message as WsMessage;

use super::socket::data_len;

/// At most this many unacknowledged messages, as in the service.
pub(super) const MAX_UNACKED_MESSAGES: usize = 1000;
/// At most this many bytes of unacknowledged messages, as in the service.
pub(super) const MAX_UNACKED_BYTES: usize = 16 << 20;

/// The buffer is full: the client acknowledges too slowly, and the connection cannot be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Overflow;

/// Numbers messages and keeps each until the client acknowledges it. The kept frame (a text or
/// binary message, by the subprotocol) and the one written to the socket share their bytes.
#[derive(Debug)]
pub(super) struct SequenceBuffer {
    next_id: u64,
    unacked: VecDeque<(u64, WsMessage)>,
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

    /// Gives the next message its id, builds its frame with `frame(id)` and keeps the frame.
    /// Returns the frame to send.
    pub(super) fn push(
        &mut self,
        frame: impl FnOnce(u64) -> WsMessage,
    ) -> Result<WsMessage, Overflow> {
        let id = self.next_id;
        let frame = frame(id);
        let len = data_len(&frame);
        if self.unacked.len() >= MAX_UNACKED_MESSAGES || self.bytes + len > MAX_UNACKED_BYTES {
            return Err(Overflow);
        }
        self.next_id += 1;
        self.bytes += len;
        self.unacked.push_back((id, frame.clone()));
        Ok(frame)
    }

    /// Forgets every message up to and including `sequence_id`.
    pub(super) fn ack(&mut self, sequence_id: u64) {
        while let Some((id, frame)) = self.unacked.front() {
            if *id > sequence_id {
                break;
            }
            self.bytes -= data_len(frame);
            self.unacked.pop_front();
        }
    }

    /// The oldest unacknowledged message whose id is at least `id`: the next one to replay
    /// after recovery. Acknowledgements that arrive during the replay shrink what is left.
    pub(super) fn unacked_from(&self, id: u64) -> Option<(u64, WsMessage)> {
        let at = self.unacked.partition_point(|(seq, _)| *seq < id);
        self.unacked
            .get(at)
            .map(|(seq, frame)| (*seq, frame.clone()))
    }

    /// The id of the oldest unacknowledged message.
    pub(super) fn first_unacked(&self) -> Option<u64> {
        self.unacked.front().map(|(seq, _)| *seq)
    }

    /// The frames not acknowledged yet, oldest first.
    #[cfg(test)]
    fn unacked(&self) -> impl Iterator<Item = &str> {
        self.unacked.iter().map(|(_, frame)| text(frame))
    }
}

/// A text frame's text (tests keep text frames).
#[cfg(test)]
fn text(frame: &WsMessage) -> &str {
    match frame {
        WsMessage::Text(text) => text.as_str(),
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: String) -> WsMessage {
        WsMessage::Text(text.into())
    }

    #[test]
    fn ids_start_at_one_and_acks_release_messages() {
        let mut buffer = SequenceBuffer::new();
        for _ in 0..3 {
            buffer.push(|id| m(format!("m{id}"))).unwrap();
        }
        assert_eq!(buffer.unacked().collect::<Vec<_>>(), ["m1", "m2", "m3"]);
        buffer.ack(2);
        assert_eq!(buffer.unacked().collect::<Vec<_>>(), ["m3"]);
        // An old or repeated ack changes nothing.
        buffer.ack(1);
        assert_eq!(buffer.unacked().count(), 1);
        buffer.ack(u64::MAX);
        assert_eq!(buffer.unacked().count(), 0);
        assert_eq!(buffer.bytes, 0);
        assert_eq!(text(&buffer.push(|id| m(format!("m{id}"))).unwrap()), "m4");
    }

    #[test]
    fn the_replay_cursor_skips_what_was_acknowledged_meanwhile() {
        let mut buffer = SequenceBuffer::new();
        for _ in 0..5 {
            buffer.push(|id| m(format!("m{id}"))).unwrap();
        }
        assert_eq!(buffer.first_unacked(), Some(1));
        let at = |buffer: &SequenceBuffer, id| {
            buffer
                .unacked_from(id)
                .map(|(seq, frame)| (seq, text(&frame).to_owned()))
        };
        assert_eq!(at(&buffer, 1), Some((1, "m1".to_owned())));
        // The client acknowledged up to 3 while 1 and 2 were being replayed.
        buffer.ack(3);
        assert_eq!(at(&buffer, 3), Some((4, "m4".to_owned())));
        assert_eq!(at(&buffer, 6), None);
        buffer.ack(5);
        assert_eq!(buffer.first_unacked(), None);
    }

    #[test]
    fn overflow_by_count_and_by_size() {
        let mut buffer = SequenceBuffer::new();
        for _ in 0..MAX_UNACKED_MESSAGES {
            buffer.push(|_| m("x".to_owned())).unwrap();
        }
        assert_eq!(buffer.push(|_| m("x".to_owned())), Err(Overflow));
        buffer.ack(1);
        assert!(buffer.push(|_| m("x".to_owned())).is_ok());

        let mut buffer = SequenceBuffer::new();
        assert_eq!(
            buffer.push(|_| WsMessage::Binary(vec![0; MAX_UNACKED_BYTES + 1].into())),
            Err(Overflow)
        );
    }
}
