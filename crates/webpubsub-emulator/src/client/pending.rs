//! The byte budgets of user events waiting for the upstream: one per connection, one for the
//! whole process.
//!
//! An event over either budget is refused at once with an error ack, rather than waited for
//! (back-pressure). Waiting on the process-wide budget would let one client's slow events stop
//! every other client's reading; waiting on the connection's own means not reading its socket,
//! and an unread socket cannot tell that its client left, so a gone client's events would stay
//! queued until a hung upstream timed each of them out (minutes) instead of being dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many user events of one connection may wait for the upstream, however small.
pub(super) const PENDING_EVENTS: usize = 1_000;

/// The bytes of user events one connection may have waiting for the upstream, by default; more
/// are refused with an error ack (a single event always fits when none waits).
pub(crate) const DEFAULT_CONNECTION_BYTES: usize = 4 * 1024 * 1024;

/// The bytes of user events all connections together may have waiting for the upstream, by
/// default; more are refused with an error ack.
pub(crate) const DEFAULT_TOTAL_BYTES: usize = 256 * 1024 * 1024;

/// The two budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingLimits {
    /// Per connection: over it, events are refused.
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

/// The user events of one connection waiting for the upstream. Only the connection's session
/// charges it, so its checks and updates do not race with each other.
#[derive(Debug)]
pub(super) struct ConnectionBudget {
    bytes: AtomicUsize,
    events: AtomicUsize,
    total: PendingBudget,
}

/// Why an event was refused.
#[derive(Debug)]
pub(super) enum OverBudget {
    /// The connection has this many bytes (or [`PENDING_EVENTS`] events) waiting.
    Connection(usize),
    /// The process has this many bytes waiting.
    Total(usize),
}

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connection(bytes) => write!(
                f,
                "this connection has {PENDING_EVENTS} events or {bytes} bytes of events waiting for the upstream, its limit; send more slowly"
            ),
            Self::Total(bytes) => write!(
                f,
                "the emulator holds {bytes} bytes of events waiting for the upstream, its limit; try again later"
            ),
        }
    }
}

impl ConnectionBudget {
    /// Takes `bytes` from both budgets for an event; they come back when the charge is dropped.
    /// One event always fits a connection with none waiting, whatever its size.
    pub(super) fn charge(self: &Arc<Self>, bytes: usize) -> Result<Charge, OverBudget> {
        let (waiting, events) = (
            self.bytes.load(Ordering::Acquire),
            self.events.load(Ordering::Acquire),
        );
        let limit = self.total.limits.connection_bytes;
        if events >= PENDING_EVENTS || (events > 0 && waiting.saturating_add(bytes) > limit) {
            return Err(OverBudget::Connection(limit));
        }
        if !self.total.try_take(bytes) {
            return Err(OverBudget::Total(self.total.limits.total_bytes));
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
    fn a_connection_takes_events_until_its_bytes_or_count_reach_the_budget() {
        let total = budget(100, 10_000);
        let connection = total.connection();
        // One event fits however large; the next only within the budget.
        let large = connection.charge(150).unwrap();
        let refused = connection.charge(1).unwrap_err();
        assert!(refused.to_string().contains("100 bytes"), "{refused}");
        drop(large);
        let first = connection.charge(60).unwrap();
        assert!(connection.charge(60).is_err(), "120 bytes are over 100");
        let second = connection.charge(40).unwrap();
        drop((first, second));
        let small: Vec<_> = (0..PENDING_EVENTS)
            .map(|_| connection.charge(0).unwrap())
            .collect();
        assert!(
            connection.charge(0).is_err(),
            "{PENDING_EVENTS} events wait"
        );
        drop(small);
        assert!(connection.charge(0).is_ok());
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
