//! User events waiting for a slow upstream are bounded in bytes, over loopback: an event over
//! its connection's budget or the process's is refused at once with an error ack (the
//! connection is still read), and the events of a connection that ended are dropped (its
//! `disconnected` still goes upstream).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;
use support::emulator::JSON;
use support::ws_client::WsClient;
use tokio::sync::Semaphore;
use webpubsub::emulator::SystemEvent;
use webpubsub::emulator::{Emulator, EmulatorBuilder, EventHandlerSettings, HubSettings};
use webpubsub_protocol::frames::ServerFrame;
use webpubsub_protocol::token::{ClientRole, Permission};
use webpubsub_rest::WebPubSubServiceClient;

const KEY: &str = "pending-events-test-key-not-a-secret";
const HUB: &str = "chat";
/// The longest any single wait of these tests takes.
const BOUND: Duration = Duration::from_secs(10);

/// An upstream that answers system events at once and each user event only when the test
/// lets one through, recording the `ce-type` of every event it received.
#[derive(Clone)]
struct GatedUpstream {
    gate: Arc<Semaphore>,
    received: Arc<Mutex<Vec<String>>>,
}

impl Default for GatedUpstream {
    fn default() -> Self {
        Self {
            gate: Arc::new(Semaphore::new(0)),
            received: Arc::default(),
        }
    }
}

impl GatedUpstream {
    async fn serve(&self) -> String {
        let app = axum::Router::new()
            .route("/eventhandler", axum::routing::any(answer))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}/eventhandler")
    }

    fn open(&self) {
        self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, what: impl Fn(&[String]) -> bool) {
        let waited = tokio::time::timeout(BOUND, async {
            while !what(&self.received()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "the upstream received {:?}",
            self.received()
        );
    }
}

async fn answer(State(upstream): State<GatedUpstream>, headers: HeaderMap) -> StatusCode {
    let Some(kind) = headers.get("ce-type").and_then(|v| v.to_str().ok()) else {
        // The abuse-protection handshake.
        return StatusCode::OK;
    };
    upstream.received.lock().unwrap().push(kind.to_owned());
    if kind.starts_with("azure.webpubsub.user.") {
        upstream.gate.acquire().await.unwrap().forget();
    }
    StatusCode::NO_CONTENT
}

async fn start(
    builder: EmulatorBuilder,
    upstream: &GatedUpstream,
) -> (Emulator, WebPubSubServiceClient) {
    let url = upstream.serve().await;
    let handler = EventHandlerSettings::new(url)
        .system_events([SystemEvent::Connected, SystemEvent::Disconnected]);
    let emulator = builder
        .key(KEY)
        .hub(HubSettings::new(HUB).event_handler(handler))
        .start()
        .await
        .unwrap();
    let rest =
        WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), HUB).unwrap();
    (emulator, rest)
}

/// A JSON client allowed to join and leave groups, and its connection id.
async fn client(rest: &WebPubSubServiceClient) -> (WsClient, String) {
    let token = rest
        .client_access_token()
        .user_id("u")
        .roles([ClientRole::any_group(Permission::JoinLeaveGroup)])
        .await
        .unwrap();
    let mut client = WsClient::connect(token.url(), Some(JSON)).await.unwrap();
    match client.next_frame().await {
        ServerFrame::Connected { connection_id, .. } => (client, connection_id),
        other => panic!("expected connected, got {other:?}"),
    }
}

fn event(ack_id: u64, bytes: usize) -> serde_json::Value {
    json!({"type": "event", "event": "big", "dataType": "text", "data": "x".repeat(bytes), "ackId": ack_id})
}

/// The acks that arrive next, by ack id: `None` for success, else the error's message.
async fn acks(client: &mut WsClient, count: usize) -> Vec<(u64, Option<String>)> {
    let mut acks = Vec::new();
    while acks.len() < count {
        match client.next_frame().await {
            ServerFrame::Ack { ack_id, error } => acks.push((ack_id, error.map(|e| e.message))),
            other => panic!("expected an ack, got {other:?}"),
        }
    }
    acks.sort();
    acks
}

#[tokio::test]
async fn events_over_a_connections_budget_are_refused_and_it_is_still_read() {
    let upstream = GatedUpstream::default();
    let builder = Emulator::builder().max_pending_event_bytes_per_connection(300 * 1024);
    let (_emulator, rest) = start(builder, &upstream).await;
    let (mut client, _) = client(&rest).await;
    for ack_id in 1..=3 {
        client.send_json(event(ack_id, 200 * 1024)).await;
    }
    client
        .send_json(json!({"type": "joinGroup", "group": "room", "ackId": 4}))
        .await;
    // One event (200 KiB) waits: the next two are over 300 KiB and refused at once, and the
    // join behind them is read and answered while the upstream still holds the first.
    let early = acks(&mut client, 3).await;
    assert_eq!(early[2], (4, None));
    for (ack_id, error) in &early[..2] {
        let message = error.as_deref().expect("an error ack");
        assert!(message.contains("this connection"), "{ack_id}: {message}");
    }
    upstream.open();
    assert_eq!(acks(&mut client, 1).await, [(1, None)]);
    // Its budget is back once the event is sent.
    client.send_json(event(5, 250 * 1024)).await;
    assert_eq!(acks(&mut client, 1).await, [(5, None)]);
}

#[tokio::test]
async fn events_over_the_process_budget_are_refused_with_an_error_ack() {
    let upstream = GatedUpstream::default();
    let builder = Emulator::builder().max_pending_event_bytes(500 * 1024);
    let (_emulator, rest) = start(builder, &upstream).await;
    let (mut first, _) = client(&rest).await;
    let (mut second, _) = client(&rest).await;
    first.send_json(event(1, 200 * 1024)).await;
    first.send_json(event(2, 200 * 1024)).await;
    upstream
        .wait_for(|received| received.contains(&"azure.webpubsub.user.big".to_owned()))
        .await;
    // 400 KiB wait: neither connection gets 200 KiB more, and each hears so at once.
    first.send_json(event(3, 200 * 1024)).await;
    second.send_json(event(1, 200 * 1024)).await;
    for client in [&mut first, &mut second] {
        let refused = acks(client, 1).await;
        let message = refused[0].1.as_deref().expect("an error ack");
        assert!(message.contains("limit"), "{message}");
    }
    upstream.open();
    assert_eq!(acks(&mut first, 2).await, [(1, None), (2, None)]);
    // The budget is back once the events are sent.
    second.send_json(event(2, 400 * 1024)).await;
    assert_eq!(acks(&mut second, 1).await, [(2, None)]);
}

#[tokio::test]
async fn events_of_a_closed_connection_are_dropped_but_disconnected_is_sent() {
    let upstream = GatedUpstream::default();
    let (_emulator, rest) = start(Emulator::builder(), &upstream).await;
    let (mut client, connection_id) = client(&rest).await;
    for ack_id in 1..=5 {
        client.send_json(event(ack_id, 1024)).await;
    }
    let user_events = |received: &[String]| {
        received
            .iter()
            .filter(|kind| kind.starts_with("azure.webpubsub.user."))
            .count()
    };
    // The first event is at the upstream; four wait behind it.
    upstream
        .wait_for(|received| user_events(received) == 1)
        .await;
    // The last frame read is the last event queued: a join behind them is answered once all are.
    client
        .send_json(json!({"type": "joinGroup", "group": "room", "ackId": 6}))
        .await;
    assert_eq!(acks(&mut client, 1).await, [(6, None)]);
    client
        .send(tokio_tungstenite::tungstenite::Message::Close(None))
        .await;
    let gone = tokio::time::timeout(BOUND, async {
        while rest.connection_exists(&connection_id).await.unwrap() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the connection never ended");
    upstream.open();
    upstream
        .wait_for(|received| received.contains(&"azure.webpubsub.sys.disconnected".to_owned()))
        .await;
    assert_eq!(
        user_events(&upstream.received()),
        1,
        "{:?}",
        upstream.received()
    );
    assert_eq!(
        upstream.received().last().map(String::as_str),
        Some("azure.webpubsub.sys.disconnected")
    );
}
