//! [`Sequencer`]: puts a reliable connection's numbered messages in order, exactly once.
//!
//! The service numbers each connection's messages from 1 and replays the unacknowledged ones
//! after a recovery. A message whose id was delivered already is a replay and is dropped. A
//! message that arrives before the one it follows (a gap) is held until the gap fills, which a
//! replay does after the next recovery: the service keeps every message the client has not
//! acknowledged, and the client acknowledges only the largest contiguous id it delivered.
//! At most [`MAX_HELD`] messages are held (the service itself keeps at most 1,000
//! unacknowledged ones); past that the gap is given up and the held messages go out in order.

use std::collections::BTreeMap;

use crate::ClientEvent;

/// The most messages held behind a gap.
pub(crate) const MAX_HELD: usize = 1000;

#[derive(Debug, Default)]
pub(crate) struct Sequencer {
    /// The largest id such that it and every id before it (on this connection) was delivered.
    delivered: Option<u64>,
    held: BTreeMap<u64, ClientEvent>,
}

impl Sequencer {
    /// The largest contiguous id delivered: what `sequenceAck` may acknowledge.
    pub(crate) fn delivered(&self) -> Option<u64> {
        self.delivered
    }

    /// Takes message `id`; pushes onto `ready` what can be delivered now, in order.
    pub(crate) fn accept(&mut self, id: u64, event: ClientEvent, ready: &mut Vec<ClientEvent>) {
        let next = match self.delivered {
            Some(delivered) if id <= delivered => return,
            Some(delivered) => delivered + 1,
            // The first message of a connection starts its numbering.
            None => id,
        };
        if id > next {
            tracing::debug!(id, expected = next, "holding a message until the gap fills");
            self.held.insert(id, event);
            if self.held.len() > MAX_HELD {
                tracing::warn!(
                    expected = next,
                    "giving up a gap in the sequence ids: {MAX_HELD} messages wait behind it"
                );
                let mut held = std::mem::take(&mut self.held).into_iter();
                if let Some((first, event)) = held.next() {
                    self.delivered = Some(first - 1);
                    self.held = held.collect();
                    self.accept(first, event, ready);
                }
            }
            return;
        }
        ready.push(event);
        let mut delivered = id;
        while let Some(event) = self.held.remove(&(delivered + 1)) {
            ready.push(event);
            delivered += 1;
        }
        self.delivered = Some(delivered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webpubsub_protocol::frames::FrameData;

    fn message(id: u64) -> ClientEvent {
        ClientEvent::ServerMessage {
            data: FrameData::Text(id.to_string()),
            sequence_id: Some(id),
        }
    }

    fn feed(sequencer: &mut Sequencer, ids: &[u64]) -> Vec<u64> {
        let mut ready = Vec::new();
        for &id in ids {
            sequencer.accept(id, message(id), &mut ready);
        }
        ready
            .into_iter()
            .map(|e| match e {
                ClientEvent::ServerMessage { sequence_id, .. } => sequence_id.unwrap(),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn replays_are_dropped_and_gaps_wait_for_their_message() {
        let mut sequencer = Sequencer::default();
        assert_eq!(feed(&mut sequencer, &[1, 2, 2, 1, 3]), [1, 2, 3]);
        assert_eq!(feed(&mut sequencer, &[5, 6]), Vec::<u64>::new());
        assert_eq!(sequencer.delivered(), Some(3), "acks stop before the gap");
        // The replay after a recovery fills it.
        assert_eq!(feed(&mut sequencer, &[4, 5, 6, 7]), [4, 5, 6, 7]);
        assert_eq!(sequencer.delivered(), Some(7));
    }

    #[test]
    fn a_gap_that_never_fills_is_given_up_after_the_bound() {
        let mut sequencer = Sequencer::default();
        feed(&mut sequencer, &[1]);
        let behind: Vec<u64> = (3..=(MAX_HELD as u64 + 3)).collect();
        let ready = feed(&mut sequencer, &behind);
        assert_eq!(ready, behind, "in order, once the bound is passed");
        assert_eq!(sequencer.delivered(), Some(MAX_HELD as u64 + 3));
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_arrival_order_delivers_each_once_in_order(
            order in Just((1u64..=40).collect::<Vec<_>>()).prop_shuffle(),
            repeats in proptest::collection::vec(1u64..=40, 0..20),
        ) {
            let mut sequencer = Sequencer::default();
            let mut ready = feed(&mut sequencer, &[1]);
            let mut ids = order.clone();
            ids.extend(repeats);
            ready.extend(feed(&mut sequencer, &ids));
            let expected: Vec<u64> = (1..=40).collect();
            prop_assert_eq!(ready, expected);
        }
    }
}
