//! The tunnel's message types and their fields.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::TunnelHeaders;

/// The number that names a message's type, the first element of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TunnelMessageType {
    /// An HTTP request: a webhook from the service, or a REST call from the app.
    HttpRequest = 1,
    /// The answer to an [`HttpRequest`](Self::HttpRequest), possibly one of several parts.
    HttpResponse = 2,
    /// A status notice from the service.
    ServiceStatus = 5,
    /// Drop this connection and dial the given endpoint and target instead.
    ConnectionReconnect = 6,
    /// The service closes this connection.
    ConnectionClose = 7,
    /// Open one more connection to the given endpoint and target.
    ConnectionRebalance = 8,
    /// The first message on a connection: its id.
    ConnectionConnected = 10,
}

impl TunnelMessageType {
    /// The type with this wire number, if it is one of the known types.
    pub fn from_number(number: u64) -> Option<Self> {
        Some(match number {
            1 => Self::HttpRequest,
            2 => Self::HttpResponse,
            5 => Self::ServiceStatus,
            6 => Self::ConnectionReconnect,
            7 => Self::ConnectionClose,
            8 => Self::ConnectionRebalance,
            10 => Self::ConnectionConnected,
            _ => return None,
        })
    }

    /// The wire number.
    pub fn number(self) -> u8 {
        self as u8
    }
}

/// One tunnel message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TunnelMessage {
    /// See [`HttpRequestMessage`].
    HttpRequest(HttpRequestMessage),
    /// See [`HttpResponseMessage`].
    HttpResponse(HttpResponseMessage),
    /// A status notice from the service.
    ServiceStatus(NoticeMessage),
    /// Drop this connection and dial the target instead.
    ConnectionReconnect(ConnectionTargetMessage),
    /// The service closes this connection.
    ConnectionClose(NoticeMessage),
    /// Open one more connection to the target, keeping this one.
    ConnectionRebalance(ConnectionTargetMessage),
    /// See [`ConnectedMessage`].
    ConnectionConnected(ConnectedMessage),
}

impl TunnelMessage {
    /// This message's type.
    pub fn message_type(&self) -> TunnelMessageType {
        match self {
            Self::HttpRequest(_) => TunnelMessageType::HttpRequest,
            Self::HttpResponse(_) => TunnelMessageType::HttpResponse,
            Self::ServiceStatus(_) => TunnelMessageType::ServiceStatus,
            Self::ConnectionReconnect(_) => TunnelMessageType::ConnectionReconnect,
            Self::ConnectionClose(_) => TunnelMessageType::ConnectionClose,
            Self::ConnectionRebalance(_) => TunnelMessageType::ConnectionRebalance,
            Self::ConnectionConnected(_) => TunnelMessageType::ConnectionConnected,
        }
    }
}

/// An HTTP request over the tunnel (type 1). From the service it is a webhook for the app to serve;
/// from the app, with `local_routing`, it is a REST call for the service to serve.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpRequestMessage {
    /// The service's trace id for this message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing_id: Option<u64>,
    /// The id the answer echoes; unique among the sender's open requests on this tunnel.
    pub ack_id: u64,
    /// Whether this is the app's own REST call to the service (the answer echoes it).
    #[serde(default)]
    pub local_routing: bool,
    /// An opaque routing name the answer echoes.
    #[serde(default)]
    pub channel_name: String,
    /// The HTTP method.
    #[serde(rename = "HttpMethod")]
    pub method: String,
    /// The path and query (the service sends the handler's path from its `tunnel:///path`
    /// template).
    pub url: String,
    /// The request headers.
    #[serde(default)]
    pub headers: TunnelHeaders,
    /// The body, carried as the frame's third element.
    #[serde(skip)]
    pub content: Bytes,
}

/// The answer to an [`HttpRequestMessage`] (type 2). A large answer may come as several messages
/// with the same `ack_id`: every part but the last has `not_completed` set, and the first carries
/// the status and headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpResponseMessage {
    /// The service's trace id for this message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing_id: Option<u64>,
    /// The request's `ack_id`.
    pub ack_id: u64,
    /// The request's `local_routing`.
    #[serde(default)]
    pub local_routing: bool,
    /// The HTTP status code.
    pub status_code: u16,
    /// The request's `channel_name`.
    #[serde(default)]
    pub channel_name: String,
    /// Whether more parts of this answer follow.
    #[serde(default)]
    pub not_completed: bool,
    /// The response headers.
    #[serde(default)]
    pub headers: TunnelHeaders,
    /// The body (or this part of it), carried as the frame's third element.
    #[serde(skip)]
    pub content: Bytes,
}

/// A message in words: the fields of [`ServiceStatus`](TunnelMessage::ServiceStatus) (a notice
/// from the service, type 5) and of [`ConnectionClose`](TunnelMessage::ConnectionClose) (the
/// service closes this connection, type 7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NoticeMessage {
    /// The service's trace id for this message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing_id: Option<u64>,
    /// The notice, or why the connection closes.
    #[serde(default)]
    pub message: String,
}

/// Where to dial: the fields of [`ConnectionReconnect`](TunnelMessage::ConnectionReconnect) (drop
/// this connection and dial there instead, type 6) and of
/// [`ConnectionRebalance`](TunnelMessage::ConnectionRebalance) (open one more connection there,
/// type 8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectionTargetMessage {
    /// The service's trace id for this message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing_id: Option<u64>,
    /// The service instance to ask for (`target` in the tunnel URL).
    #[serde(default)]
    pub target_id: String,
    /// The endpoint to dial; empty means the one the app was configured with.
    #[serde(default)]
    pub endpoint: String,
    /// Why.
    #[serde(default)]
    pub message: String,
}

/// The first message on a tunnel connection (type 10).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectedMessage {
    /// The service's trace id for this message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing_id: Option<u64>,
    /// The connection's id.
    pub connection_id: String,
    /// The user id the connection authenticated as (the token's `sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// A token to resume the connection with, if the service offers one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnection_token: Option<String>,
}
