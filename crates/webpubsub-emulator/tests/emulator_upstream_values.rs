//! Client-chosen values on their way upstream: event names, user ids and the `connect` answer
//! never reshape the URL or the headers of the signed request the emulator sends. The upstream
//! here is a bare recorder, so the test sees the request exactly as it went out.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value, json};
use support::token::{http_client, sign, user_url};
use support::ws_client::WsClient;
use tokio::sync::mpsc;
use webpubsub_emulator::{Emulator, HubSettings};
use webpubsub_protocol::frames::{AckErrorName, ServerFrame};
use webpubsub_protocol::token::{RestTokenClaims, client_audience};

const KEY: &str = "upstream-values-key-not-a-secret";
const HUB: &str = "chat";
const JSON: &str = "json.webpubsub.azure.v1";

/// One request the upstream got: its method, path and query as sent, and its headers.
#[derive(Debug)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8(v.as_bytes().to_vec()).expect("UTF-8"))
    }
}

/// The recording upstream: answers the handshake, answers `connect` with `connect_answer`
/// (a JSON text), and every other event with 200 and no body.
struct Upstream {
    address: SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
    connect_answer: Arc<Mutex<String>>,
}

impl Upstream {
    async fn start() -> Self {
        let (record, seen) = mpsc::unbounded_channel();
        let connect_answer = Arc::new(Mutex::new("{}".to_owned()));
        let answer = connect_answer.clone();
        let app =
            axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
                let answer = answer.lock().unwrap().clone();
                let is_connect = headers
                    .get("ce-type")
                    .is_some_and(|t| t == "azure.webpubsub.sys.connect");
                let _ = record.send(Seen {
                    method: method.clone(),
                    uri,
                    headers,
                });
                async move {
                    if method == Method::OPTIONS {
                        (
                            StatusCode::OK,
                            [("webhook-allowed-origin", "*")],
                            String::new(),
                        )
                    } else if is_connect {
                        (
                            StatusCode::OK,
                            [("content-type", "application/json")],
                            answer,
                        )
                    } else {
                        (
                            StatusCode::OK,
                            [("content-type", "text/plain")],
                            String::new(),
                        )
                    }
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            address,
            seen,
            connect_answer,
        }
    }

    /// The next event request (handshakes skipped).
    async fn next_event(&mut self) -> Seen {
        loop {
            let seen = tokio::time::timeout(support::ws_client::FRAME_TIMEOUT, self.seen.recv())
                .await
                .expect("an upstream request within the timeout")
                .expect("the upstream runs");
            if seen.method != Method::OPTIONS {
                return seen;
            }
        }
    }

    /// The `ce-eventName` of the next event request.
    async fn next_event_name(&mut self) -> Option<String> {
        self.next_event().await.header("ce-eventname")
    }

    fn answer_connect_with(&self, answer: &str) {
        *self.connect_answer.lock().unwrap() = answer.to_owned();
    }
}

/// An emulator whose hub sends every event to `{upstream}/eventhandler/{event}?code=SECRET`.
async fn start() -> (Emulator, Upstream) {
    let upstream = Upstream::start().await;
    let emulator = Emulator::builder()
        .key(KEY)
        .hub(HubSettings::new(HUB).upstream(format!(
            "http://{}/eventhandler/{{event}}?code=SECRET",
            upstream.address
        )))
        .start()
        .await
        .expect("the emulator starts");
    (emulator, upstream)
}

/// Connects `user`, with the `connect` and `connected` events
/// read from the upstream.
async fn connect(emulator: &Emulator, upstream: &mut Upstream, user: &str) -> WsClient {
    let mut client = WsClient::connect(&user_url(emulator, HUB, user), Some(JSON))
        .await
        .unwrap();
    assert!(matches!(
        client.next_frame().await,
        ServerFrame::Connected { .. }
    ));
    for event in ["connect", "connected"] {
        assert_eq!(upstream.next_event_name().await.as_deref(), Some(event));
    }
    client
}

#[tokio::test]
async fn event_names_are_one_path_segment_and_the_query_stays() {
    let (emulator, mut upstream) = start().await;
    let mut client = connect(&emulator, &mut upstream, "alice").await;
    let mut ack_id = 0;
    for (name, path) in [
        ("../../admin/reset", "/eventhandler/..%2F..%2Fadmin%2Freset"),
        (
            "%2e%2e/%2e%2e/admin",
            "/eventhandler/%252e%252e%2F%252e%252e%2Fadmin",
        ),
        ("x#", "/eventhandler/x%23"),
        ("x?code=ATTACKER&", "/eventhandler/x%3Fcode%3DATTACKER%26"),
        ("caf\u{e9}", "/eventhandler/caf%C3%A9"),
    ] {
        ack_id += 1;
        client
            .send_json(json!({"type": "event", "event": name, "ackId": ack_id, "dataType": "text", "data": "d"}))
            .await;
        let seen = upstream.next_event().await;
        assert_eq!(seen.uri.path(), path, "{name:?}");
        assert_eq!(seen.uri.query(), Some("code=SECRET"), "{name:?}");
        assert_eq!(seen.header("ce-eventname").as_deref(), Some(name));
        assert_eq!(
            seen.header("ce-type"),
            Some(format!("azure.webpubsub.user.{name}"))
        );
        assert_eq!(seen.header("ce-userid").as_deref(), Some("alice"));
        assert!(matches!(
            client.next_frame().await,
            ServerFrame::Ack { error: None, .. }
        ));
    }
    for name in [".", "..", "line\r\nbreak", "tab\there"] {
        ack_id += 1;
        client
            .send_json(json!({"type": "event", "event": name, "ackId": ack_id, "dataType": "text", "data": "d"}))
            .await;
        match client.next_frame().await {
            ServerFrame::Ack {
                ack_id: acked,
                error: Some(error),
            } => {
                assert_eq!((acked, &error.name), (ack_id, &AckErrorName::BadRequest));
                assert!(error.message.contains("event name"), "{}", error.message);
            }
            other => panic!("{name:?}: expected an error ack, got {other:?}"),
        }
        // The invocation form is refused the same way.
        client
            .send_json(json!({"type": "invoke", "invocationId": format!("i{ack_id}"), "event": name, "dataType": "text", "data": "d"}))
            .await;
        match client.next_frame().await {
            ServerFrame::InvokeResponse {
                error: Some(error), ..
            } => assert_eq!(error.name, AckErrorName::BadRequest),
            other => panic!("{name:?}: expected an error answer, got {other:?}"),
        }
    }
    // Nothing of the refused names went upstream: the next request is the next valid event.
    client
        .send_json(json!({"type": "event", "event": "last", "dataType": "text", "data": "d"}))
        .await;
    assert_eq!(upstream.next_event().await.uri.path(), "/eventhandler/last");
}

#[tokio::test]
async fn user_ids_that_are_not_header_values_are_refused_where_they_enter() {
    let (emulator, mut upstream) = start().await;
    for user in ["alice\r\n", "al\u{0}ice", " alice"] {
        let refused = WsClient::connect(&user_url(&emulator, HUB, user), Some(JSON))
            .await
            .err()
            .unwrap_or_else(|| panic!("{user:?} connected"));
        assert_eq!(refused.status, 401, "{user:?}");
        assert!(refused.body.contains("user id"), "{}", refused.body);
    }

    let url = format!(
        "{}/api/hubs/{HUB}/:generateToken?api-version=2024-12-01&userId=alice%0D%0A",
        emulator.endpoint()
    );
    let claims = RestTokenClaims::new(&url, jsonwebtoken::get_current_timestamp(), 300);
    let token = sign(KEY, &claims);
    let response = http_client()
        .post(&url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("userId"),
        "{body}"
    );

    // A user id beyond ASCII is a valid header value and arrives whole.
    let mut client = connect(&emulator, &mut upstream, "Zoë Ål").await;
    client
        .send_json(json!({"type": "event", "event": "e", "dataType": "text", "data": "d"}))
        .await;
    assert_eq!(
        upstream.next_event().await.header("ce-userid").as_deref(),
        Some("Zoë Ål")
    );
}

#[tokio::test]
async fn a_connect_answer_must_be_an_object_of_valid_values() {
    let (emulator, mut upstream) = start().await;
    let aud = client_audience(
        emulator.endpoint(),
        webpubsub_protocol::token::ClientProtocol::Default,
        HUB,
    );
    let claims = json!({"aud": aud, "exp": jsonwebtoken::get_current_timestamp() + 300});
    let token = sign(KEY, &claims);
    let url = format!(
        "{}/client/hubs/{HUB}?access_token={token}",
        emulator.endpoint().replacen("http", "ws", 1)
    );
    for (answer, reason) in [
        (r#"["mallory"]"#, "not a JSON object"),
        (r#""mallory""#, "not a JSON object"),
        (r#"{"userId":"bob\n"}"#, "userId"),
        (r#"{"userId":""}"#, "userId"),
        (r#"{"groups":[" "]}"#, "group"),
        (r#"{"roles":["webpubsub.sendToGroup.\u0007"]}"#, "role"),
    ] {
        upstream.answer_connect_with(answer);
        let refused = WsClient::connect(&url, Some(JSON))
            .await
            .err()
            .unwrap_or_else(|| panic!("{answer} let the client in"));
        assert_eq!(refused.status, 500, "{answer}");
        assert!(refused.body.contains(reason), "{answer}: {}", refused.body);
        assert_eq!(upstream.next_event_name().await.as_deref(), Some("connect"));
    }
    upstream.answer_connect_with(r#"{"userId":"mallory"}"#);
    let mut client = WsClient::connect(&url, Some(JSON)).await.unwrap();
    match client.next_frame().await {
        ServerFrame::Connected { user_id, .. } => assert_eq!(user_id.as_deref(), Some("mallory")),
        other => panic!("expected connected, got {other:?}"),
    }
}
