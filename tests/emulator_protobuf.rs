//! The emulator's protobuf subprotocols on the wire, with a raw WebSocket client:
//! `protobuf.webpubsub.azure.v1` and `protobuf.reliable.webpubsub.azure.v1` frames are binary
//! `UpstreamMessage`s and `DownstreamMessage`s; protobuf data (an encoded `google.protobuf.Any`)
//! reaches protobuf, JSON and plain clients in their own forms, the same bytes; bad frames are
//! answered or closed with a reason; a reliable protobuf connection is recovered on its own
//! subprotocol. (The Rust client's feature tests on all four subprotocols are in tests/client.rs.)

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use support::ws_client::WsClient;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use webpubsub::emulator::Emulator;
use webpubsub_protocol::frames::{
    AckErrorName, ClientFrame, FrameData, MessageSource, ServerFrame,
};
use webpubsub_protocol::token::{ClientRole, Permission};
use webpubsub_rest::{Message, WebPubSubServiceClient};

const PROTOBUF: &str = "protobuf.webpubsub.azure.v1";
const PROTOBUF_RELIABLE: &str = "protobuf.reliable.webpubsub.azure.v1";
const JSON: &str = "json.webpubsub.azure.v1";

/// `Any.pack(TestMessage { value: 1 })` from the protobuf subprotocol reference.
fn any() -> Vec<u8> {
    let mut any = vec![0x0a, 0x2f];
    any.extend_from_slice(b"type.googleapis.com/azure.webpubsub.TestMessage");
    any.extend_from_slice(&[0x12, 0x02, 0x08, 0x01]);
    any
}

async fn setup() -> (Emulator, WebPubSubServiceClient) {
    support::emulator::start("key-for-the-protobuf-tests", "chat").await
}

async fn url(rest: &WebPubSubServiceClient, user: &str, groups: &[&str]) -> String {
    rest.client_access_token()
        .user_id(user)
        .roles([
            ClientRole::any_group(Permission::JoinLeaveGroup),
            ClientRole::any_group(Permission::SendToGroup),
        ])
        .groups(groups.iter().copied())
        .await
        .unwrap()
        .url()
        .to_owned()
}

/// Connects with `subprotocol` and reads the `connected` frame of its format.
async fn connect(url: &str, subprotocol: Option<&str>) -> (WsClient, Option<ServerFrame>) {
    let mut client = WsClient::connect(url, subprotocol).await.expect("connects");
    assert_eq!(client.subprotocol.as_deref(), subprotocol);
    let connected = match subprotocol {
        Some(JSON) => Some(client.next_frame().await),
        Some(_) => Some(client.next_protobuf_frame().await),
        None => None,
    };
    (client, connected)
}

#[tokio::test]
async fn protobuf_frames_and_data_across_subprotocols() {
    let (_emulator, rest) = setup().await;
    let (mut proto, connected) =
        connect(&url(&rest, "pia", &[]).await, Some(PROTOBUF_RELIABLE)).await;
    match connected {
        Some(ServerFrame::Connected {
            user_id,
            reconnection_token,
            ..
        }) => {
            assert_eq!(user_id.as_deref(), Some("pia"));
            assert!(reconnection_token.is_some(), "reliable: a token");
        }
        other => panic!("{other:?}"),
    }
    let (mut json, _) = connect(&url(&rest, "jo", &["room"]).await, Some(JSON)).await;
    let (mut plain, _) = connect(&url(&rest, "raw", &["room"]).await, None).await;

    proto
        .send_protobuf(&ClientFrame::JoinGroup {
            group: "room".into(),
            ack_id: Some(1),
        })
        .await;
    assert_eq!(
        proto.next_protobuf_frame().await,
        ServerFrame::Ack {
            ack_id: 1,
            error: None
        }
    );
    proto
        .send_protobuf(&ClientFrame::SendToGroup {
            group: "room".into(),
            ack_id: Some(2),
            no_echo: false,
            data: FrameData::Protobuf(any()),
        })
        .await;
    // The sender gets its own message (numbered) and its ack.
    let mut frames = vec![
        proto.next_protobuf_frame().await,
        proto.next_protobuf_frame().await,
    ];
    frames.sort_by_key(|f| matches!(f, ServerFrame::Ack { .. }));
    assert_eq!(
        frames,
        [
            ServerFrame::Message {
                from: MessageSource::Group {
                    group: "room".into(),
                    from_user_id: None
                },
                data: FrameData::Protobuf(any()),
                sequence_id: Some(1),
            },
            ServerFrame::Ack {
                ack_id: 2,
                error: None
            },
        ]
    );
    // A JSON client gets dataType protobuf with the Any in base64, as the reference shows.
    match json.next_message().await {
        WsMessage::Text(text) => assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            serde_json::json!({"type": "message", "from": "group", "group": "room",
                "fromUserId": "pia", "dataType": "protobuf", "data": BASE64.encode(any())})
        ),
        other => panic!("{other:?}"),
    }
    // A plain client gets the Any's bytes as a binary frame.
    assert_eq!(plain.next_message().await, WsMessage::binary(any()));

    // JSON data from a JSON client reaches the protobuf client as json_data.
    json.send_json(serde_json::json!({"type": "sendToGroup", "group": "room",
        "dataType": "json", "data": {"k": [1]}}))
        .await;
    match proto.next_protobuf_frame().await {
        ServerFrame::Message {
            data, sequence_id, ..
        } => {
            assert_eq!(data, FrameData::Json(serde_json::json!({"k": [1]})));
            assert_eq!(sequence_id, Some(2));
        }
        other => panic!("{other:?}"),
    }
    // REST sends arrive in their data type.
    rest.send_to_all(Message::binary(vec![7u8])).await.unwrap();
    match proto.next_protobuf_frame().await {
        ServerFrame::Message {
            from: MessageSource::Server,
            data,
            sequence_id: Some(3),
        } => assert_eq!(data, FrameData::Binary(vec![7])),
        other => panic!("{other:?}"),
    }

    // Ping is answered with pong.
    proto.send_protobuf(&ClientFrame::Ping).await;
    assert_eq!(proto.next_protobuf_frame().await, ServerFrame::Pong);

    // A frame the service cannot take but whose ack id is readable is refused with BadRequest:
    // join_group_message { ack_id = 9 } without a group; protobuf data that is not an Any.
    proto
        .send(WsMessage::binary(vec![0x32, 0x02, 0x10, 0x09]))
        .await;
    match proto.next_protobuf_frame().await {
        ServerFrame::Ack {
            ack_id: 9,
            error: Some(error),
        } => {
            assert_eq!(error.name, AckErrorName::BadRequest);
            assert!(error.message.contains("group"), "{}", error.message);
        }
        other => panic!("{other:?}"),
    }
    proto
        .send_protobuf(&ClientFrame::Event {
            event: "e".into(),
            ack_id: Some(10),
            data: FrameData::Protobuf(vec![0x0a, 0x05, b'x']),
        })
        .await;
    match proto.next_protobuf_frame().await {
        ServerFrame::Ack {
            ack_id: 10,
            error: Some(error),
        } => assert!(error.message.contains("Any"), "{}", error.message),
        other => panic!("{other:?}"),
    }
    // A text frame is not part of the protobuf subprotocols: disconnected, then 1002.
    proto.send_text(r#"{"type":"ping"}"#).await;
    let (code, reason, before) = proto.closed().await;
    assert_eq!(code, Some(1002));
    assert!(reason.contains("text frames"), "{reason}");
    match before.as_slice() {
        [WsMessage::Binary(bytes)] => assert!(matches!(
            ServerFrame::from_protobuf(bytes).unwrap(),
            ServerFrame::Disconnected { .. }
        )),
        other => panic!("{other:?}"),
    }

    // Bytes that are not an UpstreamMessage close the connection with the reason.
    let (mut broken, _) = connect(&url(&rest, "bo", &[]).await, Some(PROTOBUF)).await;
    broken.send(WsMessage::binary(vec![0x0a, 0x7f])).await;
    let (code, reason, _) = broken.closed().await;
    assert_eq!(code, Some(1002));
    assert!(reason.contains("UpstreamMessage"), "{reason}");
}

#[tokio::test]
async fn a_reliable_protobuf_connection_is_recovered_on_its_own_subprotocol() {
    let (_emulator, rest) = setup().await;
    let url = url(&rest, "rex", &["feed"]).await;
    let (mut client, connected) = connect(&url, Some(PROTOBUF_RELIABLE)).await;
    let Some(ServerFrame::Connected {
        connection_id,
        reconnection_token: Some(token),
        ..
    }) = connected
    else {
        panic!("{connected:?}")
    };
    for n in 1..=3 {
        rest.send_to_group("feed", Message::text(format!("m{n}")))
            .await
            .unwrap();
    }
    for _ in 1..=3 {
        client.next_protobuf_frame().await;
    }
    client
        .send_protobuf(&ClientFrame::SequenceAck { sequence_id: 2 })
        .await;
    client.send_protobuf(&ClientFrame::Ping).await;
    assert_eq!(client.next_protobuf_frame().await, ServerFrame::Pong);
    client.drop_abruptly();
    rest.send_to_group("feed", Message::text("m4"))
        .await
        .unwrap();

    let recover =
        format!("{url}&awps_connection_id={connection_id}&awps_reconnection_token={token}");
    let (mut client, connected) = connect(&recover, Some(PROTOBUF_RELIABLE)).await;
    assert!(matches!(
        connected,
        Some(ServerFrame::Connected { connection_id: ref id, .. }) if *id == connection_id
    ));
    // The unacknowledged message and the one sent meanwhile, with their ids, as binary frames.
    for n in 3..=4 {
        assert_eq!(
            client.next_protobuf_frame().await,
            ServerFrame::Message {
                from: MessageSource::Group {
                    group: "feed".into(),
                    from_user_id: None
                },
                data: FrameData::Text(format!("m{n}")),
                sequence_id: Some(n),
            }
        );
    }
    // A wrong token is refused with 1008, on the subprotocol the client asked for.
    let bad = format!("{url}&awps_connection_id={connection_id}&awps_reconnection_token=wrong");
    let mut refused = WsClient::connect(&bad, Some(PROTOBUF_RELIABLE))
        .await
        .expect("upgrade then close");
    assert_eq!(refused.subprotocol.as_deref(), Some(PROTOBUF_RELIABLE));
    assert_eq!(refused.closed().await.0, Some(1008));
}
