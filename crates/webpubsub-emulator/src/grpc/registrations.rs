//! The upstreams registered over gRPC, per hub, and the events that wait for their ack.
//!
//! A connection's events go to one registration, chosen by a hash of its connection id among
//! the hub's registrations, so several registrations share the load while one connection's
//! events keep their order on one stream. When a registration ends, the acks it owed are
//! failed at once (their waiters see the registration gone and retry on another one).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{mpsc, oneshot};
use tonic::Status;
use webpubsub_protocol::grpc::{AckConnectRequest, AckMessageRequest, StreamingRequest};

/// How many events may wait in one registration's stream before their senders wait too.
const STREAM_QUEUE: usize = 256;

/// The sending side of one registration's stream.
pub(crate) type EventSender = mpsc::Sender<Result<StreamingRequest, Status>>;

/// What the app answered.
#[derive(Debug)]
pub(crate) enum Ack {
    Connect(AckConnectRequest),
    Message(AckMessageRequest),
}

impl Ack {
    fn kind(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect",
            Self::Message(_) => "message",
        }
    }

    fn ids(&self) -> (&str, u64, &str) {
        match self {
            Self::Connect(ack) => (&ack.hub, ack.ack_id, &ack.connection_id),
            Self::Message(ack) => (&ack.hub, ack.ack_id, &ack.connection_id),
        }
    }
}

/// Every hub's registrations and the pending acks. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Registrations {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Lower-cased hub → its registrations, oldest first.
    hubs: HashMap<String, Vec<Registration>>,
    pending: HashMap<u64, Pending>,
    /// Ids of registrations and acks; never reused.
    next_id: u64,
    hasher: std::collections::hash_map::RandomState,
}

#[derive(Debug)]
struct Registration {
    id: u64,
    events: EventSender,
}

#[derive(Debug)]
struct Pending {
    hub: String,
    connection_id: String,
    registration: u64,
    kind: &'static str,
    answer: oneshot::Sender<Ack>,
}

/// Ends a registration when dropped (the app's stream closed or the emulator stopped).
#[derive(Debug)]
pub(crate) struct RegistrationGuard {
    registrations: Registrations,
    hub: String,
    id: u64,
}

impl Drop for RegistrationGuard {
    fn drop(&mut self) {
        self.registrations.unregister(&self.hub, self.id);
    }
}

/// A registration an event may go to.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) id: u64,
    pub(crate) events: EventSender,
}

impl Registrations {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a registration for `hub`: the guard ends it, the receiver is its stream.
    pub(crate) fn register(
        &self,
        hub: &str,
    ) -> (
        RegistrationGuard,
        mpsc::Receiver<Result<StreamingRequest, Status>>,
    ) {
        let hub = hub.to_ascii_lowercase();
        let (events, stream) = mpsc::channel(STREAM_QUEUE);
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id;
        state
            .hubs
            .entry(hub.clone())
            .or_default()
            .push(Registration { id, events });
        let count = state.hubs[&hub].len();
        drop(state);
        tracing::info!(
            hub,
            registration = id,
            registrations = count,
            "gRPC upstream registered"
        );
        let guard = RegistrationGuard {
            registrations: self.clone(),
            hub,
            id,
        };
        (guard, stream)
    }

    fn unregister(&self, hub: &str, id: u64) {
        let mut state = self.lock();
        if let Some(list) = state.hubs.get_mut(hub) {
            list.retain(|registration| registration.id != id);
            if list.is_empty() {
                state.hubs.remove(hub);
            }
        }
        // Dropping the answer senders tells each waiter that this registration is gone.
        let before = state.pending.len();
        state
            .pending
            .retain(|_, pending| pending.registration != id);
        let failed = before - state.pending.len();
        drop(state);
        tracing::info!(
            hub,
            registration = id,
            failed_acks = failed,
            "gRPC upstream unregistered"
        );
    }

    /// The registration of `hub` that takes `connection_id`'s events, skipping `tried`.
    pub(crate) fn pick(&self, hub: &str, connection_id: &str, tried: &[u64]) -> Option<Target> {
        let state = self.lock();
        let candidates: Vec<&Registration> = state
            .hubs
            .get(&hub.to_ascii_lowercase())?
            .iter()
            .filter(|registration| !tried.contains(&registration.id))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        // The modulo keeps the index below the length, which fits in usize.
        let index = (state.hasher.hash_one(connection_id) % candidates.len() as u64) as usize;
        let chosen = candidates[index];
        Some(Target {
            id: chosen.id,
            events: chosen.events.clone(),
        })
    }

    /// A new ack id for an event of `connection_id` sent to `registration`, and where its
    /// answer arrives. The receiver fails when the registration ends first.
    pub(crate) fn expect_ack(
        &self,
        hub: &str,
        connection_id: &str,
        registration: u64,
        kind: &'static str,
    ) -> (u64, oneshot::Receiver<Ack>) {
        let (answer, receiver) = oneshot::channel();
        let mut state = self.lock();
        state.next_id += 1;
        let ack_id = state.next_id;
        state.pending.insert(
            ack_id,
            Pending {
                hub: hub.to_ascii_lowercase(),
                connection_id: connection_id.to_owned(),
                registration,
                kind,
                answer,
            },
        );
        (ack_id, receiver)
    }

    /// Forgets an ack nobody waits for any more (its deadline passed).
    pub(crate) fn forget(&self, ack_id: u64) {
        self.lock().pending.remove(&ack_id);
    }

    /// Hands an ack to the event waiting for it.
    ///
    /// # Errors
    ///
    /// `NOT_FOUND` when no event of that kind, hub and connection waits for this ack id: it
    /// was never sent, was answered already, or its deadline passed.
    pub(crate) fn complete(&self, ack: Ack) -> Result<(), Status> {
        let (hub, ack_id, connection_id) = ack.ids();
        let mut state = self.lock();
        let matches = state.pending.get(&ack_id).is_some_and(|pending| {
            pending.kind == ack.kind()
                && pending.hub.eq_ignore_ascii_case(hub)
                && pending.connection_id == connection_id
        });
        if !matches {
            return Err(Status::not_found(format!(
                "no {} event of connection {connection_id:?} in hub {hub:?} waits for ack id {ack_id}: it was answered already, its deadline passed, or it was never sent",
                ack.kind()
            )));
        }
        let Some(pending) = state.pending.remove(&ack_id) else {
            return Err(Status::internal("the pending ack vanished"));
        };
        drop(state);
        // The waiter may have just given up; then the answer has nobody to go to.
        let _ = pending.answer.send(ack);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_ack(hub: &str, ack_id: u64, connection_id: &str) -> Ack {
        Ack::Connect(AckConnectRequest {
            hub: hub.into(),
            ack_id,
            connection_id: connection_id.into(),
            ..AckConnectRequest::default()
        })
    }

    #[test]
    fn one_connection_sticks_to_one_registration_and_load_spreads() {
        let registrations = Registrations::default();
        let (_a, _ra) = registrations.register("Chat");
        let (_b, _rb) = registrations.register("chat");
        let first = registrations.pick("chat", "c1", &[]).unwrap().id;
        for _ in 0..10 {
            assert_eq!(registrations.pick("CHAT", "c1", &[]).unwrap().id, first);
        }
        let used: std::collections::HashSet<u64> = (0..64)
            .map(|i| {
                registrations
                    .pick("chat", &format!("c{i}"), &[])
                    .unwrap()
                    .id
            })
            .collect();
        assert_eq!(used.len(), 2, "64 connections all went to one registration");
        let other = registrations.pick("chat", "c1", &[first]).unwrap().id;
        assert_ne!(other, first);
        assert!(registrations.pick("chat", "c1", &[first, other]).is_none());
        assert!(registrations.pick("other", "c1", &[]).is_none());
    }

    #[test]
    fn acks_are_delivered_once_and_checked() {
        let registrations = Registrations::default();
        let (_guard, _stream) = registrations.register("chat");
        let (ack_id, mut receiver) = registrations.expect_ack("chat", "c1", 1, "connect");
        // Wrong connection, wrong kind, wrong hub: refused, and the event still waits.
        assert_eq!(
            registrations
                .complete(connect_ack("chat", ack_id, "c2"))
                .unwrap_err()
                .code(),
            tonic::Code::NotFound
        );
        let message = Ack::Message(AckMessageRequest {
            hub: "chat".into(),
            ack_id,
            connection_id: "c1".into(),
            ..AckMessageRequest::default()
        });
        assert!(registrations.complete(message).is_err());
        assert!(
            registrations
                .complete(connect_ack("other", ack_id, "c1"))
                .is_err()
        );
        registrations
            .complete(connect_ack("Chat", ack_id, "c1"))
            .unwrap();
        assert!(matches!(receiver.try_recv(), Ok(Ack::Connect(_))));
        let twice = registrations
            .complete(connect_ack("chat", ack_id, "c1"))
            .unwrap_err();
        assert_eq!(twice.code(), tonic::Code::NotFound);
        assert!(twice.message().contains("answered already"), "{twice:?}");
    }

    #[test]
    fn a_dropped_registration_fails_its_pending_acks() {
        let registrations = Registrations::default();
        let (guard, _stream) = registrations.register("chat");
        let id = registrations.pick("chat", "c1", &[]).unwrap().id;
        let (_, mut receiver) = registrations.expect_ack("chat", "c1", id, "message");
        drop(guard);
        assert!(matches!(
            receiver.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        assert!(registrations.pick("chat", "c1", &[]).is_none());
    }
}
