//! The operations awaiting the service's answer: frames with an ack id, and invocations.
//!
//! An acked frame stays here, encoded, until its ack comes: after a recovery the driver writes
//! it again with the same ack id, and the service answers a frame it already processed with a
//! `Duplicate` ack, which counts as success. So a frame is processed once however often the
//! connection drops.

use std::collections::{BTreeMap, HashMap};

use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use webpubsub_protocol::frames::{AckError, AckErrorName, FrameData};

use crate::Error;

/// The outcome of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendResult {
    /// The frame's ack id (`None` for fire-and-forget sends).
    pub ack_id: Option<u64>,
    /// The service had already processed a frame with this ack id (after a resend).
    pub is_duplicated: bool,
}

pub(crate) type AckReply = oneshot::Sender<Result<SendResult, Error>>;
pub(crate) type InvokeReply = oneshot::Sender<Result<Option<FrameData>, Error>>;

/// A frame awaiting its ack.
#[derive(Debug)]
pub(crate) struct PendingAck {
    pub(crate) message: Message,
    /// The socket generation it was last written on, if it was written.
    pub(crate) written: Option<u64>,
    reply: AckReply,
}

/// Everything awaiting an answer.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// By ack id: the order they are written again after a recovery.
    pub(crate) acks: BTreeMap<u64, PendingAck>,
    invocations: HashMap<String, InvokeReply>,
}

impl Pending {
    /// Registers a frame; `false` if its ack id is already awaited.
    pub(crate) fn add_ack(&mut self, ack_id: u64, message: Message, reply: AckReply) -> bool {
        if self.acks.contains_key(&ack_id) {
            return false;
        }
        self.acks.insert(
            ack_id,
            PendingAck {
                message,
                written: None,
                reply,
            },
        );
        true
    }

    /// Registers an invocation; `false` if its id is already awaited.
    pub(crate) fn add_invocation(&mut self, id: String, reply: InvokeReply) -> bool {
        if self.invocations.contains_key(&id) {
            return false;
        }
        self.invocations.insert(id, reply);
        true
    }

    pub(crate) fn forget_ack(&mut self, ack_id: u64) {
        self.acks.remove(&ack_id);
    }

    pub(crate) fn forget_invocation(&mut self, id: &str) {
        self.invocations.remove(id);
    }

    /// Answers the frame with `ack_id`; an unknown ack id (already answered, timed out) is
    /// ignored.
    pub(crate) fn ack(&mut self, ack_id: u64, error: Option<AckError>) {
        let Some(pending) = self.acks.remove(&ack_id) else {
            return;
        };
        let result = match error {
            None => Ok(SendResult {
                ack_id: Some(ack_id),
                is_duplicated: false,
            }),
            Some(AckError {
                name: AckErrorName::Duplicate,
                ..
            }) => Ok(SendResult {
                ack_id: Some(ack_id),
                is_duplicated: true,
            }),
            Some(AckError { name, message }) => Err(Error::Ack {
                ack_id,
                name,
                message,
            }),
        };
        let _ = pending.reply.send(result);
    }

    /// Answers an invocation; an unknown id is ignored.
    pub(crate) fn invocation_answered(
        &mut self,
        id: &str,
        data: Option<FrameData>,
        error: Option<AckError>,
    ) {
        let Some(reply) = self.invocations.remove(id) else {
            return;
        };
        let result = match error {
            None => Ok(data),
            Some(AckError { name, message }) => Err(Error::Invocation {
                invocation_id: id.to_owned(),
                name,
                message,
            }),
        };
        let _ = reply.send(result);
    }

    /// Fails every invocation (they are not resent: running an event handler twice is not safe).
    pub(crate) fn fail_invocations(&mut self, error: impl Fn(String) -> Error) {
        for (id, reply) in self.invocations.drain() {
            let _ = reply.send(Err(error(format!("invocation {id}"))));
        }
    }

    /// Fails everything.
    pub(crate) fn fail_all(&mut self, error: impl Fn(String) -> Error) {
        for (ack_id, pending) in std::mem::take(&mut self.acks) {
            let _ = pending.reply.send(Err(error(format!("ack id {ack_id}"))));
        }
        self.fail_invocations(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_acks_are_success_and_other_errors_fail() {
        let mut pending = Pending::default();
        let (one, mut one_answer) = oneshot::channel();
        let (two, mut two_answer) = oneshot::channel();
        assert!(pending.add_ack(1, Message::text("a"), one));
        assert!(pending.add_ack(2, Message::text("b"), two));
        let (three, _) = oneshot::channel();
        assert!(!pending.add_ack(2, Message::text("c"), three), "in use");
        pending.ack(1, Some(AckError::duplicate("seen")));
        pending.ack(2, Some(AckError::forbidden("no")));
        pending.ack(7, None);
        assert_eq!(
            one_answer.try_recv().unwrap(),
            Ok(SendResult {
                ack_id: Some(1),
                is_duplicated: true
            })
        );
        let error = two_answer.try_recv().unwrap().unwrap_err();
        assert_eq!(error.ack_id(), Some(2));
        assert_eq!(error.error_name(), Some(&AckErrorName::Forbidden));
    }

    #[test]
    fn failing_all_answers_every_waiter() {
        let mut pending = Pending::default();
        let (ack, mut ack_answer) = oneshot::channel();
        let (invoke, mut invoke_answer) = oneshot::channel();
        pending.add_ack(5, Message::text("a"), ack);
        pending.add_invocation("9".into(), invoke);
        pending.fail_all(|what| Error::ConnectionLost { what });
        assert_eq!(
            ack_answer.try_recv().unwrap().unwrap_err().to_string(),
            "the connection was lost before ack id 5 was answered"
        );
        assert!(invoke_answer.try_recv().unwrap().is_err());
        assert!(pending.acks.is_empty());
    }
}
