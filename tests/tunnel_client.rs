//! Our tunnel client (`webpubsub::tunnel`) against the emulator's `/server/tunnel`: an axum
//! router with `WebPubSubLayer` serves a `tunnel:///eventhandler/{event}` hub's events (every
//! event type, handler errors as statuses) with no HTTP listener at all; `Rebalance`,
//! `Reconnect`, an app restart and a graceful shutdown leave no blocking event unanswered and
//! none answered twice. With an Entra ID credential the client dials with the credential's
//! token for the service's scope.

mod support;

use std::time::Duration;

use serde_json::json;
use support::emulator::{JSON, client_url, start_tunnel_hub};
use support::ws_client::WsClient;
use tokio::sync::mpsc;
use webpubsub::emulator::Emulator;
use webpubsub::handler::{
    ClosureHandler, ConnectResponse, EventError, UserEventResponse, WebPubSubLayer,
};
use webpubsub::tunnel::{Tunnel, WebPubSubTunnelClient};
use webpubsub_protocol::frames::ServerFrame;
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
