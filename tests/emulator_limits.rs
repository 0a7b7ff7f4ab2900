//! The emulator's time limits and connection cap, over loopback: sockets that send half a
//! request are closed after the read timeout (and do not stop others meanwhile), connections
//! over the cap get 503, a REST body that stalls gets 408, and a hung upstream answers a
//! client's `connect` within the one upstream deadline.

mod support;

use std::time::{Duration, Instant};

use support::ws_client::WsClient;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use webpubsub::emulator::{Emulator, EmulatorBuilder, HubSettings};
use webpubsub_rest::WebPubSubServiceClient;

const KEY: &str = "limits-test-key-not-a-secret";
const HUB: &str = "chat";
/// How long any single wait of these tests may take.
const BOUND: Duration = Duration::from_secs(10);

async fn start(builder: EmulatorBuilder) -> (Emulator, WebPubSubServiceClient) {
    let emulator = builder
        .key(KEY)
        .hub(HubSettings::new(HUB))
        .start()
        .await
        .unwrap();
    let rest =
        WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), HUB).unwrap();
    (emulator, rest)
}

/// Reads until the server closes the socket; what it sent before.
async fn read_to_close(socket: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(BOUND, socket.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept the socket open");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn half_sent_requests_are_closed_and_do_not_stop_others() {
    let (emulator, rest) =
        start(Emulator::builder().read_timeout(Duration::from_millis(500))).await;
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut socket = TcpStream::connect(emulator.local_addr()).await.unwrap();
        socket.write_all(b"GET /api/health HT").await.unwrap();
        slow.push(socket);
    }
    // Meanwhile others are served.
    rest.send_to_all("still served").await.unwrap();
    for socket in &mut slow {
        read_to_close(socket).await;
    }
}

#[tokio::test]
async fn connections_over_the_cap_get_503_until_one_closes() {
    let (emulator, rest) = start(Emulator::builder().max_connections(3)).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(emulator.local_addr()).await.unwrap());
    }
    // The emulator counts a connection once it accepted it: the answer to the fourth says so.
    let mut over = TcpStream::connect(emulator.local_addr()).await.unwrap();
    let answer = read_to_close(&mut over).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("limit"), "{answer}");
    drop(held);
    // The slots come back as the held connections end.
    let mut served = false;
    for _ in 0..50 {
        if rest.send_to_all("after").await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the emulator never served again");
}

#[tokio::test]
async fn a_stalled_rest_body_gets_408() {
    let (emulator, _rest) =
        start(Emulator::builder().read_timeout(Duration::from_millis(300))).await;
    let mut socket = TcpStream::connect(emulator.local_addr()).await.unwrap();
    let head = format!(
        "POST /api/hubs/{HUB}/:send?api-version=2024-12-01 HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n0123456789",
        emulator.local_addr(),
        rest_token(&emulator)
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

fn rest_token(emulator: &Emulator) -> String {
    let url = format!(
        "{}/api/hubs/{HUB}/:send?api-version=2024-12-01",
        emulator.endpoint()
    );
    support::token::rest_token(KEY, &url)
}

#[tokio::test]
async fn a_hung_upstream_answers_connect_within_the_deadline() {
    // An upstream that accepts connections and never answers.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = hung.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hung.accept().await {
            held.push(stream);
        }
    });
    let emulator = Emulator::builder()
        .key(KEY)
        .hub(HubSettings::new(HUB).upstream(format!("http://{address}/eventhandler")))
        .upstream_timeout(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let rest =
        WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), HUB).unwrap();
    let token = rest.client_access_token().user_id("u").await.unwrap();
    let started = Instant::now();
    let refused = WsClient::connect(token.url(), None)
        .await
        .err()
        .expect("a hung upstream refuses the connection");
    // Per attempt, the three attempts and their pauses would take 5.5 s.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert!(refused.body.contains("unreachable"), "{}", refused.body);
}

#[tokio::test]
async fn silent_sockets_and_half_sent_http2_prefaces_are_closed_after_the_read_timeout() {
    let (emulator, rest) =
        start(Emulator::builder().read_timeout(Duration::from_millis(500))).await;
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(emulator.local_addr()).await.unwrap());
    }
    // The HTTP/2 preface is 24 bytes; half of it leaves the protocol undecided, all of it with
    // no SETTINGS frame after leaves the HTTP/2 handshake unfinished.
    for preface in [
        &b"PRI * HTTP/2.0\r\n"[..],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ] {
        for _ in 0..10 {
            let mut socket = TcpStream::connect(emulator.local_addr()).await.unwrap();
            socket.write_all(preface).await.unwrap();
            silent.push(socket);
        }
    }
    // Meanwhile others are served.
    rest.send_to_all("still served").await.unwrap();
    for socket in &mut silent {
        read_to_close(socket).await;
    }
}

#[tokio::test]
async fn silent_websocket_clients_are_closed_and_live_ones_kept() {
    let idle = Duration::from_millis(600);
    let (_emulator, rest) = start(Emulator::builder().client_idle_timeout(idle)).await;
    let url = |user: &'static str| {
        let rest = &rest;
        async move {
            let token = rest.client_access_token().user_id(user).await.unwrap();
            token.url().to_owned()
        }
    };
    let mut live = WsClient::connect(&url("live").await, Some("json.webpubsub.azure.v1"))
        .await
        .unwrap();
    // Never read, so its pings go unanswered, as a peer whose network is gone.
    let _silent = WsClient::connect(&url("silent").await, Some("json.webpubsub.azure.v1"))
        .await
        .unwrap();
    // The live client reads (and so answers the pings) for over three idle timeouts.
    let until = Instant::now() + idle * 3;
    while Instant::now() < until {
        live.is_quiet(Duration::from_millis(50)).await;
    }
    assert!(
        rest.user_exists("live").await.unwrap(),
        "a live client was closed"
    );
    assert!(
        !rest.user_exists("silent").await.unwrap(),
        "a silent client was kept"
    );
}
