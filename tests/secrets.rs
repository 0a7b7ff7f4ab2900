//! No access key, token or signature leaks: a whole session (emulator, layer upstream, REST
//! client, WebSocket clients, refusals and failures) runs with every `tracing` event at TRACE
//! captured (and `log` records bridged), and neither the captured output nor the `Debug` and
//! `Display` forms of the handles, builders and errors contain a secret or anything shaped like a
//! JWT or a `ce-signature`. (The one exclusion: the test's own WebSocket client library.)

mod support;

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

use serde_json::json;
use support::{layer::TestServer, ws_client::WsClient};
use webpubsub::emulator::{Emulator, HubSettings};
use webpubsub::handler::{
    ClosureHandler, ConnectRequest, ConnectResponse, EventError, UserEventRequest,
    UserEventResponse, WebPubSubLayer,
};
use webpubsub_protocol::{AccessKey, ConnectionString, frames::ServerFrame};
use webpubsub_rest::{Message, WebPubSubServiceClient};

const KEY: &str = "SECRET-emulator-key-0123456789abcdef";
const WRONG_KEY: &str = "SECRET-wrong-key-fedcba9876543210";
const RELIABLE: &str = "json.reliable.webpubsub.azure.v1";

/// Everything every subscriber wrote, for the whole test binary.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        // Everything at TRACE, except the test's own WebSocket client library: tungstenite's
        // client traces its whole handshake request, `?access_token=` included (not our code;
        // see docs/reliability.md).
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace,tungstenite=off"))
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init()
            .expect("the only subscriber of this binary");
        logs
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The JWTs in `text`: three non-empty base64url segments, the first starting `eyJ` (`{"`).
fn jwts(text: &str) -> Vec<&str> {
    let is_part = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    text.match_indices("eyJ")
        .filter_map(|(start, _)| {
            let rest = &text[start..];
            let end = rest.find(|c| !is_part(c)).unwrap_or(rest.len());
            let candidate = &rest[..end];
            let parts: Vec<_> = candidate.split('.').collect();
            (parts.len() == 3 && parts.iter().all(|p| p.len() >= 4)).then_some(candidate)
        })
        .collect()
}

/// `sha256=` + 64 hex digits: a replayable event signature.
fn signatures(text: &str) -> Vec<&str> {
    text.match_indices("sha256=")
        .filter_map(|(start, _)| {
            let hex = text.get(start + 7..start + 7 + 64)?;
            hex.chars()
                .all(|c| c.is_ascii_hexdigit())
                .then(|| &text[start..start + 71])
        })
        .collect()
}

#[track_caller]
fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} contains a secret: {text}");
    }
    assert!(
        jwts(text).is_empty(),
        "{what} contains a token: {:?}",
        jwts(text)
    );
    assert!(
        signatures(text).is_empty(),
        "{what} contains a signature: {:?}",
        signatures(text)
    );
}

#[test]
fn the_detectors_detect() {
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl";
    assert_eq!(jwts(&format!("token={token}&x")), vec![token]);
    assert!(jwts("state eyJhIjoxfQ== only").is_empty());
    let signature = format!("sha256={}", "ab".repeat(32));
    assert_eq!(
        signatures(&format!("[{signature}]")),
        vec![signature.as_str()]
    );
}

fn handlers() -> ClosureHandler {
    ClosureHandler::new()
        .connect(|request: ConnectRequest| async move {
            // A handler that logs everything it is given: the context's Debug must be safe.
            tracing::info!(context = ?request.context(), claims = ?request.claims(), "connect");
            Ok(ConnectResponse::new().user_id("alice"))
        })
        .user_event(|request: UserEventRequest| async move {
            tracing::info!(context = ?request.context(), "user event");
            if request.context().event_name() == "fail" {
                return Err(EventError::forbidden("refused by the handler"));
            }
            Ok(UserEventResponse::text("ok"))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_debug_display_or_errors() {
    let logs = captured();
    let key = AccessKey::new(KEY);

    // The upstream: the layer, checking signatures with the key.
    let listener_cs: ConnectionString = format!("Endpoint=http://127.0.0.1;AccessKey={KEY}")
        .parse()
        .expect("connection string");
    let layer = WebPubSubLayer::new(handlers())
        .path("/eventhandler")
        .hub("chat")
        .connection_string(&listener_cs)
        .expect("connection string");
    let upstream = TestServer::start(axum::Router::new().layer(layer.clone())).await;

    let builder = Emulator::builder()
        .key(KEY)
        .hub(HubSettings::new("chat").upstream(format!("http://{}/eventhandler", upstream.addr)));
    let builder_debug = format!("{builder:?}");
    let emulator = builder.start().await.expect("emulator starts");
    let rest =
        WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), "chat")
            .expect("client");
    let token = rest
        .client_access_token()
        .user_id("alice")
        .roles([
            "webpubsub.sendToGroup".to_owned(),
            "webpubsub.joinLeaveGroup".to_owned(),
        ])
        .await
        .expect("token");

    // A reliable client: connect (upstream connect), events (upstream user events), recovery token.
    let mut client = WsClient::connect(token.url(), Some(RELIABLE))
        .await
        .expect("connects");
    let reconnection_token = match client.next_frame().await {
        ServerFrame::Connected {
            reconnection_token, ..
        } => reconnection_token.expect("reliable clients get a reconnection token"),
        other => panic!("expected connected, got {other:?}"),
    };
    for (event, ack_id) in [("message", 1), ("fail", 2)] {
        client
            .send_json(json!({"type": "event", "event": event, "dataType": "text", "data": "hi", "ackId": ack_id}))
            .await;
        let mut seen = Vec::new();
        let _ = client.next_non_message(&mut seen).await;
    }
    rest.send_to_all(Message::text("hello"))
        .await
        .expect("send");

    // Refusals that carry secrets in the request: a forged client token, a REST client with the
    // wrong key, a connection string with the key in the wrong place.
    let forged_rest = WebPubSubServiceClient::builder(emulator.endpoint(), "chat")
        .access_key(WRONG_KEY)
        .build()
        .expect("client");
    let forged = forged_rest
        .client_access_token()
        .user_id("mallory")
        .await
        .expect("token");
    let refused = WsClient::connect(forged.url(), Some(RELIABLE))
        .await
        .err()
        .expect("a forged token is refused");
    let rest_error = forged_rest
        .send_to_all(Message::text("x"))
        .await
        .expect_err("the wrong key is refused");
    let cs_errors: Vec<String> = [
        format!("Endpoint=ftp://x;AccessKey={KEY}"),
        format!("{KEY};Endpoint=https://x"),
        format!("Endpoint=https://x;AccessKey={KEY};Port=0"),
        format!("Endpoint=https://x;AccessKey={KEY};AccessKey={KEY}"),
    ]
    .iter()
    .map(|cs| {
        let error = cs.parse::<ConnectionString>().expect_err("invalid");
        format!("{error} {error:?}")
    })
    .collect();
    let bad_rest =
        WebPubSubServiceClient::from_connection_string(&format!("AccessKey={KEY}"), "chat")
            .expect_err("no endpoint");

    // An upstream that is down: the emulator reports the failed handshake.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let lonely = Emulator::builder()
        .key(KEY)
        .hub(HubSettings::new("down").upstream(format!("http://{closed}/eventhandler")))
        .start()
        .await
        .expect("starts without its upstream");
    // Else the "handshake reports" check below would look at nothing.
    assert!(
        lonely.handshakes().iter().any(|report| !report.is_ok()),
        "the failed handshake is reported: {:?}",
        lonely.handshakes()
    );

    let secrets = [
        KEY,
        WRONG_KEY,
        token.token(),
        forged.token(),
        &reconnection_token,
    ];
    let shown = [
        ("AccessKey", format!("{key:?}")),
        ("ConnectionString", format!("{listener_cs:?}")),
        ("layer", format!("{layer:?}")),
        ("emulator builder", builder_debug),
        ("emulator", format!("{emulator:?}")),
        ("handshake reports", format!("{:?}", lonely.handshakes())),
        ("REST client", format!("{rest:?} {forged_rest:?}")),
        ("client access token", format!("{token:?} {forged:?}")),
        ("REST error", format!("{rest_error} {rest_error:?}")),
        ("REST builder error", format!("{bad_rest} {bad_rest:?}")),
        ("refused WebSocket", format!("{refused:?}")),
        ("connection string errors", cs_errors.join("\n")),
    ];
    for (what, text) in &shown {
        assert_clean(what, text, &secrets);
    }

    drop(client);
    emulator.shutdown().await;
    lonely.shutdown().await;
    let logs =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    // The capture did capture: the handler's context line and the emulator's refusal are there.
    assert!(logs.contains("user event"), "nothing captured");
    assert!(
        logs.contains("client connection refused"),
        "the forged token's refusal was not captured"
    );
    assert_clean("the logs", &logs, &secrets);
}
