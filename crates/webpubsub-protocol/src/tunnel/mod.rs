//! The frames of the service's tunnel (`/server/tunnel`), on which the service sends a hub's
//! webhook requests to an app that dialed it, and the app sends its answers and, with
//! `LocalRouting`, its own REST requests.
//!
//! A frame is one binary WebSocket message: a 4-byte little-endian length, then a MessagePack
//! array of three, `[type, JSON of the message's fields, Content bytes or nil]`. The JSON names its
//! fields in PascalCase and carries `Type` too; the MessagePack part is at most [`MAX_FRAME_LEN`]
//! bytes. This is the format of the official `TunnelMessageProtocol`
//! (`@azure/web-pubsub-socket.io`), and the golden vectors under `tests/data/tunnel/` hold this
//! codec to it in both directions.
//!
//! Decoding is strict and says in words what was wrong; it never panics.
//!
//! ```
//! use bytes::Bytes;
//! use webpubsub_protocol::tunnel::{HttpRequestMessage, TunnelHeaders, TunnelMessage};
//!
//! let request = HttpRequestMessage {
//!     ack_id: 7,
//!     method: "POST".into(),
//!     url: "/eventhandler?hub=chat".into(),
//!     headers: TunnelHeaders::from_iter([("ce-type", "azure.webpubsub.sys.connected")]),
//!     content: Bytes::from_static(b"{}"),
//!     ..HttpRequestMessage::default()
//! };
//! let frame = TunnelMessage::HttpRequest(request.clone()).encode()?;
//! assert_eq!(u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize, frame.len() - 4);
//!
//! let decoded = TunnelMessage::decode(&Bytes::from(frame))?;
//! assert_eq!(decoded, TunnelMessage::HttpRequest(request));
//! # Ok::<(), webpubsub_protocol::tunnel::TunnelFrameError>(())
//! ```

mod codec;
mod headers;
mod messages;

pub use codec::{MAX_FRAME_LEN, TunnelFrameError};
pub use headers::{TunnelHeaders, TunnelHeadersError};
pub use messages::{
    ConnectedMessage, ConnectionTargetMessage, HttpRequestMessage, HttpResponseMessage,
    NoticeMessage, TunnelMessage, TunnelMessageType,
};

/// The service's path for tunnel connections, below the endpoint.
pub const TUNNEL_PATH: &str = "/server/tunnel";

#[cfg(test)]
mod tests;
