//! The client's socket: the frame limit, the close codes, bounded writes, and registry
//! messages as plain clients see them.

use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, Utf8Bytes, WebSocket};
use futures_util::{FutureExt as _, SinkExt as _};
use tokio::time::timeout;

use crate::registry::Message;

/// The largest frame a client may send, as in the service; larger frames close with 1009.
pub(super) const MAX_FRAME_BYTES: usize = 1 << 20;

/// How long writing to a client may make no progress before the client counts as gone, unless
/// configured otherwise (`--write-timeout`).
pub(crate) const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// WebSocket close codes the emulator sends.
pub(super) mod close_code {
    pub(crate) const NORMAL: u16 = 1000;
    pub(crate) const GOING_AWAY: u16 = 1001;
    pub(crate) const PROTOCOL_ERROR: u16 = 1002;
    /// A text frame that is not UTF-8 (RFC 6455 section 8.1).
    pub(crate) const INVALID_DATA: u16 = 1007;
    pub(crate) const POLICY_VIOLATION: u16 = 1008;
    pub(crate) const TOO_BIG: u16 = 1009;
    pub(crate) const INTERNAL_ERROR: u16 = 1011;
}

pub(super) fn data_len(message: &WsMessage) -> usize {
    match message {
        WsMessage::Text(text) => text.len(),
        WsMessage::Binary(bytes) => bytes.len(),
        _ => 0,
    }
}

/// A registry message as a plain client receives it: text (JSON as text) or binary. Shares the
/// message's bytes (no copy per recipient).
pub(super) fn plain_frame(message: &Message) -> WsMessage {
    use crate::registry::DataType;
    match message.data_type {
        DataType::Text | DataType::Json => match Utf8Bytes::try_from(message.data.clone()) {
            Ok(text) => WsMessage::Text(text),
            Err(_) => WsMessage::Binary(message.data.clone()),
        },
        DataType::Binary | DataType::Protobuf => WsMessage::Binary(message.data.clone()),
    }
}

/// Writes one frame and flushes it, within `timeout`.
///
/// Not an `async fn`, nor is [`flush`]: their futures are part of every caller's, and so of
/// every connection's task, and an `async fn` would keep its by-value arguments (the frame,
/// the inner write) beside their moved copies: 616 bytes instead of 256 here.
pub(super) fn write(
    socket: &mut WebSocket,
    timeout: Duration,
    message: WsMessage,
) -> impl Future<Output = Result<(), String>> {
    bounded(timeout, socket.send(message))
}

/// Puts one frame in the socket's write buffer; [`send_buffered`] sends what is buffered. The
/// buffer goes out on its own once it passes the upgrade's write buffer size. Not bounded by
/// itself: the caller bounds a whole batch of frames, with one deadline.
pub(super) async fn feed(socket: &mut WebSocket, message: WsMessage) -> Result<(), String> {
    socket.feed(message).await.map_err(failed)
}

/// Sends every buffered frame. Not bounded by itself, like [`feed`].
pub(super) async fn send_buffered(socket: &mut WebSocket) -> Result<(), String> {
    socket.flush().await.map_err(failed)
}

/// Sends every buffered frame, within `timeout`.
pub(super) fn flush(
    socket: &mut WebSocket,
    timeout: Duration,
) -> impl Future<Output = Result<(), String>> {
    bounded(timeout, socket.flush())
}

/// `write`, unless it makes no progress for `limit`: then the client counts as gone.
fn bounded(
    limit: Duration,
    write: impl Future<Output = Result<(), axum::Error>>,
) -> impl Future<Output = Result<(), String>> {
    timeout(limit, write).map(move |written| match written {
        Ok(written) => written.map_err(failed),
        Err(_) => Err(stalled(limit)),
    })
}

/// Why a client whose writes made no progress for `limit` counts as gone.
pub(super) fn stalled(limit: Duration) -> String {
    format!("the client did not read for {limit:?}")
}

fn failed(error: axum::Error) -> String {
    format!("writing to the socket failed: {error}")
}

/// At most `max` bytes of `text`, cut at a character boundary.
pub(super) fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
