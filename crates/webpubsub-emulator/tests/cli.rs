//! The `webpubsub-emulator` command: it prints its connection string, reports upstream
//! handshakes, serves clients, and refuses bad arguments with a message.

use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};
use webpubsub_protocol::ConnectionString;
use webpubsub_protocol::frames::ServerFrame;

const BIN: &str = env!("CARGO_BIN_EXE_webpubsub-emulator");
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn prints_its_connection_string_and_serves_clients() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--key", "cli-test-key", "--allow-anonymous"])
        .args(["--hub", &format!("chat=http://{closed}/{{event}}")])
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("more output")
    };
    let connection_string: ConnectionString =
        next_line().await.parse().expect("a connection string");
    assert_eq!(connection_string.access_key().expose(), "cli-test-key");
    let report = next_line().await;
    assert!(
        report.contains("hub chat") && report.contains("refused"),
        "{report}"
    );

    // The upstream of "chat" is unreachable, so its clients are refused with 500 and the reason.
    let ws_endpoint = connection_string.endpoint().replacen("http", "ws", 1);
    let refused = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::connect_async(format!("{ws_endpoint}/client/hubs/chat")),
    )
    .await
    .expect("answers in time");
    let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = refused else {
        panic!("expected a refusal")
    };
    assert_eq!(response.status(), 500);
    let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
    assert!(body.contains("unreachable"), "{body}");

    // An anonymous JSON client of a hub without upstream connects.
    let mut request = format!("{ws_endpoint}/client/hubs/other")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("json.webpubsub.azure.v1"),
    );
    let (mut socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("connects in time")
        .expect("the anonymous client is accepted");
    let first = tokio::time::timeout(WAIT, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let frame = ServerFrame::parse(first.to_text().unwrap()).unwrap();
    assert!(
        matches!(frame, ServerFrame::Connected { user_id: None, .. }),
        "{frame:?}"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn bad_arguments_are_refused_with_a_message() {
    for (args, expected) in [
        (&["--hub", "no-url"][..], "NAME=URL_TEMPLATE"),
        (
            &["--hub", "chat=ftp://x/{event}", "--port", "0"][..],
            "not http, https or tunnel",
        ),
        (&["--key", "", "--port", "0"][..], "access key 0 is empty"),
        (&["--port", "not-a-port"][..], "invalid value"),
    ] {
        let output = tokio::time::timeout(WAIT, Command::new(BIN).args(args).output())
            .await
            .expect("exits in time")
            .unwrap();
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
