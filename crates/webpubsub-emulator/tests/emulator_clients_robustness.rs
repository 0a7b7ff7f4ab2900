//! Arbitrary frames against a live emulator: whatever a client sends, the emulator answers or
//! closes with a close code (a panicking session would drop the socket without one), and it
//! keeps serving everyone else.

mod support;

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{Value, json};
use support::token::{client_claims, url_with};
use support::ws_client::WsClient;
use tokio_tungstenite::tungstenite::Message as Ws;
use webpubsub_emulator::Emulator;
use webpubsub_protocol::frames::ServerFrame;
use webpubsub_protocol::token::{ClientRole, Permission};

const SUBPROTOCOLS: [Option<&str>; 3] = [
    None,
    Some("json.webpubsub.azure.v1"),
    Some("json.reliable.webpubsub.azure.v1"),
];

/// One emulator for every case, on a runtime that outlives them.
struct World {
    runtime: tokio::runtime::Runtime,
    _emulator: Emulator,
    url: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (emulator, url) = runtime.block_on(async {
            let emulator = Emulator::builder().start().await.unwrap();
            let claims = client_claims(&emulator, "fuzz")
                .with_user("fuzzer")
                .with_roles([
                    ClientRole::any_group(Permission::JoinLeaveGroup).to_string(),
                    ClientRole::any_group(Permission::SendToGroup).to_string(),
                ])
                .with_groups(["g"]);
            let url = url_with(&emulator, "fuzz", &claims);
            (emulator, url)
        });
        World {
            runtime,
            _emulator: emulator,
            url,
        }
    })
}

/// Sends `frame`, then a ping, and reads until the pong or a close. Returns the close code, if
/// the connection was closed.
async fn send_and_settle(subprotocol: Option<&str>, frame: Ws) -> Result<Option<u16>, String> {
    let mut client = WsClient::connect(&world().url, subprotocol)
        .await
        .map_err(|e| format!("{e:?}"))?;
    if subprotocol.is_some() {
        // The connected frame.
        client.next_message().await;
    }
    client.send(frame).await;
    client.send_text(json!({"type":"ping"}).to_string()).await;
    // Bounded: the answers to two frames, plus what other cases sent to the group meanwhile.
    for _ in 0..100 {
        match client.next_message().await {
            Ws::Close(frame) => return Ok(Some(frame.map_or(1005, |f| u16::from(f.code)))),
            Ws::Text(text) if matches!(ServerFrame::parse(&text), Ok(ServerFrame::Pong)) => {
                return Ok(None);
            }
            _ => {}
        }
    }
    Err("neither a pong nor a close within 100 frames".into())
}

fn frame_shaped() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        Just("joinGroup".to_owned()),
        Just("leaveGroup".to_owned()),
        Just("sendToGroup".to_owned()),
        Just("event".to_owned()),
        Just("invoke".to_owned()),
        Just("cancelInvocation".to_owned()),
        Just("sequenceAck".to_owned()),
        any::<String>(),
    ];
    let value = prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        Just(Value::Null),
        Just(json!({"nested": [1, "x"]})),
    ];
    let data_type = prop_oneof![
        Just("text"),
        Just("json"),
        Just("binary"),
        Just("protobuf"),
        Just("nope")
    ];
    (
        kind,
        value.clone(),
        value.clone(),
        value.clone(),
        data_type,
        any::<bool>(),
    )
        .prop_map(|(kind, group, data, id, data_type, no_echo)| {
            json!({"type": kind, "group": group, "event": "e", "ackId": id, "invocationId": id,
                   "sequenceId": id, "dataType": data_type, "data": data, "noEcho": no_echo})
            .to_string()
        })
}

fn any_frame() -> impl Strategy<Value = Ws> {
    prop_oneof![
        any::<String>().prop_map(Ws::text),
        frame_shaped().prop_map(Ws::text),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Ws::binary),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_frame_is_answered_or_closed_with_a_code(protocol in 0..3usize, frame in any_frame()) {
        let world = world();
        let subprotocol = SUBPROTOCOLS[protocol];
        let outcome = world.runtime.block_on(send_and_settle(subprotocol, frame));
        let close = outcome.map_err(TestCaseError::fail)?;
        if let Some(code) = close {
            prop_assert!([1002, 1009, 1011].contains(&code), "unexpected close code {code}");
        }
        // Plain clients' frames are message events, and this hub has no handler: always 1011.
        if subprotocol.is_none() {
            prop_assert_eq!(close, Some(1011));
        }
        // The emulator still serves a well-behaved client.
        let alive = world.runtime.block_on(send_and_settle(SUBPROTOCOLS[1], Ws::text(r#"{"type":"ping"}"#)));
        prop_assert_eq!(alive, Ok(None));
    }
}
