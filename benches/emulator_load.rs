//! Load on the emulator, the figures issue 4 asks for:
//!
//! - `group_broadcast/1000_clients`: one REST `send_to_group` (our REST client, signed) to a
//!   group of 1,000 real WebSocket clients on `json.webpubsub.azure.v1`; an iteration ends when
//!   every client has read the message, so the throughput criterion prints (elements/s) is
//!   messages delivered per second end to end (REST → registry → per-connection queue → session
//!   → socket → client). Baseline: `group_broadcast/1_client`, the same path with one client,
//!   which is the per-request overhead the fan-out amortizes.
//! - memory per idle connection: the process's resident memory before and after connecting the
//!   1,000 clients, divided by 1,000, printed once before the timings. Clients and emulator
//!   share the process, so the figure covers both ends of each connection (the clients keep
//!   tungstenite's default buffers): an upper bound for the emulator alone.
//!
//! Run: `cargo bench --bench emulator_load -- --warm-up-time 1 --measurement-time 3` (as
//! BENCHMARKS.md measured it; results there).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use tokio::sync::Notify;
use webpubsub::{emulator::Emulator, rest::WebPubSubServiceClient};

mod support;

const KEY: &str = "bench-emulator-key-not-a-secret-0123456789";
const HUB: &str = "load";
const WAIT: Duration = Duration::from_secs(30);

/// How many `message` frames the clients of one group have read, and a wake-up for waiters.
#[derive(Default)]
struct Received {
    count: AtomicUsize,
    changed: Notify,
}

impl Received {
    async fn wait_for(&self, target: usize) {
        tokio::time::timeout(WAIT, async {
            loop {
                let notified = self.changed.notified();
                if self.count.load(Ordering::Acquire) >= target {
                    return;
                }
                notified.await;
            }
        })
        .await
        .expect("every client got the message within the wait");
    }
}

/// Connects `count` clients that join `group` (through the token) and count what they read.
async fn connect_clients(
    rest: &WebPubSubServiceClient,
    group: &str,
    count: usize,
) -> Arc<Received> {
    let received = Arc::new(Received::default());
    let url = rest
        .client_access_token()
        .groups([group])
        .await
        .expect("a client token")
        .url()
        .to_owned();
    for _ in 0..count {
        let mut ws = support::json_client(&url, None, WAIT).await;
        let received = received.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.next().await {
                if frame.is_text() {
                    received.count.fetch_add(1, Ordering::AcqRel);
                    received.changed.notify_waiters();
                }
            }
        });
    }
    received
}

/// Resident memory of this process, in bytes (Linux; `None` elsewhere).
fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn group_broadcast(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (emulator, rest) = runtime.block_on(async {
        let emulator = Emulator::builder()
            .key(KEY)
            .start()
            .await
            .expect("the emulator starts");
        let rest =
            WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), HUB)
                .unwrap();
        (emulator, rest)
    });

    let mut group = c.benchmark_group("group_broadcast");
    for (name, clients) in [("1_client", 1), ("1000_clients", 1000)] {
        let before = resident_bytes();
        let received = runtime.block_on(connect_clients(&rest, name, clients));
        if let (Some(before), Some(after), 1000) = (before, resident_bytes(), clients) {
            eprintln!(
                "memory per idle connection (client + emulator, one process): {} bytes",
                after.saturating_sub(before) / clients
            );
        }
        group.throughput(Throughput::Elements(clients as u64));
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                let (rest, received) = (&rest, &received);
                async move {
                    let target = received.count.load(Ordering::Acquire) + clients;
                    rest.send_to_group(name, "tick")
                        .await
                        .expect("the send is accepted");
                    received.wait_for(target).await;
                }
            });
        });
    }
    group.finish();
    drop(rest);
    runtime.block_on(emulator.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = group_broadcast
}
criterion_main!(benches);
