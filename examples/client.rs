//! A terminal chat client for the chat example, on `webpubsub-client`.
//!
//! Run the chat (`cargo run --example chat`), then in another terminal:
//!
//! ```text
//! cargo run --example client -- http://127.0.0.1:8080 ada general
//! ```
//!
//! (the chat's address as it prints it, a user name, the first room). Each line you type is a
//! message to the current room; `/join ROOM` joins or switches rooms; `/quit` leaves. Messages,
//! presence and errors are printed as they come. The client gets its client access URL from the
//! chat's `/negotiate` before every new connection, so it survives the chat's token expiry, and
//! its connection survives network drops (the reliable subprotocol recovers it).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncWrite, AsyncWriteExt as _};
use webpubsub::client::{ClientEvent, Events, FrameData, SendOptions, WebPubSubClient};

/// How long the client waits for the chat's `/negotiate`.
const NEGOTIATE_TIMEOUT: Duration = Duration::from_secs(10);

#[allow(dead_code)] // the chat's tests use `run` only
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(server), Some(user)) = (args.next(), args.next()) else {
        eprintln!("usage: cargo run --example client -- CHAT_URL USER [ROOM]");
        std::process::exit(2);
    };
    let room = args.next().unwrap_or_else(|| "general".to_owned());
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    run(&server, &user, &room, input, tokio::io::stdout()).await
}

/// The client access URL the chat at `server` mints for `user` in this `session` (the chat
/// lets one session hold a name at a time).
async fn negotiate(
    http: &reqwest::Client,
    server: &str,
    user: &str,
    session: &str,
) -> Result<String, webpubsub::client::BoxError> {
    let response = http
        .get(format!("{}/negotiate", server.trim_end_matches('/')))
        .query(&[("user", user), ("session", session)])
        .timeout(NEGOTIATE_TIMEOUT)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    match body.get("url").and_then(Value::as_str) {
        Some(url) if status.is_success() => Ok(url.to_owned()),
        _ => Err(format!("negotiate answered {status}: {}", body["error"]).into()),
    }
}

/// Chats as `user` on the chat at `server`, starting in `room`: commands from `input`, what
/// happens to `output`, until `/quit` or the end of `input`.
pub(crate) async fn run(
    server: &str,
    user: &str,
    room: &str,
    input: impl AsyncBufRead + Unpin,
    mut output: impl AsyncWrite + Unpin + Send + 'static,
) -> Result<(), Box<dyn std::error::Error>> {
    let http = reqwest::Client::new();
    let (server_url, user_name) = (server.to_owned(), user.to_owned());
    let session = format!("terminal-{:016x}", fastrand::u64(..));
    let (client, events) = WebPubSubClient::builder_with_url(move || {
        let (http, server, user) = (http.clone(), server_url.clone(), user_name.clone());
        let session = session.clone();
        async move { negotiate(&http, &server, &user, &session).await }
    })
    .build();
    client.start().await?;
    let mut room = room.to_owned();
    client
        .send_event("join", json!({ "room": room }), SendOptions::new())
        .await?;
    output
        .write_all(format!("* you are {user} in #{room}; /join ROOM, /quit\n").as_bytes())
        .await?;
    let printer = tokio::spawn(print_events(events, output));

    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await? {
        let line = line.trim();
        if line == "/quit" {
            break;
        }
        let (event, data) = match line.strip_prefix("/join ") {
            Some(next) => {
                room = next.trim().to_owned();
                ("join", json!({ "room": room }))
            }
            None if line.is_empty() => continue,
            None => ("message", json!({ "room": room, "text": line })),
        };
        // The chat answers refusals with an `error` message, which the printer shows.
        client.send_event(event, data, SendOptions::new()).await?;
    }
    client.stop().await;
    let _ = printer.await;
    Ok(())
}

/// Prints what the chat sends, one line each, until the client stops.
async fn print_events(mut events: Events, mut output: impl AsyncWrite + Unpin) {
    while let Some(event) = events.recv().await {
        let line = match event {
            ClientEvent::ServerMessage { data, .. } | ClientEvent::GroupMessage { data, .. } => {
                match data {
                    FrameData::Json(message) => describe(&message),
                    other => Some(format!("? {other:?}")),
                }
            }
            ClientEvent::Disconnected { message, .. } => Some(format!(
                "* disconnected ({}); reconnecting",
                message.unwrap_or_default()
            )),
            ClientEvent::Connected { .. } => None,
            ClientEvent::Stopped => break,
            other => Some(format!("* {other:?}")),
        };
        if let Some(line) = line
            && output
                .write_all(format!("{line}\n").as_bytes())
                .await
                .is_err()
        {
            break;
        }
        let _ = output.flush().await;
    }
}

/// One line for a chat message (the `ServerMessage` of the chat example), if it is worth one.
fn describe(message: &Value) -> Option<String> {
    let text = |key: &str| message[key].as_str().unwrap_or_default().to_owned();
    Some(match message["type"].as_str()? {
        "message" => format!("[#{}] {}: {}", text("room"), text("from"), text("text")),
        "joined" => {
            let history = message["history"].as_array().map_or(0, Vec::len);
            format!("* joined #{} ({history} earlier messages)", text("room"))
        }
        "presence" => format!("* {} is {}", text("user"), text("event")),
        "error" => format!("! {}", text("message")),
        _ => return None,
    })
}
