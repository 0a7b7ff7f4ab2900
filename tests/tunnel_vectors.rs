//! The tunnel frame codec against the official `TunnelMessageProtocol` of
//! `@azure/web-pubsub-socket.io` 1.2.1, in both directions, on `tests/data/tunnel/vectors.json`.

mod support;

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use support::node::run_node;
use webpubsub_protocol::tunnel::{TunnelHeaders, TunnelMessage};

fn vectors() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/tunnel/vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("vectors.json");
    serde_json::from_str::<Vec<Value>>(&text).expect("vectors.json is a JSON array")
}

fn frame(vector: &Value) -> Bytes {
    Bytes::from(hex::decode(vector["frame"].as_str().expect("frame")).expect("frame is hex"))
}

fn headers_json(headers: &TunnelHeaders) -> Value {
    let mut map = Map::new();
    for (name, values) in headers.iter() {
        map.insert(name.to_owned(), json!(values));
    }
    Value::Object(map)
}

/// The message as the vectors' `fields`, written field by field (not with the codec's own serde
/// derive, so a renamed or dropped field shows).
fn fields(message: &TunnelMessage) -> Value {
    let mut out = match message {
        TunnelMessage::HttpRequest(m) => json!({
            "TracingId": m.tracing_id, "AckId": m.ack_id, "LocalRouting": m.local_routing,
            "ChannelName": m.channel_name, "HttpMethod": m.method, "Url": m.url,
            "Headers": headers_json(&m.headers), "Type": 1, "Content": BASE64.encode(&m.content),
        }),
        TunnelMessage::HttpResponse(m) => json!({
            "TracingId": m.tracing_id, "AckId": m.ack_id, "LocalRouting": m.local_routing,
            "StatusCode": m.status_code, "ChannelName": m.channel_name,
            "NotCompleted": m.not_completed, "Headers": headers_json(&m.headers), "Type": 2,
            "Content": BASE64.encode(&m.content),
        }),
        TunnelMessage::ServiceStatus(m) => {
            json!({ "TracingId": m.tracing_id, "Message": m.message, "Type": 5 })
        }
        TunnelMessage::ConnectionReconnect(m) => json!({
            "TracingId": m.tracing_id, "TargetId": m.target_id, "Endpoint": m.endpoint,
            "Message": m.message, "Type": 6,
        }),
        TunnelMessage::ConnectionClose(m) => {
            json!({ "TracingId": m.tracing_id, "Message": m.message, "Type": 7 })
        }
        TunnelMessage::ConnectionRebalance(m) => json!({
            "TracingId": m.tracing_id, "TargetId": m.target_id, "Endpoint": m.endpoint,
            "Message": m.message, "Type": 8,
        }),
        TunnelMessage::ConnectionConnected(m) => json!({
            "TracingId": m.tracing_id, "ConnectionId": m.connection_id, "UserId": m.user_id,
            "ReconnectionToken": m.reconnection_token, "Type": 10,
        }),
        other => panic!("a message type this test does not know: {other:?}"),
    };
    out.as_object_mut().unwrap().retain(|_, v| !v.is_null());
    out
}

/// The official fields with what Rust represents as "empty" made explicit: no `Headers` is `{}`
/// and no `Content` of a request or response is empty content.
fn normalized(official: &Value) -> Value {
    let mut out = official.clone();
    let map = out.as_object_mut().unwrap();
    if matches!(map["Type"].as_u64(), Some(1 | 2)) {
        map.entry("Headers").or_insert_with(|| json!({}));
        map.entry("Content").or_insert_with(|| json!(""));
    }
    out
}

#[test]
fn rust_decodes_every_official_frame_to_the_same_fields() {
    let vectors = vectors();
    assert!(vectors.len() >= 14, "every message type, with variants");
    for vector in &vectors {
        let name = vector["name"].as_str().unwrap();
        let message = TunnelMessage::decode(&frame(vector))
            .unwrap_or_else(|e| panic!("{name}: Rust refused the official frame: {e}"));
        assert_eq!(fields(&message), normalized(&vector["fields"]), "{name}");
    }
}

#[test]
fn rust_encodes_the_official_bytes_where_both_carry_headers_and_content() {
    let mut identical = 0;
    for vector in vectors() {
        let name = vector["name"].as_str().unwrap();
        let official = &vector["fields"];
        let byte_content = matches!(official["Type"].as_u64(), Some(1 | 2));
        if byte_content && (official.get("Headers").is_none() || official.get("Content").is_none())
        {
            continue; // Rust writes `{}` and empty bytes where the official code wrote nothing
        }
        let message = TunnelMessage::decode(&frame(&vector)).unwrap();
        assert_eq!(
            hex::encode(message.encode().unwrap()),
            vector["frame"].as_str().unwrap(),
            "{name}"
        );
        identical += 1;
    }
    assert!(identical >= 11, "{identical}");
}

#[tokio::test]
async fn the_official_code_decodes_every_rust_frame_to_the_same_fields() {
    let vectors = vectors();
    let rust_frames: Vec<Value> = vectors
        .iter()
        .map(|vector| {
            let message = TunnelMessage::decode(&frame(vector)).unwrap();
            json!({ "name": vector["name"], "frame": hex::encode(message.encode().unwrap()) })
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("tunnel-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("rust_frames.json");
    std::fs::write(&input, serde_json::to_vec(&rust_frames).unwrap()).unwrap();

    let output = run_node(
        "tunnel_vectors.mjs",
        &["decode", input.to_str().unwrap()],
        &[],
        Duration::from_secs(60),
    )
    .await;
    std::fs::remove_dir_all(&dir).ok();
    assert!(output.success, "node failed: {}", output.stderr);
    let decoded: Vec<Value> = serde_json::from_str(output.stdout.trim()).expect("node's JSON");
    assert_eq!(decoded.len(), vectors.len());
    for (vector, official) in vectors.iter().zip(&decoded) {
        assert_eq!(official["name"], vector["name"]);
        assert_eq!(
            normalized(&official["fields"]),
            normalized(&vector["fields"]),
            "{}",
            vector["name"]
        );
    }
}

#[tokio::test]
async fn the_committed_vectors_are_what_the_official_code_writes() {
    let output = run_node(
        "tunnel_vectors.mjs",
        &["encode"],
        &[],
        Duration::from_secs(60),
    )
    .await;
    assert!(output.success, "node failed: {}", output.stderr);
    let fresh: Vec<Value> = serde_json::from_str(output.stdout.trim()).expect("node's JSON");
    assert_eq!(
        fresh,
        vectors(),
        "regenerate tests/data/tunnel/vectors.json (see its README)"
    );
}
