//! End-to-end tests of the emulator's upstream calls, with our `WebPubSubLayer` in an axum
//! server as the event handler: connect accepted and rejected, user events and their answers,
//! connection state, `connected`/`disconnected`, and plain clients.

mod support;

use support::emulator::client_url;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use support::ws_client::WsClient;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;
use webpubsub::emulator::{Emulator, EmulatorBuilder, HandshakeError, HubSettings};
use webpubsub::handler::{
    ClosureHandler, ConnectResponse, DataType, EventError, UserEventResponse, WebPubSubLayer,
};
use webpubsub_protocol::frames::{AckErrorName, FrameData, MessageSource, ServerFrame};
use webpubsub_rest::{Message, WebPubSubServiceClient};

const KEY: &str = "upstream-test-key";
const JSON: &str = "json.webpubsub.azure.v1";

/// What the upstream saw: `(event name, connection id, user id, detail)`.
type Seen = (String, String, Option<String>, String);

/// Serves `layer` on a loopback port behind axum and returns its address.
async fn serve(layer: WebPubSubLayer<ClosureHandler>) -> SocketAddr {
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "the app's own route" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// The test upstream: records every event; `connect` answers by the token's user id:
/// `"banned"` is refused with 401, `"forbidden"` with 403, anyone else is renamed
/// `"{user}-upstream"`, joins `g1`, may join `g2` and starts with state `count = 0`.
/// User event `inc` answers `count=N` as text and increments the state; `fail` answers 500;
/// `echo` answers the data with its own type.
fn handlers(seen: mpsc::UnboundedSender<Seen>) -> ClosureHandler {
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
                let detail = format!("subprotocols={:?}", request.subprotocols());
                let _ = seen.send((
                    "connect".into(),
                    context.connection_id().into(),
                    context.user_id().map(Into::into),
                    detail,
                ));
                match user.as_str() {
                    "banned" => Err(EventError::unauthorized("banned users stay out")),
                    "forbidden" => Err(EventError::forbidden("not today")),
                    _ => Ok(ConnectResponse::new()
                        .user_id(format!("{user}-upstream"))
                        .groups(["g1"])
                        .roles(["webpubsub.joinLeaveGroup.g2"])
                        .set_state("count", 0)),
                }
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
                    String::new(),
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
                        "{:?}:{}",
                        request.data_type(),
                        String::from_utf8_lossy(request.bytes())
                    ),
                ));
                match request.event_name() {
                    "inc" => Ok(UserEventResponse::text(format!("count={count}"))
                        .set_state("count", count + 1)),
                    "fail" => Err(EventError::internal("the handler failed on purpose")),
                    "echo" | "message" => Ok(match request.data_type() {
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
                let detail = request.reason().unwrap_or_default().to_owned();
                let _ = seen.send((
                    "disconnected".into(),
                    c.connection_id().into(),
                    c.user_id().map(Into::into),
                    detail,
                ));
                Ok(())
            }
        })
}

struct Setup {
    emulator: Emulator,
    rest: WebPubSubServiceClient,
    seen: mpsc::UnboundedReceiver<Seen>,
}

async fn setup() -> Setup {
    setup_with(|builder| builder).await
}

/// The standard upstream, with emulator settings changed by `configure`.
async fn setup_with(configure: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder) -> Setup {
    let (tx, seen) = mpsc::unbounded_channel();
    let layer = WebPubSubLayer::new(handlers(tx))
        .path("/eventhandler/{event}")
        .hub("chat")
        .allowed_origins(["127.0.0.1"])
        .access_key(KEY);
    let upstream = serve(layer).await;
    let builder = Emulator::builder()
        .key(KEY)
        .hub(HubSettings::new("chat").upstream(format!("http://{upstream}/eventhandler/{{event}}")))
        .require_valid_upstreams(true);
    let emulator = configure(builder)
        .start()
        .await
        .expect("the emulator starts and the upstream passes the handshake");
    let rest = rest_client(&emulator, "chat");
    Setup {
        emulator,
        rest,
        seen,
    }
}

fn rest_client(emulator: &Emulator, hub: &str) -> WebPubSubServiceClient {
    WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), hub)
        .expect("the emulator's connection string")
}

/// The next thing a recorder saw, waiting at most 10 s.
async fn next_seen<T>(seen: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .expect("the upstream saw an event in time")
        .expect("the recorder is alive")
}

#[tokio::test]
async fn connect_answer_sets_user_groups_roles_and_state() {
    let Setup {
        emulator,
        rest,
        mut seen,
    } = setup().await;
    assert!(
        emulator.handshakes()[0].is_ok(),
        "{}",
        emulator.handshakes()[0]
    );

    let mut client = WsClient::connect(&client_url(&rest, "alice").await, Some(JSON))
        .await
        .expect("accepted");
    let ServerFrame::Connected {
        connection_id,
        user_id,
        ..
    } = client.next_frame().await
    else {
        panic!("expected connected")
    };
    assert_eq!(user_id.as_deref(), Some("alice-upstream"));

    let (event, id, user, detail) = next_seen(&mut seen).await;
    assert_eq!(
        (event.as_str(), id.as_str(), user.as_deref()),
        ("connect", connection_id.as_str(), Some("alice"))
    );
    assert!(detail.contains(JSON), "{detail}");
    let (event, _, user, _) = next_seen(&mut seen).await;
    assert_eq!(
        (event.as_str(), user.as_deref()),
        ("connected", Some("alice-upstream"))
    );

    // The answer's group and role took effect.
    rest.send_to_group("g1", Message::text("to g1"))
        .await
        .unwrap();
    assert_eq!(
        client.next_frame().await,
        ServerFrame::Message {
            from: MessageSource::Group {
                group: "g1".into(),
                from_user_id: None
            },
            data: FrameData::Text("to g1".into()),
            sequence_id: None
        }
    );
    client
        .send_json(json!({"type":"joinGroup","group":"g2","ackId":1}))
        .await;
    assert_eq!(
        client.next_frame().await,
        ServerFrame::Ack {
            ack_id: 1,
            error: None
        }
    );

    // User events: the answer comes back as a server message, then the ack; the state round-trips.
    for (ack_id, expected) in [(10u64, "count=0"), (11, "count=1")] {
        client
            .send_json(
                json!({"type":"event","event":"inc","ackId":ack_id,"dataType":"text","data":"+1"}),
            )
            .await;
        match client.next_frame().await {
            ServerFrame::Message {
                from: MessageSource::Server,
                data: FrameData::Text(text),
                ..
            } => assert_eq!(text, expected),
            other => panic!("expected the answer, got {other:?}"),
        }
        assert_eq!(
            client.next_frame().await,
            ServerFrame::Ack {
                ack_id,
                error: None
            }
        );
        let (event, _, _, detail) = next_seen(&mut seen).await;
        assert_eq!((event.as_str(), detail.as_str()), ("inc", "Text:+1"));
    }

    // JSON and binary data keep their type both ways.
    client
        .send_json(
            json!({"type":"event","event":"echo","ackId":20,"dataType":"json","data":{"a":[1,2]}}),
        )
        .await;
    assert!(
        matches!(client.next_frame().await, ServerFrame::Message { data: FrameData::Json(v), .. } if v == json!({"a":[1,2]}))
    );
    assert_eq!(
        client.next_frame().await,
        ServerFrame::Ack {
            ack_id: 20,
            error: None
        }
    );
    client
        .send_json(json!({"type":"event","event":"echo","dataType":"binary","data":"AQID"}))
        .await;
    assert!(
        matches!(client.next_frame().await, ServerFrame::Message { data: FrameData::Binary(b), .. } if b == [1, 2, 3])
    );
    assert_eq!(next_seen(&mut seen).await.3, r#"Json:{"a":[1,2]}"#);
    assert_eq!(next_seen(&mut seen).await.3, "Binary:\u{1}\u{2}\u{3}");

    // A failing handler is an InternalServerError ack, and the connection stays.
    client
        .send_json(json!({"type":"event","event":"fail","ackId":30,"dataType":"text","data":"x"}))
        .await;
    match client.next_frame().await {
        ServerFrame::Ack {
            ack_id: 30,
            error: Some(error),
        } => {
            assert_eq!(error.name, AckErrorName::InternalServerError);
            assert!(error.message.contains("500"), "{}", error.message);
        }
        other => panic!("expected a failed ack, got {other:?}"),
    }
    assert_eq!(next_seen(&mut seen).await.0, "fail");
    client.send_json(json!({"type":"ping"})).await;
    assert_eq!(client.next_frame().await, ServerFrame::Pong);

    // Closing the client sends disconnected, last.
    client.send(Ws::Close(None)).await;
    let (event, id, user, _) = next_seen(&mut seen).await;
    assert_eq!(
        (event.as_str(), id.as_str(), user.as_deref()),
        (
            "disconnected",
            connection_id.as_str(),
            Some("alice-upstream")
        )
    );
}

#[tokio::test]
async fn connect_refusals_reach_the_client_with_their_status() {
    // The emulator must outlive the test: `..` would drop it at once.
    let Setup {
        emulator: _emulator,
        rest,
        mut seen,
    } = setup().await;
    let refused = WsClient::connect(&client_url(&rest, "banned").await, Some(JSON))
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 401);
    assert!(
        refused.body.contains("banned users stay out"),
        "{}",
        refused.body
    );
    let refused = WsClient::connect(&client_url(&rest, "forbidden").await, None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 403);
    // Only the connect events reached the upstream: no connected or disconnected for a refusal.
    assert_eq!(next_seen(&mut seen).await.0, "connect");
    assert_eq!(next_seen(&mut seen).await.0, "connect");
    let mut client = WsClient::connect(&client_url(&rest, "carol").await, None)
        .await
        .expect("accepted");
    assert_eq!(next_seen(&mut seen).await.0, "connect");
    assert_eq!(next_seen(&mut seen).await.0, "connected");
    client.send(Ws::Close(None)).await;
    assert_eq!(next_seen(&mut seen).await.0, "disconnected");
}

#[tokio::test]
async fn plain_clients_send_message_events_and_get_the_answer() {
    // The emulator must outlive the test: `..` would drop it at once.
    let Setup {
        emulator: _emulator,
        rest,
        mut seen,
    } = setup().await;
    let mut client = WsClient::connect(&client_url(&rest, "plain").await, None)
        .await
        .expect("accepted");
    assert_eq!(client.subprotocol, None);
    client.send_text("hello").await;
    assert_eq!(client.next_message().await, Ws::text("hello"));
    client.send(Ws::binary(vec![7u8, 8])).await;
    assert_eq!(client.next_message().await, Ws::binary(vec![7u8, 8]));
    let mut events = Vec::new();
    for _ in 0..4 {
        events.push(next_seen(&mut seen).await);
    }
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["connect", "connected", "message", "message"]);
    assert_eq!(events[2].3, "Text:hello");
    assert_eq!(events[3].3, "Binary:\u{7}\u{8}");
}

#[tokio::test]
async fn a_failed_plain_message_drops_the_client() {
    let (tx, mut seen) = mpsc::unbounded_channel::<Seen>();
    let failing = ClosureHandler::new().user_event(move |request| {
        let seen = tx.clone();
        async move {
            let _ = seen.send((
                request.event_name().into(),
                String::new(),
                None,
                String::new(),
            ));
            Err::<UserEventResponse, _>(EventError::internal("no"))
        }
    });
    let upstream = serve(
        WebPubSubLayer::new(failing)
            .path("/eventhandler/{event}")
            .access_key(KEY),
    )
    .await;
    let emulator = Emulator::builder()
        .key(KEY)
        .hub(HubSettings::new("chat").upstream(format!("http://{upstream}/eventhandler/{{event}}")))
        .start()
        .await
        .unwrap();
    let rest = rest_client(&emulator, "chat");
    let mut client = WsClient::connect(&client_url(&rest, "p").await, None)
        .await
        .expect("accepted");
    client.send_text("anyone?").await;
    let (code, reason, _) = client.closed().await;
    assert_eq!(code, Some(1011), "{reason}");
    assert_eq!(next_seen(&mut seen).await.0, "message");
}

#[tokio::test]
async fn a_refused_handshake_is_reported() {
    let (tx, _seen) = mpsc::unbounded_channel();
    // This upstream only accepts another origin, so the handshake fails with 400.
    let upstream = serve(
        WebPubSubLayer::new(handlers(tx))
            .path("/eventhandler/{event}")
            .allowed_origins(["someone-else.example"]),
    )
    .await;
    let hub =
        HubSettings::new("chat").upstream(format!("http://{upstream}/eventhandler/{{event}}"));
    let emulator = Emulator::builder().hub(hub.clone()).start().await.unwrap();
    let report = &emulator.handshakes()[0];
    assert_eq!(report.error(), Some(&HandshakeError::Status(400)));
    assert!(
        report.url().ends_with("/eventhandler/validate"),
        "{}",
        report.url()
    );
    assert!(report.to_string().contains("refused"), "{report}");

    let failed = Emulator::builder()
        .hub(hub)
        .require_valid_upstreams(true)
        .start()
        .await;
    assert!(failed.unwrap_err().to_string().contains("handshake"));

    // Nothing listens here at all.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let emulator = Emulator::builder()
        .hub(HubSettings::new("chat").upstream(format!("http://{closed}/{{event}}")))
        .start()
        .await
        .unwrap();
    assert!(matches!(
        emulator.handshakes()[0].error(),
        Some(HandshakeError::Unreachable(_))
    ));
}

#[tokio::test]
async fn an_unrecovered_reliable_connection_ends_with_disconnected() {
    let window = Duration::from_millis(300);
    let Setup {
        emulator: _emulator,
        rest,
        mut seen,
    } = setup_with(|builder| builder.recovery_window(window)).await;
    let url = client_url(&rest, "r").await;
    let mut client = WsClient::connect(&url, Some("json.reliable.webpubsub.azure.v1"))
        .await
        .unwrap();
    let ServerFrame::Connected {
        connection_id,
        reconnection_token: Some(token),
        ..
    } = client.next_frame().await
    else {
        panic!("expected connected with a reconnection token")
    };
    assert_eq!(next_seen(&mut seen).await.0, "connect");
    assert_eq!(next_seen(&mut seen).await.0, "connected");
    client.drop_abruptly();

    // The connection waits for the window, then ends.
    let (event, id, _, reason) = next_seen(&mut seen).await;
    assert_eq!(
        (event.as_str(), id.as_str()),
        ("disconnected", connection_id.as_str())
    );
    assert!(reason.contains("did not recover"), "{reason}");
    assert!(!rest.connection_exists(&connection_id).await.unwrap());
    // Too late to recover: refused with 1008.
    let late = format!("{url}&awps_connection_id={connection_id}&awps_reconnection_token={token}");
    let mut late = WsClient::connect(&late, Some("json.reliable.webpubsub.azure.v1"))
        .await
        .unwrap();
    assert_eq!(late.closed().await.0, Some(1008));
}

#[tokio::test]
async fn invocations_get_the_upstream_answer() {
    let Setup {
        emulator: _emulator,
        rest,
        mut seen,
    } = setup().await;
    let reliable = Some("json.reliable.webpubsub.azure.v1");
    let mut client = WsClient::connect(&client_url(&rest, "inv").await, reliable)
        .await
        .unwrap();
    assert!(matches!(
        client.next_frame().await,
        ServerFrame::Connected { .. }
    ));
    client
        .send_json(json!({"type":"invoke","invocationId":"1","target":"event","event":"echo","dataType":"json","data":{"q":1}}))
        .await;
    assert_eq!(
        client.next_frame().await,
        ServerFrame::InvokeResponse {
            invocation_id: "1".into(),
            data: Some(FrameData::Json(json!({"q":1}))),
            error: None
        }
    );
    client
        .send_json(
            json!({"type":"invoke","invocationId":"2","event":"fail","dataType":"text","data":"x"}),
        )
        .await;
    match client.next_frame().await {
        ServerFrame::InvokeResponse {
            invocation_id,
            data: None,
            error: Some(error),
        } => {
            assert_eq!(invocation_id, "2");
            assert_eq!(error.name, AckErrorName::InternalServerError);
        }
        other => panic!("expected a failed invokeResponse, got {other:?}"),
    }
    client
        .send_json(json!({"type":"invoke","invocationId":"3","target":"nowhere","event":"echo"}))
        .await;
    match client.next_frame().await {
        ServerFrame::InvokeResponse {
            invocation_id,
            error: Some(error),
            ..
        } => {
            assert_eq!(
                (invocation_id.as_str(), error.name),
                ("3", AckErrorName::BadRequest)
            );
        }
        other => panic!("expected a refused invokeResponse, got {other:?}"),
    }
    // The connection is fine after all three.
    client.send_json(json!({"type":"ping"})).await;
    assert_eq!(client.next_frame().await, ServerFrame::Pong);
    let names: Vec<String> = [
        next_seen(&mut seen).await,
        next_seen(&mut seen).await,
        next_seen(&mut seen).await,
        next_seen(&mut seen).await,
    ]
    .into_iter()
    .map(|e| e.0)
    .collect();
    assert_eq!(names, ["connect", "connected", "echo", "fail"]);
}

/// A bare upstream (no layer) that records each request's method, path and headers and answers
/// `connect` with `connect_answer` (status, body).
async fn raw_upstream(
    connect_answer: (u16, &'static str),
) -> (SocketAddr, mpsc::UnboundedReceiver<Recorded>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let tx = tx.clone();
        async move {
            let (parts, _) = request.into_parts();
            let _ = tx.send((
                parts.method.to_string(),
                parts.uri.path().to_owned(),
                parts.headers.clone(),
            ));
            let mut response = axum::response::Response::new(axum::body::Body::empty());
            if parts.method == http::Method::OPTIONS {
                response
                    .headers_mut()
                    .insert("webhook-allowed-origin", "*".parse().unwrap());
            } else if parts.uri.path().ends_with("/connect") {
                *response.status_mut() = http::StatusCode::from_u16(connect_answer.0).unwrap();
                *response.body_mut() = axum::body::Body::from(connect_answer.1);
                response
                    .headers_mut()
                    .insert("content-type", "application/json".parse().unwrap());
            }
            response
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, rx)
}

type Recorded = (String, String, http::HeaderMap);

#[tokio::test]
async fn the_upstream_gets_every_cloudevents_header() {
    let (address, mut requests) = raw_upstream((204, "")).await;
    let emulator = Emulator::builder()
        .key("primary-key")
        .key("secondary-key")
        .hub(HubSettings::new("Chat").upstream(format!("http://{address}/hooks/{{hub}}/{{event}}")))
        .start()
        .await
        .unwrap();
    let rest = rest_client(&emulator, "Chat");

    let (method, path, headers) = next_seen(&mut requests).await;
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("OPTIONS", "/hooks/chat/validate")
    );
    assert_eq!(headers["webhook-request-origin"], "127.0.0.1");
    assert_eq!(headers["ce-awpsversion"], "1.0");

    let mut client = WsClient::connect(&client_url(&rest, "ann").await, Some(JSON))
        .await
        .unwrap();
    let ServerFrame::Connected { connection_id, .. } = client.next_frame().await else {
        panic!()
    };
    let (method, path, headers) = next_seen(&mut requests).await;
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/hooks/chat/connect")
    );
    for (name, value) in [
        ("ce-specversion", "1.0"),
        ("ce-awpsversion", "1.0"),
        ("ce-type", "azure.webpubsub.sys.connect"),
        ("ce-eventname", "connect"),
        ("ce-hub", "chat"),
        ("ce-userid", "ann"),
        ("webhook-request-origin", "127.0.0.1"),
    ] {
        assert_eq!(headers[name], value, "{name}");
    }
    assert_eq!(headers["ce-connectionid"], connection_id.as_str());
    assert_eq!(
        headers["ce-source"],
        format!("/hubs/chat/client/{connection_id}").as_str()
    );
    assert!(headers.contains_key("ce-id") && headers.contains_key("ce-time"));
    let signature = headers["ce-signature"].to_str().unwrap();
    for key in ["primary-key", "secondary-key"] {
        let key = webpubsub::AccessKey::new(key);
        assert!(
            webpubsub_protocol::signature::verify([signature], &connection_id, [&key]),
            "signed with {key:?}"
        );
    }
    let (_, path, headers) = next_seen(&mut requests).await;
    assert_eq!(path, "/hooks/chat/connected");
    assert_eq!(headers["ce-subprotocol"], JSON);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    client
        .send_json(json!({"type":"event","event":"note","dataType":"binary","data":"AA=="}))
        .await;
    let (_, path, headers) = next_seen(&mut requests).await;
    assert_eq!(path, "/hooks/chat/note");
    assert_eq!(headers["ce-type"], "azure.webpubsub.user.note");
    assert_eq!(headers["content-type"], "application/octet-stream");
}

#[tokio::test]
async fn bad_connect_answers_refuse_the_client_with_500() {
    for (answer, expected) in [
        ((200, "{not json"), "not valid JSON"),
        ((200, r#"{"subprotocol":"made.up"}"#), "did not ask for"),
    ] {
        let (address, _requests) = raw_upstream(answer).await;
        let emulator = Emulator::builder()
            .hub(HubSettings::new("chat").upstream(format!("http://{address}/{{event}}")))
            .start()
            .await
            .unwrap();
        let rest = rest_client(&emulator, "chat");
        let refused = WsClient::connect(&client_url(&rest, "x").await, Some(JSON))
            .await
            .err()
            .expect("refused");
        assert_eq!(refused.status, 500);
        assert!(refused.body.contains(expected), "{}", refused.body);
    }
}
