//! Our tunnel client (`webpubsub::tunnel`) against the emulator's `/server/tunnel`: an axum
//! router with `WebPubSubLayer` serves a `tunnel:///eventhandler/{event}` hub's events (every
//! event type, handler errors as statuses) with no HTTP listener at all; `Rebalance`,
//! `Reconnect`, an app restart and a graceful shutdown leave no blocking event unanswered and
//! none answered twice, and so does the tunnel cut mid-request by a proxy. Every row of the
//! layer's status map and every handler outcome reads the same through the tunnel as over HTTP
//! (status, headers, body), sent by a hand-written service side. With an Entra ID credential
//! the client dials with the credential's token for the service's scope.

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::StatusCode;
use serde_json::json;
use support::chaos_proxy::{ChaosProxy, Fault};
use support::emulator::{JSON, client_url, start_tunnel_hub};
use support::layer::{Answer, PRIMARY_KEY, TestServer};
use support::status_rows::{self, Outcomes};
use support::ws_client::WsClient;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use webpubsub::emulator::{Emulator, HubSettings};
use webpubsub::handler::{
    ClosureHandler, ConnectResponse, EventError, UserEventResponse, WebPubSubLayer,
};
use webpubsub::tunnel::{Tunnel, WebPubSubTunnelClient};
use webpubsub_protocol::frames::ServerFrame;
use webpubsub_protocol::tunnel::{
    ConnectedMessage, HttpRequestMessage, TunnelHeaders, TunnelMessage,
};
use webpubsub_rest::WebPubSubServiceClient;

const KEY: &str = "tunnel-client-test-key-0123";

async fn emulator() -> (Emulator, WebPubSubServiceClient) {
    start_tunnel_hub(KEY, "tunnel:///eventhandler/{event}").await
}

/// The app: `connect` refuses user `banned` (401) and renames the rest; user event `echo`
/// answers its text, `slow` answers after 300 ms, `fail` is a 500; every event is reported.
fn app(seen: mpsc::UnboundedSender<String>) -> axum::Router {
    let (on_connect, on_connected, on_user, on_disconnected) =
        (seen.clone(), seen.clone(), seen.clone(), seen);
    let handler = ClosureHandler::new()
        .connect(move |request| {
            let seen = on_connect.clone();
            async move {
                let user = request.context().user_id().unwrap_or_default().to_owned();
                let _ = seen.send(format!("connect {user}"));
                if user == "banned" {
                    return Err(EventError::unauthorized("banned users stay out"));
                }
                Ok(ConnectResponse::new().user_id(format!("{user}-tunnel")))
            }
        })
        .connected(move |request| {
            let seen = on_connected.clone();
            async move {
                let user = request.context().user_id().unwrap_or_default().to_owned();
                let _ = seen.send(format!("connected {user}"));
                Ok(())
            }
        })
        .user_event(move |request| {
            let seen = on_user.clone();
            async move {
                let text = request.text()?.to_owned();
                let _ = seen.send(format!("{} {text}", request.event_name()));
                match request.event_name() {
                    "slow" => {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Ok(UserEventResponse::text(format!("slow {text}")))
                    }
                    "fail" => Err(EventError::internal("failed on purpose")),
                    _ => Ok(UserEventResponse::text(format!("echo {text}"))),
                }
            }
        })
        .disconnected(move |request| {
            let seen = on_disconnected.clone();
            async move {
                let user = request.context().user_id().unwrap_or_default().to_owned();
                let _ = seen.send(format!("disconnected {user}"));
                Ok(())
            }
        });
    axum::Router::new().layer(
        WebPubSubLayer::new(handler)
            .path("/eventhandler/{event}")
            .access_key(KEY),
    )
}

async fn tunnel(emulator: &Emulator, app: axum::Router) -> Tunnel {
    let tunnel =
        WebPubSubTunnelClient::from_connection_string(&emulator.connection_string(), "chat")
            .unwrap()
            .reconnect_delays(Duration::from_millis(20), Duration::from_millis(200))
            .serve(app);
    tokio::time::timeout(Duration::from_secs(10), tunnel.connected())
        .await
        .expect("connected in time")
        .expect("connected");
    tunnel
}

async fn seen_next(seen: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .expect("an event in time")
        .expect("the app is running")
}

async fn connected_client(rest: &WebPubSubServiceClient, user: &str) -> WsClient {
    let mut client = WsClient::connect(&client_url(rest, user).await, Some(JSON))
        .await
        .unwrap_or_else(|refused| panic!("{user} refused: {refused:?}"));
    match client.next_frame().await {
        ServerFrame::Connected { user_id, .. } => {
            assert_eq!(user_id.as_deref(), Some(format!("{user}-tunnel").as_str()));
        }
        other => panic!("{other:?}"),
    }
    client
}

/// Sends user event `event` with `text` and ack id `ack`; returns the answer and the ack, shown.
async fn ask(client: &mut WsClient, event: &str, text: &str, ack: u64) -> String {
    client
        .send_json(json!({ "type": "event", "event": event, "dataType": "text", "data": text, "ackId": ack }))
        .await;
    // The answer (if any) comes before the ack; at most two frames.
    let mut frames = Vec::new();
    for _ in 0..2 {
        let frame = client.next_frame().await;
        let is_ack = matches!(frame, ServerFrame::Ack { .. });
        frames.push(format!("{frame:?}"));
        if is_ack {
            break;
        }
    }
    frames.join(" ")
}

#[tokio::test]
async fn every_event_type_goes_through_the_tunnel_to_the_layer() {
    let (emulator, rest) = emulator().await;
    let (report, mut seen) = mpsc::unbounded_channel();
    let tunnel = tunnel(&emulator, app(report)).await;
    assert_eq!(emulator.tunnel_connections("chat"), 1);

    let mut client = connected_client(&rest, "alice").await;
    assert_eq!(seen_next(&mut seen).await, "connect alice");
    assert_eq!(seen_next(&mut seen).await, "connected alice-tunnel");

    let answer = ask(&mut client, "echo", "hi", 1).await;
    assert!(answer.contains("echo hi"), "{answer}");
    assert_eq!(seen_next(&mut seen).await, "echo hi");

    // A handler error comes back as the layer's status: the ack fails, nothing is echoed.
    let answer = ask(&mut client, "fail", "x", 2).await;
    assert!(!answer.contains("echo"), "{answer}");
    assert!(
        answer.contains("success: false") || answer.contains("InternalServerError"),
        "{answer}"
    );
    assert_eq!(seen_next(&mut seen).await, "fail x");

    // connect refused by the handler: the upgrade is refused with its status.
    let refused = WsClient::connect(&client_url(&rest, "banned").await, Some(JSON))
        .await
        .err()
        .expect("banned is refused");
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(seen_next(&mut seen).await, "connect banned");

    drop(client);
    assert_eq!(seen_next(&mut seen).await, "disconnected alice-tunnel");
    tunnel.shutdown().await;
    wait_connections(&emulator, 0).await;
}

async fn wait_connections(emulator: &Emulator, wanted: usize) {
    for _ in 0..200 {
        if emulator.tunnel_connections("chat") == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "expected {wanted} tunnel connections, have {}",
        emulator.tunnel_connections("chat")
    );
}

#[tokio::test]
async fn rebalance_adds_a_connection_and_reconnect_replaces_them_with_nothing_lost() {
    let (emulator, rest) = emulator().await;
    let (report, mut seen) = mpsc::unbounded_channel();
    let tunnel = tunnel(&emulator, app(report)).await;
    let mut client = connected_client(&rest, "bob").await;
    seen_next(&mut seen).await;
    seen_next(&mut seen).await;

    assert_eq!(emulator.tunnel_rebalance("chat"), 1);
    wait_connections(&emulator, 2).await;
    assert_eq!(tunnel.connections(), 2);
    for ack in 1..=6 {
        let answer = ask(&mut client, "echo", &format!("r{ack}"), ack).await;
        assert!(answer.contains(&format!("echo r{ack}")), "{answer}");
    }

    assert_eq!(emulator.tunnel_reconnect("chat"), 2);
    wait_connections(&emulator, 2).await;
    for ack in 7..=12 {
        let answer = ask(&mut client, "echo", &format!("r{ack}"), ack).await;
        assert!(answer.contains(&format!("echo r{ack}")), "{answer}");
    }
    // Each event reached the app exactly once.
    let mut events = Vec::new();
    while let Ok(event) = seen.try_recv() {
        events.push(event);
    }
    let expected: Vec<String> = (1..=12).map(|n| format!("echo r{n}")).collect();
    assert_eq!(events, expected);
    tunnel.shutdown().await;
}

#[tokio::test]
async fn an_app_restart_loses_no_blocking_event_and_shutdown_finishes_the_requests_in_flight() {
    let (emulator, rest) = emulator().await;
    let (report, mut seen) = mpsc::unbounded_channel();
    let first = tunnel(&emulator, app(report.clone())).await;
    let mut client = connected_client(&rest, "carol").await;
    seen_next(&mut seen).await;
    seen_next(&mut seen).await;

    // A slow request is in flight when the app shuts down: it still gets its answer.
    client
        .send_json(json!({ "type": "event", "event": "slow", "dataType": "text", "data": "s", "ackId": 1 }))
        .await;
    assert_eq!(seen_next(&mut seen).await, "slow s");
    first.shutdown().await;
    let answer = format!(
        "{:?} {:?}",
        client.next_frame().await,
        client.next_frame().await
    );
    assert!(answer.contains("slow s"), "{answer}");
    wait_connections(&emulator, 0).await;

    // With no tunnel, a connect waits for the app to come back instead of failing.
    let url = client_url(&rest, "dave").await;
    let connecting = tokio::spawn(async move { WsClient::connect(&url, Some(JSON)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (report2, mut seen2) = mpsc::unbounded_channel();
    let second = tunnel(&emulator, app(report2)).await;
    let mut dave = connecting
        .await
        .unwrap()
        .expect("dave is accepted after the restart");
    assert!(matches!(
        dave.next_frame().await,
        ServerFrame::Connected { .. }
    ));
    assert_eq!(seen_next(&mut seen2).await, "connect dave");
    assert_eq!(seen_next(&mut seen2).await, "connected dave-tunnel");
    // The old app saw nothing more, and the new one saw the connect once.
    assert!(seen.try_recv().is_err());
    assert!(seen2.try_recv().is_err());
    second.shutdown().await;
}

/// A credential that hands out one token and records the scopes it was asked for.
#[derive(Debug)]
struct FixedToken(std::sync::Mutex<Vec<String>>);

impl webpubsub::rest::TokenCredential for FixedToken {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> webpubsub::rest::TokenFuture<'a> {
        self.0
            .lock()
            .unwrap()
            .extend(scopes.iter().map(|s| (*s).to_owned()));
        Box::pin(async {
            Ok(webpubsub::rest::AccessToken::new(
                "entra.token-with/odd+chars",
                std::time::SystemTime::now() + Duration::from_secs(3600),
            ))
        })
    }
}

#[tokio::test]
async fn an_entra_credential_dials_with_its_token_for_the_service_scope() {
    // A stand-in for the service: it records each dial's query and refuses it.
    let (dialed, mut dials) = mpsc::unbounded_channel();
    let service = axum::Router::new().route(
        "/server/tunnel",
        axum::routing::any(
            move |axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>| {
                let _ = dialed.send(query);
                async { (axum::http::StatusCode::UNAUTHORIZED, "not today") }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, service).await });

    let credential = std::sync::Arc::new(FixedToken(std::sync::Mutex::default()));
    let tunnel = WebPubSubTunnelClient::with_credential(&endpoint, "chat", credential.clone())
        .unwrap()
        .reconnect_delays(Duration::from_millis(20), Duration::from_millis(50))
        .serve(axum::Router::new());
    let query = tokio::time::timeout(Duration::from_secs(10), dials.recv())
        .await
        .expect("a dial in time")
        .unwrap();
    let value = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(value("hub"), Some("chat"));
    assert_eq!(value("access_token"), Some("entra.token-with/odd+chars"));
    assert_eq!(
        credential.0.lock().unwrap().first().map(String::as_str),
        Some(webpubsub::rest::ENTRA_SCOPE)
    );
    // Refused, it dials again (with a fresh token) rather than giving up.
    tokio::time::timeout(Duration::from_secs(10), dials.recv())
        .await
        .expect("a second dial in time")
        .unwrap();
    assert_eq!(tunnel.connections(), 0);
    drop(tunnel);
    server.abort();

    // A bearer token never goes in clear to another machine.
    let error = WebPubSubTunnelClient::with_credential(
        "http://demo.example",
        "chat",
        FixedToken(std::sync::Mutex::default()),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("needs an https endpoint"),
        "{error}"
    );
}

/// What the service side of a tunnel sees: the answer frames of `ack_id`, joined.
async fn tunnel_answer(socket: &mut ServiceSocket, ack_id: u64) -> Answer {
    let mut answer: Option<Answer> = None;
    for _ in 0..1000 {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an answer frame in time")
            .expect("the tunnel is open")
            .expect("a frame");
        let Message::Binary(frame) = message else {
            continue;
        };
        let TunnelMessage::HttpResponse(part) = TunnelMessage::decode(&frame).unwrap() else {
            panic!("expected an HttpResponse");
        };
        assert_eq!(part.ack_id, ack_id, "answers come in order here");
        assert!(!part.local_routing);
        let answer = answer.get_or_insert_with(|| Answer {
            status: StatusCode::from_u16(part.status_code).unwrap(),
            headers: part.headers.to_header_map().unwrap(),
            body: Bytes::new(),
        });
        answer.body = [answer.body.as_ref(), part.content.as_ref()]
            .concat()
            .into();
        if !part.not_completed {
            return answer.clone();
        }
    }
    panic!("no last part");
}

type ServiceSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// The headers the wire adds or that differ per answer; the rest must be the same.
fn comparable(headers: &http::HeaderMap) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "date" | "content-length" | "transfer-encoding" | "connection"
            )
        })
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test]
async fn the_whole_status_map_reads_the_same_through_the_tunnel_as_over_http() {
    let http = TestServer::start(status_rows::app(Outcomes::default())).await;
    // A hand-written service side: it takes the tunnel, then sends each row as the service
    // would and reads the answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let tunnel = WebPubSubTunnelClient::from_connection_string(
        &format!("Endpoint={endpoint};AccessKey={PRIMARY_KEY};Version=1.0;"),
        "chat",
    )
    .unwrap()
    .serve(status_rows::app(Outcomes::default()));
    let (tcp, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("the tunnel dials in time")
        .unwrap();
    let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let connected = TunnelMessage::ConnectionConnected(ConnectedMessage {
        connection_id: "tunnel-1".into(),
        ..ConnectedMessage::default()
    });
    socket
        .send(Message::Binary(connected.encode().unwrap().into()))
        .await
        .unwrap();

    let rows = status_rows::rows();
    let (mut failures, mut untunnelled) = (Vec::new(), Vec::new());
    for (ack_id, row) in (1u64..).zip(&rows) {
        let event = &row.event;
        // The tunnel's frames carry header values as text, so the service cannot send a row
        // whose header is not.
        let Ok(headers) = TunnelHeaders::from_header_map(&event.headers) else {
            untunnelled.push(row.name.as_str());
            continue;
        };
        let over_http = event.send(&http).await;
        let request = TunnelMessage::HttpRequest(HttpRequestMessage {
            ack_id,
            channel_name: format!("channel-{ack_id}"),
            method: event.method.to_string(),
            url: format!("tunnel://{}", event.path),
            headers,
            content: event.body.clone(),
            ..HttpRequestMessage::default()
        });
        socket
            .send(Message::Binary(request.encode().unwrap().into()))
            .await
            .unwrap();
        let through_tunnel = tunnel_answer(&mut socket, ack_id).await;
        let mut wrong = Vec::new();
        if through_tunnel.status != over_http.status {
            wrong.push(format!(
                "status {} through the tunnel, {} over HTTP",
                through_tunnel.status, over_http.status
            ));
        }
        if through_tunnel.body != over_http.body {
            wrong.push(format!(
                "body {:?} through the tunnel, {:?} over HTTP",
                through_tunnel.body, over_http.body
            ));
        }
        let (tunnel_headers, http_headers) = (
            comparable(&through_tunnel.headers),
            comparable(&over_http.headers),
        );
        if tunnel_headers != http_headers {
            wrong.push(format!(
                "headers {tunnel_headers:?} through the tunnel, {http_headers:?} over HTTP"
            ));
        }
        if !wrong.is_empty() {
            failures.push((row.name.clone(), wrong));
        }
    }
    assert!(
        failures.is_empty(),
        "{}",
        status_rows::report(&failures, rows.len())
    );
    assert_eq!(untunnelled, ["non-UTF-8 ce-userId"]);
    drop(tunnel);
}

#[tokio::test]
async fn a_tunnel_cut_mid_request_leaves_no_blocking_event_unanswered_and_none_answered_twice() {
    // Our tunnel reaches the emulator through a proxy that can cut it; the emulator accepts
    // the proxy's address as its own.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = reserved.local_addr().unwrap().port();
    drop(reserved);
    let proxy = ChaosProxy::always(([127, 0, 0, 1], port).into(), Fault::Pass).await;
    let emulator = Emulator::builder()
        .key(KEY)
        .port(port)
        .public_endpoint(format!("http://{}", proxy.addr))
        .hub(HubSettings::new("chat").upstream("tunnel:///eventhandler/{event}"))
        .upstream_timeout(Duration::from_secs(5))
        .start()
        .await
        .expect("the emulator starts");
    let rest =
        WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), "chat")
            .unwrap();
    let (report, mut seen) = mpsc::unbounded_channel();
    let tunnel = WebPubSubTunnelClient::from_connection_string(
        &format!(
            "Endpoint=http://{};AccessKey={KEY};Version=1.0;",
            proxy.addr
        ),
        "chat",
    )
    .unwrap()
    .reconnect_delays(Duration::from_millis(20), Duration::from_millis(200))
    .serve(app(report));
    tokio::time::timeout(Duration::from_secs(10), tunnel.connected())
        .await
        .expect("connected in time")
        .expect("connected");
    // Three clients, each with two slow events: a client's events reach the app one at a
    // time, so the first of each is in the app when the tunnel is cut, the second waits.
    const USERS: [&str; 3] = ["frank", "gina", "hank"];
    let mut clients = Vec::new();
    for user in USERS {
        clients.push(connected_client(&rest, user).await);
        seen_next(&mut seen).await;
        seen_next(&mut seen).await;
    }
    for (client, user) in clients.iter_mut().zip(USERS) {
        for ack in 1..=2u64 {
            client
                .send_json(json!({ "type": "event", "event": "slow", "dataType": "text", "data": format!("{user}{ack}"), "ackId": ack }))
                .await;
        }
    }
    // (A `connected` event, which does not block, may still come late.)
    let mut in_flight = Vec::new();
    for _ in 0..10 {
        if in_flight.len() == USERS.len() {
            break;
        }
        let event = seen_next(&mut seen).await;
        if event.starts_with("slow ") {
            in_flight.push(event);
        }
    }
    in_flight.sort();
    assert_eq!(in_flight, ["slow frank1", "slow gina1", "slow hank1"]);
    proxy.cut_all();

    // Each event is answered exactly once, then nothing more comes.
    for (client, user) in clients.iter_mut().zip(USERS) {
        let mut answers = Vec::new();
        let mut acks = Vec::new();
        for _ in 0..8 {
            if acks.len() == 2 {
                break;
            }
            match client.next_frame().await {
                ServerFrame::Ack { ack_id, error } => {
                    assert!(error.is_none(), "{user}: ack {ack_id} failed: {error:?}");
                    acks.push(ack_id);
                }
                frame @ ServerFrame::Message { .. } => answers.push(format!("{frame:?}")),
                other => panic!("{user}: {other:?}"),
            }
        }
        assert_eq!(acks, [1, 2], "{user}: each event acked once, in order");
        assert_eq!(answers.len(), 2, "{user}: {answers:?}");
        assert!(answers[0].contains(&format!("slow {user}1")), "{answers:?}");
        assert!(answers[1].contains(&format!("slow {user}2")), "{answers:?}");
        assert!(client.is_quiet(Duration::from_millis(200)).await, "{user}");
    }
    // The cut did land mid-request: the events in the app then came again on the new
    // connection, and the ones waiting came once.
    let mut later = Vec::new();
    while let Ok(event) = seen.try_recv() {
        if event.starts_with("slow ") {
            later.push(event);
        }
    }
    later.sort();
    assert_eq!(
        later,
        [
            "slow frank1",
            "slow frank2",
            "slow gina1",
            "slow gina2",
            "slow hank1",
            "slow hank2"
        ]
    );
    // The cut connection was dialed again through the proxy.
    assert!(proxy.connections() >= 2);
    assert_eq!(tunnel.connections(), 1);
    tunnel.shutdown().await;
}
