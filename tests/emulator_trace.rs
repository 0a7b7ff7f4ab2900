//! The emulator's live trace: a client's session, a REST call and the upstream calls show up in
//! order in the feed with their details and no secrets; the page and its event stream are
//! served only to loopback hosts.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::broadcast;
use webpubsub::emulator::{Emulator, HubSettings, TraceEvent, TraceKind};
use webpubsub::handler::{ClosureHandler, WebPubSubLayer};
use webpubsub::protocol::token::{ClientRole, Permission};
use webpubsub::rest::{Message, WebPubSubServiceClient};

use support::emulator::json_client;
use support::layer::TestServer;
use support::raw_http;

const KEY: &str = "trace-test-key-not-for-production";
const WAIT: Duration = Duration::from_secs(10);
/// The most events a test reads while waiting for one.
const MAX_EVENTS: usize = 100;

/// Reads the feed until an event matches `wanted`, returning every event read.
async fn until(
    feed: &mut broadcast::Receiver<Arc<TraceEvent>>,
    seen: &mut Vec<Arc<TraceEvent>>,
    wanted: impl Fn(&TraceEvent) -> bool,
) -> Arc<TraceEvent> {
    for _ in 0..MAX_EVENTS {
        let event = tokio::time::timeout(WAIT, feed.recv())
            .await
            .unwrap_or_else(|_| panic!("no wanted event in time; saw {seen:#?}"))
            .expect("the feed is open and this test keeps up");
        seen.push(event.clone());
        if wanted(&event) {
            return event;
        }
    }
    panic!("no wanted event among {MAX_EVENTS}: {seen:#?}")
}

fn is(kind: TraceKind, title: &'static str) -> impl Fn(&TraceEvent) -> bool {
    move |event| event.kind() == kind && event.title() == title
}

#[tokio::test]
async fn a_session_rest_call_and_upstream_calls_stream_in_order_without_secrets() {
    let app = TestServer::start(
        axum::Router::new().layer(
            WebPubSubLayer::new(ClosureHandler::new())
                .path("/eventhandler")
                .hub("chat")
                .access_key(KEY),
        ),
    )
    .await;
    let emulator = Emulator::builder()
        .key(KEY)
        .hub(HubSettings::new("chat").upstream(format!(
            "http://{}/eventhandler?code=upstream-secret",
            app.addr
        )))
        .start()
        .await
        .unwrap();
    let rest =
        WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), "chat")
            .unwrap();
    let mut feed = emulator.subscribe_trace();
    let mut seen = Vec::new();

    let join = ClientRole::any_group(Permission::JoinLeaveGroup);
    let mut client = json_client(&rest, "alice", &[], &[join]).await;
    let connect = until(
        &mut feed,
        &mut seen,
        is(TraceKind::Upstream, "azure.webpubsub.sys.connect"),
    )
    .await;
    assert_eq!(connect.hub(), Some("chat"));
    assert_eq!(connect.detail("status"), Some("204"), "{connect}");
    assert!(connect.detail("latency_ms").is_some());
    assert_eq!(
        connect.detail("url"),
        Some(format!("http://{}/eventhandler", app.addr).as_str())
    );
    let connected = until(&mut feed, &mut seen, is(TraceKind::Connection, "connected")).await;
    assert_eq!(connected.detail("user_id"), Some("alice"));
    assert_eq!(
        connected.detail("subprotocol"),
        Some("json.webpubsub.azure.v1")
    );
    let connection_id = connected.detail("connection_id").unwrap().to_owned();

    client
        .send_json(json!({"type": "joinGroup", "group": "room 1", "ackId": 1}))
        .await;
    let joined = until(&mut feed, &mut seen, is(TraceKind::Group, "joinGroup")).await;
    assert_eq!(joined.detail("group"), Some("room 1"));
    assert_eq!(joined.detail("error"), None);
    // Without the role, sending to the group is refused, and the trace says so.
    client
        .send_json(json!({"type": "sendToGroup", "group": "room 1", "ackId": 2, "dataType": "text", "data": "hi"}))
        .await;
    let sent = until(&mut feed, &mut seen, is(TraceKind::Message, "sendToGroup")).await;
    assert_eq!(sent.detail("error"), Some("Forbidden"), "{sent}");
    assert_eq!(sent.detail("data_type"), Some("text"));

    rest.send_to_all(Message::text("hello")).await.unwrap();
    let broadcast = until(&mut feed, &mut seen, |e| e.kind() == TraceKind::Rest).await;
    assert_eq!(broadcast.title(), "POST /api/hubs/chat/:send");
    assert_eq!(broadcast.detail("status"), Some("202"));

    client
        .send(tokio_tungstenite::tungstenite::Message::Close(None))
        .await;
    let gone = until(
        &mut feed,
        &mut seen,
        is(TraceKind::Connection, "disconnected"),
    )
    .await;
    assert_eq!(gone.detail("connection_id"), Some(connection_id.as_str()));
    assert!(gone.detail("reason").unwrap().contains("closed"), "{gone}");
    until(
        &mut feed,
        &mut seen,
        is(TraceKind::Upstream, "azure.webpubsub.sys.disconnected"),
    )
    .await;

    for event in &seen {
        let line = event.to_string();
        for secret in [KEY, "upstream-secret", "access_token"] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
    }
}

#[tokio::test]
async fn the_page_and_its_stream_are_served_to_loopback_hosts_only() {
    let emulator = Emulator::builder()
        .hub(HubSettings::new("chat"))
        .start()
        .await
        .unwrap();
    let addr = emulator.local_addr();
    assert_eq!(emulator.trace_url(), format!("http://{addr}/trace"));
    let get = |path: &str, host: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
    };

    let page = raw_http::exchange(
        addr,
        &get("/trace", &format!("localhost:{}", addr.port())),
        b"",
        false,
    )
    .await;
    assert_eq!(page.status, Some(200));
    assert!(page.text().contains("Live trace"), "{}", page.text());
    assert!(
        page.header("content-security-policy")
            .is_some_and(|csp| csp.contains("default-src 'self'"))
    );
    let root = raw_http::exchange(addr, &get("/", &addr.to_string()), b"", false).await;
    assert_eq!(root.status, Some(307));
    assert_eq!(root.header("location"), Some("/trace"));
    for path in ["/trace", "/trace/trace.js", "/trace/events"] {
        let rebound =
            raw_http::exchange(addr, &get(path, "rebound.example:8080"), b"", false).await;
        assert_eq!(rebound.status, Some(403), "{path}");
        assert!(rebound.text().contains("localhost"), "{}", rebound.text());
    }

    // The stream: a REST call arrives as one server-sent event with its JSON.
    let http = reqwest::Client::new();
    let mut stream = http
        .get(format!("http://{addr}/trace/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    // The viewer is subscribed once the answer's head arrived.
    let status = http
        .head(format!(
            "{}/api/hubs/chat/groups/g?api-version=2024-12-01",
            emulator.endpoint()
        ))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401, "no token");
    let mut text = String::new();
    for _ in 0..MAX_EVENTS {
        let chunk = tokio::time::timeout(WAIT, stream.chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the stream is open");
        text.push_str(&String::from_utf8_lossy(&chunk));
        if text.contains("\n\n") {
            break;
        }
    }
    let data = text
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no data line in {text:?}"));
    let event: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(event["kind"], "rest");
    assert_eq!(event["hub"], "chat");
    assert_eq!(event["title"], "HEAD /api/hubs/chat/groups/g");
    assert_eq!(event["details"][0], json!(["status", "401"]));

    // Shutdown ends the stream instead of waiting for the viewer.
    tokio::time::timeout(WAIT, emulator.shutdown())
        .await
        .expect("the open stream does not hold the shutdown");
}
