//! The emulator's in-memory state: hubs, their connections, users and groups, the permissions
//! granted through REST, and delivery to each connection through a bounded queue.
//!
//! Every operation is synchronous and takes one short per-hub lock that is never held across an
//! `.await`; delivery never waits for a receiver. Queues are counted in bytes
//! ([`OutboundBudget`]): a client that sends to a group is paced by its recipients (it waits on
//! the [`Pressure`] of [`Hub::send_to_group_paced`] before its next frame is read), and a
//! connection whose queue passes its byte budget is dropped (removed from the hub and told to
//! close with [`delivery::QUEUE_FULL_REASON`]), as the service drops clients that cannot keep up.
//!
//! The walk-through test at the end of this file shows the lifecycle of a connection.

mod budget;
mod delivery;
mod hub;
mod roles;

use budget::BudgetState;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

pub use budget::OutboundBudget;
pub(crate) use delivery::{DataType, Delivery, Message, Origin, Outbound, Pressure};
pub(crate) use hub::{ConnectionGuard, ConnectionInfo, Hub};
use thiserror::Error;

/// The longest group name the service accepts.
pub(crate) const MAX_GROUP_NAME_LENGTH: usize = 1024;

/// The most groups one connection may be in. The service publishes no figure; without a cap, a
/// client allowed to join groups could hold any amount of memory (50,000 joins of 1,000-character
/// names took 116 MiB). A join past it is refused with [`RegistryError::TooManyGroups`]; bulk
/// REST adds (a user's connections, a filter) skip the connections that are full.
pub(crate) const MAX_GROUPS_PER_CONNECTION: usize = 1000;

/// All hubs of one emulator. Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub(crate) struct Registry {
    inner: Arc<RegistryInner>,
}

#[derive(Debug)]
struct RegistryInner {
    hubs: Mutex<HashMap<String, Hub>>,
    budget: Arc<BudgetState>,
}

impl Registry {
    /// An empty registry with the default [`OutboundBudget`].
    pub(crate) fn new() -> Self {
        Self::with_budget(OutboundBudget::default())
    }

    /// An empty registry whose connections' queues keep within `budget`.
    pub(crate) fn with_budget(budget: OutboundBudget) -> Self {
        Self {
            inner: Arc::new(RegistryInner {
                hubs: Mutex::default(),
                budget: BudgetState::new(budget),
            }),
        }
    }

    /// The bytes of undelivered and unacknowledged messages the process holds now, each message
    /// counted once (see [`OutboundBudget::max_total_bytes`]).
    #[cfg(test)]
    pub(crate) fn outbound_bytes(&self) -> usize {
        self.inner.budget.total_bytes()
    }

    /// The hub named `name` (case-insensitively, as the service lower-cases hub names),
    /// created empty on first use.
    ///
    /// Creating one forgets the hubs nobody uses (no connection, no handle outside the
    /// registry): an empty hub holds nothing worth keeping, and anonymous clients choose hub
    /// names, so the names they used must not accumulate.
    pub(crate) fn hub(&self, name: &str) -> Hub {
        let name = name.to_lowercase();
        let mut hubs = self.hubs();
        if let Some(hub) = hubs.get(&name) {
            return hub.clone();
        }
        hubs.retain(|_, hub| hub.in_use());
        hubs.entry(name.clone())
            .or_insert_with(|| Hub::new(self.inner.budget.clone()))
            .clone()
    }

    /// The hub named `name` if it exists, else an empty stand-in that is not kept. For callers
    /// that only act on existing connections (the REST API): every operation on an empty hub is
    /// a no-op or a "not found", so requests naming arbitrary hubs cannot grow the registry.
    pub(crate) fn hub_or_empty(&self, name: &str) -> Hub {
        let name = name.to_lowercase();
        let found = self.hubs().get(&name).cloned();
        // The lock is released before an empty stand-in is built.
        found.unwrap_or_else(|| Hub::new(self.inner.budget.clone()))
    }

    /// How many hubs the registry keeps: those in use, and those that were until another hub
    /// was created.
    #[cfg(test)]
    pub(crate) fn hub_count(&self) -> usize {
        self.hubs().len()
    }

    fn hubs(&self) -> MutexGuard<'_, HashMap<String, Hub>> {
        self.inner
            .hubs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a registry operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum RegistryError {
    /// No connection with this id is in the hub.
    #[error("connection `{0}` is not found")]
    ConnectionNotFound(String),
    /// The user has no connection in the hub.
    #[error("user `{0}` is not found")]
    UserNotFound(String),
    /// A connection with this id is already registered.
    #[error("connection `{0}` is already registered")]
    DuplicateConnection(String),
    /// A group name that is empty, only whitespace, or longer than [`MAX_GROUP_NAME_LENGTH`].
    #[error("invalid group name {0:?}: it must be 1 to 1024 characters and not only whitespace")]
    InvalidGroup(String),
    /// The connection is in [`MAX_GROUPS_PER_CONNECTION`] groups already.
    #[error(
        "connection `{0}` is in {MAX_GROUPS_PER_CONNECTION} groups, the most one connection may join"
    )]
    TooManyGroups(String),
}

/// Checks a group name as the service does: 1 to 1024 characters, not only whitespace.
pub(crate) fn validate_group(name: &str) -> Result<(), RegistryError> {
    if name.trim().is_empty() || name.chars().count() > MAX_GROUP_NAME_LENGTH {
        Err(RegistryError::InvalidGroup(name.chars().take(64).collect()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[tokio::test]
    async fn a_connection_registers_joins_receives_and_leaves() -> Result<(), RegistryError> {
        let registry = Registry::new();
        let hub = registry.hub("Chat"); // hub names are case-insensitive
        let info = ConnectionInfo {
            connection_id: "c1".into(),
            user_id: Some("alice".into()),
            ..Default::default()
        };
        let (guard, mut outbound) = hub.register(info)?;

        hub.add_connection_to_group("room", "c1")?;
        let message = Message::new(Bytes::from("hi"), DataType::Text, Origin::Server);
        assert_eq!(
            registry
                .hub("chat")
                .send_to_group("room", message, &[], None),
            1
        );

        let Some(Delivery::Message(received)) = outbound.recv().await else {
            panic!("c1 receives the group message")
        };
        assert_eq!(received.data, "hi");
        drop(guard); // unregisters c1
        assert!(!hub.connection_exists("c1"));
        Ok(())
    }
}
