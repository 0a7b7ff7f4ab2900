//! Protocol details that a trustworthy server gets right: a revoked permission overrides a
//! role's allow-all (also after recovery), and REST accepts only the JSON that delivery can
//! deliver as JSON. (1007 for a text frame that is not UTF-8 is in `bad_input_emulator.rs`; a 413
//! that keeps the official JS SDK's connection usable is in `emulator_rest_interop.rs`.)

mod support;

use serde_json::{Value, json};
use support::ws_client::WsClient;
use webpubsub_protocol::frames::{AckErrorName, FrameData, ServerFrame};
use webpubsub_protocol::token::{ClientRole, Permission};

const KEY: &str = "protocol-details-key-not-a-secret";
const HUB: &str = "chat";
const RELIABLE: &str = "json.reliable.webpubsub.azure.v1";

/// Connects a client of `subprotocol` at `url`; returns it with its connection id and
/// reconnection token.
async fn connect(url: &str, subprotocol: &str) -> (WsClient, String, Option<String>) {
    let mut client = WsClient::connect(url, Some(subprotocol)).await.unwrap();
    match client.next_frame().await {
        ServerFrame::Connected {
            connection_id,
            reconnection_token,
            ..
        } => (client, connection_id, reconnection_token),
        other => panic!("expected connected, got {other:?}"),
    }
}

/// Sends `frame` with ack id `id` and returns the ack's error name.
async fn acked(client: &mut WsClient, mut frame: Value, id: u64) -> Option<AckErrorName> {
    frame["ackId"] = json!(id);
    client.send_json(frame).await;
    loop {
        match client.next_frame().await {
            ServerFrame::Ack { ack_id, error } if ack_id == id => return error.map(|e| e.name),
            // Its own messages (echo) may come first.
            ServerFrame::Message { .. } => {}
            other => panic!("expected the ack of {id}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_revoked_group_overrides_the_roles_allow_all_also_after_recovery() {
    let (_emulator, rest) = support::emulator::start(KEY, HUB).await;
    let url = rest
        .client_access_token()
        .user_id("u")
        .roles([
            ClientRole::any_group(Permission::SendToGroup),
            ClientRole::any_group(Permission::JoinLeaveGroup),
        ])
        .await
        .unwrap()
        .url()
        .to_owned();
    let (mut client, id, token) = connect(&url, RELIABLE).await;
    for permission in [Permission::SendToGroup, Permission::JoinLeaveGroup] {
        rest.revoke_permission(permission, &id)
            .target_name("room")
            .await
            .unwrap();
    }
    let held = |permission, group: &'static str| {
        let rest = &rest;
        let id = &id;
        async move {
            rest.check_permission(permission, id)
                .target_name(group)
                .await
                .unwrap()
        }
    };
    assert!(!held(Permission::SendToGroup, "room").await);
    assert!(held(Permission::SendToGroup, "room-other").await);

    let frames = |group: &str| {
        [
            json!({"type": "joinGroup", "group": group}),
            json!({"type": "sendToGroup", "group": group, "dataType": "text", "data": "x"}),
            json!({"type": "leaveGroup", "group": group}),
        ]
    };
    let mut ack_id = 0;
    let mut expect = async |client: &mut WsClient, group, expected| {
        for frame in frames(group) {
            ack_id += 1;
            assert_eq!(
                acked(client, frame.clone(), ack_id).await,
                expected,
                "{frame}"
            );
        }
    };
    expect(&mut client, "room", Some(AckErrorName::Forbidden)).await;
    expect(&mut client, "room-other", None).await;

    // The deny belongs to the connection, so a recovered socket keeps it.
    client.drop_abruptly();
    let token = token.expect("a reconnection token");
    let recover = format!("{url}&awps_connection_id={id}&awps_reconnection_token={token}");
    let (mut client, recovered, _) = connect(&recover, RELIABLE).await;
    assert_eq!(recovered, id);
    expect(&mut client, "room", Some(AckErrorName::Forbidden)).await;
    expect(&mut client, "room-other", None).await;
    assert!(!held(Permission::SendToGroup, "room").await);

    // A later grant lifts the deny.
    rest.grant_permission(Permission::SendToGroup, &id)
        .target_name("room")
        .await
        .unwrap();
    assert!(held(Permission::SendToGroup, "room").await);
}

/// `depth` nested JSON arrays around a number.
fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn rest_json_is_only_what_delivery_delivers_as_json() {
    let (emulator, rest) = support::emulator::start(KEY, HUB).await;
    let url = rest
        .client_access_token()
        .user_id("u")
        .await
        .unwrap()
        .url()
        .to_owned();
    let (mut client, _, _) = connect(&url, "json.webpubsub.azure.v1").await;
    let send = format!(
        "{}/api/hubs/{HUB}/:send?api-version=2024-12-01",
        emulator.endpoint()
    );
    let token = support::token::rest_token(KEY, &send);
    let post = async |body: String| {
        reqwest::Client::new()
            .post(&send)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    };
    let too_deep = post(nested(200)).await;
    assert_eq!(too_deep.status(), 400);
    let body: Value = too_deep.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("JSON"), "{body}");

    assert_eq!(post(nested(100)).await.status(), 202);
    match client.next_frame().await {
        ServerFrame::Message {
            data: FrameData::Json(value),
            ..
        } => assert_eq!(value.to_string(), nested(100)),
        other => panic!("expected JSON data, got {other:?}"),
    }
}
