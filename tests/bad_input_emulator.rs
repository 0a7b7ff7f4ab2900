//! Hostile input to the emulator, over loopback: client tokens that must not open a connection,
//! REST requests that must not act, and WebSocket frames that must not escalate. Every case has
//! its expected answer, and afterwards a watching client has received nothing and nobody joined
//! or left anything (the emulator's "handler was not called").

mod support;

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::{
    emulator::{JSON, json_client},
    ws_client::WsClient,
};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::{
    Frame,
    coding::{Data, OpCode},
};
use webpubsub::emulator::Emulator;
use webpubsub_protocol::frames::{AckErrorName, ServerFrame};
use webpubsub_protocol::token::{ClientRole, Permission};
use webpubsub_rest::WebPubSubServiceClient;

const KEY: &str = "bad-input-emulator-key-not-a-secret";
const HUB: &str = "chat";
/// How long "nothing arrives" is watched for, after all cases ran.
const QUIET: Duration = Duration::from_millis(300);

struct Setup {
    emulator: Emulator,
    rest: WebPubSubServiceClient,
    /// In group `g`; must receive nothing.
    watcher: WsClient,
}

async fn setup() -> Setup {
    let (emulator, rest) = support::emulator::start(KEY, HUB).await;
    let watcher = json_client(&rest, "watcher", &["g"], &[]).await;
    Setup {
        emulator,
        rest,
        watcher,
    }
}

fn now() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).expect("a sane clock")
}

/// A JWT over `claims` signed with `key` (HS256 unless told).
fn jwt(claims: &Value, key: &str, alg: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("encodes")
}

/// A token with a forged header: `alg` as given, signed with HS256 anyway (or unsigned).
fn forged(alg: &str, claims: &Value, signed: bool) -> String {
    let head = URL_SAFE_NO_PAD.encode(json!({ "alg": alg, "typ": "JWT" }).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signature = if signed {
        jwt(claims, KEY, Algorithm::HS256)
            .rsplit('.')
            .next()
            .expect("a signature")
            .to_owned()
    } else {
        String::new()
    };
    format!("{head}.{body}.{signature}")
}

#[tokio::test]
async fn bad_client_tokens_open_no_connection() {
    let mut s = setup().await;
    let ws = s.emulator.endpoint().replace("http://", "ws://");
    let hub_url = format!("{ws}/client/hubs/{HUB}");
    let aud = format!("{}/client/hubs/{HUB}", s.emulator.endpoint());
    let port = s.emulator.local_addr().port();
    let claims = |aud: &str, exp: i64| json!({ "sub": "mallory", "aud": aud, "exp": exp, "role": ["webpubsub.sendToGroup", "webpubsub.joinLeaveGroup"] });
    let valid = claims(&aud, now() + 600);
    let cases: Vec<(&str, Option<String>, Option<String>, u16)> = vec![
        ("no token", None, None, 401),
        ("garbage", Some("abc".into()), None, 401),
        ("three empty parts", Some("..".into()), None, 401),
        (
            "alg none, unsigned",
            Some(forged("none", &valid, false)),
            None,
            401,
        ),
        (
            "alg RS256 over an HMAC signature",
            Some(forged("RS256", &valid, true)),
            None,
            401,
        ),
        (
            "another key",
            Some(jwt(&valid, "not-the-key", Algorithm::HS256)),
            None,
            401,
        ),
        (
            "the key with a suffix",
            Some(jwt(&valid, &format!("{KEY}x"), Algorithm::HS256)),
            None,
            401,
        ),
        (
            "expired",
            Some(jwt(&claims(&aud, now() - 600), KEY, Algorithm::HS256)),
            None,
            401,
        ),
        (
            "not yet valid",
            Some(jwt(
                &json!({"sub": "mallory", "aud": aud, "exp": now() + 900, "nbf": now() + 600}),
                KEY,
                Algorithm::HS256,
            )),
            None,
            401,
        ),
        (
            "no exp",
            Some(jwt(
                &json!({"sub": "mallory", "aud": aud}),
                KEY,
                Algorithm::HS256,
            )),
            None,
            401,
        ),
        (
            "no aud",
            Some(jwt(
                &json!({"sub": "mallory", "exp": now() + 600}),
                KEY,
                Algorithm::HS256,
            )),
            None,
            401,
        ),
        (
            "exp as text",
            Some(jwt(
                &json!({"sub": "mallory", "aud": aud, "exp": "9999999999"}),
                KEY,
                Algorithm::HS256,
            )),
            None,
            401,
        ),
        (
            "audience of another hub",
            Some(jwt(
                &claims(&aud.replace("/chat", "/admin"), now() + 600),
                KEY,
                Algorithm::HS256,
            )),
            None,
            401,
        ),
        (
            "audience of a hub with the same prefix",
            Some(jwt(
                &claims(&format!("{aud}2"), now() + 600),
                KEY,
                Algorithm::HS256,
            )),
            None,
            401,
        ),
        (
            "audience of another host",
            Some(jwt(
                &claims(
                    &format!("http://attacker.tld/client/hubs/{HUB}"),
                    now() + 600,
                ),
                KEY,
                Algorithm::HS256,
            )),
            None,
            401,
        ),
        (
            "audience of a look-alike host",
            Some(jwt(
                &claims(
                    &format!("http://127.0.0.1:{port}.attacker.tld/client/hubs/{HUB}"),
                    now() + 600,
                ),
                KEY,
                Algorithm::HS256,
            )),
            None,
            401,
        ),
        (
            "a REST audience",
            Some(jwt(
                &claims(
                    &format!("{}/api/hubs/{HUB}/:send", s.emulator.endpoint()),
                    now() + 600,
                ),
                KEY,
                Algorithm::HS256,
            )),
            None,
            401,
        ),
        (
            "bearer with the Basic scheme",
            None,
            Some("Basic bWFsbG9yeTpwYXNz".into()),
            401,
        ),
        (
            "bearer with a forged token",
            None,
            Some(format!(
                "Bearer {}",
                jwt(&valid, "not-the-key", Algorithm::HS256)
            )),
            401,
        ),
    ];
    assert!(cases.len() >= 15);
    for (name, token, authorization, status) in &cases {
        let url = match token {
            Some(token) => format!("{hub_url}?access_token={token}"),
            None => hub_url.clone(),
        };
        let headers: Vec<(&'static str, &str)> = authorization
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        match WsClient::connect_with(&url, Some(JSON), &headers).await {
            Ok(_) => panic!("{name}: the connection opened"),
            Err(refused) => {
                assert_eq!(refused.status, *status, "{name}: {}", refused.body);
                assert!(
                    refused.body.chars().any(char::is_alphabetic),
                    "{name}: no reason in words"
                );
                if let Some(token) = token
                    && token.len() > 20
                {
                    let signature = token.rsplit('.').next().unwrap_or_default();
                    assert!(
                        signature.is_empty() || !refused.body.contains(signature),
                        "{name}: the refusal repeats the token"
                    );
                }
            }
        }
    }
    // A 32 KiB token is refused before anything is verified (by size or by signature).
    let huge = format!("{hub_url}?access_token={}", "a".repeat(32 * 1024));
    let refused = WsClient::connect(&huge, Some(JSON))
        .await
        .err()
        .expect("refused");
    assert!(refused.status >= 400, "{refused:?}");

    assert!(!s.rest.user_exists("mallory").await.expect("user_exists"));
    assert!(
        s.watcher.is_quiet(QUIET).await,
        "the watcher received something"
    );
    // The control: the same hub URL with a valid token opens.
    let good = jwt(&valid, KEY, Algorithm::HS256);
    WsClient::connect(&format!("{hub_url}?access_token={good}"), Some(JSON))
        .await
        .expect("a valid token opens a connection");
}

#[tokio::test]
async fn bad_rest_requests_do_nothing() {
    let mut s = setup().await;
    let base = s.emulator.endpoint().to_owned();
    let api = "api-version=2024-12-01";
    let send = format!("{base}/api/hubs/{HUB}/:send?{api}");
    let token = |aud: &str, exp: i64, key: &str| {
        jwt(
            &json!({ "aud": aud, "exp": exp, "iat": now() }),
            key,
            Algorithm::HS256,
        )
    };
    let good = |url: &str| format!("Bearer {}", token(url, now() + 600, KEY));
    let add_mallory = format!("{base}/api/hubs/{HUB}/users/mallory/groups/g?{api}");
    let client_token = jwt(
        &json!({ "sub": "mallory", "aud": format!("{base}/client/hubs/{HUB}"), "exp": now() + 600 }),
        KEY,
        Algorithm::HS256,
    );
    let cases: Vec<RestCase<'_>> = vec![
        (
            "no authorization",
            "POST",
            send.clone(),
            Some(String::new()),
            "text/plain",
            b"leak".to_vec(),
            401,
        ),
        (
            "empty bearer",
            "POST",
            send.clone(),
            Some("Bearer ".into()),
            "text/plain",
            b"leak".to_vec(),
            401,
        ),
        (
            "basic scheme",
            "POST",
            send.clone(),
            Some("Basic YTpi".into()),
            "text/plain",
            b"leak".to_vec(),
            401,
        ),
        (
            "garbage token",
            "POST",
            send.clone(),
            Some("Bearer abc.def.ghi".into()),
            "text/plain",
            b"leak".to_vec(),
            401,
        ),
        (
            "expired",
            "POST",
            send.clone(),
            Some(format!("Bearer {}", token(&send, now() - 600, KEY))),
            "text/plain",
            b"leak".to_vec(),
            401,
        ),
        (
            "another key",
            "POST",
            send.clone(),
            Some(format!(
                "Bearer {}",
                token(&send, now() + 600, "not-the-key")
            )),
            "text/plain",
            b"leak".to_vec(),
            401,
        ),
        (
            "alg none",
            "POST",
            send.clone(),
            Some(format!(
                "Bearer {}",
                forged("none", &json!({"aud": send, "exp": now() + 600}), false)
            )),
            "text/plain",
            b"leak".to_vec(),
            401,
        ),
        (
            "audience of another hub",
            "POST",
            send.clone(),
            Some(good(&send.replace("/chat/", "/admin/"))),
            "text/plain",
            b"leak".to_vec(),
            401,
        ),
        (
            "audience of another operation",
            "POST",
            send.clone(),
            Some(good(&format!(
                "{base}/api/hubs/{HUB}/:closeConnections?{api}"
            ))),
            "text/plain",
            b"leak".to_vec(),
            401,
        ),
        (
            "audience of another host",
            "POST",
            send.clone(),
            Some(good(&send.replace("127.0.0.1", "attacker.tld"))),
            "text/plain",
            b"leak".to_vec(),
            401,
        ),
        (
            "a client token replayed to REST",
            "POST",
            send.clone(),
            Some(format!("Bearer {client_token}")),
            "text/plain",
            b"leak".to_vec(),
            401,
        ),
        (
            "token for the send replayed to add a user to a group",
            "PUT",
            add_mallory.clone(),
            Some(good(&send)),
            "text/plain",
            Vec::new(),
            401,
        ),
        (
            "an unsupported content type",
            "POST",
            send.clone(),
            Some(good(&send)),
            "application/xml",
            b"<leak/>".to_vec(),
            415,
        ),
        (
            "invalid JSON declared as JSON",
            "POST",
            send.clone(),
            Some(good(&send)),
            "application/json",
            b"{leak".to_vec(),
            400,
        ),
        (
            "a filter with a syntax error",
            "POST",
            format!("{send}&filter=userId%20eq"),
            None,
            "text/plain",
            b"leak".to_vec(),
            400,
        ),
        (
            "a filter 1000 parentheses deep",
            "POST",
            format!("{send}&filter={}", "(".repeat(1000)),
            None,
            "text/plain",
            b"leak".to_vec(),
            400,
        ),
        (
            "an invalid hub name",
            "POST",
            format!("{base}/api/hubs/bad%20hub/:send?{api}"),
            None,
            "text/plain",
            b"leak".to_vec(),
            400,
        ),
        (
            "an unknown permission",
            "PUT",
            format!("{base}/api/hubs/{HUB}/permissions/admin/connections/c1?{api}"),
            None,
            "text/plain",
            Vec::new(),
            400,
        ),
        (
            "an empty group name",
            "PUT",
            format!("{base}/api/hubs/{HUB}/users/mallory/groups/%20?{api}"),
            None,
            "text/plain",
            Vec::new(),
            400,
        ),
        (
            "a 2 MiB message",
            "POST",
            send.clone(),
            Some(good(&send)),
            "text/plain",
            vec![b'x'; 2 << 20],
            413,
        ),
    ];
    let http = support::layer::client();
    for (name, method, url, authorization, content_type, body, status) in cases {
        // `None`: a valid token for exactly this URL (refused for another reason); "": no header.
        let authorization = authorization.unwrap_or_else(|| good(&url));
        let mut request = http.request(method.parse().expect("method"), &url);
        if !authorization.is_empty() {
            request = request.header("authorization", authorization);
        }
        let response = request
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(got, status, "{name}: {text}");
        assert!(
            text.chars().any(char::is_alphabetic),
            "{name}: no reason in words"
        );
    }
    assert!(
        s.watcher.is_quiet(QUIET).await,
        "the watcher received a refused send"
    );
    assert!(!s.rest.user_exists("mallory").await.expect("user_exists"));
    // The control: a valid send reaches the watcher (so the quiet check above could fail).
    let response = http
        .post(&send)
        .header("authorization", good(&send))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 202);
    assert!(matches!(
        s.watcher.next_frame().await,
        ServerFrame::Message { .. }
    ));
}

/// (name, method, url, Authorization, content type, body, expected status).
type RestCase<'a> = (
    &'a str,
    &'a str,
    String,
    Option<String>,
    &'a str,
    Vec<u8>,
    u16,
);

async fn mallory(s: &Setup, roles: &[ClientRole]) -> WsClient {
    json_client(&s.rest, "mallory", &[], roles).await
}

async fn ack_error(client: &mut WsClient, ack_id: u64) -> Option<AckErrorName> {
    match client.next_frame().await {
        ServerFrame::Ack { ack_id: got, error } => {
            assert_eq!(got, ack_id);
            error.map(|e| e.name)
        }
        other => panic!("expected ack {ack_id}, got {other:?}"),
    }
}

#[tokio::test]
async fn frames_cannot_escalate_and_bad_frames_are_answered_or_closed() {
    let mut s = setup().await;
    let only_a = [ClientRole::group(Permission::JoinLeaveGroup, "a")];
    let mut client = mallory(&s, &only_a).await;
    // (frame, expected ack error): escalation attempts and malformed frames that keep the socket.
    let answered: Vec<(Value, AckErrorName)> = vec![
        (
            json!({"type": "joinGroup", "group": "g", "ackId": 1}),
            AckErrorName::Forbidden,
        ),
        (
            json!({"type": "sendToGroup", "group": "g", "dataType": "text", "data": "leak", "ackId": 2}),
            AckErrorName::Forbidden,
        ),
        (
            json!({"type": "joinGroup", "group": "ab", "ackId": 3}),
            AckErrorName::Forbidden,
        ),
        (
            json!({"type": "joinGroup", "group": "A", "ackId": 4}),
            AckErrorName::Forbidden,
        ),
        (
            json!({"type": "sendToGroup", "group": "a", "dataType": "text", "data": "leak", "ackId": 5}),
            AckErrorName::Forbidden,
        ),
        (
            json!({"type": "leaveGroup", "group": "g", "ackId": 6}),
            AckErrorName::Forbidden,
        ),
        (
            json!({"type": "joinGroup", "ackId": 7}),
            AckErrorName::BadRequest,
        ),
        (
            json!({"type": "joinGroup", "group": "", "ackId": 8}),
            AckErrorName::BadRequest,
        ),
        (
            json!({"type": "sendToGroup", "group": "a", "dataType": "xml", "data": "x", "ackId": 9}),
            AckErrorName::BadRequest,
        ),
        (
            json!({"type": "sendToGroup", "group": "a", "dataType": "binary", "data": "%%%", "ackId": 10}),
            AckErrorName::BadRequest,
        ),
        (
            json!({"type": "grantPermission", "permission": "sendToGroup", "ackId": 11}),
            AckErrorName::BadRequest,
        ),
        (
            json!({"type": "joinGroup", "group": 5, "ackId": 12}),
            AckErrorName::BadRequest,
        ),
    ];
    for (frame, expected) in &answered {
        let ack_id = frame["ackId"].as_u64().expect("ack id");
        client.send_json(frame.clone()).await;
        assert_eq!(
            ack_error(&mut client, ack_id).await.as_ref(),
            Some(expected),
            "{frame}"
        );
    }
    // The allowed join works (the control for the Forbidden answers above).
    client
        .send_json(json!({"type": "joinGroup", "group": "a", "ackId": 20}))
        .await;
    assert_eq!(ack_error(&mut client, 20).await, None);
    assert!(
        s.watcher.is_quiet(QUIET).await,
        "a refused send reached the group"
    );

    // Frames that end the connection, each with its close code.
    let fatal: Vec<(&str, WsMessage, u16)> = vec![
        ("not JSON", WsMessage::text("{leak"), 1002),
        ("a JSON array", WsMessage::text("[1,2]"), 1002),
        ("a JSON string", WsMessage::text("\"joinGroup\""), 1002),
        (
            "an unknown type without an ack id",
            WsMessage::text(r#"{"type":"shutdownServer"}"#),
            1002,
        ),
        (
            "a text frame over 1 MiB",
            WsMessage::text("x".repeat((1 << 20) + 1)),
            1009,
        ),
        (
            "a binary frame over 1 MiB",
            WsMessage::binary(vec![0u8; (1 << 20) + 1]),
            1009,
        ),
        (
            "a text frame that is not UTF-8",
            WsMessage::Frame(Frame::message(
                b"{\"type\":\"\xff\"}".to_vec(),
                OpCode::Data(Data::Text),
                true,
            )),
            1007,
        ),
    ];
    for (name, message, code) in fatal {
        let mut client = mallory(&s, &only_a).await;
        client.send(message).await;
        let (got, reason, _) = client.closed().await;
        assert_eq!(got, Some(code), "{name}: {reason}");
    }
    assert!(
        s.watcher.is_quiet(QUIET).await,
        "the watcher received something"
    );
    // The emulator still serves: the watcher gets a REST send.
    s.rest
        .send_to_group("g", webpubsub_rest::Message::text("still here"))
        .await
        .expect("send");
    assert!(matches!(
        s.watcher.next_frame().await,
        ServerFrame::Message { .. }
    ));
}
