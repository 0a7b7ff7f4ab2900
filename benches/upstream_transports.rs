//! User events per second and their latency through the emulator to one handler, over each
//! upstream transport, in one run: HTTP webhooks (axum + `WebPubSubLayer`), the gRPC upstream
//! (`webpubsub::grpc::GrpcUpstream`) and the tunnel (`webpubsub::tunnel`, serving the same axum +
//! `WebPubSubLayer` router over `/server/tunnel`). The handler is the same `EventHandler` on all.
//!
//! CLIENTS `json.webpubsub.azure.v1` WebSocket clients each send a `message` event and wait for
//! the handler's answer ("Hey hello"), closed loop, for SECONDS per transport after one second of
//! warm-up. A client's latency is from sending the event frame to reading the answer: client →
//! emulator → upstream → handler → answer → client. The events carry no ack id, so each event is
//! one frame each way.
//!
//! Run: `cargo bench --bench upstream_transports -- CLIENTS SECONDS` (defaults 16 and 3); it
//! prints one JSON line per transport.

use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use webpubsub::emulator::{Emulator, EventHandlerSettings, HubSettings};
use webpubsub::grpc::GrpcUpstream;
use webpubsub::handler::{
    EventError, EventHandler, EventRunner, UserEventRequest, UserEventResponse, WebPubSubLayer,
};
use webpubsub::rest::WebPubSubServiceClient;
use webpubsub::tunnel::WebPubSubTunnelClient;

const KEY: &str = "upstream-transports-bench-key";
const WARM_UP: Duration = Duration::from_secs(1);

/// Answers every user event with "Hey " + its text.
#[derive(Debug, Clone)]
struct Hey;

impl EventHandler for Hey {
    async fn on_user_event(&self, req: UserEventRequest) -> Result<UserEventResponse, EventError> {
        Ok(UserEventResponse::text(format!("Hey {}", req.text()?)))
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the numbers are ours.
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = numbers.first().copied().unwrap_or(16) as usize;
    let seconds = numbers.get(1).copied().unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(clients, Duration::from_secs(seconds)));
}

async fn run(clients: usize, duration: Duration) {
    // The webhook upstream: axum + the layer on a loopback port.
    let app = axum::Router::new().layer(WebPubSubLayer::new(Hey).hub("http").access_key(KEY));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let emulator = Emulator::builder()
        .key(KEY)
        .hub(
            HubSettings::new("http").upstream(format!("http://{webhook}/api/webpubsub/hubs/http/")),
        )
        .hub(HubSettings::new("grpc").event_handler(EventHandlerSettings::grpc()))
        .hub(HubSettings::new("tunnel").upstream("tunnel:///api/webpubsub/hubs/tunnel/"))
        .start()
        .await
        .expect("the emulator starts");

    let upstream = GrpcUpstream::from_connection_string(&emulator.connection_string(), "grpc")
        .unwrap()
        .max_concurrent_events(clients.max(1) * 2);
    let mut registered = upstream.registrations();
    tokio::spawn(upstream.serve(EventRunner::new(Hey), std::future::pending()));
    registered.wait_for(|count| *count > 0).await.unwrap();

    // The tunnel: the same router shape as the webhook's, with no listener of its own.
    let app = axum::Router::new().layer(WebPubSubLayer::new(Hey).hub("tunnel").access_key(KEY));
    let tunnel =
        WebPubSubTunnelClient::from_connection_string(&emulator.connection_string(), "tunnel")
            .unwrap()
            .max_concurrency(clients.max(1) * 2)
            .serve(app);
    tunnel.connected().await.expect("the tunnel connects");

    println!(
        "# {clients} clients, {}s per transport, {} cores",
        duration.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for hub in ["http", "grpc", "tunnel", "http", "grpc", "tunnel"] {
        let report = measure(&emulator, hub, clients, duration).await;
        println!("{report}");
    }
}

async fn measure(emulator: &Emulator, hub: &str, clients: usize, duration: Duration) -> String {
    let rest =
        WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), hub).unwrap();
    let url = rest.client_access_token().await.unwrap().url().to_owned();
    let mut tasks = Vec::new();
    let start = Instant::now() + WARM_UP;
    let end = start + duration;
    for _ in 0..clients {
        let url = url.clone();
        tasks.push(tokio::spawn(async move { client(&url, start, end).await }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0usize;
    for task in tasks {
        let (mut own, own_errors) = task.await.expect("a client task");
        latencies.append(&mut own);
        errors += own_errors;
    }
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    format!(
        r#"{{"transport":"{hub}","events_per_s":{:.0},"p50_ms":{:.3},"p99_ms":{:.3},"events":{},"errors":{errors}}}"#,
        latencies.len() as f64 / duration.as_secs_f64(),
        percentile(0.5),
        percentile(0.99),
        latencies.len(),
    )
}

/// One client's closed loop; the latencies of the events sent between `start` and `end`.
async fn client(url: &str, start: Instant, end: Instant) -> (Vec<Duration>, usize) {
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        http::HeaderValue::from_static("json.webpubsub.azure.v1"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the client connects");
    let mut latencies = Vec::new();
    let mut errors = 0;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        socket
            .send(Message::text(
                r#"{"type":"event","event":"message","dataType":"text","data":"hello"}"#,
            ))
            .await
            .expect("send");
        let answered = loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => break text.contains("Hey hello"),
                Some(Ok(_)) => {}
                _ => panic!("the connection ended"),
            }
        };
        if now >= start {
            if answered {
                latencies.push(now.elapsed());
            } else {
                errors += 1;
            }
        }
    }
    let _ = socket.close(None).await;
    (latencies, errors)
}
