//! Back-pressure on the emulator's delivery path: a client's burst of group sends slows that
//! client down instead of closing the group's healthy readers, and only a reader that makes no
//! progress for the write timeout is dropped.

mod support;

use std::time::Duration;

use serde_json::json;
use support::ws_client::WsClient;
use webpubsub::emulator::{Emulator, EmulatorBuilder};
use webpubsub_protocol::frames::{FrameData, ServerFrame};
use webpubsub_protocol::token::{ClientRole, Permission};
use webpubsub_rest::WebPubSubServiceClient;

const JSON: &str = "json.webpubsub.azure.v1";

async fn connect(
    rest: &WebPubSubServiceClient,
    user: &str,
    roles: &[ClientRole],
) -> (WsClient, String) {
    let url = rest
        .client_access_token()
        .user_id(user)
        .roles(roles.iter().cloned())
        .groups(["room"])
        .await
        .expect("token")
        .url()
        .to_owned();
    let mut client = WsClient::connect(&url, Some(JSON)).await.expect("connects");
    match client.next_frame().await {
        ServerFrame::Connected { connection_id, .. } => (client, connection_id),
        other => panic!("expected connected, got {other:?}"),
    }
}

async fn start(builder: EmulatorBuilder) -> (Emulator, WebPubSubServiceClient) {
    let emulator = builder.start().await.expect("emulator starts");
    let rest =
        WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), "chat")
            .unwrap();
    (emulator, rest)
}

/// `n` members of `room`, each reading `count` messages in a task of its own.
async fn readers(
    rest: &WebPubSubServiceClient,
    n: usize,
    count: usize,
    prefix: &'static str,
) -> Vec<tokio::task::JoinHandle<WsClient>> {
    let mut readers = Vec::new();
    for i in 0..n {
        let (reader, _) = connect(rest, &format!("reader{i}"), &[]).await;
        readers.push(tokio::spawn(read_all(reader, count, prefix)));
    }
    readers
}

/// Reads `count` group messages and checks they are `prefix0`, `prefix1`, … in order; panics
/// on anything else (a `disconnected` frame, a close).
async fn read_all(mut reader: WsClient, count: usize, prefix: &'static str) -> WsClient {
    for n in 0..count {
        match reader.next_frame().await {
            ServerFrame::Message {
                data: FrameData::Text(text),
                ..
            } => assert!(
                text.strip_prefix(prefix)
                    .and_then(|rest| rest.split(' ').next())
                    == Some(&n.to_string()),
                "message {n} is {:.40}",
                text
            ),
            other => panic!("message {n}: expected a group message, got {other:?}"),
        }
    }
    reader
}

/// Sends `count` `sendToGroup` frames to `room` in one burst (no acks asked), then a ping, and
/// waits for the pong: the sender is read up to the end.
async fn burst(sender: &mut WsClient, count: usize, prefix: &str, padding: usize) {
    let pad = "x".repeat(padding);
    for n in 0..count {
        sender
            .send_json(json!({
                "type": "sendToGroup", "group": "room", "noEcho": true,
                "dataType": "text", "data": format!("{prefix}{n} {pad}"),
            }))
            .await;
    }
    sender.send_json(json!({"type": "ping"})).await;
    assert_eq!(sender.next_frame().await, ServerFrame::Pong);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_slows_the_sender_and_every_reader_gets_every_message() {
    let (emulator, rest) = start(Emulator::builder()).await;
    let readers = readers(&rest, 5, 5_000, "m").await;
    let send = ClientRole::group(Permission::SendToGroup, "room");
    let (mut sender, sender_id) = connect(&rest, "sender", &[send]).await;

    burst(&mut sender, 5_000, "m", 0).await;

    for reader in readers {
        let mut reader = reader
            .await
            .expect("every reader got all 5,000 messages in order");
        assert!(
            reader.is_quiet(Duration::from_millis(50)).await,
            "and nothing else"
        );
    }
    assert!(rest.connection_exists(&sender_id).await.unwrap());
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stalls_is_dropped_after_the_write_timeout_and_the_others_continue() {
    let builder = Emulator::builder().write_timeout(Duration::from_secs(1));
    let (emulator, rest) = start(builder).await;
    let readers = readers(&rest, 3, 400, "big").await;
    // Connected, then never reads again: the socket buffers fill, then its queue.
    let (stalled, stalled_id) = connect(&rest, "stalled", &[]).await;
    let send = ClientRole::group(Permission::SendToGroup, "room");
    let (mut sender, _) = connect(&rest, "sender", &[send]).await;

    // 400 x 64 KiB: 25 MiB, more than loopback socket buffers hold.
    burst(&mut sender, 400, "big", 64 << 10).await;

    for reader in readers {
        reader
            .await
            .expect("every reader got all 400 messages in order");
    }
    assert!(
        !rest.connection_exists(&stalled_id).await.unwrap(),
        "the stalled reader was dropped"
    );
    drop(stalled);
    emulator.shutdown().await;
}
