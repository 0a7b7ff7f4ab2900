//! The emulator's REST API end to end: our REST client (and raw signed requests) against an
//! in-process emulator, observed through real WebSocket clients on `json.webpubsub.azure.v1`.
//!
//! "Nothing else arrived" is checked without sleeping: after the expected frames, a marker is
//! sent to the connection alone, and it must be the very next frame (one queue per connection
//! keeps the order).

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message as WsMessage, client::IntoClientRequest, http::HeaderValue},
};
use webpubsub_emulator::Emulator;
use webpubsub_protocol::{filter::Filter, token::RestTokenClaims};
use webpubsub_rest::{Message, Permission, WebPubSubServiceClient};

const KEY: &str = "emulator-rest-tests-key-0123456789ABCDEFGH";
const HUB: &str = "chat";
const WAIT: Duration = Duration::from_secs(10);

async fn emulator() -> (Emulator, WebPubSubServiceClient) {
    let emulator = Emulator::builder()
        .key(KEY)
        .start()
        .await
        .expect("the emulator starts");
    let client = WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), HUB)
        .expect("a REST client");
    (emulator, client)
}

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    id: String,
}

impl Client {
    /// Connects a `json.webpubsub.azure.v1` client with a token minted by our REST client.
    async fn connect(
        rest: &WebPubSubServiceClient,
        user: Option<&str>,
        roles: &[&str],
        groups: &[&str],
    ) -> Self {
        let mut token = rest
            .client_access_token()
            .roles(roles.iter().copied())
            .groups(groups.iter().copied());
        if let Some(user) = user {
            token = token.user_id(user);
        }
        let token = token.await.expect("a client token");
        Self::connect_url(token.url()).await
    }

    async fn connect_url(url: &str) -> Self {
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("json.webpubsub.azure.v1"),
        );
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("connected within the wait")
            .expect("the WebSocket handshake succeeds");
        let mut client = Self {
            ws,
            id: String::new(),
        };
        let connected = client.next_json().await;
        assert_eq!(
            (connected["type"].as_str(), connected["event"].as_str()),
            (Some("system"), Some("connected"))
        );
        client.id = connected["connectionId"]
            .as_str()
            .expect("a connection id")
            .to_owned();
        client
    }

    async fn next_frame(&mut self) -> WsMessage {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame within the wait")
                .expect("the socket is open")
                .expect("a valid frame");
            if !matches!(frame, WsMessage::Ping(_) | WsMessage::Pong(_)) {
                return frame;
            }
        }
    }

    async fn next_json(&mut self) -> Value {
        match self.next_frame().await {
            WsMessage::Text(text) => serde_json::from_str(&text).expect("a JSON frame"),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The `data` of the next `message` frames.
    async fn messages(&mut self, count: usize) -> Vec<Value> {
        let mut items = Vec::new();
        for _ in 0..count {
            let frame = self.next_json().await;
            assert_eq!(frame["type"], "message", "{frame}");
            items.push(frame["data"].clone());
        }
        items
    }

    /// Proves nothing else was queued: a marker sent to this connection alone comes next.
    async fn assert_nothing_else(&mut self, rest: &WebPubSubServiceClient) {
        rest.send_to_connection(&self.id, "marker").await.unwrap();
        assert_eq!(
            self.messages(1).await,
            ["marker"],
            "connection {} got an unexpected message",
            self.id
        );
    }

    async fn send_json(&mut self, value: Value) {
        self.ws
            .send(WsMessage::Text(value.to_string().into()))
            .await
            .unwrap();
    }

    /// The `disconnected` frame and the close frame of a server-side close.
    async fn expect_closed(&mut self, reason: &str) {
        let bye = self.next_json().await;
        assert_eq!(
            (bye["type"].as_str(), bye["event"].as_str()),
            (Some("system"), Some("disconnected")),
            "{bye}"
        );
        assert_eq!(bye["message"], reason);
        match self.next_frame().await {
            WsMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1000),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn every_send_target_with_excluded_and_filters() {
    let (_emulator, rest) = emulator().await;
    let mut a1 = Client::connect(&rest, Some("alice"), &[], &["room"]).await;
    let mut a2 = Client::connect(&rest, Some("alice"), &[], &[]).await;
    let mut b = Client::connect(&rest, Some("bob"), &[], &["room"]).await;

    rest.send_to_all("all but a2")
        .excluded([a2.id.as_str()])
        .await
        .unwrap();
    rest.send_to_user("ALICE", "nobody").await.unwrap();
    rest.send_to_user("alice", "alice without room")
        .filter(!Filter::in_group("room"))
        .await
        .unwrap();
    rest.send_to_connection(&b.id, "only b").await.unwrap();
    rest.send_to_group("room", "room but b")
        .excluded([b.id.as_str()])
        .await
        .unwrap();
    rest.send_to_group("room", "room bob")
        .filter(Filter::user_id().eq("BOB"))
        .await
        .unwrap();
    rest.send_to_all("filtered")
        .filter(
            Filter::user_id()
                .starts_with("al")
                .and(Filter::in_group("room")),
        )
        .await
        .unwrap();
    rest.send_to_group("empty", "to nobody").await.unwrap();
    rest.send_to_connection("no-such-connection", "dropped")
        .await
        .unwrap();

    assert_eq!(
        a1.messages(3).await,
        ["all but a2", "room but b", "filtered"]
    );
    assert_eq!(a2.messages(1).await, ["alice without room"]);
    assert_eq!(b.messages(3).await, ["all but a2", "only b", "room bob"]);
    for client in [&mut a1, &mut a2, &mut b] {
        client.assert_nothing_else(&rest).await;
    }
}

#[tokio::test]
async fn payloads_arrive_with_their_data_type_and_origin() {
    let (_emulator, rest) = emulator().await;
    let mut c = Client::connect(&rest, None, &[], &["g"]).await;
    rest.send_to_all("text").await.unwrap();
    rest.send_to_all(Message::json(&json!({"n": 1})).unwrap())
        .await
        .unwrap();
    rest.send_to_all(Message::binary(vec![0_u8, 1, 255]))
        .await
        .unwrap();
    rest.send_to_group("g", Message::json(&"hi").unwrap())
        .await
        .unwrap();
    let frames = [
        c.next_json().await,
        c.next_json().await,
        c.next_json().await,
        c.next_json().await,
    ];
    let summary: Vec<Value> = frames
        .iter()
        .map(|f| json!([f["from"], f["group"], f["dataType"], f["data"]]))
        .collect();
    assert_eq!(
        summary,
        [
            json!(["server", null, "text", "text"]),
            json!(["server", null, "json", {"n": 1}]),
            json!(["server", null, "binary", "AAH/"]),
            json!(["group", "g", "json", "hi"]),
        ]
    );
}

#[tokio::test]
async fn group_membership_through_rest() {
    let (_emulator, rest) = emulator().await;
    let mut c1 = Client::connect(&rest, Some("u1"), &[], &[]).await;
    let mut c2 = Client::connect(&rest, Some("u1"), &[], &[]).await;
    let mut c3 = Client::connect(&rest, Some("listener-3"), &[], &[]).await;

    assert!(!rest.group_exists("g").await.unwrap());
    rest.add_connection_to_group("g", &c1.id).await.unwrap();
    assert!(rest.group_exists("g").await.unwrap());
    rest.send_to_group("g", "g1").await.unwrap();
    assert_eq!(c1.messages(1).await, ["g1"]);

    let missing = rest
        .add_connection_to_group("g", "missing")
        .await
        .unwrap_err();
    assert_eq!(missing.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(missing.error_code(), Some("Error.Connection.NotExisted"));
    let no_user = rest.add_user_to_group("g", "ghost").await.unwrap_err();
    assert_eq!(no_user.status().map(|s| s.as_u16()), Some(404));

    rest.add_user_to_group("g", "u1").await.unwrap();
    rest.send_to_group("g", "g2").await.unwrap();
    assert_eq!(c1.messages(1).await, ["g2"]);
    assert_eq!(c2.messages(1).await, ["g2"]);
    rest.remove_connection_from_group("g", &c1.id)
        .await
        .unwrap();
    rest.send_to_group("g", "g3").await.unwrap();
    assert_eq!(c2.messages(1).await, ["g3"]);
    rest.remove_user_from_group("g", "u1").await.unwrap();
    assert!(!rest.group_exists("g").await.unwrap());

    rest.add_connections_to_groups(["a", "b"], Filter::user_id().starts_with("listener-"))
        .await
        .unwrap();
    rest.add_connection_to_group("a", &c1.id).await.unwrap();
    let members: Vec<String> = rest
        .list_connections_in_group("a")
        .max_page_size(1)
        .into_stream()
        .map(|member| member.unwrap().connection_id)
        .collect()
        .await;
    let mut expected = vec![c1.id.clone(), c3.id.clone()];
    expected.sort();
    assert_eq!(members, expected, "every member, one page at a time");
    rest.remove_connections_from_groups(["a"], "")
        .await
        .unwrap();
    assert!(!rest.group_exists("a").await.unwrap() && rest.group_exists("b").await.unwrap());
    rest.remove_connection_from_all_groups(&c3.id)
        .await
        .unwrap();
    assert!(!rest.group_exists("b").await.unwrap());
    rest.add_user_to_group("c", "u1").await.unwrap();
    rest.remove_user_from_all_groups("u1").await.unwrap();
    assert!(!rest.group_exists("c").await.unwrap());

    for client in [&mut c1, &mut c2, &mut c3] {
        client.assert_nothing_else(&rest).await;
    }
}

/// Whether REST says the connection may join or leave `group`.
async fn may_join(rest: &WebPubSubServiceClient, connection_id: &str, group: &str) -> bool {
    rest.check_permission(Permission::JoinLeaveGroup, connection_id)
        .target_name(group)
        .await
        .unwrap()
}

#[tokio::test]
async fn permissions_granted_through_rest_let_a_client_join_and_send() {
    let (_emulator, rest) = emulator().await;
    let mut c = Client::connect(&rest, Some("u"), &[], &[]).await;
    let mut listener = Client::connect(&rest, None, &[], &["g"]).await;

    c.send_json(json!({"type": "joinGroup", "group": "g", "ackId": 1}))
        .await;
    let ack = c.next_json().await;
    assert_eq!(
        (ack["success"].as_bool(), ack["error"]["name"].as_str()),
        (Some(false), Some("Forbidden")),
        "{ack}"
    );
    assert!(!may_join(&rest, &c.id, "g").await);

    rest.grant_permission(Permission::JoinLeaveGroup, &c.id)
        .target_name("g")
        .await
        .unwrap();
    rest.grant_permission(Permission::SendToGroup, &c.id)
        .target_name("g")
        .await
        .unwrap();
    assert!(may_join(&rest, &c.id, "g").await);
    assert!(!may_join(&rest, &c.id, "h").await);
    c.send_json(json!({"type": "joinGroup", "group": "g", "ackId": 2}))
        .await;
    assert_eq!(c.next_json().await["success"], true);
    c.send_json(json!({"type": "sendToGroup", "group": "g", "ackId": 3, "noEcho": true, "dataType": "text", "data": "from c"}))
        .await;
    assert_eq!(c.next_json().await["success"], true);
    let got = listener.next_json().await;
    assert_eq!(
        (
            got["from"].as_str(),
            got["fromUserId"].as_str(),
            got["data"].as_str()
        ),
        (Some("group"), Some("u"), Some("from c"))
    );

    rest.revoke_permission(Permission::JoinLeaveGroup, &c.id)
        .target_name("g")
        .await
        .unwrap();
    assert!(!may_join(&rest, &c.id, "g").await);
    c.send_json(json!({"type": "leaveGroup", "group": "g", "ackId": 4}))
        .await;
    assert_eq!(c.next_json().await["error"]["name"], "Forbidden");
    c.assert_nothing_else(&rest).await;
}

#[tokio::test]
async fn close_operations_disconnect_clients() {
    let (_emulator, rest) = emulator().await;
    let mut a = Client::connect(&rest, Some("u1"), &[], &["g"]).await;
    let mut b = Client::connect(&rest, Some("u1"), &[], &["g"]).await;
    let mut c = Client::connect(&rest, Some("u2"), &[], &[]).await;
    let mut d = Client::connect(&rest, None, &[], &[]).await;

    assert!(rest.connection_exists(&a.id).await.unwrap());
    assert!(rest.user_exists("u1").await.unwrap());
    rest.close_group_connections("g")
        .excluded([b.id.as_str()])
        .reason("group closed")
        .await
        .unwrap();
    a.expect_closed("group closed").await;
    assert!(!rest.connection_exists(&a.id).await.unwrap());

    rest.close_user_connections("u1")
        .reason("user closed")
        .await
        .unwrap();
    b.expect_closed("user closed").await;
    assert!(!rest.user_exists("u1").await.unwrap());

    rest.close_connection(&c.id)
        .reason("just you")
        .await
        .unwrap();
    c.expect_closed("just you").await;

    rest.close_all_connections()
        .excluded([d.id.as_str()])
        .await
        .unwrap();
    d.assert_nothing_else(&rest).await;
    rest.close_all_connections()
        .reason("everyone")
        .await
        .unwrap();
    d.expect_closed("everyone").await;
    assert!(!rest.connection_exists(&d.id).await.unwrap());
}

fn raw_token(aud: &str, exp_offset: i64, key: &str) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = RestTokenClaims::new(aud, now, 60);
    claims.exp = now.saturating_add_signed(exp_offset);
    support::token::sign(key, &claims)
}

/// A plain reqwest client. Building a `WebPubSubServiceClient` (done first by every test)
/// installed the ring provider that reqwest, built without one, needs.
fn http() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn errors_have_the_service_contract_and_bad_tokens_are_refused() {
    let (emulator, rest) = emulator().await;
    let bad_filter = rest
        .send_to_all("x")
        .filter(Filter::raw("userId eq"))
        .await
        .unwrap_err();
    assert_eq!(bad_filter.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(bad_filter.error_code(), Some("Error.BadRequest"));
    let detail = bad_filter.detail().expect("an ErrorDetail body");
    assert_eq!(detail.code.as_deref(), Some("Error.BadRequest"));
    assert!(
        detail.message.as_deref().unwrap().contains("position 9"),
        "{detail:?}"
    );

    let wrong_key = WebPubSubServiceClient::builder(emulator.endpoint(), HUB)
        .access_key("not-the-emulator-key")
        .build()
        .unwrap();
    let refused = wrong_key.send_to_all("x").await.unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(401));

    let url = format!(
        "{}/api/hubs/{HUB}/:send?api-version=2024-12-01",
        emulator.endpoint()
    );
    let http = http();
    for (token, expected) in [
        (raw_token(&url, -600, KEY), Some("expired")),
        (
            raw_token(&url.replace("/chat/", "/other/"), 300, KEY),
            Some("audience"),
        ),
        (raw_token(&url.replace("http://", "wss://"), 300, KEY), None),
    ] {
        let response = http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .await
            .unwrap();
        match expected {
            None => assert_eq!(
                response.status(),
                202,
                "the scheme of the audience is ignored"
            ),
            Some(reason) => {
                assert_eq!(response.status(), 401);
                assert_eq!(response.headers()["x-ms-error-code"], "Error.Unauthorized");
                let body: Value = response.json().await.unwrap();
                assert!(body["message"].as_str().unwrap().contains(reason), "{body}");
            }
        }
    }
    let xml = http
        .post(&url)
        .bearer_auth(raw_token(&url, 300, KEY))
        .header("content-type", "application/xml")
        .body("<a/>")
        .send()
        .await
        .unwrap();
    assert_eq!(xml.status(), 415);
}

#[tokio::test]
async fn generate_token_mints_a_token_that_connects() {
    let (emulator, rest) = emulator().await;
    let url = format!(
        "{}/api/hubs/{HUB}/:generateToken?api-version=2024-12-01&userId=minted&group=g&minutesToExpire=5",
        emulator.endpoint()
    );
    let response = http()
        .post(&url)
        .bearer_auth(raw_token(&url, 300, KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().expect("a token");
    let ws_url = format!(
        "{}/client/hubs/{HUB}?access_token={token}",
        emulator.endpoint().replacen("http", "ws", 1)
    );
    let mut client = Client::connect_url(&ws_url).await;
    rest.send_to_user("minted", "for the minted user")
        .await
        .unwrap();
    rest.send_to_group("g", "for the token's group")
        .await
        .unwrap();
    assert_eq!(
        client.messages(2).await,
        ["for the minted user", "for the token's group"]
    );
}
