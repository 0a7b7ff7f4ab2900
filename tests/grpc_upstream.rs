//! End to end over the gRPC upstream: the emulator in gRPC mode, `webpubsub::grpc::GrpcUpstream`
//! serving an `EventHandler`, real WebSocket clients (json and reliable). Connect accepted and
//! refused, connected, user events of each data type with answers and state, disconnected, the
//! handler's timeout and panic guard, the upstream restarted mid-stream, load shared across
//! registrations, the whole data plane, and bad input (forged tokens, malformed protobuf, unknown enum
//! values, acks for unknown events or twice).

mod support;

use std::time::Duration;

use serde_json::json;
use support::ws_client::WsClient;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as Ws;
use webpubsub::emulator::{Emulator, EventHandlerSettings, HubSettings};
use webpubsub::grpc::{GrpcError, GrpcUpstream, Payload, Permission};
use webpubsub::handler::{
    ClosureHandler, ConnectResponse, DataType, EventError, EventRunner, UserEventResponse,
};
use webpubsub_protocol::frames::{AckErrorName, FrameData, MessageSource, ServerFrame};
use webpubsub_rest::WebPubSubServiceClient;

const KEY: &str = "grpc-upstream-test-key";
const JSON: &str = "json.webpubsub.azure.v1";
const RELIABLE: &str = "json.reliable.webpubsub.azure.v1";
const WAIT: Duration = Duration::from_secs(10);

/// What the handler saw: `(event name, connection id, user id, detail)`.
type Seen = (String, String, Option<String>, String);

/// The handler under test: the same shape as the webhook tests' upstream. `connect` refuses
/// user `banned` (401), renames everyone else `{user}-grpc`, joins `g1` and starts `count = 0`.
/// `inc` answers `count=N` and increments the state; `echo` answers the data with its type;
/// `fail` fails with 500; `slow` outlives the runner's timeout; `panic` panics.
fn handler(seen: mpsc::UnboundedSender<Seen>, tag: &'static str) -> ClosureHandler {
    let on_connect = seen.clone();
    let on_connected = seen.clone();
    let on_user = seen.clone();
    ClosureHandler::new()
        .connect(move |request| {
            let seen = on_connect.clone();
            async move {
                let context = request.context();
                let user = request
                    .claims()
                    .get("sub")
                    .and_then(|v| v.first())
                    .cloned()
                    .unwrap_or_default();
                let _ = seen.send((
                    "connect".into(),
                    context.connection_id().into(),
                    context.user_id().map(Into::into),
                    format!("{tag} subprotocols={:?}", request.subprotocols()),
                ));
                if user == "banned" {
                    return Err(EventError::unauthorized("banned users stay out"));
                }
                Ok(ConnectResponse::new()
                    .user_id(format!("{user}-grpc"))
                    .groups(["g1"])
                    .set_state("count", 0))
            }
        })
        .connected(move |request| {
            let seen = on_connected.clone();
            async move {
                let c = request.context();
                let _ = seen.send((
                    "connected".into(),
                    c.connection_id().into(),
                    c.user_id().map(Into::into),
                    tag.into(),
                ));
                Ok(())
            }
        })
        .user_event(move |request| {
            let seen = on_user.clone();
            async move {
                let c = request.context();
                let count: i64 = c.states().get("count").and_then(Result::ok).unwrap_or(-1);
                let _ = seen.send((
                    request.event_name().into(),
                    c.connection_id().into(),
                    c.user_id().map(Into::into),
                    format!(
                        "{tag} {:?}:{}",
                        request.data_type(),
                        String::from_utf8_lossy(request.bytes())
                    ),
                ));
                match request.event_name() {
                    "inc" => Ok(UserEventResponse::text(format!("count={count}"))
                        .set_state("count", count + 1)),
                    "fail" => Err(EventError::internal("the handler failed on purpose")),
                    "slow" => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        Ok(UserEventResponse::empty())
                    }
                    "panic" => panic!("the handler panicked on purpose"),
                    "echo" => Ok(match request.data_type() {
                        DataType::Text => UserEventResponse::text(request.text().unwrap()),
                        DataType::Json => {
                            UserEventResponse::json(&request.json::<serde_json::Value>().unwrap())
                                .unwrap()
                        }
                        _ => UserEventResponse::binary(request.bytes().clone()),
                    }),
                    _ => Ok(UserEventResponse::empty()),
                }
            }
        })
        .disconnected(move |request| {
            let seen = seen.clone();
            async move {
                let c = request.context();
                let _ = seen.send((
                    "disconnected".into(),
                    c.connection_id().into(),
                    c.user_id().map(Into::into),
                    request.reason().unwrap_or_default().to_owned(),
                ));
                Ok(())
            }
        })
}

/// An emulator whose hub `chat` sends its events over gRPC.
async fn emulator() -> Emulator {
    Emulator::builder()
        .key(KEY)
        .hub(HubSettings::new("chat").event_handler(EventHandlerSettings::grpc()))
        .upstream_timeout(Duration::from_secs(3))
        .start()
        .await
        .expect("the emulator starts")
}

/// A running upstream: stop it with `stop`, or abort its task to cut it off.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), GrpcError>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the upstream stops in time")
            .unwrap()
            .unwrap();
    }
}

/// Starts an upstream for `chat` with `handler` and waits until it is registered.
async fn serve(emulator: &Emulator, handler: ClosureHandler) -> Running {
    let upstream = GrpcUpstream::from_connection_string(&emulator.connection_string(), "chat")
        .unwrap()
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200));
    let mut registered = upstream.registrations();
    let (stop, stopped) = oneshot::channel::<()>();
    let runner = EventRunner::new(handler).timeout(Duration::from_millis(300));
    let task = tokio::spawn(upstream.serve(runner, async {
        let _ = stopped.await;
    }));
    tokio::time::timeout(WAIT, registered.wait_for(|count| *count > 0))
        .await
        .expect("registered in time")
        .unwrap();
    Running { stop, task }
}

fn rest(emulator: &Emulator) -> WebPubSubServiceClient {
    WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), "chat").unwrap()
}

async fn url(emulator: &Emulator, user: &str) -> String {
    rest(emulator)
        .client_access_token()
        .user_id(user)
        .await
        .unwrap()
        .url()
        .to_owned()
}

/// Connects `user` and expects a refusal.
async fn refusal(emulator: &Emulator, user: &str) -> support::ws_client::Refused {
    match WsClient::connect(&url(emulator, user).await, Some(JSON)).await {
        Ok(_) => panic!("{user} was accepted"),
        Err(refused) => refused,
    }
}

async fn next_seen(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(WAIT, seen.recv())
        .await
        .expect("the handler saw an event in time")
        .expect("the recorder is alive")
}

/// Connects `user` with `subprotocol` and reads the `connected` frame: (client, connection id).
async fn connect(emulator: &Emulator, user: &str, subprotocol: &str) -> (WsClient, String) {
    let mut client = WsClient::connect(&url(emulator, user).await, Some(subprotocol))
        .await
        .unwrap_or_else(|refused| panic!("{user} refused: {refused:?}"));
    let ServerFrame::Connected {
        connection_id,
        user_id,
        ..
    } = client.next_frame().await
    else {
        panic!("expected connected")
    };
    assert_eq!(user_id.as_deref(), Some(format!("{user}-grpc").as_str()));
    (client, connection_id)
}

/// Sends event `name` with `ack_id` and returns the frames up to its ack (answer, then ack).
async fn event(
    client: &mut WsClient,
    name: &str,
    ack_id: u64,
    data: serde_json::Value,
    data_type: &str,
) -> Vec<ServerFrame> {
    client
        .send_json(
            json!({"type":"event","event":name,"ackId":ack_id,"dataType":data_type,"data":data}),
        )
        .await;
    let mut frames = Vec::new();
    for _ in 0..5 {
        let frame = client.next_frame().await;
        let done = matches!(&frame, ServerFrame::Ack { ack_id: id, .. } if *id == ack_id);
        frames.push(frame);
        if done {
            return frames;
        }
    }
    panic!("no ack {ack_id} within 5 frames: {frames:?}")
}

fn answer(frames: &[ServerFrame]) -> Option<&FrameData> {
    frames.iter().find_map(|frame| match frame {
        ServerFrame::Message {
            from: MessageSource::Server,
            data,
            ..
        } => Some(data),
        _ => None,
    })
}

fn ack_error(frames: &[ServerFrame]) -> Option<(AckErrorName, String)> {
    frames.iter().find_map(|frame| match frame {
        ServerFrame::Ack {
            error: Some(error), ..
        } => Some((error.name.clone(), error.message.clone())),
        _ => None,
    })
}

#[tokio::test]
async fn events_answers_and_state_travel_over_grpc() {
    let emulator = emulator().await;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let upstream = serve(&emulator, handler(tx, "a")).await;

    let (mut client, connection_id) = connect(&emulator, "alice", JSON).await;
    let (name, id, user, detail) = next_seen(&mut seen).await;
    assert_eq!(
        (name.as_str(), id.as_str(), user.as_deref()),
        ("connect", connection_id.as_str(), Some("alice"))
    );
    assert!(detail.contains(JSON), "{detail}");
    let (name, _, user, _) = next_seen(&mut seen).await;
    assert_eq!(
        (name.as_str(), user.as_deref()),
        ("connected", Some("alice-grpc"))
    );

    // The state set by connect round-trips and each answer updates it.
    for (ack_id, expected) in [(1u64, "count=0"), (2, "count=1")] {
        let frames = event(&mut client, "inc", ack_id, json!("+1"), "text").await;
        assert_eq!(
            answer(&frames),
            Some(&FrameData::Text(expected.into())),
            "{frames:?}"
        );
        assert_eq!(ack_error(&frames), None);
        assert_eq!(next_seen(&mut seen).await.3, "a Text:+1");
    }

    // Each data type keeps its type both ways.
    let frames = event(&mut client, "echo", 3, json!({"a": [1, 2]}), "json").await;
    assert_eq!(
        answer(&frames),
        Some(&FrameData::Json(json!({"a": [1, 2]})))
    );
    assert_eq!(next_seen(&mut seen).await.3, r#"a Json:{"a":[1,2]}"#);
    let frames = event(&mut client, "echo", 4, json!("AQID"), "binary").await;
    assert_eq!(answer(&frames), Some(&FrameData::Binary(vec![1, 2, 3])));
    assert_eq!(next_seen(&mut seen).await.3, "a Binary:\u{1}\u{2}\u{3}");
    let frames = event(&mut client, "echo", 5, json!("hi"), "text").await;
    assert_eq!(answer(&frames), Some(&FrameData::Text("hi".into())));
    next_seen(&mut seen).await;

    // A failing handler, a panicking one, a slow one: the client gets a failed ack with the
    // status, the connection stays.
    for (ack_id, name, status) in [
        (6u64, "fail", "500"),
        (7, "panic", "500"),
        (8, "slow", "504"),
    ] {
        let frames = event(&mut client, name, ack_id, json!("x"), "text").await;
        let (error, message) = ack_error(&frames).unwrap_or_else(|| panic!("{name}: {frames:?}"));
        assert_eq!(error, AckErrorName::InternalServerError, "{name}");
        assert!(message.contains(status), "{name}: {message}");
        assert_eq!(next_seen(&mut seen).await.0, name);
    }
    assert!(
        !format!(
            "{:?}",
            event(&mut client, "echo", 9, json!("still here"), "text").await
        )
        .is_empty()
    );
    next_seen(&mut seen).await;

    // The answer's group took effect; the data plane reaches the client.
    let data_plane = GrpcUpstream::from_connection_string(&emulator.connection_string(), "chat")
        .unwrap()
        .client()
        .unwrap();
    data_plane
        .send_to_group("g1", Payload::text("to g1"))
        .await
        .unwrap();
    assert!(matches!(
        client.next_frame().await,
        ServerFrame::Message { from: MessageSource::Group { .. }, data: FrameData::Text(t), .. } if t == "to g1"
    ));
    assert!(data_plane.connection_exists(&connection_id).await.unwrap());
    assert!(data_plane.group_exists("g1").await.unwrap());
    assert!(!data_plane.user_exists("nobody").await.unwrap());

    // Closing the client sends disconnected.
    client.send(Ws::Close(None)).await;
    let (name, id, user, _) = next_seen(&mut seen).await;
    assert_eq!(
        (name.as_str(), id.as_str(), user.as_deref()),
        ("disconnected", connection_id.as_str(), Some("alice-grpc"))
    );
    upstream.stop().await;
}

#[tokio::test]
async fn connect_is_refused_by_the_handler_or_without_a_registration() {
    let emulator = emulator().await;
    // Nobody registered: refused with the reason.
    let refused = refusal(&emulator, "alice").await;
    assert_eq!(refused.status, 500, "{refused:?}");
    assert!(refused.body.contains("registered"), "{refused:?}");

    let (tx, mut seen) = mpsc::unbounded_channel();
    let upstream = serve(&emulator, handler(tx, "a")).await;
    let refused = refusal(&emulator, "banned").await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(
        refused.body.contains("banned users stay out"),
        "{refused:?}"
    );
    assert_eq!(next_seen(&mut seen).await.0, "connect");
    upstream.stop().await;

    // After a graceful stop the registration is gone: refused again.
    let refused = refusal(&emulator, "alice").await;
    assert_eq!(refused.status, 500, "{refused:?}");
}

#[tokio::test]
async fn reliable_clients_get_sequenced_answers() {
    let emulator = emulator().await;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let upstream = serve(&emulator, handler(tx, "a")).await;
    let (mut client, _) = connect(&emulator, "rita", RELIABLE).await;
    let frames = event(&mut client, "echo", 1, json!("hello"), "text").await;
    let sequenced = frames.iter().find_map(|frame| match frame {
        ServerFrame::Message {
            data: FrameData::Text(t),
            sequence_id,
            ..
        } if t == "hello" => Some(*sequence_id),
        _ => None,
    });
    assert!(matches!(sequenced, Some(Some(_))), "{frames:?}");
    assert_eq!(next_seen(&mut seen).await.0, "connect");
    upstream.stop().await;
}

#[tokio::test]
async fn an_upstream_restarted_mid_stream_serves_the_same_connections() {
    let emulator = emulator().await;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let first = serve(&emulator, handler(tx.clone(), "first")).await;
    let (mut client, connection_id) = connect(&emulator, "bob", JSON).await;
    let frames = event(&mut client, "inc", 1, json!("+1"), "text").await;
    assert_eq!(answer(&frames), Some(&FrameData::Text("count=0".into())));
    // Cut the upstream off without a goodbye; a new one registers.
    first.task.abort();
    let _ = first.task.await;
    let second = serve(&emulator, handler(tx, "second")).await;
    // The connection carries on with its state, served by the new upstream.
    let mut restarted_answer = None;
    for ack_id in 2..12u64 {
        let frames = event(&mut client, "inc", ack_id, json!("+1"), "text").await;
        if ack_error(&frames).is_none() {
            restarted_answer = answer(&frames).cloned();
            break;
        }
        // The emulator may still route to the old registration until it notices the cut.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(restarted_answer, Some(FrameData::Text("count=1".into())));
    let mut served_by = Vec::new();
    while let Ok(Some(seen)) = tokio::time::timeout(Duration::from_millis(200), seen.recv()).await {
        served_by.push((seen.0, seen.1, seen.3));
    }
    assert!(
        served_by.iter().any(|(name, id, detail)| name == "inc"
            && *id == connection_id
            && detail.starts_with("second")),
        "{served_by:?}"
    );
    second.stop().await;
}

#[tokio::test]
async fn registrations_share_connections_and_a_dropped_one_hands_over_its_events() {
    let emulator = emulator().await;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let a = serve(&emulator, handler(tx.clone(), "a")).await;
    let b = serve(&emulator, handler(tx, "b")).await;
    let mut clients = Vec::new();
    for i in 0..12 {
        clients.push(connect(&emulator, &format!("u{i}"), JSON).await);
    }
    let mut tags = std::collections::HashSet::new();
    for _ in 0..24 {
        let (name, _, _, detail) = next_seen(&mut seen).await;
        if name == "connected" {
            tags.insert(detail);
        }
    }
    assert_eq!(
        tags.len(),
        2,
        "12 connections all went to one registration: {tags:?}"
    );

    // While `a` is gone, every connection's events are served by `b`.
    a.task.abort();
    let _ = a.task.await;
    for (client, _) in &mut clients {
        let mut answered = false;
        for ack_id in 1..10u64 {
            let frames = event(client, "echo", ack_id, json!("x"), "text").await;
            if ack_error(&frames).is_none() {
                answered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(answered);
    }
    b.stop().await;
}

#[tokio::test]
async fn the_data_plane_behaves_like_rest() {
    let emulator = emulator().await;
    let (tx, _seen) = mpsc::unbounded_channel();
    let upstream = serve(&emulator, handler(tx, "a")).await;
    let (mut client, connection_id) = connect(&emulator, "carol", JSON).await;
    let data_plane = GrpcUpstream::from_connection_string(&emulator.connection_string(), "chat")
        .unwrap()
        .client()
        .unwrap();

    data_plane.join_group(&connection_id, "room").await.unwrap();
    data_plane
        .send_to_group("room", Payload::json(r#"{"n":1}"#))
        .await
        .unwrap();
    assert!(
        matches!(client.next_frame().await, ServerFrame::Message { data: FrameData::Json(v), .. } if v == json!({"n":1}))
    );
    data_plane
        .leave_group(&connection_id, "room")
        .await
        .unwrap();
    data_plane
        .send_to_user("carol-grpc", Payload::binary(vec![7u8]))
        .await
        .unwrap();
    assert!(
        matches!(client.next_frame().await, ServerFrame::Message { data: FrameData::Binary(b), .. } if b == [7])
    );
    data_plane
        .send_to_all(Payload::text("all"), &[])
        .await
        .unwrap();
    assert!(
        matches!(client.next_frame().await, ServerFrame::Message { data: FrameData::Text(t), .. } if t == "all")
    );
    data_plane
        .send_to_connection(&connection_id, Payload::text("you"))
        .await
        .unwrap();
    assert!(
        matches!(client.next_frame().await, ServerFrame::Message { data: FrameData::Text(t), .. } if t == "you")
    );

    // The REST errors, as gRPC statuses.
    let missing = data_plane
        .join_group("no-such-connection", "room")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    assert!(
        missing.message().starts_with("Error.Connection.NotExisted"),
        "{missing:?}"
    );
    let bad_group = data_plane
        .send_to_group(" ", Payload::text("x"))
        .await
        .unwrap_err();
    assert_eq!(
        bad_group.code(),
        tonic::Code::InvalidArgument,
        "{bad_group:?}"
    );
    let unknown_type = Payload {
        data_type: 77,
        content: "x".into(),
    };
    let refused = data_plane.send_to_all(unknown_type, &[]).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("77"), "{refused:?}");

    data_plane
        .close_connection(&connection_id, Some("bye"))
        .await
        .unwrap();
    let (code, reason, _) = client.closed().await;
    assert!(code.is_some(), "closed: {reason}");
    assert!(!data_plane.connection_exists(&connection_id).await.unwrap());
    upstream.stop().await;
}

#[tokio::test]
async fn groups_permissions_closes_and_tokens_behave_like_rest() {
    let emulator = emulator().await;
    let (tx, _seen) = mpsc::unbounded_channel();
    let upstream = serve(&emulator, handler(tx, "a")).await;
    let (mut dave, dave_id) = connect(&emulator, "dave", JSON).await;
    let (mut erin, erin_id) = connect(&emulator, "erin", JSON).await;
    let data_plane = GrpcUpstream::from_connection_string(&emulator.connection_string(), "chat")
        .unwrap()
        .client()
        .unwrap();

    // Every connection into `team`, then read back one member a page.
    data_plane
        .add_connections_to_groups(&["team"], None)
        .await
        .unwrap();
    let first = data_plane
        .list_connections_in_group("team", Some(1), None)
        .await
        .unwrap();
    assert_eq!(first.members.len(), 1);
    assert!(!first.continuation_token.is_empty());
    let second = data_plane
        .list_connections_in_group("team", Some(1), Some(&first.continuation_token))
        .await
        .unwrap();
    assert_eq!(second.members.len(), 1);
    assert!(second.continuation_token.is_empty(), "{second:?}");
    let mut members: Vec<(String, String)> = first
        .members
        .into_iter()
        .chain(second.members)
        .map(|m| (m.connection_id, m.user_id))
        .collect();
    members.sort();
    let mut expected = vec![
        (dave_id.clone(), "dave-grpc".to_owned()),
        (erin_id.clone(), "erin-grpc".to_owned()),
    ];
    expected.sort();
    assert_eq!(members, expected);
    let forged = data_plane
        .list_connections_in_group("team", None, Some("not-a-token!"))
        .await
        .unwrap_err();
    assert_eq!(forged.code(), tonic::Code::InvalidArgument, "{forged:?}");

    // Permissions: granted on one group, checked, revoked.
    data_plane
        .grant_permission(&dave_id, Permission::SendToGroup, Some("team"))
        .await
        .unwrap();
    assert!(
        data_plane
            .check_permission(&dave_id, Permission::SendToGroup, Some("team"))
            .await
            .unwrap()
    );
    assert!(
        !data_plane
            .check_permission(&dave_id, Permission::JoinLeaveGroup, Some("team"))
            .await
            .unwrap()
    );
    data_plane
        .revoke_permission(&dave_id, Permission::SendToGroup, Some("team"))
        .await
        .unwrap();
    assert!(
        !data_plane
            .check_permission(&dave_id, Permission::SendToGroup, Some("team"))
            .await
            .unwrap()
    );

    // Leaving groups: one connection from all, then by filter.
    data_plane
        .remove_connection_from_all_groups(&dave_id)
        .await
        .unwrap();
    let left = data_plane
        .list_connections_in_group("team", None, None)
        .await
        .unwrap();
    assert_eq!(left.members.len(), 1);
    assert_eq!(left.members[0].connection_id, erin_id);
    let bad_filter = data_plane
        .remove_connections_from_groups(&["team"], Some("userId eq"))
        .await
        .unwrap_err();
    assert_eq!(bad_filter.code(), tonic::Code::InvalidArgument);
    data_plane
        .remove_connections_from_groups(&["team"], Some("userId eq 'erin-grpc'"))
        .await
        .unwrap();
    assert!(!data_plane.group_exists("team").await.unwrap());
    data_plane
        .remove_user_from_all_groups("erin-grpc")
        .await
        .unwrap();

    // A client token minted over gRPC connects, in the groups it names.
    let token = data_plane
        .generate_client_token(Some("frank"), &[], &["lobby"], Some(5))
        .await
        .unwrap();
    let url = format!(
        "{}/client/hubs/chat?access_token={token}",
        emulator.endpoint().replace("http", "ws")
    );
    let mut frank = WsClient::connect(&url, Some(JSON))
        .await
        .unwrap_or_else(|refused| panic!("frank refused: {refused:?}"));
    assert!(matches!(
        frank.next_frame().await,
        ServerFrame::Connected { .. }
    ));
    assert!(data_plane.group_exists("lobby").await.unwrap());
    let bad_group = data_plane
        .generate_client_token(None, &[], &[" "], None)
        .await
        .unwrap_err();
    assert_eq!(bad_group.code(), tonic::Code::InvalidArgument);

    // Closing: by group, by user, then all but one, then all.
    data_plane
        .close_group_connections("lobby", &[], Some("lobby closed"))
        .await
        .unwrap();
    let (code, reason, _) = frank.closed().await;
    assert!(code.is_some(), "frank closed: {reason}");
    data_plane
        .close_user_connections("erin-grpc", &[], None)
        .await
        .unwrap();
    let (code, reason, _) = erin.closed().await;
    assert!(code.is_some(), "erin closed: {reason}");
    data_plane
        .close_all_connections(&[&dave_id], None)
        .await
        .unwrap();
    assert!(data_plane.connection_exists(&dave_id).await.unwrap());
    data_plane
        .close_all_connections(&[], Some("all closed"))
        .await
        .unwrap();
    let (code, reason, _) = dave.closed().await;
    assert!(code.is_some(), "dave closed: {reason}");
    upstream.stop().await;
}

mod raw {
    //! A gRPC client that sends whatever bytes a test gives it.

    use bytes::{Buf, BufMut};
    use tonic::Status;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Debug, Default)]
    pub(crate) struct Raw;

    #[derive(Debug)]
    pub(crate) struct RawEncoder;

    #[derive(Debug)]
    pub(crate) struct RawDecoder;

    impl Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = RawEncoder;
        type Decoder = RawDecoder;

        fn encoder(&mut self) -> RawEncoder {
            RawEncoder
        }

        fn decoder(&mut self) -> RawDecoder {
            RawDecoder
        }
    }

    impl Encoder for RawEncoder {
        type Item = Vec<u8>;
        type Error = Status;

        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for RawDecoder {
        type Item = Vec<u8>;
        type Error = Status;

        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
            Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
        }
    }
}

/// Calls `method` of the Upstream service with `body` and `token` (no token when `None`).
async fn raw_call(
    emulator: &Emulator,
    method: &str,
    body: Vec<u8>,
    token: Option<String>,
) -> Result<Vec<u8>, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(emulator.endpoint().to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(body);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let path = format!("/webpubsub.upstream.v1.Upstream/{method}")
        .parse()
        .unwrap();
    grpc.unary(request, path, raw::Raw)
        .await
        .map(tonic::Response::into_inner)
}

fn token(audience: &str, key: &str, lifetime: i64) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let exp = if lifetime < 0 { now - 600 } else { now + 600 };
    let mut claims = webpubsub_protocol::token::RestTokenClaims::new(audience, now, 600);
    claims.exp = exp;
    support::token::sign(key, &claims)
}

#[tokio::test]
async fn bad_input_gets_clear_statuses() {
    use prost_free::encode_ack;
    let emulator = emulator().await;
    let audience = format!("{}/hubs/chat", emulator.endpoint());
    let good = token(&audience, KEY, 1);

    // Forged, expired, missing, for another hub: UNAUTHENTICATED, never echoing the token.
    for (token, expected) in [
        (
            Some(token(&audience, "wrong-key", 1)),
            "matches no access key",
        ),
        (Some(token(&audience, KEY, -1)), "expired"),
        (None, "missing"),
        (
            Some(token(
                &format!("{}/hubs/other", emulator.endpoint()),
                KEY,
                1,
            )),
            "audience",
        ),
    ] {
        let status = raw_call(
            &emulator,
            "AckConnect",
            encode_ack("chat", 1, "c"),
            token.clone(),
        )
        .await
        .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
        assert!(status.message().contains(expected), "{status:?}");
        if let Some(token) = token {
            assert!(!status.message().contains(&token));
        }
    }
    // A registration for a hub that is not in gRPC mode.
    let other = token(&format!("{}/hubs/other", emulator.endpoint()), KEY, 1);
    let upstream =
        GrpcUpstream::from_connection_string(&emulator.connection_string(), "other").unwrap();
    let refused = upstream
        .serve(
            EventRunner::new(ClosureHandler::new()),
            std::future::pending(),
        )
        .await;
    assert!(
        matches!(&refused, Err(GrpcError::Refused { code: tonic::Code::FailedPrecondition, message }) if message.contains("--hub other=grpc")),
        "{refused:?}"
    );
    drop(other);

    // Malformed protobuf: a clear status, nothing panics, the emulator keeps serving.
    let status = raw_call(
        &emulator,
        "AckConnect",
        vec![0xff, 0xff, 0xff],
        Some(good.clone()),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal, "{status:?}");
    assert!(status.message().contains("decode"), "{status:?}");

    // An ack for an event nobody sent, and an unknown data type in an answer.
    let status = raw_call(
        &emulator,
        "AckConnect",
        encode_ack("chat", 12345, "c"),
        Some(good.clone()),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    assert!(status.message().contains("12345"), "{status:?}");
    let unknown_type = prost_free::encode_message_ack_with_data_type("chat", 1, "c", 77);
    let status = raw_call(&emulator, "AckMessage", unknown_type, Some(good.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("77"), "{status:?}");

    // A message over the 2 MiB budget is refused before it is decoded.
    let status = raw_call(
        &emulator,
        "AckMessage",
        vec![0u8; 3 << 20],
        Some(good.clone()),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");

    // An unknown method.
    let status = raw_call(&emulator, "NoSuchMethod", Vec::new(), Some(good))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);

    // Still serving.
    let (tx, _seen) = mpsc::unbounded_channel();
    serve(&emulator, handler(tx, "a")).await.stop().await;
}

#[tokio::test]
async fn an_ack_counts_once() {
    // A second ack for the same event is NOT_FOUND: the emulator took the first one.
    let emulator = emulator().await;
    let (tx, _seen) = mpsc::unbounded_channel();
    let upstream = serve(&emulator, handler(tx, "a")).await;
    // Pose as a second registration that answers by hand.
    let audience = format!("{}/hubs/chat", emulator.endpoint());
    let good = token(&audience, KEY, 1);
    upstream.stop().await;
    let channel = tonic::transport::Endpoint::from_shared(emulator.endpoint().to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = webpubsub_protocol::grpc::upstream_client::UpstreamClient::new(channel);
    let mut register =
        tonic::Request::new(webpubsub_protocol::grpc::RegisterRequest { hub: "chat".into() });
    register
        .metadata_mut()
        .insert("authorization", format!("Bearer {good}").parse().unwrap());
    let mut stream = client.register(register).await.unwrap().into_inner();
    let url = url(&emulator, "dave").await;
    let connecting = tokio::spawn(async move { WsClient::connect(&url, Some(JSON)).await });
    let message = tokio::time::timeout(WAIT, stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Some(webpubsub_protocol::grpc::streaming_request::Request::Connect(connect)) =
        message.request
    else {
        panic!("expected connect, got {message:?}")
    };
    let context = connect.context.unwrap();
    assert_eq!(context.hub, "chat");
    let ack = webpubsub_protocol::grpc::AckConnectRequest {
        hub: "chat".into(),
        ack_id: connect.ack_id,
        connection_id: context.connection_id.clone(),
        result: None,
        state: None,
    };
    for attempt in 0..2 {
        let mut request = tonic::Request::new(ack.clone());
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {good}").parse().unwrap());
        let result = client.ack_connect(request).await;
        if attempt == 0 {
            result.unwrap();
        } else {
            let status = result.unwrap_err();
            assert_eq!(status.code(), tonic::Code::NotFound);
            assert!(status.message().contains("answered already"), "{status:?}");
        }
    }
    assert!(
        tokio::time::timeout(WAIT, connecting)
            .await
            .unwrap()
            .unwrap()
            .is_ok()
    );
}

mod prost_free {
    //! Ack messages encoded with the generated types.

    use prost::Message as _;
    use webpubsub_protocol::grpc::{
        AckConnectRequest, AckMessageRequest, MessageAnswer, Payload, ack_message_request,
    };

    pub(crate) fn encode_ack(hub: &str, ack_id: u64, connection_id: &str) -> Vec<u8> {
        AckConnectRequest {
            hub: hub.into(),
            ack_id,
            connection_id: connection_id.into(),
            result: None,
            state: None,
        }
        .encode_to_vec()
    }

    pub(crate) fn encode_message_ack_with_data_type(
        hub: &str,
        ack_id: u64,
        connection_id: &str,
        data_type: i32,
    ) -> Vec<u8> {
        AckMessageRequest {
            hub: hub.into(),
            ack_id,
            connection_id: connection_id.into(),
            result: Some(ack_message_request::Result::Answer(MessageAnswer {
                payload: Some(Payload {
                    data_type,
                    content: "x".into(),
                }),
            })),
            state: None,
        }
        .encode_to_vec()
    }
}
