//! Byte budgets of the outbound path: how much one connection's queue may hold, when senders
//! are slowed down, and how many bytes of undelivered messages the whole process may hold.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// The byte budgets of the outbound path. Sizes are counted as the bytes of each queued
/// message's payload plus a fixed overhead per item, so that empty messages count too.
///
/// ```
/// use webpubsub_emulator::{Emulator, OutboundBudget};
///
/// let budget = OutboundBudget {
///     max_connection_bytes: 4 << 20,
///     ..OutboundBudget::default()
/// };
/// let builder = Emulator::builder().outbound_budget(budget);
/// # drop(builder);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundBudget {
    /// A client that sends to a group stops being read while one of its recipients has more
    /// than this many bytes queued, until that recipient catches up or is dropped (default
    /// 1 MiB): a burst slows its sender instead of closing healthy readers.
    pub high_water_bytes: usize,
    /// The most bytes one connection may have queued (default 16 MiB). A send that would pass
    /// it (REST sends do not wait) drops the connection, which is closed with a reason saying its
    /// queue is full.
    pub max_connection_bytes: usize,
    /// The most bytes of undelivered and unacknowledged messages the process holds, each
    /// message counted once however many connections share it (default 256 MiB). Above it, a
    /// connection that is more than [`high_water_bytes`](Self::high_water_bytes) behind is
    /// dropped when the next message for it arrives, and a reliable connection holding that much
    /// unacknowledged is closed.
    pub max_total_bytes: usize,
}

/// The default [`OutboundBudget::high_water_bytes`].
pub(crate) const DEFAULT_HIGH_WATER_BYTES: usize = 1 << 20;
/// The default [`OutboundBudget::max_connection_bytes`].
pub(crate) const DEFAULT_MAX_CONNECTION_BYTES: usize = 16 << 20;
/// The default [`OutboundBudget::max_total_bytes`].
pub(crate) const DEFAULT_MAX_TOTAL_BYTES: usize = 256 << 20;

/// What a queued item costs beyond its payload: the queue slot, the shared message's header and
/// its bookkeeping. Makes a flood of empty messages cost something.
pub(crate) const ITEM_OVERHEAD_BYTES: usize = 64;

impl Default for OutboundBudget {
    fn default() -> Self {
        Self {
            high_water_bytes: DEFAULT_HIGH_WATER_BYTES,
            max_connection_bytes: DEFAULT_MAX_CONNECTION_BYTES,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
        }
    }
}

/// The budget of one registry and what its messages hold now.
#[derive(Debug, Default)]
pub(crate) struct BudgetState {
    pub(crate) limits: OutboundBudget,
    total: AtomicUsize,
}

impl BudgetState {
    pub(crate) fn new(limits: OutboundBudget) -> Arc<Self> {
        Arc::new(Self {
            limits,
            total: AtomicUsize::new(0),
        })
    }

    /// The bytes held by the messages alive now (queued, being written, or kept unacknowledged).
    pub(crate) fn total_bytes(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Whether the process holds more than its budget.
    pub(crate) fn over_total(&self) -> bool {
        self.total_bytes() > self.limits.max_total_bytes
    }

    /// Counts `bytes` against the process total until the charge is dropped.
    pub(crate) fn charge(self: &Arc<Self>, bytes: usize) -> Charge {
        self.total.fetch_add(bytes, Ordering::Relaxed);
        Charge {
            budget: self.clone(),
            bytes: AtomicUsize::new(bytes),
        }
    }
}

/// The bytes one message holds, counted in the process total while it lives.
#[derive(Debug)]
pub(crate) struct Charge {
    budget: Arc<BudgetState>,
    bytes: AtomicUsize,
}

impl Charge {
    /// Counts `bytes` more (the message's shared encoding, made later).
    pub(crate) fn add(&self, bytes: usize) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.budget.total.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget
            .total
            .fetch_sub(*self.bytes.get_mut(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_count_until_dropped() {
        let budget = BudgetState::new(OutboundBudget {
            max_total_bytes: 100,
            ..OutboundBudget::default()
        });
        let a = budget.charge(60);
        let b = budget.charge(30);
        assert_eq!(budget.total_bytes(), 90);
        assert!(!budget.over_total());
        b.add(20);
        assert!(budget.over_total());
        drop(a);
        assert_eq!(budget.total_bytes(), 50);
        drop(b);
        assert_eq!(budget.total_bytes(), 0);
    }
}
