//! Parity with the official JavaScript client: `@azure/web-pubsub-client` 1.1.0 (driven step by
//! step through `tests/interop/client_parity.mjs`) and `webpubsub-client` run the same scenario,
//! each on a fresh in-process emulator with our layer as its event handler: join and leave,
//! sends to a group (echoed and with `no_echo`, a repeated ack id), events and invocations (the
//! handler's answers), the four REST sends, another client's group sends, and a connection cut
//! by a proxy while messages are on their way (recovery). Each client's events are normalised
//! to JSON and must be the scenario's expected events, and the two logs (answers, events,
//! sequence ids) must be equal, in the same order.
//!
//! Skipped, saying so, when `node` is not installed.

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use support::chaos_proxy::{ChaosProxy, Fault};
use support::client::{emulator, url, via};
use support::node::NodeSession;
use webpubsub::client::{ClientEvent, Error, Events, FrameData, SendOptions, WebPubSubClient};
use webpubsub_rest::Message;

const SUBJECT: &str = "subject";
const PEER: &str = "peer";
const ROOM: &str = "room";
/// How long one event, or the node script's answer, may take.
const WAIT: Duration = Duration::from_secs(15);
/// The most events one observation reads before it gives up on its marker.
const MAX_EVENTS: usize = 1000;

/// A client's event as JSON, the same shape `client_parity.mjs` records (binary as base64).
fn normalise(event: ClientEvent) -> Value {
    match event {
        ClientEvent::Connected { user_id, .. } => json!({"type": "connected", "userId": user_id}),
        ClientEvent::Disconnected { .. } => json!({"type": "disconnected"}),
        ClientEvent::Stopped => json!({"type": "stopped"}),
        ClientEvent::ServerMessage { data, sequence_id } => {
            let (data_type, data) = data_json(&data);
            json!({"type": "server", "dataType": data_type, "data": data, "sequenceId": sequence_id})
        }
        ClientEvent::GroupMessage {
            group,
            from_user_id,
            data,
            sequence_id,
        } => {
            let (data_type, data) = data_json(&data);
            json!({"type": "group", "group": group, "fromUserId": from_user_id,
                   "dataType": data_type, "data": data, "sequenceId": sequence_id})
        }
        ClientEvent::RejoinGroupFailed { group, .. } => {
            json!({"type": "rejoinGroupFailed", "group": group})
        }
        other => json!({"type": "unknown", "debug": format!("{other:?}")}),
    }
}

fn data_json(data: &FrameData) -> (&'static str, Value) {
    let value = match data {
        FrameData::Text(text) => Value::from(text.as_str()),
        FrameData::Json(value) => value.clone(),
        FrameData::Binary(bytes) | FrameData::Protobuf(bytes) => Value::from(BASE64.encode(bytes)),
    };
    (data.data_type(), value)
}

/// The `data` and `dataType` of a command as frame data.
fn frame_data(command: &Value) -> FrameData {
    let data = command["data"].clone();
    match command["dataType"].as_str() {
        Some("text") => FrameData::Text(data.as_str().expect("text data").to_owned()),
        Some("json") => FrameData::Json(data),
        Some("binary") => FrameData::Binary(
            BASE64
                .decode(data.as_str().expect("base64"))
                .expect("base64"),
        ),
        other => panic!("no data type {other:?} in {command}"),
    }
}

/// The client under test.
enum Subject {
    /// `webpubsub-client`, running the commands here.
    Rust {
        client: Option<WebPubSubClient>,
        events: Option<Events>,
    },
    /// `@azure/web-pubsub-client`, running them in `client_parity.mjs`.
    Node(Box<NodeSession>),
}

impl Subject {
    fn rust() -> Self {
        Self::Rust {
            client: None,
            events: None,
        }
    }

    fn node() -> Self {
        Self::Node(Box::new(NodeSession::start("client_parity.mjs", &[])))
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Rust { .. } => "webpubsub-client",
            Self::Node(_) => "@azure/web-pubsub-client",
        }
    }

    /// Runs one command of the `client_parity.mjs` protocol and returns its answer.
    async fn call(&mut self, command: Value) -> Value {
        let (client, events) = match self {
            Self::Node(node) => return node.call(&command, WAIT).await,
            Self::Rust { client, events } => (client, events),
        };
        let op = command["op"].as_str().expect("op");
        if op == "start" {
            let (new, stream) =
                WebPubSubClient::builder(command["url"].as_str().expect("url")).build();
            if let Err(e) = new.start().await {
                return json!({"error": e.to_string()});
            }
            let connection_id = new.connection_id();
            (*client, *events) = (Some(new), Some(stream));
            return json!({ "connectionId": connection_id });
        }
        let (client, events) = (
            client.as_ref().expect("started"),
            events.as_mut().expect("started"),
        );
        let text = |name: &str| command[name].as_str().expect(name).to_owned();
        let acked = |result: Result<webpubsub::client::SendResult, Error>| match result {
            Ok(sent) => json!({"isDuplicated": sent.is_duplicated}),
            Err(e) => json!({"error": e.to_string()}),
        };
        match op {
            "joinGroup" => acked(client.join_group(&text("group")).await),
            "leaveGroup" => acked(client.leave_group(&text("group")).await),
            "sendToGroup" => {
                let mut options =
                    SendOptions::new().no_echo(command["noEcho"].as_bool().unwrap_or(false));
                if let Some(ack_id) = command["ackId"].as_u64() {
                    options = options.ack_id(ack_id);
                }
                acked(
                    client
                        .send_to_group(&text("group"), frame_data(&command), options)
                        .await,
                )
            }
            "sendEvent" => acked(
                client
                    .send_event(&text("event"), frame_data(&command), SendOptions::new())
                    .await,
            ),
            "invokeEvent" => match client
                .invoke_event(&text("event"), frame_data(&command))
                .await
            {
                Ok(Some(data)) => {
                    let (data_type, data) = data_json(&data);
                    json!({"dataType": data_type, "data": data})
                }
                Ok(None) => json!({"dataType": null, "data": null}),
                Err(Error::Invocation { name, .. }) => json!({"error": name.as_str()}),
                Err(e) => json!({"error": e.to_string()}),
            },
            "events" => {
                let until = text("until");
                json!({"events": take(events, |e| {
                    matches!(e, ClientEvent::ServerMessage { data: FrameData::Text(t), .. } if *t == until)
                }).await})
            }
            "stop" => {
                client.stop().await;
                json!({"events": take(events, |e| matches!(e, ClientEvent::Stopped)).await})
            }
            other => panic!("unknown op {other}"),
        }
    }
}

/// The events up to and including the first that `last` accepts, normalised.
async fn take(events: &mut Events, last: impl Fn(&ClientEvent) -> bool) -> Vec<Value> {
    let mut taken = Vec::new();
    for _ in 0..MAX_EVENTS {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no event in {WAIT:?}; so far {taken:?}"))
            .expect("the client runs");
        let done = last(&event);
        taken.push(normalise(event));
        if done {
            return taken;
        }
    }
    panic!("no end among {MAX_EVENTS} events: {taken:?}")
}

/// A server send through the REST API (group sends go to `room`).
#[derive(Debug, Clone)]
enum Rest {
    User(String),
    Connection(Value),
    All(String),
    Group(String),
    GroupBinary(Vec<u8>),
}

/// One step of the scenario.
#[derive(Debug, Clone)]
enum Step {
    /// A command to the subject; its answer goes into the log.
    Subject(Value),
    /// The peer (a `webpubsub-client` in `room`) sends to `room`, acknowledged.
    Peer(FrameData),
    /// The REST API sends.
    Rest(Rest),
    /// The proxy cuts the subject's connection.
    Cut,
    /// The REST API sends a marker to the subject's user; the subject's events up to it (which
    /// go into the log) must be these (without sequence ids), then the marker.
    Observe(Vec<Value>),
}

fn group_text(from: Option<&str>, text: &str) -> Value {
    json!({"type": "group", "group": ROOM, "fromUserId": from, "dataType": "text", "data": text})
}

fn server(data_type: &str, data: Value) -> Value {
    json!({"type": "server", "dataType": data_type, "data": data})
}

fn send(group: &str, data_type: &str, data: Value, no_echo: bool) -> Step {
    Step::Subject(
        json!({"op": "sendToGroup", "group": group, "dataType": data_type,
                          "data": data, "noEcho": no_echo}),
    )
}

fn event(op: &str, event: &str, data_type: &str, data: Value) -> Step {
    Step::Subject(json!({"op": op, "event": event, "dataType": data_type, "data": data}))
}

fn scenario() -> Vec<Step> {
    let binary = BASE64.encode([0u8, 1, 2, 255]);
    let group_binary = |from: Option<&str>| json!({"type": "group", "group": ROOM, "fromUserId": from, "dataType": "binary", "data": binary});
    let mut steps = vec![
        Step::Observe(vec![json!({"type": "connected", "userId": SUBJECT})]),
        Step::Subject(json!({"op": "joinGroup", "group": ROOM})),
        // Echoed to the sender, in each data type; `no_echo` leaves the sender out.
        send(ROOM, "text", json!("hello"), false),
        send(ROOM, "json", json!({"n": 1, "list": [true, null]}), true),
        send(ROOM, "json", json!({"n": 2}), false),
        send(ROOM, "binary", json!(binary), false),
        Step::Observe(vec![
            group_text(Some(SUBJECT), "hello"),
            json!({"type": "group", "group": ROOM, "fromUserId": SUBJECT, "dataType": "json", "data": {"n": 2}}),
            group_binary(Some(SUBJECT)),
        ]),
        // A repeated ack id is a duplicate: processed once.
        Step::Subject(
            json!({"op": "sendToGroup", "group": ROOM, "dataType": "text",
                             "data": "once", "ackId": 1_000_000}),
        ),
        Step::Subject(
            json!({"op": "sendToGroup", "group": ROOM, "dataType": "text",
                             "data": "once", "ackId": 1_000_000}),
        ),
        Step::Observe(vec![group_text(Some(SUBJECT), "once")]),
        // Another client's sends.
        Step::Peer(FrameData::from("from peer")),
        Step::Peer(FrameData::from(json!({"k": [1, 2]}))),
        Step::Peer(FrameData::from(vec![0u8, 1, 2, 255])),
        Step::Observe(vec![
            group_text(Some(PEER), "from peer"),
            json!({"type": "group", "group": ROOM, "fromUserId": PEER, "dataType": "json", "data": {"k": [1, 2]}}),
            group_binary(Some(PEER)),
        ]),
        // Events: `echo` answers with the data (a server message after sendEvent, the result of
        // an invocation); another event is answered with no body; `fail` fails.
        event("sendEvent", "echo", "text", json!("ping")),
        event("sendEvent", "echo", "json", json!({"a": 1})),
        event("sendEvent", "quiet", "text", json!("nothing back")),
        event("invokeEvent", "echo", "text", json!("inv")),
        event("invokeEvent", "echo", "json", json!({"b": [1]})),
        event("invokeEvent", "echo", "binary", json!(binary)),
        event("invokeEvent", "fail", "text", json!("x")),
        Step::Observe(vec![
            server("text", json!("ping")),
            server("json", json!({"a": 1})),
        ]),
        // Server sends through the REST API.
        Step::Rest(Rest::User("to user".into())),
        Step::Rest(Rest::Connection(json!({"to": "connection"}))),
        Step::Rest(Rest::All("to all".into())),
        Step::Rest(Rest::Group("to room".into())),
        Step::Rest(Rest::GroupBinary(vec![9, 8, 7])),
        Step::Observe(vec![
            server("text", json!("to user")),
            server("json", json!({"to": "connection"})),
            server("text", json!("to all")),
            group_text(None, "to room"),
            json!({"type": "group", "group": ROOM, "fromUserId": null, "dataType": "binary",
                   "data": BASE64.encode([9u8, 8, 7])}),
        ]),
        // Out of the group, nothing of it arrives; back in, it does.
        Step::Subject(json!({"op": "leaveGroup", "group": ROOM})),
        Step::Peer(FrameData::from("while away")),
        Step::Rest(Rest::Group("while away too".into())),
        Step::Observe(vec![]),
        Step::Subject(json!({"op": "joinGroup", "group": ROOM})),
        // Recovery: the subject's socket is cut while messages are on their way; it recovers the
        // same connection (no connected or disconnected event) and misses nothing.
        Step::Cut,
    ];
    let mut recovered = Vec::new();
    for n in 1..=5 {
        let (to_room, to_user, from_peer) = (
            format!("room {n}"),
            format!("user {n}"),
            format!("peer {n}"),
        );
        recovered.extend([
            group_text(None, &to_room),
            server("text", json!(to_user)),
            group_text(Some(PEER), &from_peer),
        ]);
        steps.push(Step::Rest(Rest::Group(to_room)));
        steps.push(Step::Rest(Rest::User(to_user)));
        steps.push(Step::Peer(FrameData::from(from_peer)));
    }
    steps.push(Step::Observe(recovered));
    steps.extend([
        send(ROOM, "text", json!("after recovery"), false),
        Step::Observe(vec![group_text(Some(SUBJECT), "after recovery")]),
        Step::Subject(json!({"op": "stop"})),
    ]);
    steps
}

/// Runs the scenario with `subject` on a fresh emulator; returns the log: each answer and each
/// observation, labelled with its step.
async fn run(subject: &mut Subject) -> Vec<(String, Value)> {
    let (emulator, rest) = emulator().await;
    let proxy = ChaosProxy::always(emulator.local_addr(), Fault::Pass).await;
    let (peer, peer_events) = WebPubSubClient::builder(url(&rest, PEER).await).build();
    // Nobody reads the peer's events.
    drop(peer_events);
    peer.start().await.expect("the peer starts");
    peer.join_group(ROOM).await.expect("the peer joins");

    let subject_url = via(&url(&rest, SUBJECT).await, proxy.addr);
    let started = subject
        .call(json!({"op": "start", "url": subject_url}))
        .await;
    let connection_id = started["connectionId"]
        .as_str()
        .unwrap_or_else(|| panic!("{} did not start: {started}", subject.name()))
        .to_owned();
    let mut log = Vec::new();
    let mut marks = 0;
    for (index, step) in scenario().into_iter().enumerate() {
        let label = match &step {
            Step::Subject(command) => format!("step {index}: {command}"),
            Step::Observe(_) => format!("step {index}: observe up to mark {}", marks + 1),
            other => format!("step {index}: {other:?}"),
        };
        match step {
            Step::Subject(command) => log.push((label, subject.call(command).await)),
            Step::Peer(data) => {
                peer.send_to_group(ROOM, data, SendOptions::new())
                    .await
                    .expect("the peer sends");
            }
            Step::Rest(send) => {
                let sent = match send {
                    Rest::User(text) => rest.send_to_user(SUBJECT, Message::text(text)).await,
                    Rest::Connection(value) => {
                        let message = Message::json(&value).expect("JSON");
                        rest.send_to_connection(&connection_id, message).await
                    }
                    Rest::All(text) => rest.send_to_all(Message::text(text)).await,
                    Rest::Group(text) => rest.send_to_group(ROOM, Message::text(text)).await,
                    Rest::GroupBinary(bytes) => {
                        rest.send_to_group(ROOM, Message::binary(bytes)).await
                    }
                };
                sent.expect("a REST send");
            }
            Step::Cut => proxy.cut_all(),
            Step::Observe(mut expected) => {
                marks += 1;
                let mark = format!("mark {marks}");
                rest.send_to_user(SUBJECT, Message::text(mark.clone()))
                    .await
                    .expect("the marker");
                let answer = subject.call(json!({"op": "events", "until": mark})).await;
                let events = answer["events"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{}: {label}: {answer}", subject.name()))
                    .clone();
                expected.push(server("text", json!(mark)));
                let without_ids: Vec<Value> = events
                    .iter()
                    .cloned()
                    .map(|mut event| {
                        if let Some(map) = event.as_object_mut() {
                            map.remove("sequenceId");
                        }
                        event
                    })
                    .collect();
                assert_eq!(
                    without_ids,
                    expected,
                    "{} observed otherwise at {label}",
                    subject.name()
                );
                log.push((label, Value::from(events)));
            }
        }
    }
    assert!(
        proxy.connections() >= 2,
        "{}: the cut was not followed by a recovery socket ({} sockets)",
        subject.name(),
        proxy.connections()
    );
    peer.stop().await;
    log
}

/// The sequence ids of the logged messages: every message is numbered, from 1, without a gap.
fn check_sequence_ids(name: &str, log: &[(String, Value)]) {
    let ids: Vec<Option<u64>> = log
        .iter()
        .filter_map(|(_, answer)| answer.as_array())
        .flatten()
        .filter(|event| matches!(event["type"].as_str(), Some("server" | "group")))
        .map(|event| event["sequenceId"].as_u64())
        .collect();
    let expected: Vec<Option<u64>> = (1..=ids.len() as u64).map(Some).collect();
    assert_eq!(ids, expected, "{name}: sequence ids");
}

fn node_is_installed() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_observes_what_the_official_javascript_client_observes() {
    if !node_is_installed() {
        eprintln!("skipped: node is not installed, so @azure/web-pubsub-client cannot run");
        return;
    }
    let mut rust = Subject::rust();
    let rust_log = run(&mut rust).await;
    let mut node = Subject::node();
    let node_log = run(&mut node).await;

    check_sequence_ids(rust.name(), &rust_log);
    check_sequence_ids(node.name(), &node_log);
    assert_eq!(rust_log.len(), node_log.len());
    for ((label, rust_answer), (_, node_answer)) in rust_log.iter().zip(&node_log) {
        assert_eq!(
            rust_answer, node_answer,
            "{label}: webpubsub-client (left) and @azure/web-pubsub-client (right) differ"
        );
    }
}
