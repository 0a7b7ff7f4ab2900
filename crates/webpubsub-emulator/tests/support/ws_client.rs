//! A small WebSocket client for the emulator tests: connects with a subprotocol, sends JSON
//! frames and waits (always with a timeout) for server frames.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Response};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use webpubsub_protocol::frames::ServerFrame;

/// How long a test waits for one frame.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected test client.
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The subprotocol the server chose.
    pub subprotocol: Option<String>,
}

/// Why a connection attempt failed: the HTTP status and body of a refused upgrade.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: String,
}

impl WsClient {
    /// Connects to `url`, asking for `subprotocol` if given.
    pub async fn connect(url: &str, subprotocol: Option<&str>) -> Result<Self, Refused> {
        Self::connect_with(url, subprotocol, &[]).await
    }

    /// Connects to `url` with extra request headers.
    pub async fn connect_with(
        url: &str,
        subprotocol: Option<&str>,
        headers: &[(&'static str, &str)],
    ) -> Result<Self, Refused> {
        let mut request = url.into_client_request().expect("valid url");
        if let Some(p) = subprotocol {
            request
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_str(p).unwrap());
        }
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let connect = tokio_tungstenite::connect_async(request);
        match tokio::time::timeout(FRAME_TIMEOUT, connect)
            .await
            .expect("connect timed out")
        {
            Ok((stream, response)) => Ok(Self {
                subprotocol: subprotocol_of(&response),
                stream,
            }),
            Err(tungstenite::Error::Http(response)) => Err(Refused {
                status: response.status().as_u16(),
                body: response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            }),
            Err(other) => panic!("connect failed: {other}"),
        }
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.stream
            .send(Message::text(text.into()))
            .await
            .expect("send failed");
    }

    /// Sends a JSON frame.
    pub async fn send_json(&mut self, value: serde_json::Value) {
        self.send_text(value.to_string()).await;
    }

    /// Sends a raw message.
    pub async fn send(&mut self, message: Message) {
        self.stream.send(message).await.expect("send failed");
    }

    /// The next data or close message (pings and pongs skipped).
    pub async fn next_message(&mut self) -> Message {
        loop {
            let next = tokio::time::timeout(FRAME_TIMEOUT, self.stream.next())
                .await
                .expect("no frame within the timeout");
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return message,
                Some(Err(e)) => panic!("read failed: {e}"),
                None => panic!("the stream ended"),
            }
        }
    }

    /// The next server frame of a JSON subprotocol.
    pub async fn next_frame(&mut self) -> ServerFrame {
        match self.next_message().await {
            Message::Text(text) => ServerFrame::parse(&text)
                .unwrap_or_else(|e| panic!("not a server frame: {text}: {e}")),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next server frame of a protobuf subprotocol (a binary `DownstreamMessage`).
    pub async fn next_protobuf_frame(&mut self) -> ServerFrame {
        match self.next_message().await {
            Message::Binary(bytes) => ServerFrame::from_protobuf(&bytes)
                .unwrap_or_else(|e| panic!("not a server frame: {bytes:?}: {e}")),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Sends a client frame as a protobuf subprotocol's binary `UpstreamMessage`.
    pub async fn send_protobuf(&mut self, frame: &webpubsub_protocol::frames::ClientFrame) {
        let bytes = frame.to_protobuf().expect("a frame with a protobuf form");
        self.send(Message::binary(bytes)).await;
    }

    /// Waits for a frame that is not a `message` and returns it, collecting messages on the way.
    pub async fn next_non_message(&mut self, messages: &mut Vec<ServerFrame>) -> ServerFrame {
        loop {
            match self.next_frame().await {
                frame @ ServerFrame::Message { .. } => messages.push(frame),
                other => return other,
            }
        }
    }

    /// Reads until the server closes; returns the close code and reason, and the data frames
    /// that came before.
    pub async fn closed(&mut self) -> (Option<u16>, String, Vec<Message>) {
        let mut before = Vec::new();
        loop {
            let next = tokio::time::timeout(FRAME_TIMEOUT, self.stream.next())
                .await
                .expect("no close within the timeout");
            match next {
                Some(Ok(Message::Close(frame))) => {
                    return (
                        frame.as_ref().map(|f| u16::from(f.code)),
                        frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                        before,
                    );
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(message)) => before.push(message),
                Some(Err(_)) | None => return (None, String::new(), before),
            }
        }
    }

    /// Whether nothing arrives within `wait`.
    pub async fn is_quiet(&mut self, wait: Duration) -> bool {
        match tokio::time::timeout(wait, self.stream.next()).await {
            Err(_) => true,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => true,
            Ok(_) => false,
        }
    }

    /// Drops the TCP connection without a close handshake, as a network failure would.
    pub fn drop_abruptly(self) {
        drop(self.stream);
    }
}

fn subprotocol_of<B>(response: &Response<B>) -> Option<String> {
    response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
