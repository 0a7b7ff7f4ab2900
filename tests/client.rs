//! `webpubsub-client` against the in-process emulator (with our layer as its event handler), on
//! all four subprotocols (JSON and protobuf, each plain and reliable): groups, sends and their
//! acks, events and invocations, server messages, protobuf data across subprotocols, recovery of
//! a dropped reliable connection, reconnecting when recovery is refused, back-pressure, timeouts
//! and stop.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use support::chaos_proxy::{ChaosProxy, Fault};
use support::client::{HUB, WAIT, emulator, emulator_with, next, until, url, via};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use webpubsub::client::{
    AckErrorName, ClientEvent, Error, FrameData, Protocol, SendOptions, WebPubSubClient,
};
use webpubsub_protocol::frames::ServerFrame;
use webpubsub_rest::Message;

const RELIABLE: [Protocol; 2] = [Protocol::JsonReliable, Protocol::ProtobufReliable];

fn is_protobuf(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Protobuf | Protocol::ProtobufReliable)
}

/// `Any.pack(TestMessage { value: 1 })`, the protobuf subprotocol reference's example.
fn any_message() -> FrameData {
    let mut any = vec![0x0a, 0x2f];
    any.extend_from_slice(b"type.googleapis.com/azure.webpubsub.TestMessage");
    any.extend_from_slice(&[0x12, 0x02, 0x08, 0x01]);
    FrameData::Protobuf(any)
}

fn is_group_message(event: &ClientEvent) -> bool {
    matches!(event, ClientEvent::GroupMessage { .. })
}

async fn started(url: String, protocol: Protocol) -> (WebPubSubClient, webpubsub::client::Events) {
    let (client, mut events) = WebPubSubClient::builder(url).protocol(protocol).build();
    client.start().await.expect("the client starts");
    let ready = client.connection_id();
    assert!(
        ready.is_some(),
        "start returned before the connection id was known"
    );
    match next(&mut events).await {
        ClientEvent::Connected { connection_id, .. } => {
            assert_eq!(client.connection_id(), Some(connection_id));
        }
        other => panic!("expected connected, got {other:?}"),
    }
    (client, events)
}

#[tokio::test]
async fn groups_and_sends_on_every_subprotocol() {
    let (_emulator, rest) = emulator().await;
    for protocol in Protocol::all() {
        let (alice, mut alice_events) = started(url(&rest, "alice").await, protocol).await;
        let (bob, mut bob_events) = started(url(&rest, "bob").await, protocol).await;
        let joined = alice.join_group("room").await.expect("alice joins");
        assert!(joined.ack_id.is_some() && !joined.is_duplicated);
        bob.join_group("room").await.expect("bob joins");

        // Text, JSON, binary (and protobuf on the protobuf subprotocols), echoed to the
        // sender too unless no_echo.
        let mut payloads = vec![
            FrameData::from("hello"),
            FrameData::from(json!({"n": 1, "s": "x"})),
            FrameData::from(vec![0u8, 1, 2, 255]),
        ];
        if is_protobuf(protocol) {
            payloads.push(any_message());
        }
        for data in &payloads {
            alice
                .send_to_group("room", data.clone(), SendOptions::new())
                .await
                .expect("acked");
        }
        for events in [&mut alice_events, &mut bob_events] {
            for data in &payloads {
                match until(events, is_group_message).await.0 {
                    ClientEvent::GroupMessage {
                        group,
                        from_user_id,
                        data: got,
                        sequence_id,
                    } => {
                        assert_eq!(group, "room");
                        // A protobuf DataMessage has no field for the sender.
                        let sender = (!is_protobuf(protocol)).then_some("alice");
                        assert_eq!(from_user_id.as_deref(), sender, "{protocol}");
                        assert_eq!(&got, data);
                        assert_eq!(sequence_id.is_some(), protocol.is_reliable(), "{protocol}");
                    }
                    _ => unreachable!(),
                }
            }
        }

        // no_echo leaves the sender out; fire_and_forget has no ack id.
        let sent = alice
            .send_to_group("room", "quiet", SendOptions::new().no_echo(true))
            .await
            .unwrap();
        assert!(sent.ack_id.is_some());
        let forgotten = alice
            .send_to_group("room", "fast", SendOptions::new().fire_and_forget(true))
            .await
            .unwrap();
        assert_eq!(forgotten.ack_id, None);
        for expected in ["quiet", "fast"] {
            match until(&mut bob_events, is_group_message).await.0 {
                ClientEvent::GroupMessage { data, .. } => assert_eq!(data, expected.into()),
                _ => unreachable!(),
            }
        }
        match until(&mut alice_events, is_group_message).await.0 {
            ClientEvent::GroupMessage { data, .. } => {
                assert_eq!(data, "fast".into(), "no echo of quiet")
            }
            _ => unreachable!(),
        }

        // The same ack id again is a duplicate: success, processed once.
        let first = alice
            .send_to_group("room", "once", SendOptions::new().ack_id(1_000_000))
            .await
            .unwrap();
        let again = alice
            .send_to_group("room", "once", SendOptions::new().ack_id(1_000_000))
            .await
            .unwrap();
        assert!(!first.is_duplicated && again.is_duplicated);
        match until(&mut bob_events, is_group_message).await.0 {
            ClientEvent::GroupMessage { data, .. } => assert_eq!(data, "once".into()),
            _ => unreachable!(),
        }

        // Leaving stops delivery; a server message still arrives.
        bob.leave_group("room").await.unwrap();
        alice
            .send_to_group("room", "after", SendOptions::new())
            .await
            .unwrap();
        rest.send_to_all(Message::text("from the server"))
            .await
            .unwrap();
        match until(&mut bob_events, |e| {
            !matches!(e, ClientEvent::GroupMessage { .. })
        })
        .await
        {
            (ClientEvent::ServerMessage { data, sequence_id }, skipped) => {
                assert_eq!(data, "from the server".into());
                assert_eq!(sequence_id.is_some(), protocol.is_reliable());
                assert!(skipped.is_empty(), "bob left: {skipped:?}");
            }
            (other, _) => panic!("{other:?}"),
        }
        alice.stop().await;
        bob.stop().await;
    }
}

#[tokio::test]
async fn refusals_are_errors_with_the_service_reason() {
    let (_emulator, rest) = emulator().await;
    for protocol in Protocol::all() {
        // A user without roles may not join or send.
        let url = rest
            .client_access_token()
            .user_id("eve")
            .await
            .unwrap()
            .url()
            .to_owned();
        let (eve, _events) = started(url, protocol).await;
        let error = eve.join_group("room").await.unwrap_err();
        assert_eq!(
            error.error_name(),
            Some(&AckErrorName::Forbidden),
            "{error}"
        );
        assert!(error.ack_id().is_some());
        let error = eve
            .send_to_group("room", "x", SendOptions::new())
            .await
            .unwrap_err();
        assert_eq!(
            error.error_name(),
            Some(&AckErrorName::Forbidden),
            "{error}"
        );
        // Names the service would refuse never leave the client.
        assert!(matches!(
            eve.join_group(" ").await,
            Err(Error::InvalidName { what: "group", .. })
        ));
        assert!(matches!(
            eve.send_event("", "x", SendOptions::new()).await,
            Err(Error::InvalidName { what: "event", .. })
        ));
        let huge = "x".repeat(webpubsub::client::MAX_FRAME_BYTES);
        assert!(matches!(
            eve.send_event("e", huge, SendOptions::new()).await,
            Err(Error::TooLarge { .. })
        ));
        eve.stop().await;
        assert_eq!(eve.join_group("room").await.unwrap_err(), Error::NotStarted);
    }
}

#[tokio::test]
async fn events_reach_the_handler_and_invocations_return_its_answer() {
    let (_emulator, rest) = emulator().await;
    for protocol in Protocol::all() {
        let (client, mut events) = started(url(&rest, "ivy").await, protocol).await;
        // send_event: the handler's answer comes back as a server message.
        client
            .send_event("echo", "ping", SendOptions::new())
            .await
            .unwrap();
        match until(&mut events, |e| {
            matches!(e, ClientEvent::ServerMessage { .. })
        })
        .await
        .0
        {
            ClientEvent::ServerMessage { data, .. } => assert_eq!(data, "ping".into()),
            _ => unreachable!(),
        }
        client
            .send_event(
                "other",
                json!({"a": 1}),
                SendOptions::new().fire_and_forget(true),
            )
            .await
            .unwrap();
        let error = client
            .send_event("fail", "x", SendOptions::new())
            .await
            .unwrap_err();
        assert_eq!(
            error.error_name(),
            Some(&AckErrorName::InternalServerError),
            "{error}"
        );

        // Each data type reaches the handler with its content type (protobuf data as
        // application/x-protobuf).
        let mut kinds = vec![
            (FrameData::from("t"), "text"),
            (FrameData::from(json!([1])), "json"),
            (FrameData::from(vec![1u8]), "binary"),
        ];
        if is_protobuf(protocol) {
            kinds.push((any_message(), "protobuf"));
        }
        for (data, expected) in kinds {
            client
                .send_event("type", data, SendOptions::new())
                .await
                .unwrap();
            match until(&mut events, |e| {
                matches!(e, ClientEvent::ServerMessage { .. })
            })
            .await
            .0
            {
                ClientEvent::ServerMessage { data, .. } => {
                    assert_eq!(data, expected.into(), "{protocol}")
                }
                _ => unreachable!(),
            }
        }
        if is_protobuf(protocol) {
            // The protobuf subprotocols have no invoke.
            let error = client.invoke_event("echo", "x").await.unwrap_err();
            assert!(matches!(error, Error::Unsupported(_)), "{error}");
            // The handler's binary answer to protobuf data is the Any's bytes, unchanged.
            client
                .send_event("echo", any_message(), SendOptions::new())
                .await
                .unwrap();
            match until(&mut events, |e| {
                matches!(e, ClientEvent::ServerMessage { .. })
            })
            .await
            .0
            {
                ClientEvent::ServerMessage {
                    data: FrameData::Binary(bytes),
                    ..
                } => assert_eq!(FrameData::Protobuf(bytes), any_message()),
                other => panic!("{other:?}"),
            }
            client.stop().await;
            continue;
        }

        // invoke_event: the answer is the return value, in its own type.
        for data in [
            FrameData::from("text"),
            FrameData::from(json!({"k": [1, 2]})),
            FrameData::from(vec![9u8, 8, 7]),
        ] {
            let answer = client.invoke_event("echo", data.clone()).await.unwrap();
            assert_eq!(answer, Some(data), "{protocol}");
        }
        assert_eq!(client.invoke_event("quiet", "x").await.unwrap(), None);
        let error = client.invoke_event("fail", "x").await.unwrap_err();
        assert!(matches!(error, Error::Invocation { .. }), "{error}");
        client.stop().await;
    }
}

#[tokio::test]
async fn a_dropped_reliable_connection_is_recovered_without_loss_or_duplicates() {
    for protocol in RELIABLE {
        recovered_without_loss_or_duplicates(protocol).await;
    }
}

async fn recovered_without_loss_or_duplicates(protocol: Protocol) {
    let (emulator, rest) = emulator().await;
    // Each socket is cut after a few KB: mid-frame, with messages unacknowledged.
    let proxy = ChaosProxy::start(
        emulator.local_addr(),
        Box::new(|index| {
            if index < 6 {
                Fault::CutAfter(3_000 + index * 700)
            } else {
                Fault::Pass
            }
        }),
    )
    .await;
    let (client, mut events) = started(via(&url(&rest, "rita").await, proxy.addr), protocol).await;
    let connection_id = client.connection_id().unwrap();
    client.join_group("feed").await.unwrap();
    let (sender, _sender_events) = started(url(&rest, "sam").await, Protocol::Json).await;
    let total = 300;
    let mut received = Vec::new();
    for i in 0..total {
        sender
            .send_to_group("feed", format!("m{i}"), SendOptions::new())
            .await
            .unwrap();
        // The receiver sends too: its acks survive the cuts (resent with the same ack id).
        if i % 30 == 0 {
            client
                .send_to_group("feed", format!("r{i}"), SendOptions::new().no_echo(true))
                .await
                .unwrap();
        }
    }
    while received.len() < total {
        match next(&mut events).await {
            ClientEvent::GroupMessage {
                data: FrameData::Text(text),
                ..
            } if text.starts_with('m') => received.push(text),
            ClientEvent::GroupMessage { .. } => {}
            other => panic!("a recovered connection emits nothing else: {other:?}"),
        }
    }
    let expected: Vec<String> = (0..total).map(|i| format!("m{i}")).collect();
    assert_eq!(
        received, expected,
        "every message once, in order ({protocol})"
    );
    assert!(
        proxy.connections() >= 4,
        "the socket was cut and recovered: {}",
        proxy.connections()
    );
    assert_eq!(
        client.connection_id(),
        Some(connection_id),
        "the same connection"
    );
    client.stop().await;
}

#[tokio::test]
async fn when_recovery_is_refused_the_client_reconnects_with_a_fresh_url_and_rejoins() {
    for protocol in RELIABLE {
        reconnects_and_rejoins(protocol).await;
    }
}

async fn reconnects_and_rejoins(protocol: Protocol) {
    let (emulator, rest) = emulator_with(|b| b.recovery_window(Duration::from_millis(200))).await;
    let address = emulator.local_addr();
    // The first socket is cut; the next connections are refused for long enough that the
    // emulator's window closes; then everything passes.
    let proxy = ChaosProxy::start(
        address,
        Box::new(|index| match index {
            0 => Fault::CutAfter(2_000),
            1..=3 => Fault::Refuse,
            _ => Fault::Pass,
        }),
    )
    .await;
    let fetches = Arc::new(AtomicUsize::new(0));
    let (proxy_addr, rest_for_fetch, counted) = (proxy.addr, rest.clone(), fetches.clone());
    let (client, mut events) = WebPubSubClient::builder_with_url(move || {
        let (rest, counted) = (rest_for_fetch.clone(), counted.clone());
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(via(&url(&rest, "noah").await, proxy_addr))
        }
    })
    .protocol(protocol)
    .recovery_retry_delay(Duration::from_millis(150))
    .reconnect_delay(Duration::from_millis(50), Duration::from_millis(200))
    .build();
    client.start().await.unwrap();
    let first = match next(&mut events).await {
        ClientEvent::Connected {
            connection_id,
            user_id,
        } => {
            assert_eq!(user_id.as_deref(), Some("noah"));
            connection_id
        }
        other => panic!("{other:?}"),
    };
    client.join_group("lobby").await.unwrap();
    // Enough traffic to use up the first socket's byte budget.
    for i in 0..40 {
        rest.send_to_all(Message::text(format!("filler {i:04} {}", "x".repeat(60))))
            .await
            .unwrap();
    }
    let (disconnected, _) = until(&mut events, |e| {
        matches!(e, ClientEvent::Disconnected { .. })
    })
    .await;
    match disconnected {
        ClientEvent::Disconnected {
            connection_id,
            message,
        } => {
            assert_eq!(connection_id.as_deref(), Some(first.as_str()));
            assert!(message.is_some());
        }
        _ => unreachable!(),
    }
    let (connected, _) = until(&mut events, |e| matches!(e, ClientEvent::Connected { .. })).await;
    let ClientEvent::Connected {
        connection_id: second,
        ..
    } = connected
    else {
        unreachable!()
    };
    assert_ne!(second, first, "a new connection");
    assert!(
        fetches.load(Ordering::SeqCst) >= 2,
        "a fresh url for the new connection"
    );
    // The group was joined again by itself.
    let mut delivered = false;
    for _ in 0..50 {
        rest.send_to_group("lobby", Message::text("welcome back"))
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_millis(200), events.next()).await;
        if let Ok(Some(ClientEvent::GroupMessage { group, .. })) = got {
            assert_eq!(group, "lobby");
            delivered = true;
            break;
        }
    }
    assert!(delivered, "the group was rejoined ({protocol})");
    client.stop().await;
}

#[tokio::test]
async fn a_slow_app_gets_back_pressure_not_loss() {
    let (_emulator, rest) = emulator().await;
    let (client, mut events) = WebPubSubClient::builder(url(&rest, "sid").await)
        .event_buffer(4, 1024)
        .build();
    client.start().await.unwrap();
    assert!(matches!(
        next(&mut events).await,
        ClientEvent::Connected { .. }
    ));
    let connection = client.connection_id().unwrap();
    let total = 200;
    for i in 0..total {
        rest.send_to_connection(
            &connection,
            Message::text(format!("{i:03}{}", "y".repeat(200))),
        )
        .await
        .unwrap();
    }
    // The app reads late and slowly; everything is there, in order.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..total {
        match next(&mut events).await {
            ClientEvent::ServerMessage {
                data: FrameData::Text(text),
                ..
            } => {
                assert!(text.starts_with(&format!("{i:03}")), "{i}: {}", &text[..3])
            }
            other => panic!("{other:?}"),
        }
    }
    client.stop().await;
}

/// Accepts the subprotocol the client asks for (the signature is tungstenite's callback's).
#[allow(clippy::result_large_err)]
fn echo_subprotocol(
    request: &tokio_tungstenite::tungstenite::handshake::server::Request,
    mut response: tokio_tungstenite::tungstenite::handshake::server::Response,
) -> Result<
    tokio_tungstenite::tungstenite::handshake::server::Response,
    tokio_tungstenite::tungstenite::handshake::server::ErrorResponse,
> {
    if let Some(protocol) = request.headers().get("sec-websocket-protocol") {
        response
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.clone());
    }
    Ok(response)
}

/// A service that accepts the connection, says `connected` and then never answers.
async fn silent_service() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut socket) =
                    tokio_tungstenite::accept_hdr_async(stream, echo_subprotocol).await
                else {
                    return;
                };
                let connected = ServerFrame::Connected {
                    connection_id: "c1".into(),
                    user_id: None,
                    reconnection_token: Some("t".into()),
                };
                let _ = socket.send(WsMessage::text(connected.to_json())).await;
                // Read (and ignore) until the client goes; bounded by the client's own close.
                while let Some(Ok(_)) = socket.next().await {}
            });
        }
    });
    format!("ws://{address}/client/hubs/{HUB}")
}

#[tokio::test]
async fn an_ack_that_never_comes_times_out_and_stop_fails_what_waits() {
    let url = silent_service().await;
    let (client, mut events) = WebPubSubClient::builder(url)
        .ack_timeout(Duration::from_millis(300))
        .build();
    client.start().await.unwrap();
    assert!(matches!(
        next(&mut events).await,
        ClientEvent::Connected { .. }
    ));
    let error = client.join_group("g").await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    let error = client.invoke_event("e", "x").await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");

    // Stop while an operation waits: it fails at once, then the events say so.
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move { client.send_event("e", "x", SendOptions::new()).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    tokio::time::timeout(WAIT, client.stop())
        .await
        .expect("stop is prompt");
    let error = waiting.await.unwrap().unwrap_err();
    assert!(
        matches!(error, Error::ConnectionLost { .. } | Error::Stopped { .. }),
        "{error}"
    );
    assert!(matches!(
        next(&mut events).await,
        ClientEvent::Disconnected { .. }
    ));
    assert_eq!(next(&mut events).await, ClientEvent::Stopped);
}

#[tokio::test]
async fn a_first_connection_that_fails_is_an_error_without_the_token() {
    let (_emulator, rest) = emulator().await;
    let good = url(&rest, "ann").await;
    let forged = format!("{}x", good);
    let (client, _events) = WebPubSubClient::builder(forged).build();
    let error = client.start().await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, Error::Connect { .. }), "{text}");
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains("access_token"), "{text}");
    // Still stopped: operations say so; a fetcher's failure is its own error.
    assert_eq!(client.join_group("g").await.unwrap_err(), Error::NotStarted);
    let (client, _events) =
        WebPubSubClient::builder_with_url(|| async { Err("negotiate is down".into()) }).build();
    let error = client.start().await.unwrap_err();
    assert_eq!(error, Error::UrlFetch("negotiate is down".into()));
}

#[tokio::test]
async fn protobuf_and_json_clients_share_groups_and_data_types() {
    let (_emulator, rest) = emulator().await;
    let (proto, mut proto_events) =
        started(url(&rest, "pia").await, Protocol::ProtobufReliable).await;
    let (json, mut json_events) = started(url(&rest, "jo").await, Protocol::Json).await;
    proto.join_group("mix").await.unwrap();
    json.join_group("mix").await.unwrap();
    // Protobuf data reaches a JSON client as dataType protobuf (base64 on the wire), the same
    // bytes; JSON data reaches a protobuf client as JSON.
    proto
        .send_to_group("mix", any_message(), SendOptions::new().no_echo(true))
        .await
        .unwrap();
    json.send_to_group("mix", json!({"k": "v"}), SendOptions::new().no_echo(true))
        .await
        .unwrap();
    match until(&mut json_events, is_group_message).await.0 {
        ClientEvent::GroupMessage {
            data, from_user_id, ..
        } => {
            assert_eq!(data, any_message());
            assert_eq!(from_user_id.as_deref(), Some("pia"));
        }
        _ => unreachable!(),
    }
    match until(&mut proto_events, is_group_message).await.0 {
        ClientEvent::GroupMessage {
            data, sequence_id, ..
        } => {
            assert_eq!(data, json!({"k": "v"}).into());
            assert!(sequence_id.is_some());
        }
        _ => unreachable!(),
    }
    // Server messages of each REST content type reach the protobuf client in their type.
    rest.send_to_all(Message::json(&json!([1, 2])).unwrap())
        .await
        .unwrap();
    rest.send_to_all(Message::binary(vec![5u8, 6]))
        .await
        .unwrap();
    for expected in [
        FrameData::from(json!([1, 2])),
        FrameData::from(vec![5u8, 6]),
    ] {
        match until(&mut proto_events, |e| {
            matches!(e, ClientEvent::ServerMessage { .. })
        })
        .await
        .0
        {
            ClientEvent::ServerMessage { data, .. } => assert_eq!(data, expected),
            _ => unreachable!(),
        }
    }
    proto.stop().await;
    json.stop().await;
}
