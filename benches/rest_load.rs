//! REST client throughput (issue 6, row 3), run by `benches/rest_load.sh` against the
//! `webpubsub-emulator` binary in its own process:
//!
//! ```text
//! rest_load CONNECTION_STRING MODE CONCURRENCY SECONDS
//! ```
//!
//! CONCURRENCY tasks each send `send_to_group("room", "hello")` (text) one after the other for
//! SECONDS, after one second of warm-up, and the run prints one JSON line with sends/s, the
//! p50/p99 latency and this process's CPU time per send (robust to other load), and the sends
//! including the warm-up (`sends_with_warm_up`: instruction counts of two runs of different
//! lengths, e.g. under `valgrind --tool=callgrind`, differ by that many sends). MODE:
//! - `ours`: `webpubsub_rest::WebPubSubServiceClient`, as in production: each send builds its
//!   path and query, and takes the parsed URL and the signed token from the client's caches
//!   when it repeats a target (the token: within the same second);
//! - `reqwest`: a bare `reqwest::Client` posting the same request (same URL, body, content type)
//!   with one token signed before the run: the floor any client on reqwest pays.
//!
//! `REST_LOAD_GROUPS=N` (default 1) spreads each task's sends over N groups in turn (`room`,
//! `room1`, …; the `reqwest` mode signs one token per group before the run), to see what a
//! client pays when its sends change target.
//!
//! The third row, the official @azure/web-pubsub 1.2.0 SDK, is `benches/load/rest_sdk.mjs`.
//! Every answer must be 202; anything else fails the run.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use webpubsub::{
    ConnectionString,
    protocol::token::RestTokenClaims,
    rest::{RetryPolicy, WebPubSubServiceClient},
};

mod support;

const HUB: &str = "bench";
/// Group number `n`: `room`, `room1`, `room2`, …
fn group(n: usize) -> String {
    match n {
        0 => "room".to_owned(),
        n => format!("room{n}"),
    }
}
const WARM_UP: Duration = Duration::from_secs(1);

fn main() {
    let args = support::args();
    let [connection_string, mode, concurrency, seconds] = args.as_slice() else {
        eprintln!("rest_load: run benches/rest_load.sh (usage in benches/rest_load.rs)");
        return;
    };
    let concurrency: usize = concurrency.parse().expect("CONCURRENCY is a number");
    let seconds: u64 = seconds.parse().expect("SECONDS is a number");
    // `REST_LOAD_CURRENT_THREAD=1`: one thread, so that instruction counts (callgrind) do not
    // depend on how work was spread over the workers.
    let mut runtime = match std::env::var_os("REST_LOAD_CURRENT_THREAD") {
        Some(_) => tokio::runtime::Builder::new_current_thread(),
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = runtime.enable_all().build().expect("a tokio runtime");
    let groups: Vec<String> = match std::env::var("REST_LOAD_GROUPS") {
        Ok(count) => (0..count.parse().expect("REST_LOAD_GROUPS is a number"))
            .map(group)
            .collect(),
        Err(_) => vec![group(0)],
    };
    assert!(!groups.is_empty(), "REST_LOAD_GROUPS is at least 1");
    let sender = match mode.as_str() {
        "ours" => Sender::ours(connection_string, groups),
        "reqwest" => Sender::reqwest(connection_string, &groups),
        other => panic!("MODE is `ours` or `reqwest`, not {other:?}"),
    };
    let sender = Arc::new(sender);
    let (latencies, all_sends, cpu_ticks) = runtime.block_on(async {
        let start = Instant::now() + WARM_UP;
        let end = start + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let sender = sender.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut sends = 0_u64;
                    loop {
                        let sent = Instant::now();
                        if sent >= end {
                            return (latencies, sends);
                        }
                        sender.send(sends as usize).await;
                        sends += 1;
                        if sent >= start {
                            latencies.push(sent.elapsed().as_micros() as u32);
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep_until(start.into()).await;
        let cpu_start = support::cpu_ticks("self");
        let (mut all, mut all_sends) = (Vec::new(), 0);
        for task in tasks {
            let (latencies, sends) = task.await.expect("a sender task finished");
            all.extend(latencies);
            all_sends += sends;
        }
        let cpu_ticks = support::cpu_ticks("self") - cpu_start;
        all.sort_unstable();
        (all, all_sends, cpu_ticks)
    });
    let at = |p: f64| support::percentile(&latencies, p).expect("sends after the warm-up");
    println!(
        r#"{{"mode":"{mode}","concurrency":{concurrency},"sends":{},"seconds":{seconds},"sends_per_s":{:.1},"p50_us":{},"p99_us":{},"client_cpu_us_per_send":{:.2},"sends_with_warm_up":{all_sends}}}"#,
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        at(0.50),
        at(0.99),
        cpu_ticks as f64 * 1e6 / support::TICKS_PER_SECOND / latencies.len() as f64,
    );
}

enum Sender {
    Ours {
        client: WebPubSubServiceClient,
        groups: Vec<String>,
    },
    Reqwest {
        client: reqwest::Client,
        /// The URL and `Authorization` of each group.
        targets: Vec<(String, String)>,
    },
}

impl Sender {
    /// Our client, without retries (a failure fails the run).
    fn ours(connection_string: &str, groups: Vec<String>) -> Self {
        let cs: ConnectionString = connection_string.parse().expect("a connection string");
        let client = WebPubSubServiceClient::builder(cs.endpoint(), HUB)
            .access_key(cs.access_key().clone())
            .retry_policy(RetryPolicy::none())
            .build()
            .expect("a client");
        Self::Ours { client, groups }
    }

    fn reqwest(connection_string: &str, groups: &[String]) -> Self {
        let cs: ConnectionString = connection_string.parse().expect("a connection string");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let key = EncodingKey::from_secret(cs.access_key().as_bytes());
        let targets = groups
            .iter()
            .map(|group| {
                let url = format!(
                    "{}/api/hubs/{HUB}/groups/{group}/:send?api-version=2024-12-01",
                    cs.endpoint().trim_end_matches('/')
                );
                let claims = RestTokenClaims::new(url.as_str(), now, 3600);
                let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
                    .expect("a token");
                (url, format!("Bearer {token}"))
            })
            .collect();
        // reqwest built with `rustls-no-provider` needs a process-wide provider even for http.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self::Reqwest {
            client: reqwest::Client::new(),
            targets,
        }
    }

    /// Send number `i` of a task.
    async fn send(&self, i: usize) {
        match self {
            Self::Ours { client, groups } => client
                .send_to_group(&groups[i % groups.len()], "hello")
                .await
                .expect("the emulator accepts the send"),
            Self::Reqwest { client, targets } => {
                let (url, authorization) = &targets[i % targets.len()];
                let response = client
                    .post(url)
                    .header("authorization", authorization)
                    .header("content-type", "text/plain")
                    .body("hello")
                    .send()
                    .await
                    .expect("the emulator answers");
                assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
                response.bytes().await.expect("the answer body");
            }
        }
    }
}
