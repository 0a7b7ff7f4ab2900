//! End-to-end tests of the emulator's client endpoint: WebSocket clients (plain, JSON and
//! reliable JSON) and our REST client against an in-process emulator.

mod support;

use std::time::Duration;

use serde_json::json;
use support::ws_client::WsClient;
use webpubsub::emulator::{Emulator, HubSettings};
use webpubsub_protocol::frames::{AckErrorName, FrameData, MessageSource, ServerFrame};
use webpubsub_protocol::token::{ClientRole, Permission};
use webpubsub_rest::{Message, WebPubSubServiceClient};

const JSON: &str = "json.webpubsub.azure.v1";
const RELIABLE: &str = "json.reliable.webpubsub.azure.v1";

async fn emulator() -> Emulator {
    Emulator::builder()
        .key("test-key-for-the-emulator-tests-only")
        .hub(HubSettings::new("open").allow_anonymous(true))
        .start()
        .await
        .expect("emulator starts")
}

fn rest(emulator: &Emulator, hub: &str) -> WebPubSubServiceClient {
    WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), hub)
        .expect("valid connection string")
}

/// A client URL with a token for `user` holding `roles`.
async fn url(
    rest: &WebPubSubServiceClient,
    user: &str,
    roles: &[ClientRole],
    groups: &[&str],
) -> String {
    rest.client_access_token()
        .user_id(user)
        .roles(roles.iter().cloned())
        .groups(groups.iter().copied())
        .await
        .expect("token")
        .url()
        .to_owned()
}

/// Whether `check` holds within a second (it is asked every 20 ms): for effects that follow
/// an action asynchronously, with nothing to wait on.
async fn eventually<F: Future<Output = bool>>(check: impl Fn() -> F) -> bool {
    for _ in 0..50 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Connects a JSON client and reads its `connected` frame; returns the connection id.
async fn connect_json(url: &str, subprotocol: &str) -> (WsClient, String, Option<String>) {
    let mut client = WsClient::connect(url, Some(subprotocol))
        .await
        .expect("connects");
    assert_eq!(client.subprotocol.as_deref(), Some(subprotocol));
    match client.next_frame().await {
        ServerFrame::Connected {
            connection_id,
            reconnection_token,
            ..
        } => (client, connection_id, reconnection_token),
        other => panic!("expected connected, got {other:?}"),
    }
}

async fn ack(client: &mut WsClient, expected_id: u64) -> Option<AckErrorName> {
    match client.next_frame().await {
        ServerFrame::Ack { ack_id, error } => {
            assert_eq!(ack_id, expected_id);
            error.map(|e| e.name)
        }
        other => panic!("expected ack {expected_id}, got {other:?}"),
    }
}

#[tokio::test]
async fn json_clients_join_send_and_receive_with_permissions() {
    let emulator = emulator().await;
    let rest = rest(&emulator, "chat");
    let alice_url = url(
        &rest,
        "alice",
        &[
            ClientRole::group(Permission::JoinLeaveGroup, "room"),
            ClientRole::any_group(Permission::SendToGroup),
        ],
        &[],
    )
    .await;
    let bob_url = url(&rest, "bob", &[], &["room"]).await;
    let (mut alice, _, token) = connect_json(&alice_url, JSON).await;
    assert_eq!(
        token, None,
        "only the reliable protocol has reconnection tokens"
    );
    let (mut bob, bob_id, _) = connect_json(&bob_url, JSON).await;

    alice
        .send_json(json!({"type":"joinGroup","group":"room","ackId":1}))
        .await;
    assert_eq!(ack(&mut alice, 1).await, None);
    alice
        .send_json(json!({"type":"joinGroup","group":"room","ackId":1}))
        .await;
    assert_eq!(ack(&mut alice, 1).await, Some(AckErrorName::Duplicate));
    alice
        .send_json(json!({"type":"joinGroup","group":"elsewhere","ackId":2}))
        .await;
    assert_eq!(ack(&mut alice, 2).await, Some(AckErrorName::Forbidden));

    // Bob joined "room" through his token; he may not send to it.
    bob.send_json(
        json!({"type":"sendToGroup","group":"room","ackId":1,"dataType":"text","data":"hi"}),
    )
    .await;
    assert_eq!(ack(&mut bob, 1).await, Some(AckErrorName::Forbidden));

    alice
        .send_json(json!({"type":"sendToGroup","group":"room","ackId":3,"noEcho":true,"dataType":"json","data":{"n":1}}))
        .await;
    assert_eq!(ack(&mut alice, 3).await, None);
    assert_eq!(
        bob.next_frame().await,
        ServerFrame::Message {
            from: MessageSource::Group {
                group: "room".into(),
                from_user_id: Some("alice".into())
            },
            data: FrameData::Json(json!({"n":1})),
            sequence_id: None,
        }
    );
    assert!(
        alice.is_quiet(Duration::from_millis(200)).await,
        "noEcho keeps the message from its sender"
    );

    // A REST grant lets Bob send.
    rest.grant_permission(webpubsub_rest::Permission::SendToGroup, &bob_id)
        .target_name("room")
        .await
        .expect("grant");
    bob.send_json(
        json!({"type":"sendToGroup","group":"room","ackId":2,"dataType":"binary","data":"AAEC"}),
    )
    .await;
    assert_eq!(ack(&mut bob, 2).await, None);
    let mut seen = Vec::new();
    for client in [&mut alice, &mut bob] {
        match client.next_frame().await {
            ServerFrame::Message { data, .. } => seen.push(data),
            other => panic!("expected a message, got {other:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            FrameData::Binary(vec![0, 1, 2]),
            FrameData::Binary(vec![0, 1, 2])
        ]
    );

    alice
        .send_json(json!({"type":"leaveGroup","group":"room","ackId":4}))
        .await;
    assert_eq!(ack(&mut alice, 4).await, None);
    alice.send_json(json!({"type":"ping"})).await;
    assert_eq!(alice.next_frame().await, ServerFrame::Pong);

    // REST sends arrive as server messages with their data type.
    rest.send_to_all(Message::text("to all"))
        .await
        .expect("send");
    for client in [&mut alice, &mut bob] {
        assert_eq!(
            client.next_frame().await,
            ServerFrame::Message {
                from: MessageSource::Server,
                data: FrameData::Text("to all".into()),
                sequence_id: None
            }
        );
    }
}

#[tokio::test]
async fn tokens_are_checked() {
    let emulator = emulator().await;
    let chat = rest(&emulator, "chat");
    let endpoint = emulator.endpoint().replace("http://", "ws://");

    let refused = WsClient::connect(&format!("{endpoint}/client/hubs/chat"), None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("no access token"), "{}", refused.body);

    let refused = WsClient::connect(
        &format!("{endpoint}/client/hubs/chat?access_token=garbage"),
        None,
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("malformed"), "{}", refused.body);

    // A token for another hub.
    let other = url(&rest(&emulator, "other"), "u", &[], &[]).await;
    let refused = WsClient::connect(&other.replace("/hubs/other", "/hubs/chat"), None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("audience"), "{}", refused.body);

    // A token signed with another key.
    let forged = WebPubSubServiceClient::from_connection_string(
        &format!(
            "Endpoint={};AccessKey=not-the-key;Version=1.0;",
            emulator.endpoint()
        ),
        "chat",
    )
    .unwrap();
    let refused = WsClient::connect(&url(&forged, "u", &[], &[]).await, None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("signature"), "{}", refused.body);

    // The hub-path form, the query form and a bearer header all work.
    let good = url(&chat, "u", &[], &[]).await;
    WsClient::connect(&good, None)
        .await
        .expect("token accepted");
    let token = good.split("access_token=").nth(1).unwrap();
    let bearer = format!("Bearer {token}");
    WsClient::connect_with(
        &format!("{endpoint}/client/hubs/chat"),
        None,
        &[("authorization", &bearer)],
    )
    .await
    .expect("bearer token accepted");
    WsClient::connect(
        &format!("{endpoint}/client/?hub=chat&access_token={token}"),
        None,
    )
    .await
    .expect("query form accepted");

    // Anonymous clients only where allowed.
    WsClient::connect(&format!("{endpoint}/client/hubs/open"), None)
        .await
        .expect("anonymous allowed");
    let refused = WsClient::connect(&format!("{endpoint}/client/hubs/bad%20hub"), None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 400);
}

#[tokio::test]
async fn plain_clients_get_group_messages_as_raw_frames() {
    let emulator = emulator().await;
    let rest = rest(&emulator, "chat");
    let mut plain = WsClient::connect(&url(&rest, "p", &[], &["news"]).await, None)
        .await
        .expect("connects");
    assert_eq!(plain.subprotocol, None);
    rest.send_to_group("news", Message::text("hello"))
        .await
        .expect("send");
    rest.send_to_group("news", Message::json(&json!({"a":1})).unwrap())
        .await
        .expect("send");
    rest.send_to_group("news", Message::binary(vec![9u8, 8]))
        .await
        .expect("send");
    use tokio_tungstenite::tungstenite::Message as Ws;
    assert_eq!(plain.next_message().await, Ws::text("hello"));
    assert_eq!(plain.next_message().await, Ws::text(r#"{"a":1}"#));
    assert_eq!(plain.next_message().await, Ws::binary(vec![9u8, 8]));
}

#[tokio::test]
async fn invalid_and_oversized_frames_close_the_connection() {
    let emulator = emulator().await;
    let rest = rest(&emulator, "chat");
    let url = url(&rest, "u", &[], &[]).await;

    let (mut client, _, _) = connect_json(&url, JSON).await;
    // Valid JSON with an ack id but a bad shape is answered, not fatal.
    client
        .send_json(json!({"type":"joinGroup","ackId":7}))
        .await;
    assert_eq!(ack(&mut client, 7).await, Some(AckErrorName::BadRequest));
    client.send_text("this is not json").await;
    let (code, reason, before) = client.closed().await;
    assert_eq!(code, Some(1002), "{reason}");
    assert_eq!(
        before.len(),
        1,
        "a disconnected frame comes first: {before:?}"
    );

    let (mut client, _, _) = connect_json(&url, JSON).await;
    client
        .send_json(json!({"type":"event","event":"big","dataType":"text","data":"x".repeat((1 << 20) + 10)}))
        .await;
    let (code, reason, _) = client.closed().await;
    assert_eq!(code, Some(1009), "{reason}");
}

#[tokio::test]
async fn rest_closes_reach_the_client() {
    let emulator = emulator().await;
    let rest = rest(&emulator, "chat");
    let (mut client, id, _) = connect_json(&url(&rest, "u", &[], &[]).await, JSON).await;
    assert!(rest.connection_exists(&id).await.unwrap());
    rest.close_connection(&id)
        .reason("bye now")
        .await
        .expect("close");
    let (code, _, before) = client.closed().await;
    assert_eq!(code, Some(1000));
    let [tokio_tungstenite::tungstenite::Message::Text(text)] = before.as_slice() else {
        panic!("expected one disconnected frame, got {before:?}")
    };
    assert_eq!(
        ServerFrame::parse(text).unwrap(),
        ServerFrame::Disconnected {
            message: "bye now".into()
        }
    );
    assert!(!rest.connection_exists(&id).await.unwrap());
}

#[tokio::test]
async fn reliable_clients_recover_without_losing_messages() {
    let emulator = emulator().await;
    let rest = rest(&emulator, "chat");
    let url = url(&rest, "r", &[], &["room"]).await;
    let (mut client, id, token) = connect_json(&url, RELIABLE).await;
    let token = token.expect("reliable clients get a reconnection token");

    for n in 1..=3 {
        rest.send_to_group("room", Message::text(format!("m{n}")))
            .await
            .unwrap();
    }
    let mut received = Vec::new();
    for _ in 0..3 {
        received.push(client.next_frame().await);
    }
    // Acknowledge the first two only, then lose the socket.
    client
        .send_json(json!({"type":"sequenceAck","sequenceId":2}))
        .await;
    client.send_json(json!({"type":"ping"})).await;
    assert_eq!(
        client.next_frame().await,
        ServerFrame::Pong,
        "the ack was processed before the drop"
    );
    client.drop_abruptly();

    // Messages sent while the client is away are kept.
    for n in 4..=5 {
        rest.send_to_group("room", Message::text(format!("m{n}")))
            .await
            .unwrap();
    }
    assert!(
        rest.connection_exists(&id).await.unwrap(),
        "the connection waits for recovery"
    );

    let bad = format!("{url}&awps_connection_id={id}&awps_reconnection_token=wrong");
    let mut refused = WsClient::connect(&bad, Some(RELIABLE))
        .await
        .expect("upgrade then close");
    assert_eq!(refused.closed().await.0, Some(1008));

    let recover = format!("{url}&awps_connection_id={id}&awps_reconnection_token={token}");
    let mut client = WsClient::connect(&recover, Some(RELIABLE))
        .await
        .expect("recovers");
    match client.next_frame().await {
        ServerFrame::Connected { connection_id, .. } => assert_eq!(connection_id, id),
        other => panic!("expected connected, got {other:?}"),
    }
    for _ in 0..3 {
        received.push(client.next_frame().await);
    }
    let texts: Vec<(u64, String)> = received
        .into_iter()
        .map(|frame| match frame {
            ServerFrame::Message {
                data: FrameData::Text(text),
                sequence_id: Some(id),
                ..
            } => (id, text),
            other => panic!("unexpected frame {other:?}"),
        })
        .collect();
    // m3 was unacknowledged, so it is sent again; the client drops the duplicate by its id.
    let expected: Vec<(u64, String)> = [1, 2, 3, 3, 4, 5]
        .into_iter()
        .map(|n| (n, format!("m{n}")))
        .collect();
    assert_eq!(texts, expected);

    // An unknown connection cannot be recovered.
    let unknown = format!("{url}&awps_connection_id=nope&awps_reconnection_token={token}");
    let mut refused = WsClient::connect(&unknown, Some(RELIABLE))
        .await
        .expect("upgrade then close");
    assert_eq!(refused.closed().await.0, Some(1008));
}

#[tokio::test]
async fn a_slow_client_is_dropped_and_others_keep_receiving() {
    let emulator = Emulator::builder().start().await.unwrap();
    let rest = rest(&emulator, "chat");
    // The slow client never reads; the fast one reads everything.
    let (slow, slow_id, _) = connect_json(&url(&rest, "slow", &[], &["g"]).await, JSON).await;
    let (mut fast, _, _) = connect_json(&url(&rest, "fast", &[], &["g"]).await, JSON).await;
    let payload = "x".repeat(16 * 1024);
    // Enough to fill the slow client's socket buffers and then its queue of 1024 messages.
    let total = 3000;
    let reader = tokio::spawn(async move {
        let mut count = 0;
        while count < total {
            if let ServerFrame::Message { .. } = fast.next_frame().await {
                count += 1;
            }
        }
        count
    });
    for _ in 0..total {
        rest.send_to_group("g", Message::text(payload.clone()))
            .await
            .unwrap();
    }
    let count = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the fast client kept up")
        .unwrap();
    assert_eq!(count, total);
    assert!(
        !rest.connection_exists(&slow_id).await.unwrap(),
        "the slow client was dropped"
    );
    drop(slow);
}

#[tokio::test]
async fn shutdown_closes_clients_and_stops_listening() {
    let emulator = emulator().await;
    let rest = rest(&emulator, "chat");
    let (mut json_client, _, _) = connect_json(&url(&rest, "u", &[], &[]).await, JSON).await;
    let address = emulator.local_addr();
    emulator.shutdown().await;
    let (code, _, before) = json_client.closed().await;
    assert_eq!(code, Some(1001));
    assert_eq!(before.len(), 1, "a disconnected frame first: {before:?}");
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "nothing listens any more"
    );

    // Dropping the handle stops it too.
    let emulator = Emulator::builder().start().await.unwrap();
    let address = emulator.local_addr();
    drop(emulator);
    assert!(
        eventually(|| async move { tokio::net::TcpStream::connect(address).await.is_err() }).await,
        "the listener closed after drop"
    );
}

#[tokio::test]
async fn a_client_close_is_answered_and_ends_the_connection() {
    let emulator = emulator().await;
    let rest = rest(&emulator, "chat");
    let (mut client, id, _) = connect_json(&url(&rest, "u", &[], &[]).await, RELIABLE).await;
    use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
    let normal = CloseFrame {
        code: CloseCode::Normal,
        reason: "done".into(),
    };
    client
        .send(tokio_tungstenite::tungstenite::Message::Close(Some(normal)))
        .await;
    let (code, _, _) = client.closed().await;
    assert_eq!(code, Some(1000), "the server answered the close handshake");
    // A clean close is not a drop: there is nothing to recover.
    let (rest, id) = (&rest, &id);
    assert!(
        eventually(|| async move { !rest.connection_exists(id).await.unwrap() }).await,
        "the connection ended at once"
    );
}

#[tokio::test]
async fn events_nobody_handles() {
    let emulator = emulator().await;
    let rest = rest(&emulator, "chat");
    let url = url(&rest, "u", &[], &[]).await;
    // A JSON client's event is accepted, like a send to an empty group.
    let (mut client, _, _) = connect_json(&url, JSON).await;
    client
        .send_json(json!({"type":"event","event":"e","ackId":1,"dataType":"text","data":"x"}))
        .await;
    assert_eq!(ack(&mut client, 1).await, None);
    // A binary frame is not part of the JSON subprotocols.
    client
        .send(tokio_tungstenite::tungstenite::Message::binary(vec![1u8]))
        .await;
    assert_eq!(client.closed().await.0, Some(1002));
    // A plain client's message needs a handler: the service drops the client without one.
    let mut plain = WsClient::connect(&url, None).await.unwrap();
    plain.send_text("anyone?").await;
    let (code, reason, _) = plain.closed().await;
    assert_eq!(code, Some(1011));
    assert!(reason.contains("no event handler"), "{reason}");
}
