//! The byte budgets of user events waiting for the upstream: one per connection, one for the
//! whole process.
//!
//! A connection over its own budget stops reading its socket until the upstream catches up
//! (back-pressure: the client slows down, nothing is lost, and the session keeps delivering
//! messages meanwhile). The process-wide budget is not waited for but refused with an error
//! ack: waiting would let one client's slow events stop every other client's reading.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// How many user events of one connection may wait for the upstream, however small.
pub(super) const PENDING_EVENTS: usize = 64;

/// The bytes of user events one connection may have waiting for the upstream before its
/// socket is no longer read, by default.
pub(crate) const DEFAULT_CONNECTION_BYTES: usize = 4 * 1024 * 1024;

/// The bytes of user events all connections together may have waiting for the upstream, by
/// default; more are refused with an error ack.
pub(crate) const DEFAULT_TOTAL_BYTES: usize = 256 * 1024 * 1024;

/// The two budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingLimits {
    /// Per connection: over it, the connection's socket is not read.
    pub(crate) connection_bytes: usize,
    /// For the process: over it, events are refused.
    pub(crate) total_bytes: usize,
}

impl Default for PendingLimits {
    fn default() -> Self {
        Self {
            connection_bytes: DEFAULT_CONNECTION_BYTES,
            total_bytes: DEFAULT_TOTAL_BYTES,
        }
    }
}

/// The bytes of user events waiting for the upstream in the whole process. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingBudget {
    used: Arc<AtomicUsize>,
    limits: PendingLimits,
}

impl PendingBudget {
    pub(crate) fn new(limits: PendingLimits) -> Self {
        Self {
            used: Arc::default(),
            limits,
        }
    }

    /// A new connection's budget, drawing on this one.
    pub(super) fn connection(&self) -> Arc<ConnectionBudget> {
        Arc::new(ConnectionBudget {
            bytes: AtomicUsize::new(0),
            events: AtomicUsize::new(0),
            freed: Notify::new(),
            total: self.clone(),
        })
    }

    /// The bytes of user events waiting now, in every connection.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes)
                    .filter(|&after| after <= self.limits.total_bytes)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// The user events of one connection waiting for the upstream.
#[derive(Debug)]
pub(super) struct ConnectionBudget {
    bytes: AtomicUsize,
    events: AtomicUsize,
    /// Woken when an event is done, so a paused reader looks again.
    freed: Notify,
    total: PendingBudget,
}

/// Why an event was refused.
#[derive(Debug)]
pub(super) struct OverBudget {
    pub(super) total_bytes: usize,
}

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the emulator holds {} bytes of events waiting for the upstream, its limit; try again later",
            self.total_bytes
        )
    }
}

impl ConnectionBudget {
    /// Whether the connection may read another frame: fewer than [`PENDING_EVENTS`] events and
    /// fewer bytes than its budget wait. Since a frame is at most 1 MiB, what waits stays under
    /// the budget plus one frame.
    pub(super) fn has_room(&self) -> bool {
        self.events.load(Ordering::Acquire) < PENDING_EVENTS
            && self.bytes.load(Ordering::Acquire) < self.total.limits.connection_bytes
    }

    /// Resolves when an event is done (perhaps before; callers look at [`Self::has_room`]
    /// again).
    pub(super) async fn freed(&self) {
        self.freed.notified().await;
    }

    /// Takes `bytes` from both budgets for an event; they come back when the charge is dropped.
    pub(super) fn charge(self: &Arc<Self>, bytes: usize) -> Result<Charge, OverBudget> {
        if !self.total.try_take(bytes) {
            return Err(OverBudget {
                total_bytes: self.total.limits.total_bytes,
            });
        }
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
        self.events.fetch_add(1, Ordering::AcqRel);
        Ok(Charge {
            budget: self.clone(),
            bytes,
        })
    }
}

/// The budget an event holds until it is sent or dropped.
#[derive(Debug)]
pub(super) struct Charge {
    budget: Arc<ConnectionBudget>,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.total.give_back(self.bytes);
        self.budget.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        self.budget.events.fetch_sub(1, Ordering::AcqRel);
        // One waiter, the session; a stored permit wakes it at its next wait.
        self.budget.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(connection_bytes: usize, total_bytes: usize) -> PendingBudget {
        PendingBudget::new(PendingLimits {
            connection_bytes,
            total_bytes,
        })
    }

    #[test]
    fn a_connection_has_room_until_its_bytes_or_events_reach_the_budget() {
        let total = budget(100, 10_000);
        let connection = total.connection();
        let first = connection.charge(60).unwrap();
        assert!(connection.has_room());
        let second = connection.charge(60).unwrap();
        assert!(!connection.has_room(), "120 bytes are over 100");
        drop(first);
        assert!(connection.has_room());
        drop(second);
        let small: Vec<_> = (0..PENDING_EVENTS)
            .map(|_| connection.charge(1).unwrap())
            .collect();
        assert!(!connection.has_room(), "{PENDING_EVENTS} events wait");
        drop(small);
        assert!(connection.has_room());
        assert_eq!(total.used(), 0);
    }

    #[test]
    fn the_total_is_shared_by_connections_and_refuses_what_does_not_fit() {
        let total = budget(1_000, 100);
        let (a, b) = (total.connection(), total.connection());
        let held = a.charge(70).unwrap();
        let refused = b.charge(40).unwrap_err();
        assert!(refused.to_string().contains("100 bytes"), "{refused}");
        let fits = b.charge(30).unwrap();
        assert_eq!(total.used(), 100);
        drop((held, fits));
        assert_eq!(total.used(), 0);
        assert!(b.charge(100).is_ok());
    }
}
