//! Load and soak runs for docs/reliability.md (loopback only, bounded; not part of `cargo test`).
//!
//! - `soak layer [EVENTS]` (default 1,000,000): signed CloudEvents (connect, text and JSON user
//!   events with state, connected, disconnected) over keep-alive HTTP/1.1 to `WebPubSubLayer` on
//!   127.0.0.1; counts answers by status, transport errors and handler calls; resident memory
//!   before and after.
//! - `soak emulator [CLIENTS] [CYCLES]` (default 10,000 and 3): the emulator in a child process
//!   (so each process stays under the fd limit), CLIENTS WebSocket clients connect, each gets
//!   three broadcasts, all leave; per cycle the emulator's resident memory before, at the peak
//!   and after the clients left. Memory that keeps growing from cycle to cycle is a leak (the
//!   allocator keeps freed pages, so "after" does not return to the first baseline; it must stay
//!   flat).
//!
//! Run with `examples/soak/run.sh` (raises the fd limit, builds in release mode).

use std::{
    io::{BufRead as _, Write as _},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tokio_tungstenite::tungstenite::{Message as WsMessage, client::IntoClientRequest as _};
use webpubsub::emulator::{Emulator, HubSettings};
use webpubsub::handler::{
    ConnectRequest, ConnectResponse, ConnectedRequest, DisconnectedRequest, EventError,
    EventHandler, UserEventRequest, UserEventResponse, WebPubSubLayer,
};
use webpubsub_protocol::{AccessKey, signature};
use webpubsub_rest::{Message, WebPubSubServiceClient};

const KEY: &str = "soak-key-not-a-secret-0123456789";
const HUB: &str = "soak";
const JSON: &str = "json.webpubsub.azure.v1";

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Display, not the Debug that `main() -> Result` would print.
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("soak: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| -> Result<usize, Failure> {
        match args.get(i) {
            None => Ok(default),
            Some(arg) => arg
                .parse()
                .map_err(|e| format!("argument {i} ({arg:?}) is not a count: {e}").into()),
        }
    };
    match args.first().map(String::as_str) {
        Some("layer") => layer(number(1, 1_000_000)?).await,
        Some("emulator") => emulator(number(1, 10_000)?, number(2, 3)?).await,
        Some("serve-emulator") => serve_emulator().await,
        _ => Err("usage: soak layer [EVENTS] | soak emulator [CLIENTS] [CYCLES]".into()),
    }
}

/// `VmRSS` of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

/// Polls `done` every 50 ms until it holds or `limit` has passed (the caller reports which).
async fn wait_until(limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The layer

#[derive(Debug, Clone, Default)]
struct Counting(Arc<AtomicU64>);

impl EventHandler for Counting {
    async fn on_connect(&self, request: ConnectRequest) -> Result<ConnectResponse, EventError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(ConnectResponse::new()
            .user_id(request.context().connection_id())
            .set_state("joined", 1))
    }
    async fn on_connected(&self, _: ConnectedRequest) -> Result<(), EventError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    async fn on_user_event(
        &self,
        request: UserEventRequest,
    ) -> Result<UserEventResponse, EventError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        let count = request
            .context()
            .states()
            .get::<u64>("count")
            .transpose()?
            .unwrap_or(0);
        Ok(UserEventResponse::binary(request.bytes().clone()).set_state("count", count + 1))
    }
    async fn on_disconnected(&self, _: DisconnectedRequest) -> Result<(), EventError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The five events of the mix, for connection `id`: (ce-type, content type, body, expected).
fn event(kind: usize, id: &str, key: &AccessKey) -> Request<Full<Bytes>> {
    let (ce_type, content_type, body): (&str, &str, Bytes) = match kind {
        0 => (
            "azure.webpubsub.sys.connect",
            "application/json",
            Bytes::from_static(br#"{"claims":{"sub":["u"]},"query":{"room":["a"]},"subprotocols":["json.webpubsub.azure.v1"]}"#),
        ),
        1 => ("azure.webpubsub.user.message", "text/plain", Bytes::from_static(b"hello soak")),
        2 => (
            "azure.webpubsub.user.message",
            "application/json",
            Bytes::from_static(br#"{"n":1,"text":"hello"}"#),
        ),
        3 => ("azure.webpubsub.sys.connected", "application/json", Bytes::from_static(b"{}")),
        _ => (
            "azure.webpubsub.sys.disconnected",
            "application/json",
            Bytes::from_static(br#"{"reason":"soak"}"#),
        ),
    };
    Request::post("/eventhandler")
        .header("ce-specversion", "1.0")
        .header("ce-type", ce_type)
        .header("ce-hub", HUB)
        .header("ce-connectionId", id)
        .header("ce-userId", "u")
        .header("ce-signature", signature::sign(key, id))
        .header("ce-connectionState", "eyJjb3VudCI6NDF9") // {"count":41}
        .header("webhook-request-origin", "127.0.0.1")
        .header("content-type", content_type)
        .body(Full::new(body))
        .expect("a valid request")
}

/// The layer run's shared state: the client, the next event number, and what came back.
struct Load {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    key: AccessKey,
    url: String,
    next: AtomicUsize,
    statuses: std::sync::Mutex<std::collections::BTreeMap<u16, u64>>,
    errors: AtomicU64,
}

/// Sends events 0..total from 64 workers over the pool's keep-alive connections.
async fn run_load(load: Arc<Load>, total: usize) {
    load.next.store(0, Ordering::SeqCst);
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let load = load.clone();
            tokio::spawn(async move {
                let mut local = std::collections::BTreeMap::<u16, u64>::new();
                loop {
                    let i = load.next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let mut request = event(i % 5, &format!("conn-{}", i % 1000), &load.key);
                    *request.uri_mut() = load.url.parse().expect("uri");
                    match load.client.request(request).await {
                        Ok(response) => {
                            let status = response.status();
                            let _ = response.into_body().collect().await;
                            *local.entry(status.as_u16()).or_default() += 1;
                        }
                        Err(_) => {
                            load.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                let mut all = load.statuses.lock().unwrap_or_else(|e| e.into_inner());
                for (status, n) in local {
                    *all.entry(status).or_default() += n;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
}

async fn layer(events: usize) -> Result<(), Failure> {
    let handler = Counting::default();
    let app = axum::Router::new().layer(
        WebPubSubLayer::new(handler.clone())
            .path("/eventhandler")
            .hub(HUB)
            .connection_string(&format!("Endpoint=http://127.0.0.1;AccessKey={KEY}"))?,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let load = Arc::new(Load {
        client: Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build_http(),
        key: AccessKey::new(KEY),
        url: format!("http://{addr}/eventhandler"),
        next: AtomicUsize::new(0),
        statuses: std::sync::Mutex::default(),
        errors: AtomicU64::new(0),
    });
    let pid = std::process::id();
    let run = |total: usize| run_load(load.clone(), total);
    let (statuses, errors) = (&load.statuses, &load.errors);
    run(10_000).await; // warm-up: connections, allocator
    statuses.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let calls_before = handler.0.load(Ordering::SeqCst);
    let rss_before = rss_mib(pid);
    let started = Instant::now();
    run(events).await;
    let elapsed = started.elapsed();
    let rss_after = rss_mib(pid);
    let statuses = statuses.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let ok: u64 = statuses
        .iter()
        .filter(|(s, _)| StatusCode::from_u16(**s).is_ok_and(|s| s.is_success()))
        .map(|(_, n)| n)
        .sum();
    let calls = handler.0.load(Ordering::SeqCst) - calls_before;
    println!(
        "layer: {events} events in {:.1} s ({:.0}/s), answers by status {statuses:?}, transport errors {}, handler calls {calls}, RSS {rss_before:.1} MiB before, {rss_after:.1} MiB after",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        errors.load(Ordering::SeqCst),
    );
    if ok != events as u64 || calls != events as u64 || errors.load(Ordering::SeqCst) != 0 {
        return Err("some events failed".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The emulator

async fn serve_emulator() -> Result<(), Failure> {
    let emulator = Emulator::builder()
        .key(KEY)
        .hub(HubSettings::new(HUB))
        .start()
        .await?;
    println!("{}", emulator.connection_string());
    std::io::stdout().flush()?;
    // Until the parent closes our stdin.
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin()
            .lock()
            .read_line(&mut line)
            .is_ok_and(|n| n > 0)
        {
            line.clear();
        }
    })
    .await?;
    emulator.shutdown().await;
    Ok(())
}

async fn emulator(clients: usize, cycles: usize) -> Result<(), Failure> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve-emulator")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .env("RUST_LOG", "warn")
        .spawn()?;
    let pid = child.id();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let rest = WebPubSubServiceClient::from_connection_string(line.trim(), HUB)?;
    let url = rest
        .client_access_token()
        .user_id("soak")
        .expires_after(Duration::from_secs(3600))
        .await?
        .url()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = rss_mib(pid);
    println!("emulator: {clients} clients x {cycles} cycles; emulator RSS at start {first:.1} MiB");
    let mut failed = false;
    let mut after_leave = Vec::new();
    for cycle in 1..=cycles {
        let before = rss_mib(pid);
        let connect_errors = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let permits = Arc::new(tokio::sync::Semaphore::new(256));
        let (leave_tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let connected = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(clients);
        for _ in 0..clients {
            let (url, errors, received, permits, connected) = (
                url.clone(),
                connect_errors.clone(),
                received.clone(),
                permits.clone(),
                connected.clone(),
            );
            let mut leave = leave_tx.subscribe();
            tasks.push(tokio::spawn(async move {
                let permit = permits.acquire_owned().await.expect("semaphore");
                let mut request = url.into_client_request().expect("url");
                request
                    .headers_mut()
                    .insert("sec-websocket-protocol", JSON.parse().expect("value"));
                let Ok(Ok((mut socket, _))) = tokio::time::timeout(
                    Duration::from_secs(30),
                    tokio_tungstenite::connect_async(request),
                )
                .await
                else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                drop(permit);
                connected.fetch_add(1, Ordering::Relaxed);
                loop {
                    tokio::select! {
                        next = socket.next() => match next {
                            Some(Ok(WsMessage::Text(text))) if text.contains("\"message\"") => {
                                received.fetch_add(1, Ordering::Relaxed);
                            }
                            Some(Ok(_)) => {}
                            _ => return,
                        },
                        _ = leave.recv() => {
                            let _ = socket.close(None).await;
                            // Drain until the server's close arrives (bounded).
                            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                                while let Some(Ok(_)) = socket.next().await {}
                            }).await;
                            return;
                        }
                    }
                }
            }));
        }
        wait_until(Duration::from_secs(120), || {
            connected.load(Ordering::Relaxed) + connect_errors.load(Ordering::Relaxed)
                >= clients as u64
        })
        .await;
        let connect_time = started.elapsed();
        let peak_connected = rss_mib(pid);
        for n in 0..3 {
            rest.send_to_all(Message::text(format!("broadcast {n}")))
                .await?;
        }
        let expected = connected.load(Ordering::Relaxed) * 3;
        wait_until(Duration::from_secs(60), || {
            received.load(Ordering::Relaxed) >= expected
        })
        .await;
        let peak = rss_mib(pid);
        let _ = leave_tx.send(());
        for task in tasks {
            let _ = task.await;
        }
        // Let the emulator notice every close and drop the sessions.
        let deadline = Instant::now() + Duration::from_secs(30);
        while rest.user_exists("soak").await? && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let still_there = rest.user_exists("soak").await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = rss_mib(pid);
        after_leave.push(after);
        let got = received.load(Ordering::Relaxed);
        let errors = connect_errors.load(Ordering::Relaxed);
        println!(
            "cycle {cycle}: {} connected in {:.1} s, connect errors {errors}, broadcasts received {got}/{expected}, connections left after leaving: {still_there}; emulator RSS {before:.1} -> {peak_connected:.1} (connected) -> {peak:.1} (after broadcasts) -> {after:.1} MiB (after leaving)",
            connected.load(Ordering::Relaxed),
            connect_time.as_secs_f64(),
        );
        failed |= errors > 0 || got < expected || still_there;
    }
    drop(child.stdin.take());
    let _ = child.wait();
    // Leak verdict: after the first cycle, memory after leaving stays flat (within 10 % + 8 MiB).
    if let (Some(first), Some(last)) = (after_leave.first(), after_leave.last())
        && *last > first * 1.10 + 8.0
    {
        println!("LEAK? memory after leaving grew from {first:.1} to {last:.1} MiB");
        failed = true;
    }
    if failed {
        return Err("the emulator soak failed (see above)".into());
    }
    println!(
        "emulator soak: no errors, memory after leaving flat across cycles: {after_leave:.1?} MiB"
    );
    Ok(())
}
