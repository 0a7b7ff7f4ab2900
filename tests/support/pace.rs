//! A sender that pushes numbered messages (`"0"`, `"1"`, …) through a group, paced by how far a
//! receiver has got, and the knobs of such runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use webpubsub::client::{SendOptions, WebPubSubClient};

/// What a receiver tells the sender.
#[derive(Debug, Default)]
pub struct Pace {
    /// The receiver has its connection.
    pub connected: AtomicBool,
    /// How many messages it has, without a gap.
    pub progress: AtomicU64,
    /// Either of them changed.
    pub moved: Notify,
}

impl Pace {
    /// The receiver has its connection.
    pub fn connect(&self) {
        self.connected.store(true, Ordering::Release);
        self.moved.notify_one();
    }

    /// The receiver has `count` messages without a gap.
    pub fn advance(&self, count: u64) {
        self.progress.store(count, Ordering::Release);
        self.moved.notify_one();
    }

    /// Waits (in 50 ms steps) until `ready` holds; `false` once `gave_up` says the receiver
    /// ended. Panics with `what` past `deadline`.
    pub async fn wait(
        &self,
        what: &str,
        deadline: Instant,
        ready: impl Fn(&Self) -> bool,
        gave_up: impl Fn() -> bool,
    ) -> bool {
        while !ready(self) {
            if gave_up() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the receiver stalled at {}",
                self.progress.load(Ordering::Acquire)
            );
            let _ = tokio::time::timeout(Duration::from_millis(50), self.moved.notified()).await;
        }
        true
    }
}

/// Sends `"0"` … `total - 1` to `group`, fire-and-forget, at most `window` messages ahead of
/// `pace.progress`. Stops early when `gave_up` says the receiver ended (its own checks tell
/// why); panics past `deadline` or when a send fails.
pub async fn push_numbered(
    sender: &WebPubSubClient,
    group: &str,
    total: u64,
    window: u64,
    pace: &Pace,
    deadline: Instant,
    gave_up: impl Fn() -> bool,
) {
    for n in 0..total {
        let room = |pace: &Pace| n < pace.progress.load(Ordering::Acquire) + window;
        if !pace.wait("sending", deadline, room, &gave_up).await {
            return;
        }
        sender
            .send_to_group(
                group,
                n.to_string(),
                SendOptions::new().fire_and_forget(true),
            )
            .await
            .expect("the sender's own connection is not cut");
    }
}

/// The number in environment variable `name`, or `default`.
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
