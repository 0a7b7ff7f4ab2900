//! What the benches share: the keys, the event requests the service sends and the token claims
//! they sign; a WebSocket client of the emulator; for the binaries the scripts drive, their
//! arguments, the CPU time of a process and latency percentiles. Each bench uses a part of it.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::Request;
use http_body_util::Full;
use tokio_tungstenite::tungstenite::{
    client::IntoClientRequest as _, http::HeaderValue, protocol::WebSocketConfig,
};
use webpubsub::protocol::{
    AccessKey, signature,
    token::{ClientTokenClaims, client_audience},
};

/// The access keys the layer is given and the events are signed with (not secrets).
pub const PRIMARY: &str = "bench-primary-key-not-a-secret";
pub const SECONDARY: &str = "bench-secondary-key-not-a-secret";
pub const CONNECTION_ID: &str = "conn-7f3a";

/// The `ce-signature` the service sends: one entry per key, primary and secondary.
pub fn service_signature() -> String {
    signature::sign_all(
        [&AccessKey::new(PRIMARY), &AccessKey::new(SECONDARY)],
        CONNECTION_ID,
    )
}

/// An event as the service posts it to the default path: every `ce-*` header it sends, the
/// given type, body, signature and connection state (base64 JSON; the service sends none when
/// the connection has no state).
pub fn event_request(
    ce_type: &str,
    content_type: &str,
    body: &'static [u8],
    signature: &str,
    state: Option<&str>,
) -> Request<Full<Bytes>> {
    let event_name = ce_type.rsplit('.').next().unwrap_or_default();
    let mut request = Request::post("/api/webpubsub/hubs/chat/")
        .header("content-type", content_type)
        .header("ce-specversion", "1.0")
        .header("ce-type", ce_type)
        .header("ce-source", "/hubs/chat/client/conn-7f3a")
        .header("ce-id", "1")
        .header("ce-time", "2026-11-21T09:00:00Z")
        .header("ce-awpsversion", "1.0")
        .header("ce-hub", "chat")
        .header("ce-connectionId", CONNECTION_ID)
        .header("ce-userId", "alice")
        .header("ce-eventName", event_name);
    if let Some(state) = state {
        request = request.header("ce-connectionState", state);
    }
    request
        .header("ce-signature", signature)
        .header("WebHook-Request-Origin", "demo.webpubsub.azure.com")
        .body(Full::new(Bytes::from_static(body)))
        .expect("a valid request")
}

/// A request on another path, which the layer passes to the inner service.
pub fn other_path() -> Request<Full<Bytes>> {
    Request::post("/api/messages")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"text":"hello world"}"#)))
        .expect("a valid request")
}

/// The claims of a client token with a user, two roles and a group, as the JWT baselines sign
/// them.
pub fn client_claims(user: &str) -> ClientTokenClaims {
    let audience = client_audience(
        "https://demo.webpubsub.azure.com",
        Default::default(),
        "chat",
    );
    ClientTokenClaims::new(audience, 1_700_000_000, 3600)
        .with_user(user)
        .with_roles(["webpubsub.sendToGroup.room1", "webpubsub.joinLeaveGroup"])
        .with_groups(["room1"])
}

/// The arguments of a binary a script drives, without the `--bench` that `cargo bench` appends.
pub fn args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect()
}

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, 100 on Linux).
pub const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU time of process `pid` (or `self`) so far, in clock ticks.
pub fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("a running process");
    // Fields after the `(comm)`, which may hold spaces: state is field 3, utime 14, stime 15.
    let after_comm = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// The value at percentile `p` (0..=1) of the ascending `sorted`, by nearest rank; `None` if it
/// is empty.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[(last as f64 * p).round() as usize])
}

/// A client's WebSocket connection to the emulator.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects a `json.webpubsub.azure.v1` client to `url` (a client access URL; `config`, e.g.
/// smaller read buffers, or tungstenite's defaults) and reads its `connected` frame: from then on
/// the connection is registered, and in the groups its token names. Each step within `wait`.
pub async fn json_client(url: &str, config: Option<WebSocketConfig>, wait: Duration) -> Socket {
    let mut request = url.into_client_request().expect("a client URL");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("json.webpubsub.azure.v1"),
    );
    let (mut ws, _) = tokio::time::timeout(
        wait,
        tokio_tungstenite::connect_async_with_config(request, config, true),
    )
    .await
    .expect("the client connects in time")
    .expect("the client connects");
    let first = tokio::time::timeout(wait, ws.next())
        .await
        .expect("connected in time");
    assert!(
        matches!(&first, Some(Ok(frame)) if frame.is_text()),
        "the first frame is `connected`"
    );
    ws
}
