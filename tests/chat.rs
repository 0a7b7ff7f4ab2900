//! The chat example, run in-process on the emulator, driven by WebSocket clients that speak
//! `json.webpubsub.azure.v1` as the page does: negotiate, join rooms, talk, type, leave.

// The example's app, compiled into this test; the parts only `main.rs` uses are unused here.
#[allow(dead_code)]
#[path = "../examples/chat/app/mod.rs"]
mod chat;

// The terminal chat client example, driven by the last test.
#[path = "../examples/client.rs"]
mod terminal_client;

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};

use chat::{ChatError, ChatServer, Config, Service, Upstream};
use webpubsub::AccessKey;
use webpubsub::protocol::signature;

const PROTOCOL: &str = "json.webpubsub.azure.v1";
const WAIT: Duration = Duration::from_secs(10);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A page's connection: the socket, and the frames read while waiting for something else.
struct Client {
    socket: Socket,
    unread: VecDeque<Value>,
}

async fn start_chat() -> ChatServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        service: Service::Emulator,
        hub: "chat".into(),
        upstream: Upstream::Webhook,
    };
    ChatServer::start(listener, config)
        .await
        .expect("the chat starts on the emulator")
}

/// Sends `request` to the chat app (its URI is a path): status, headers and body.
async fn send(
    server: &ChatServer,
    mut request: http::Request<Full<Bytes>>,
) -> (u16, http::HeaderMap, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let uri = format!("{}{}", server.url().trim_end_matches('/'), request.uri());
    *request.uri_mut() = uri.parse().unwrap();
    let response = tokio::time::timeout(WAIT, client.request(request))
        .await
        .expect("answer in time")
        .expect("request sent");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let body = String::from_utf8(body.to_vec()).unwrap();
    (parts.status.as_u16(), parts.headers, body)
}

/// `GET path` on the chat app: status, content type and body.
async fn get(server: &ChatServer, path: &str) -> (u16, String, String) {
    let request = http::Request::get(path).body(Full::default()).unwrap();
    let (status, headers, body) = send(server, request).await;
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, body)
}

/// Negotiates as `user` and opens the WebSocket with the subprotocol, as the page does.
async fn connect(server: &ChatServer, user: &str) -> Client {
    let (status, _, body) = get(
        server,
        &format!("/negotiate?user={user}&session=test-{user}"),
    )
    .await;
    assert_eq!(status, 200, "negotiate: {body}");
    let url = serde_json::from_str::<Value>(&body).unwrap()["url"]
        .as_str()
        .expect("negotiate answers {url}")
        .to_owned();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static(PROTOCOL));
    let (mut socket, response) =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("connect in time")
            .expect("the emulator accepts the negotiated URL");
    assert_eq!(response.headers()["sec-websocket-protocol"], PROTOCOL);
    let connected = next_frame(&mut socket, "the connected frame").await;
    assert_eq!(connected["type"], "system");
    assert_eq!(connected["event"], "connected");
    assert_eq!(connected["userId"], user, "on_connect set the user id");
    Client {
        socket,
        unread: VecDeque::new(),
    }
}

/// The next JSON frame; panics on timeout or close, saying what it was `waiting_for`.
async fn next_frame(socket: &mut Socket, waiting_for: &str) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no frame within {WAIT:?} while waiting for {waiting_for}"))
            .expect("the socket is open")
            .expect("a valid frame");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("frames are JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The next chat message (a `message` frame's data) of type `kind`, skipping the others
/// (acks, presence and room notices that the scenario does not look at).
async fn next_chat(client: &mut Client, kind: &str) -> Value {
    // Bounded: each step waits at most WAIT, and a scenario sends far fewer frames than this.
    for _ in 0..50 {
        let frame = match client.unread.pop_front() {
            Some(frame) => frame,
            None => next_frame(&mut client.socket, kind).await,
        };
        if frame["type"] == "message" && frame["data"]["type"] == kind {
            return frame["data"].clone();
        }
        if frame["type"] == "ack" {
            assert_eq!(frame["success"], true, "ack: {frame}");
        }
    }
    panic!("no {kind} message within 50 frames")
}

/// The next presence change `event` of `user`, skipping others (presence is announced by
/// `connected`/`disconnected` events, which the service sends without waiting: their order
/// against other traffic is not fixed).
async fn next_presence(client: &mut Client, event: &str, user: &str) -> Value {
    for _ in 0..50 {
        let presence = next_chat(client, "presence").await;
        if presence["event"] == event && presence["user"] == user {
            return presence;
        }
    }
    panic!("no presence {event} of {user} within 50 frames")
}

/// Sends an event and waits for its ack (the handler has answered by then); the frames that
/// came first stay unread.
async fn command(client: &mut Client, ack_id: u64, event: &str, data: Value) {
    let frame =
        json!({"type": "event", "event": event, "ackId": ack_id, "dataType": "json", "data": data});
    client
        .socket
        .send(Message::text(frame.to_string()))
        .await
        .expect("send");
    for _ in 0..50 {
        let frame = next_frame(&mut client.socket, &format!("the ack of {event}")).await;
        if frame["type"] == "ack" && frame["ackId"] == ack_id {
            assert_eq!(frame["success"], true, "{event}: {frame}");
            return;
        }
        client.unread.push_back(frame);
    }
    panic!("no ack for {event} within 50 frames");
}

/// Posts `text` to `room` and waits for the ack.
async fn say(client: &mut Client, ack_id: u64, room: &str, text: &str) {
    command(
        client,
        ack_id,
        "message",
        json!({"room": room, "text": text}),
    )
    .await;
}

#[tokio::test]
async fn serves_the_page_and_checks_names_at_negotiate() {
    let server = start_chat().await;
    let (status, content_type, body) = get(&server, "/").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(body.contains("<script src=\"/chat.js\">"), "{body}");
    let (status, content_type, body) = get(&server, "/chat.js").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/javascript; charset=utf-8")
    );
    assert!(body.contains("json.webpubsub.azure.v1"));
    let (status, content_type, _) = get(&server, "/chat.css").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/css; charset=utf-8")
    );

    let (status, _, body) = get(&server, "/negotiate?user=no%20spaces&session=s").await;
    assert_eq!(status, 400);
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        error["error"],
        r#"invalid user name "no spaces": use 1 to 32 letters, digits, '-' or '_'"#
    );
    let (status, _, body) = get(&server, "/negotiate").await;
    assert_eq!(status, 400);
    assert!(body.contains("missing query parameter user"), "{body}");
    let (status, _, body) = get(&server, "/negotiate?user=alice").await;
    assert_eq!(status, 400);
    assert!(body.contains("missing query parameter session"), "{body}");

    // A name in use by another page is refused; the same page may sign in again.
    let (status, _, body) = get(&server, "/negotiate?user=alice&session=tab-1").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = get(&server, "/negotiate?user=alice&session=tab-2").await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("in use"), "{body}");
    let (status, _, body) = get(&server, "/negotiate?user=alice&session=tab-1").await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn two_users_talk_switch_rooms_and_see_presence() {
    let server = start_chat().await;

    let mut alice = connect(&server, "alice").await;
    command(&mut alice, 1, "join", json!({"room": "general"})).await;
    let joined = next_chat(&mut alice, "joined").await;
    assert_eq!(joined["room"], "general");
    assert_eq!(joined["rooms"], json!(["general", "random"]));
    assert_eq!(joined["myRooms"], json!(["general"]));
    assert_eq!(joined["history"], json!([]));

    // Bob comes online: alice hears it through the REST broadcast of on_connected.
    let mut bob = connect(&server, "bob").await;
    let presence = next_presence(&mut alice, "online", "bob").await;
    let online: Vec<&str> = presence["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"].as_str().unwrap())
        .collect();
    assert_eq!(online, ["alice", "bob"]);

    command(&mut bob, 1, "join", json!({"room": "general"})).await;
    let joined = next_chat(&mut bob, "joined").await;
    assert_eq!(joined["users"].as_array().unwrap().len(), 2);

    // Messages both ways, with sender and time; the sender gets its own copy too.
    say(&mut alice, 2, "general", "hi bob").await;
    for socket in [&mut bob, &mut alice] {
        let message = next_chat(socket, "message").await;
        assert_eq!(message["from"], "alice");
        assert_eq!(message["room"], "general");
        assert_eq!(message["text"], "hi bob");
        assert!(message["time"].as_u64().unwrap() > 1_700_000_000_000);
    }
    // Typing reaches the others in the room, not the typist.
    command(&mut bob, 2, "typing", json!({"room": "general"})).await;
    let typing = next_chat(&mut alice, "typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "room": "general", "user": "bob"})
    );
    say(&mut bob, 3, "general", "hello alice").await;
    let own = next_chat(&mut bob, "message").await;
    assert_eq!(
        own["text"], "hello alice",
        "bob got no typing notice of his own first"
    );
    let message = next_chat(&mut alice, "message").await;
    assert_eq!(
        (message["from"].as_str(), message["text"].as_str()),
        (Some("bob"), Some("hello alice"))
    );

    // Bob creates and switches to #dev: everyone learns the room list, alice sees where bob is.
    command(&mut bob, 4, "join", json!({"room": "dev"})).await;
    let joined = next_chat(&mut bob, "joined").await;
    assert_eq!(joined["myRooms"], json!(["dev", "general"]));
    let rooms = next_chat(&mut alice, "rooms").await;
    assert_eq!(rooms["rooms"], json!(["dev", "general", "random"]));
    let moved = next_presence(&mut alice, "moved", "bob").await;
    assert!(
        moved["users"]
            .as_array()
            .unwrap()
            .contains(&json!({"user": "bob", "room": "dev"}))
    );

    // A message in #dev does not reach alice, who has not joined it.
    say(&mut bob, 5, "dev", "dev only").await;
    assert_eq!(next_chat(&mut bob, "message").await["text"], "dev only");
    say(&mut alice, 3, "general", "still here").await;
    let next = next_chat(&mut alice, "message").await;
    assert_eq!(next["text"], "still here", "alice is not in #dev");

    // Refused commands come back as error messages, and the connection stays usable.
    say(&mut alice, 4, "dev", "let me in").await;
    let error = next_chat(&mut alice, "error").await;
    assert_eq!(
        error["message"],
        r#"user "alice" has not joined room "dev""#
    );
    command(&mut alice, 5, "shout", json!({"room": "dev"})).await;
    let error = next_chat(&mut alice, "error").await;
    assert_eq!(
        error["message"],
        r#"unknown event "shout": expected join, message or typing"#
    );

    // Joining #dev later shows its history.
    command(&mut alice, 6, "join", json!({"room": "dev"})).await;
    let joined = next_chat(&mut alice, "joined").await;
    let history = joined["history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0]["from"].as_str(), history[0]["text"].as_str()),
        (Some("bob"), Some("dev only"))
    );

    // Bob leaves: alice hears it through the REST broadcast of on_disconnected.
    bob.socket.close(None).await.unwrap();
    let offline = next_presence(&mut alice, "offline", "bob").await;
    assert_eq!(offline["users"], json!([{"user": "alice", "room": "dev"}]));

    // A returning user gets its rooms back: on_connect joins the groups of the user's rooms.
    let mut bob = connect(&server, "bob").await;
    say(&mut alice, 7, "dev", "welcome back").await;
    let message = next_chat(&mut bob, "message").await;
    assert_eq!(
        message["text"], "welcome back",
        "bob is in #dev without joining again"
    );

    server.shutdown().await;
}

#[tokio::test]
async fn the_number_of_rooms_is_bounded() {
    let server = start_chat().await;
    let mut alice = connect(&server, "alice").await;
    // Two rooms exist from the start; 98 more reach the bound of 100.
    for i in 0..98 {
        command(
            &mut alice,
            i + 1,
            "join",
            json!({"room": format!("room-{i}")}),
        )
        .await;
        assert_eq!(
            next_chat(&mut alice, "joined").await["room"],
            format!("room-{i}")
        );
    }
    command(&mut alice, 99, "join", json!({"room": "one-too-many"})).await;
    let error = next_chat(&mut alice, "error").await;
    assert_eq!(
        error["message"],
        r#"cannot create room "one-too-many": there are already 100 rooms"#
    );
    // Existing rooms still work.
    say(&mut alice, 100, "room-5", "still fine").await;
    assert_eq!(next_chat(&mut alice, "message").await["text"], "still fine");
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_clients_cleanly() {
    let server = start_chat().await;
    let mut alice = connect(&server, "alice").await;
    server.shutdown().await;
    // Bounded by the frames sent before the close.
    let mut told = None;
    for _ in 0..20 {
        let message = tokio::time::timeout(WAIT, alice.socket.next())
            .await
            .expect("the server closes in time");
        match message {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "system" && frame["event"] == "disconnected" {
                    told = frame["message"].as_str().map(str::to_owned);
                }
            }
            Some(Ok(Message::Close(_))) | None => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("not a clean close: {e}"),
        }
    }
    assert_eq!(told.as_deref(), Some("the chat server is shutting down"));
}

/// A connection string of a service this test never reaches (no network is needed: tokens are
/// minted locally, and events are sent by the test).
const AZURE: &str =
    "Endpoint=https://demo.webpubsub.azure.com;AccessKey=chat-test-key-not-a-secret;Version=1.0;";

/// A `connect` event as the service sends it, signed with `key` when there is one.
fn connect_event(key: Option<&str>) -> http::Request<Full<Bytes>> {
    let mut request = http::Request::post("/eventhandler")
        .header("content-type", "application/json")
        .header("webhook-request-origin", "demo.webpubsub.azure.com")
        .header("ce-specversion", "1.0")
        .header("ce-type", "azure.webpubsub.sys.connect")
        .header("ce-source", "/hubs/chat/client/conn-1")
        .header("ce-id", "1")
        .header("ce-time", "2026-11-21T09:00:00Z")
        .header("ce-awpsversion", "1.0")
        .header("ce-hub", "chat")
        .header("ce-connectionid", "conn-1")
        .header("ce-userid", "alice")
        .header("ce-eventname", "connect");
    if let Some(key) = key {
        request = request.header(
            "ce-signature",
            signature::sign(&AccessKey::new(key), "conn-1"),
        );
    }
    let body =
        json!({"claims": {"sub": ["alice"]}, "query": {}, "headers": {}, "subprotocols": []});
    request.body(Full::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn on_azure_it_mints_service_urls_and_accepts_only_signed_events() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        service: Service::ConnectionString(AZURE.into()),
        hub: "chat".into(),
        upstream: Upstream::Webhook,
    };
    assert!(
        !format!("{config:?}").contains("chat-test-key"),
        "{config:?}"
    );
    // Not shut down at the end: that would ask the (unreachable) service to close connections.
    let server = ChatServer::start(listener, config)
        .await
        .expect("starts without the service");
    assert_eq!(server.emulator_endpoint(), None);

    let (status, _, body) = get(&server, "/negotiate?user=alice&session=s").await;
    assert_eq!(status, 200, "{body}");
    let url: Value = serde_json::from_str(&body).unwrap();
    let url = url["url"].as_str().unwrap();
    assert!(
        url.starts_with("wss://demo.webpubsub.azure.com/client/hubs/chat?access_token="),
        "{url}"
    );

    // The service's abuse-protection handshake.
    let options = http::Request::options("/eventhandler")
        .header("webhook-request-origin", "demo.webpubsub.azure.com")
        .body(Full::default())
        .unwrap();
    let (status, headers, _) = send(&server, options).await;
    assert_eq!(status, 200);
    assert!(
        headers.contains_key("webhook-allowed-origin"),
        "{headers:?}"
    );

    // on_connect answers with the user and the groups of the user's rooms.
    let (status, _, body) = send(&server, connect_event(Some("chat-test-key-not-a-secret"))).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["userId"], "alice");
    assert_eq!(answer["groups"], json!(["general"]));

    let (status, _, body) = send(&server, connect_event(Some("some-other-key"))).await;
    assert_eq!(status, 401, "a wrong signature: {body}");
    let (status, _, body) = send(&server, connect_event(None)).await;
    assert_eq!(status, 401, "no signature: {body}");
}

#[tokio::test]
async fn a_bad_connection_string_is_refused_without_showing_the_key() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        service: Service::ConnectionString("Endpoint=;AccessKey=very-secret-key;".into()),
        hub: "chat".into(),
        upstream: Upstream::Webhook,
    };
    let err = ChatServer::start(listener, config).await.unwrap_err();
    assert!(matches!(err, ChatError::ConnectionString(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("invalid WEBPUBSUB_CONNECTION_STRING: "),
        "{message}"
    );
    assert!(
        !message.contains("very-secret-key") && !format!("{err:?}").contains("very-secret-key")
    );
}

/// Reads `output` until a line contains `want` (each read bounded by [`WAIT`], at most 100 lines).
async fn terminal_line(output: &mut Printed, want: &str) -> String {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let line = tokio::time::timeout(WAIT, output.next_line())
            .await
            .unwrap_or_else(|_| panic!("no line with {want:?} in time; seen {seen:?}"))
            .expect("readable")
            .unwrap_or_else(|| panic!("the output ended before {want:?}; seen {seen:?}"));
        if line.contains(want) {
            return line;
        }
        seen.push(line);
    }
    panic!("no line with {want:?} among {seen:?}")
}

type Printed = tokio::io::Lines<tokio::io::BufReader<tokio::io::DuplexStream>>;

/// The terminal client as `user` in room `general`: what to type, what it prints, its task.
async fn terminal(
    url: &str,
    user: &str,
) -> (
    tokio::io::DuplexStream,
    Printed,
    tokio::task::JoinHandle<Result<(), String>>,
) {
    use tokio::io::{AsyncBufReadExt as _, BufReader};
    let (typed, input) = tokio::io::duplex(4096);
    let (output, printed) = tokio::io::duplex(64 * 1024);
    let (url, user) = (url.to_owned(), user.to_owned());
    let task = tokio::spawn(async move {
        terminal_client::run(&url, &user, "general", BufReader::new(input), output)
            .await
            .map_err(|e| e.to_string())
    });
    let mut printed = BufReader::new(printed).lines();
    let mut task = task;
    tokio::select! {
        _ = terminal_line(&mut printed, "joined #general") => {}
        ended = &mut task => panic!("the terminal client ended: {ended:?}"),
    }
    (typed, printed, task)
}

#[tokio::test]
async fn two_terminal_clients_talk_in_rooms() {
    use tokio::io::AsyncWriteExt as _;

    let server = start_chat().await;
    let (mut ada_typed, mut ada_printed, ada_task) = terminal(&server.url(), "ada").await;
    let (mut bob_typed, mut bob_printed, bob_task) = terminal(&server.url(), "bob").await;

    ada_typed
        .write_all(b"hello from the terminal\n")
        .await
        .unwrap();
    let line = terminal_line(&mut bob_printed, "hello from the terminal").await;
    assert_eq!(line, "[#general] ada: hello from the terminal");

    // A room switch, then a message only the room sees.
    bob_typed.write_all(b"/join dev\n").await.unwrap();
    terminal_line(&mut bob_printed, "joined #dev").await;
    ada_typed
        .write_all(b"/join dev\nin dev now\n")
        .await
        .unwrap();
    terminal_line(&mut bob_printed, "[#dev] ada: in dev now").await;
    // A refusal is printed, not fatal.
    ada_typed.write_all(b"/join NOT A ROOM\n").await.unwrap();
    terminal_line(&mut ada_printed, "! invalid room name").await;

    for (mut typed, task) in [(ada_typed, ada_task), (bob_typed, bob_task)] {
        typed.write_all(b"/quit\n").await.unwrap();
        let done = tokio::time::timeout(WAIT, task)
            .await
            .expect("quits in time");
        done.unwrap().expect("the client ran without error");
    }
}
