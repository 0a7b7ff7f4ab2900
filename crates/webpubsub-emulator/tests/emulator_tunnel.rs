//! The emulator's tunnel endpoint (`/server/tunnel`) driven by a hand-written tunnel: auth, the
//! signed events of a `tunnel:///path` hub, `connect` refused with no tunnel, an event moved to
//! another connection when one closes mid-request, and `LocalRouting` REST calls.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::json;
use support::token::{sign, user_url};
use support::ws_client::WsClient;
use tokio_tungstenite::tungstenite::Message;
use webpubsub_emulator::{Emulator, HubSettings};
use webpubsub_protocol::frames::ServerFrame;
use webpubsub_protocol::tunnel::{
    HttpRequestMessage, HttpResponseMessage, TunnelHeaders, TunnelMessage,
};
use webpubsub_protocol::{AccessKey, signature};

const KEY: &str = "tunnel-test-key-0123456789";

/// What a Microsoft Entra ID token looks like to the emulator: RS256, for the service's app.
const ENTRA_SHAPED_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL3dlYnB1YnN1Yi5henVyZS5jb20iLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl";

const JSON: &str = "json.webpubsub.azure.v1";

/// An emulator whose hub `chat` sends its events through the tunnel connections, with a 5 s
/// upstream timeout.
async fn emulator() -> Emulator {
    Emulator::builder()
        .key(KEY)
        .hub(HubSettings::new("chat").upstream("tunnel:///eventhandler/{event}?code=abc"))
        .upstream_timeout(std::time::Duration::from_secs(5))
        .start()
        .await
        .expect("the emulator starts")
}

fn tunnel_url(emulator: &Emulator, hub: &str) -> String {
    let ws = emulator.endpoint().replacen("http", "ws", 1);
    format!("{ws}/server/tunnel?hub={hub}")
}

fn token(key: &str, aud: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    sign(
        key,
        &json!({ "aud": aud, "exp": now + 3600, "iat": now, "sub": "tunnel-1" }),
    )
}

/// A tunnel connection, its `ConnectionConnected` read.
async fn dial(emulator: &Emulator) -> WsClient {
    let url = tunnel_url(emulator, "chat");
    let mut tunnel = WsClient::connect(&format!("{url}&access_token={}", token(KEY, &url)), None)
        .await
        .expect("the tunnel connects");
    match next(&mut tunnel).await {
        TunnelMessage::ConnectionConnected(connected) => {
            assert!(!connected.connection_id.is_empty());
            assert_eq!(connected.user_id.as_deref(), Some("tunnel-1"));
        }
        other => panic!("expected ConnectionConnected, got {other:?}"),
    }
    tunnel
}

async fn next(tunnel: &mut WsClient) -> TunnelMessage {
    match tunnel.next_message().await {
        Message::Binary(frame) => TunnelMessage::decode(&frame).expect("a valid tunnel frame"),
        other => panic!("expected a binary tunnel frame, got {other:?}"),
    }
}

async fn next_request(tunnel: &mut WsClient) -> HttpRequestMessage {
    match next(tunnel).await {
        TunnelMessage::HttpRequest(request) => request,
        other => panic!("expected an HttpRequest, got {other:?}"),
    }
}

async fn answer(
    tunnel: &mut WsClient,
    request: &HttpRequestMessage,
    status: u16,
    body: &'static str,
) {
    let frame = TunnelMessage::HttpResponse(HttpResponseMessage {
        ack_id: request.ack_id,
        status_code: status,
        channel_name: request.channel_name.clone(),
        headers: TunnelHeaders::from_iter([("Content-Type", "application/json")]),
        content: Bytes::from_static(body.as_bytes()),
        ..Default::default()
    })
    .encode()
    .unwrap();
    tunnel.send(Message::Binary(frame.into())).await;
}

#[tokio::test]
async fn a_tunnel_needs_a_token_for_its_own_url() {
    let emulator = emulator().await;
    let url = tunnel_url(&emulator, "chat");
    let cases = [
        (url.clone(), "missing"),
        (
            format!("{url}&access_token={}", token("wrong-key", &url)),
            "signature",
        ),
        (
            format!(
                "{url}&access_token={}",
                token(KEY, &tunnel_url(&emulator, "other"))
            ),
            "audience",
        ),
        (
            format!("{url}&access_token={ENTRA_SHAPED_TOKEN}"),
            "the emulator cannot verify Entra ID tokens",
        ),
    ];
    for (dial, words) in cases {
        let refused = WsClient::connect(&dial, None).await.err().expect("refused");
        assert_eq!(refused.status, 401, "{words}");
        assert!(refused.body.contains(words), "{words}: {}", refused.body);
        assert!(!refused.body.contains(KEY));
    }
    let no_hub = tunnel_url(&emulator, "chat").replace("hub=chat", "");
    let refused = WsClient::connect(&no_hub, None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 400);
    assert_eq!(emulator.tunnel_connections("chat"), 0);
}

#[tokio::test]
async fn events_go_through_the_tunnel_signed_and_connect_waits_for_its_answer() {
    let emulator = emulator().await;
    let mut tunnel = dial(&emulator).await;
    assert_eq!(emulator.tunnel_connections("chat"), 1);

    let url = user_url(&emulator, "chat", "alice");
    let connecting = tokio::spawn(async move { WsClient::connect(&url, Some(JSON)).await });
    let connect = next_request(&mut tunnel).await;
    assert_eq!(connect.method, "POST");
    assert_eq!(
        connect.url, "tunnel:///eventhandler/connect?code=abc",
        "path and query kept"
    );
    assert!(!connect.local_routing);
    let header = |name: &str| connect.headers.get_all(name).next().map(str::to_owned);
    assert_eq!(
        header("ce-type").as_deref(),
        Some("azure.webpubsub.sys.connect")
    );
    let connection_id = header("ce-connectionId").expect("ce-connectionId");
    let signature_header = header("ce-signature").expect("ce-signature");
    let key = AccessKey::new(KEY);
    assert!(signature::verify(
        [signature_header.as_str()],
        &connection_id,
        [&key]
    ));
    answer(
        &mut tunnel,
        &connect,
        200,
        r#"{"userId":"alice-from-tunnel"}"#,
    )
    .await;

    let mut client = connecting.await.unwrap().expect("the client is accepted");
    let connected = next_request(&mut tunnel).await;
    assert_eq!(connected.url, "tunnel:///eventhandler/connected?code=abc");
    answer(&mut tunnel, &connected, 204, "").await;
    match client.next_frame().await {
        ServerFrame::Connected { user_id, .. } => {
            assert_eq!(user_id.as_deref(), Some("alice-from-tunnel"));
        }
        other => panic!("{other:?}"),
    }

    client
        .send_json(json!({ "type": "event", "event": "ask", "dataType": "text", "data": "hi", "ackId": 1 }))
        .await;
    let event = next_request(&mut tunnel).await;
    assert_eq!(event.url, "tunnel:///eventhandler/ask?code=abc");
    assert_eq!(event.content, "hi");
    let frame = TunnelMessage::HttpResponse(HttpResponseMessage {
        ack_id: event.ack_id,
        status_code: 200,
        not_completed: true,
        headers: TunnelHeaders::from_iter([("Content-Type", "text/plain")]),
        content: Bytes::from_static(b"streamed "),
        ..Default::default()
    });
    tunnel
        .send(Message::Binary(frame.encode().unwrap().into()))
        .await;
    answer(&mut tunnel, &event, 200, "answer").await;
    let frames = format!(
        "{:?} {:?}",
        client.next_frame().await,
        client.next_frame().await
    );
    assert!(frames.contains("streamed answer"), "{frames}");
}

#[tokio::test]
async fn connect_is_refused_when_no_tunnel_is_open() {
    let emulator = emulator().await;
    let url = user_url(&emulator, "chat", "bob");
    let refused = WsClient::connect(&url, Some(JSON))
        .await
        .err()
        .expect("refused");
    assert!(refused.status >= 500, "{refused:?}");
    drop(emulator);
}

#[tokio::test]
async fn a_blocking_event_moves_to_another_connection_when_one_closes_mid_request() {
    let emulator = emulator().await;
    let mut first = dial(&emulator).await;
    let mut second = dial(&emulator).await;
    assert_eq!(emulator.tunnel_connections("chat"), 2);

    let url = user_url(&emulator, "chat", "carol");
    let connecting = tokio::spawn(async move { WsClient::connect(&url, Some(JSON)).await });
    // Whichever connection gets the connect closes without answering; the other must get it.
    let (taken, first_took) = tokio::select! {
        message = first.next_message() => (message, true),
        message = second.next_message() => (message, false),
    };
    let Message::Binary(frame) = taken else {
        panic!("{taken:?}")
    };
    let TunnelMessage::HttpRequest(dropped) = TunnelMessage::decode(&frame).unwrap() else {
        panic!("not a request")
    };
    let (taker, mut other) = if first_took {
        (first, second)
    } else {
        (second, first)
    };
    taker.drop_abruptly();

    let request = next_request(&mut other).await;
    assert_eq!(request.url, dropped.url);
    assert_eq!(
        request
            .headers
            .get_all("ce-connectionId")
            .collect::<Vec<_>>(),
        dropped
            .headers
            .get_all("ce-connectionId")
            .collect::<Vec<_>>(),
        "the same event"
    );
    answer(&mut other, &request, 200, "{}").await;
    let client = connecting
        .await
        .unwrap()
        .expect("accepted through the other connection");
    let connected = next_request(&mut other).await;
    assert_eq!(connected.url, "tunnel:///eventhandler/connected?code=abc");
    assert_eq!(emulator.tunnel_connections("chat"), 1);
    drop(client);
}

#[tokio::test]
async fn local_routing_rest_calls_are_answered_for_the_tunnels_own_hub_only() {
    let emulator = emulator().await;
    let mut tunnel = dial(&emulator).await;
    let calls = [
        (
            "POST",
            "/api/hubs/chat/:send?api-version=2024-01-01",
            "hello",
            202,
        ),
        (
            "HEAD",
            "/api/hubs/chat/users/nobody?api-version=2024-01-01",
            "",
            404,
        ),
        (
            "POST",
            "/api/hubs/other/:send?api-version=2024-01-01",
            "hello",
            403,
        ),
        ("POST", "/api/hubs/chat/:send", "hello", 400),
    ];
    for (ack_id, (method, url, body, status)) in (1..).zip(calls) {
        let frame = TunnelMessage::HttpRequest(HttpRequestMessage {
            ack_id,
            local_routing: true,
            channel_name: "ch".into(),
            method: method.into(),
            url: url.into(),
            headers: TunnelHeaders::from_iter([("Content-Type", "text/plain")]),
            content: Bytes::from_static(body.as_bytes()),
            ..Default::default()
        })
        .encode()
        .unwrap();
        tunnel.send(Message::Binary(frame.into())).await;
        match next(&mut tunnel).await {
            TunnelMessage::HttpResponse(response) => {
                assert_eq!(
                    (
                        response.ack_id,
                        response.status_code,
                        response.local_routing
                    ),
                    (ack_id, status, true),
                    "{method} {url}: {:?}",
                    String::from_utf8_lossy(&response.content)
                );
                assert_eq!(response.channel_name, "ch");
                assert!(!response.not_completed);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn a_bad_frame_closes_the_tunnel_with_a_reason() {
    let emulator = emulator().await;
    let mut tunnel = dial(&emulator).await;
    tunnel.send(Message::Binary(vec![1, 0].into())).await;
    let (code, reason, _) = tunnel.closed().await;
    assert_eq!(code, Some(1008));
    assert!(
        reason.contains("shorter than its 4-byte length prefix"),
        "{reason}"
    );
}

#[tokio::test]
async fn reconnect_and_rebalance_reach_every_connection() {
    let emulator = emulator().await;
    let mut tunnel = dial(&emulator).await;
    assert_eq!(emulator.tunnel_rebalance("chat"), 1);
    match next(&mut tunnel).await {
        TunnelMessage::ConnectionRebalance(target) => {
            assert_eq!(target.endpoint, emulator.endpoint());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(emulator.tunnel_reconnect("chat"), 1);
    assert!(matches!(
        next(&mut tunnel).await,
        TunnelMessage::ConnectionReconnect(_)
    ));
    assert_eq!(emulator.tunnel_reconnect("other"), 0);
}
