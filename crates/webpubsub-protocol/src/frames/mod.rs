//! The frames of the client subprotocols: what a client sends ([`ClientFrame`]) and what the
//! service answers ([`ServerFrame`]), as JSON text for `json.webpubsub.azure.v1` and
//! `json.reliable.webpubsub.azure.v1` ([`ClientFrame::parse`], [`ServerFrame::to_json`]), and as
//! protobuf binary messages for `protobuf.webpubsub.azure.v1` and
//! `protobuf.reliable.webpubsub.azure.v1` ([`ClientFrame::from_protobuf`],
//! [`ServerFrame::to_protobuf`]; the messages are in `proto/webpubsub.client.v1.proto`). The
//! protobuf subprotocols have no `invoke`, and their group messages carry no sender user id.
//!
//! Parsing is strict about what the service needs (a `group` for `joinGroup`, a string `data`
//! for `dataType: text`, valid base64 for `binary`) and says what was wrong in words; it never
//! panics. A frame that is valid JSON with an `ackId` but otherwise invalid keeps its ack id in the
//! error ([`FrameError::ack_id`]), so the service can answer it with a `BadRequest` ack.
//!
//! ```
//! use webpubsub_protocol::frames::{AckError, ClientFrame, FrameData, ServerFrame};
//!
//! let frame = ClientFrame::parse(
//!     r#"{"type":"sendToGroup","group":"room","ackId":1,"noEcho":true,"dataType":"text","data":"hi"}"#,
//! )?;
//! assert_eq!(
//!     frame,
//!     ClientFrame::SendToGroup {
//!         group: "room".into(),
//!         ack_id: Some(1),
//!         no_echo: true,
//!         data: FrameData::Text("hi".into()),
//!     }
//! );
//!
//! let ack = ServerFrame::Ack { ack_id: 1, error: Some(AckError::forbidden("no permission")) };
//! assert_eq!(
//!     ack.to_json(),
//!     r#"{"type":"ack","ackId":1,"success":false,"error":{"name":"Forbidden","message":"no permission"}}"#
//! );
//!
//! // The same frame on a protobuf subprotocol: a `DownstreamMessage` with an `ack_message`.
//! let bytes = ack.to_protobuf()?;
//! assert_eq!(ServerFrame::from_protobuf(&bytes)?, ack);
//! # Ok::<(), webpubsub_protocol::frames::FrameError>(())
//! ```

mod ack;
mod client;
mod data;
mod protobuf;
mod server;

pub use ack::{AckError, AckErrorName};
pub use client::{ClientFrame, FrameError};
pub use data::FrameData;
pub use server::{MessageSource, ServerFrame};

/// The JSON subprotocol.
pub const JSON_SUBPROTOCOL: &str = "json.webpubsub.azure.v1";
/// The reliable JSON subprotocol: messages carry sequence ids, and a dropped connection can be
/// recovered.
pub const JSON_RELIABLE_SUBPROTOCOL: &str = "json.reliable.webpubsub.azure.v1";
/// The protobuf subprotocol: binary frames ([`ClientFrame::to_protobuf`],
/// [`ServerFrame::to_protobuf`]).
pub const PROTOBUF_SUBPROTOCOL: &str = "protobuf.webpubsub.azure.v1";
/// The reliable protobuf subprotocol: binary frames with sequence ids and recovery.
pub const PROTOBUF_RELIABLE_SUBPROTOCOL: &str = "protobuf.reliable.webpubsub.azure.v1";

#[cfg(test)]
mod tests;
