//! The official JavaScript packages against the emulator: `@azure/web-pubsub-client` 1.1.0
//! as a client (URLs minted by our REST client), and `@azure/web-pubsub-express` 1.1.0 as an
//! upstream. The scripts are in `tests/interop/`.

mod support;

use support::emulator::client_url;

use std::time::Duration;

use serde_json::{Value, json};
use support::node::{NodeOutput, run_node};
use support::ws_client::WsClient;
use tokio_tungstenite::tungstenite::Message as Ws;
use webpubsub::emulator::{Emulator, HubSettings};
use webpubsub_protocol::frames::{FrameData, MessageSource, ServerFrame};
use webpubsub_protocol::token::{ClientRole, Permission};
use webpubsub_rest::{Message, WebPubSubServiceClient};

const NODE_TIMEOUT: Duration = Duration::from_secs(90);

/// The result a node script printed last, as JSON, after checking that the script succeeded.
fn result_of(out: &NodeOutput) -> Value {
    assert!(
        out.success,
        "the script failed\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    let line = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON in {}", out.stdout));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {line}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_joins_sends_receives_and_recovers_from_a_dropped_socket() {
    let emulator = Emulator::builder().start().await.unwrap();
    let rest = rest_client(&emulator);
    let mut urls = Vec::new();
    for user in ["a", "b"] {
        let token = rest
            .client_access_token()
            .user_id(user)
            .roles([
                ClientRole::group(Permission::JoinLeaveGroup, "interop"),
                ClientRole::group(Permission::SendToGroup, "interop"),
            ])
            .await
            .unwrap();
        urls.push(token.url().to_owned());
    }
    let out = run_node(
        "client_recovery.mjs",
        &[],
        &[("CLIENT_URL_A", &urls[0]), ("CLIENT_URL_B", &urls[1])],
        NODE_TIMEOUT,
    )
    .await;
    let result = result_of(&out);
    assert_eq!(result["numbers"], json!([0, 1, 2, 3, 4, 5]), "{result}");
    assert_eq!(
        result["connectedA"].as_array().map(Vec::len),
        Some(1),
        "{result}"
    );
    assert!(
        result["cut"].as_u64().unwrap_or(0) >= 2,
        "the proxy carried A's socket: {result}"
    );
}

/// Starts `upstream_express.mjs` and, once it listens, an emulator whose hub `chat` uses it.
/// The task ends when express exits, after the first `disconnected` event.
async fn express_upstream() -> (Emulator, tokio::task::JoinHandle<NodeOutput>) {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let node = tokio::spawn(async move {
        run_node(
            "upstream_express.mjs",
            &[],
            &[("UPSTREAM_PORT", &port.to_string())],
            NODE_TIMEOUT,
        )
        .await
    });
    // Wait (bounded) until express listens.
    let mut listening = false;
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listening, "express did not start listening on {port}");
    let emulator = Emulator::builder()
        .hub(
            HubSettings::new("chat")
                .upstream(format!("http://127.0.0.1:{port}/eventhandler/{{event}}")),
        )
        .require_valid_upstreams(true)
        .start()
        .await
        .expect("express passes the abuse-protection handshake");
    (emulator, node)
}

/// The events express saw, once it exited.
async fn express_events(node: tokio::task::JoinHandle<NodeOutput>) -> Value {
    let out = tokio::time::timeout(NODE_TIMEOUT, node)
        .await
        .expect("express exits")
        .unwrap();
    result_of(&out)["events"].clone()
}

fn rest_client(emulator: &Emulator) -> WebPubSubServiceClient {
    WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), "chat").unwrap()
}

fn event_names(events: &Value) -> Vec<&str> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_express_handler_serves_as_the_upstream() {
    let (emulator, node) = express_upstream().await;
    let rest = rest_client(&emulator);
    let url = client_url(&rest, "u1").await;

    let mut client = WsClient::connect(&url, Some("json.webpubsub.azure.v1"))
        .await
        .expect("express accepts");
    let ServerFrame::Connected { user_id, .. } = client.next_frame().await else {
        panic!("expected connected")
    };
    assert_eq!(user_id.as_deref(), Some("express-u1"));
    rest.send_to_group("from-express", Message::text("group set by express"))
        .await
        .unwrap();
    assert!(matches!(
        client.next_frame().await,
        ServerFrame::Message { from: MessageSource::Group { .. }, data: FrameData::Text(t), .. } if t == "group set by express"
    ));
    for (ack_id, expected) in [(1u64, "echo hi #0"), (2, "echo hi #1")] {
        client.send_json(json!({"type":"event","event":"greet","ackId":ack_id,"dataType":"text","data":"hi"})).await;
        assert_eq!(
            client.next_frame().await,
            ServerFrame::Message {
                from: MessageSource::Server,
                data: FrameData::Text(expected.into()),
                sequence_id: None
            }
        );
        assert_eq!(
            client.next_frame().await,
            ServerFrame::Ack {
                ack_id,
                error: None
            }
        );
    }
    client.send(Ws::Close(None)).await;

    let events = express_events(node).await;
    let names = event_names(&events);
    assert_eq!(
        names,
        ["connect", "connected", "greet", "greet", "disconnected"],
        "{events}"
    );
    assert_eq!(events[0]["sub"], json!(["u1"]), "claims are lists");
    assert_eq!(events[0]["userId"], "u1");
    assert_eq!(
        events[0]["subprotocols"],
        json!(["json.webpubsub.azure.v1"])
    );
    assert_eq!(events[1]["userId"], "express-u1");
    assert_eq!(
        events[1]["states"],
        json!({"counter": 0}),
        "connect's state reached connected"
    );
    assert_eq!(events[2]["dataType"], "text");
    assert_eq!(
        events[3]["counter"], 1,
        "the state set by the first event reached the second"
    );
    assert_eq!(events[4]["userId"], "express-u1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_raises_events_and_invocations_through_express() {
    let (emulator, node) = express_upstream().await;
    let rest = rest_client(&emulator);
    let url = client_url(&rest, "u2").await;
    let out = run_node(
        "client_events.mjs",
        &[],
        &[("CLIENT_URL", &url)],
        NODE_TIMEOUT,
    )
    .await;
    let result = result_of(&out);
    assert_eq!(result["userId"], "express-u2", "{result}");
    assert_eq!(result["serverMessages"], json!(["echo hi #0"]), "{result}");
    assert_eq!(
        result["invoked"],
        json!({"dataType": "text", "data": "echo yo #1"}),
        "{result}"
    );

    let events = express_events(node).await;
    assert_eq!(
        event_names(&events),
        ["connect", "connected", "greet", "greet", "disconnected"],
        "{events}"
    );
    assert_eq!(events[3]["data"], "yo");
    assert_eq!(
        events[3]["counter"], 1,
        "the invocation saw the state the event set"
    );
}
