//! The frames of the JSON client subprotocols, `json.webpubsub.azure.v1` and
//! `json.reliable.webpubsub.azure.v1`: what a client sends ([`ClientFrame`]) and what the service
//! answers ([`ServerFrame`]).
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
//! # Ok::<(), webpubsub_protocol::frames::FrameError>(())
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The JSON subprotocol.
pub const JSON_SUBPROTOCOL: &str = "json.webpubsub.azure.v1";
/// The reliable JSON subprotocol: messages carry sequence ids, and a dropped connection can be
/// recovered.
pub const JSON_RELIABLE_SUBPROTOCOL: &str = "json.reliable.webpubsub.azure.v1";

/// The payload of a frame with its `dataType`.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameData {
    /// `dataType: text`: `data` is a string.
    Text(String),
    /// `dataType: json`: `data` is any JSON value.
    Json(Value),
    /// `dataType: binary`: `data` is base64 on the wire.
    Binary(Vec<u8>),
}

impl FrameData {
    /// The `dataType` name.
    pub fn data_type(&self) -> &'static str {
        match self {
            Self::Text(_) => "text",
            Self::Json(_) => "json",
            Self::Binary(_) => "binary",
        }
    }

    /// The `data` value as it appears on the wire.
    pub fn to_value(&self) -> Value {
        match self {
            Self::Text(text) => Value::String(text.clone()),
            Self::Json(value) => value.clone(),
            Self::Binary(bytes) => Value::String(BASE64.encode(bytes)),
        }
    }

    fn from_wire(data_type: Option<&str>, data: Option<Value>) -> Result<Self, String> {
        let data = data.ok_or("the frame has no data")?;
        // The service treats a missing dataType as json.
        match data_type.unwrap_or("json") {
            "json" => Ok(Self::Json(data)),
            "text" => match data {
                Value::String(text) => Ok(Self::Text(text)),
                other => Err(format!(
                    "dataType text needs a string data, got {}",
                    kind(&other)
                )),
            },
            "binary" => match data {
                Value::String(text) => BASE64
                    .decode(text.as_bytes())
                    .map(Self::Binary)
                    .map_err(|e| format!("binary data is not valid base64: {e}")),
                other => Err(format!(
                    "dataType binary needs a base64 string data, got {}",
                    kind(&other)
                )),
            },
            "protobuf" => Err("dataType protobuf is not supported by the JSON subprotocols".into()),
            other => Err(format!("unknown dataType {other:?}")),
        }
    }
}

/// A frame a JSON-subprotocol client sends.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientFrame {
    /// `{"type":"joinGroup","group":…,"ackId":…}`
    JoinGroup {
        /// The group.
        group: String,
        /// The ack id, when the client wants an ack.
        ack_id: Option<u64>,
    },
    /// `{"type":"leaveGroup","group":…,"ackId":…}`
    LeaveGroup {
        /// The group.
        group: String,
        /// The ack id, when the client wants an ack.
        ack_id: Option<u64>,
    },
    /// `{"type":"sendToGroup","group":…,"ackId":…,"noEcho":…,"dataType":…,"data":…}`
    SendToGroup {
        /// The group.
        group: String,
        /// The ack id, when the client wants an ack.
        ack_id: Option<u64>,
        /// Whether the sender itself is left out.
        no_echo: bool,
        /// The payload.
        data: FrameData,
    },
    /// `{"type":"event","event":…,"ackId":…,"dataType":…,"data":…}`: a user event for the
    /// upstream.
    Event {
        /// The event name.
        event: String,
        /// The ack id, when the client wants an ack.
        ack_id: Option<u64>,
        /// The payload.
        data: FrameData,
    },
    /// `{"type":"invoke","invocationId":…,"target":"event","event":…,"dataType":…,"data":…}`:
    /// a user event whose answer comes back as an `invokeResponse`.
    Invoke {
        /// The client's id of the invocation.
        invocation_id: String,
        /// The event name.
        event: String,
        /// The payload, if any.
        data: Option<FrameData>,
    },
    /// `{"type":"cancelInvocation","invocationId":…}`: the client no longer waits for the answer.
    CancelInvocation {
        /// The invocation.
        invocation_id: String,
    },
    /// `{"type":"sequenceAck","sequenceId":…}`: the client has every message up to this id.
    SequenceAck {
        /// The highest sequence id received.
        sequence_id: u64,
    },
    /// `{"type":"ping"}`: a keep-alive the service answers with `pong`.
    Ping,
}

/// Why a client frame is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid frame: {reason}")]
pub struct FrameError {
    ack_id: Option<u64>,
    invocation_id: Option<String>,
    reason: String,
}

impl FrameError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            ack_id: None,
            invocation_id: None,
            reason: reason.into(),
        }
    }

    /// The frame's `invocationId`, if it had one: the service answers such a frame with a failed
    /// `invokeResponse`.
    pub fn invocation_id(&self) -> Option<&str> {
        self.invocation_id.as_deref()
    }

    /// The frame's `ackId`, if it had a readable one: the service answers such a frame with a
    /// `BadRequest` ack instead of closing the connection.
    pub fn ack_id(&self) -> Option<u64> {
        self.ack_id
    }

    /// What was wrong, in words.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The fields any client frame may have; which are required depends on `type`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireClientFrame {
    #[serde(rename = "type")]
    kind: String,
    group: Option<String>,
    event: Option<String>,
    ack_id: Option<u64>,
    no_echo: Option<bool>,
    data_type: Option<String>,
    data: Option<Value>,
    sequence_id: Option<u64>,
    invocation_id: Option<Value>,
    target: Option<String>,
}

/// An invocation id as text: clients send strings, numbers are taken as their decimal text.
fn invocation_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

impl ClientFrame {
    /// Parses a text frame.
    ///
    /// # Errors
    ///
    /// A [`FrameError`] saying what is wrong: not a JSON object, an unknown `type`, a missing or
    /// mistyped field, data that does not match its `dataType`.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| FrameError::new(format!("not JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(FrameError::new(format!(
                "expected a JSON object, got {}",
                kind(&value)
            )));
        };
        let ack_id = object.get("ackId").and_then(Value::as_u64);
        let invocation_id = object.get("invocationId").and_then(invocation_text);
        let error = |reason: String| FrameError {
            ack_id,
            invocation_id: invocation_id.clone(),
            reason,
        };
        let wire: WireClientFrame =
            serde_json::from_value(Value::Object(object)).map_err(|e| error(e.to_string()))?;
        Self::from_wire(wire).map_err(error)
    }

    fn from_wire(wire: WireClientFrame) -> Result<Self, String> {
        let group = |group: Option<String>| match group {
            Some(g) if !g.is_empty() => Ok(g),
            _ => Err(format!("a {} frame needs a non-empty group", wire.kind)),
        };
        match wire.kind.as_str() {
            "joinGroup" => Ok(Self::JoinGroup {
                group: group(wire.group)?,
                ack_id: wire.ack_id,
            }),
            "leaveGroup" => Ok(Self::LeaveGroup {
                group: group(wire.group)?,
                ack_id: wire.ack_id,
            }),
            "sendToGroup" => Ok(Self::SendToGroup {
                group: group(wire.group)?,
                ack_id: wire.ack_id,
                no_echo: wire.no_echo.unwrap_or(false),
                data: FrameData::from_wire(wire.data_type.as_deref(), wire.data)?,
            }),
            "event" => Ok(Self::Event {
                event: match wire.event {
                    Some(e) if !e.is_empty() => e,
                    _ => return Err("an event frame needs a non-empty event".into()),
                },
                ack_id: wire.ack_id,
                data: FrameData::from_wire(wire.data_type.as_deref(), wire.data)?,
            }),
            "sequenceAck" => Ok(Self::SequenceAck {
                sequence_id: wire
                    .sequence_id
                    .ok_or("a sequenceAck frame needs a sequenceId")?,
            }),
            "invoke" => {
                let invocation_id = wire
                    .invocation_id
                    .as_ref()
                    .and_then(invocation_text)
                    .ok_or("an invoke frame needs an invocationId")?;
                match wire.target.as_deref() {
                    None | Some("event") => {}
                    Some(other) => return Err(format!("unknown invoke target {other:?}")),
                }
                let event = match wire.event {
                    Some(e) if !e.is_empty() => e,
                    _ => return Err("an invoke frame needs a non-empty event".into()),
                };
                let data = match wire.data {
                    None => None,
                    data => Some(FrameData::from_wire(wire.data_type.as_deref(), data)?),
                };
                Ok(Self::Invoke {
                    invocation_id,
                    event,
                    data,
                })
            }
            "cancelInvocation" => Ok(Self::CancelInvocation {
                invocation_id: wire
                    .invocation_id
                    .as_ref()
                    .and_then(invocation_text)
                    .ok_or("a cancelInvocation frame needs an invocationId")?,
            }),
            "ping" => Ok(Self::Ping),
            other => Err(format!("unknown frame type {other:?}")),
        }
    }

    /// The frame's `ackId`, if any.
    pub fn ack_id(&self) -> Option<u64> {
        match self {
            Self::JoinGroup { ack_id, .. }
            | Self::LeaveGroup { ack_id, .. }
            | Self::SendToGroup { ack_id, .. }
            | Self::Event { ack_id, .. } => *ack_id,
            Self::Invoke { .. }
            | Self::CancelInvocation { .. }
            | Self::SequenceAck { .. }
            | Self::Ping => None,
        }
    }

    /// The frame as JSON text, as a client sends it.
    pub fn to_json(&self) -> String {
        let mut out = Map::new();
        let mut put = |key: &str, value: Value| {
            out.insert(key.to_owned(), value);
        };
        let (kind, ack_id) = match self {
            Self::JoinGroup { group, ack_id } => {
                put("group", json!(group));
                ("joinGroup", ack_id)
            }
            Self::LeaveGroup { group, ack_id } => {
                put("group", json!(group));
                ("leaveGroup", ack_id)
            }
            Self::SendToGroup {
                group,
                ack_id,
                no_echo,
                data,
            } => {
                put("group", json!(group));
                put("noEcho", json!(no_echo));
                put("dataType", json!(data.data_type()));
                put("data", data.to_value());
                ("sendToGroup", ack_id)
            }
            Self::Event {
                event,
                ack_id,
                data,
            } => {
                put("event", json!(event));
                put("dataType", json!(data.data_type()));
                put("data", data.to_value());
                ("event", ack_id)
            }
            Self::Invoke {
                invocation_id,
                event,
                data,
            } => {
                put("invocationId", json!(invocation_id));
                put("target", json!("event"));
                put("event", json!(event));
                if let Some(data) = data {
                    put("dataType", json!(data.data_type()));
                    put("data", data.to_value());
                }
                ("invoke", &None)
            }
            Self::CancelInvocation { invocation_id } => {
                put("invocationId", json!(invocation_id));
                ("cancelInvocation", &None)
            }
            Self::SequenceAck { sequence_id } => {
                put("sequenceId", json!(sequence_id));
                ("sequenceAck", &None)
            }
            Self::Ping => ("ping", &None),
        };
        if let Some(ack_id) = ack_id {
            out.insert("ackId".into(), json!(ack_id));
        }
        out.insert("type".into(), json!(kind));
        Value::Object(out).to_string()
    }
}

/// The name of an ack error.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AckErrorName {
    /// The ack id was used before; the earlier frame was processed (clients treat it as success).
    Duplicate,
    /// The connection lacks the permission.
    Forbidden,
    /// The frame is invalid.
    BadRequest,
    /// The service (or the upstream) failed.
    InternalServerError,
    /// Another name, kept as sent.
    Other(String),
}

impl AckErrorName {
    /// The name on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Duplicate => "Duplicate",
            Self::Forbidden => "Forbidden",
            Self::BadRequest => "BadRequest",
            Self::InternalServerError => "InternalServerError",
            Self::Other(name) => name,
        }
    }

    fn from_wire(name: String) -> Self {
        match name.as_str() {
            "Duplicate" => Self::Duplicate,
            "Forbidden" => Self::Forbidden,
            "BadRequest" => Self::BadRequest,
            "InternalServerError" => Self::InternalServerError,
            _ => Self::Other(name),
        }
    }
}

impl fmt::Display for AckErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of a failed ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// The error name.
    pub name: AckErrorName,
    /// What happened, in words.
    pub message: String,
}

impl AckError {
    /// An error with `name` and `message`.
    pub fn new(name: AckErrorName, message: impl Into<String>) -> Self {
        Self {
            name,
            message: message.into(),
        }
    }

    /// A `Duplicate` error.
    pub fn duplicate(message: impl Into<String>) -> Self {
        Self::new(AckErrorName::Duplicate, message)
    }

    /// A `Forbidden` error.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(AckErrorName::Forbidden, message)
    }

    /// A `BadRequest` error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(AckErrorName::BadRequest, message)
    }

    /// An `InternalServerError` error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(AckErrorName::InternalServerError, message)
    }
}

/// Where a `message` frame comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageSource {
    /// `"from":"server"`: the REST API or an upstream's event response.
    Server,
    /// `"from":"group"`: a group send, by a client (`from_user_id`) or the REST API.
    Group {
        /// The group.
        group: String,
        /// The sending client's user id, if a client with a user sent it.
        from_user_id: Option<String>,
    },
}

/// A frame the service sends to a JSON-subprotocol client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerFrame {
    /// The answer to a client frame with an `ackId`.
    Ack {
        /// The client's ack id.
        ack_id: u64,
        /// `None` on success.
        error: Option<AckError>,
    },
    /// A message for the client.
    Message {
        /// Where it comes from.
        from: MessageSource,
        /// The payload.
        data: FrameData,
        /// The sequence id (reliable subprotocol only).
        sequence_id: Option<u64>,
    },
    /// The first frame of a connection.
    Connected {
        /// The connection id.
        connection_id: String,
        /// The user id, if any.
        user_id: Option<String>,
        /// The token for recovery (reliable subprotocol only).
        reconnection_token: Option<String>,
    },
    /// Sent before the service closes the connection.
    Disconnected {
        /// Why.
        message: String,
    },
    /// The answer to `invoke`.
    InvokeResponse {
        /// The client's invocation id.
        invocation_id: String,
        /// The answer's payload, if any (success only).
        data: Option<FrameData>,
        /// `None` on success.
        error: Option<AckError>,
    },
    /// The answer to `ping`.
    Pong,
}

/// The fields any server frame may have.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireServerFrame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    success: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<WireAckError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reconnection_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invocation_id: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct WireAckError {
    name: String,
    #[serde(default)]
    message: String,
}

impl From<&AckError> for WireAckError {
    fn from(error: &AckError) -> Self {
        Self {
            name: error.name.as_str().to_owned(),
            message: error.message.clone(),
        }
    }
}

/// A failed ack or invocation's error, from its wire form.
fn wire_error(
    success: Option<bool>,
    error: Option<WireAckError>,
) -> Result<Option<AckError>, String> {
    match (success, error) {
        (Some(true), _) => Ok(None),
        (_, Some(e)) => Ok(Some(AckError::new(
            AckErrorName::from_wire(e.name),
            e.message,
        ))),
        _ => Err("a failed answer needs an error".into()),
    }
}

impl WireServerFrame {
    fn new(kind: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            event: None,
            ack_id: None,
            success: None,
            error: None,
            from: None,
            group: None,
            from_user_id: None,
            data_type: None,
            data: None,
            sequence_id: None,
            connection_id: None,
            user_id: None,
            reconnection_token: None,
            message: None,
            invocation_id: None,
        }
    }
}

impl ServerFrame {
    /// The frame as JSON text, as the service sends it.
    pub fn to_json(&self) -> String {
        let wire = match self {
            Self::Ack { ack_id, error } => WireServerFrame {
                ack_id: Some(*ack_id),
                success: Some(error.is_none()),
                error: error.as_ref().map(WireAckError::from),
                ..WireServerFrame::new("ack")
            },
            Self::Message {
                from,
                data,
                sequence_id,
            } => {
                let (from, group, from_user_id) = match from {
                    MessageSource::Server => ("server", None, None),
                    MessageSource::Group {
                        group,
                        from_user_id,
                    } => ("group", Some(group.clone()), from_user_id.clone()),
                };
                WireServerFrame {
                    from: Some(from.to_owned()),
                    group,
                    from_user_id,
                    data_type: Some(data.data_type().to_owned()),
                    data: Some(data.to_value()),
                    sequence_id: *sequence_id,
                    ..WireServerFrame::new("message")
                }
            }
            Self::Connected {
                connection_id,
                user_id,
                reconnection_token,
            } => WireServerFrame {
                event: Some("connected".into()),
                connection_id: Some(connection_id.clone()),
                user_id: user_id.clone(),
                reconnection_token: reconnection_token.clone(),
                ..WireServerFrame::new("system")
            },
            Self::Disconnected { message } => WireServerFrame {
                event: Some("disconnected".into()),
                message: Some(message.clone()),
                ..WireServerFrame::new("system")
            },
            Self::InvokeResponse {
                invocation_id,
                data,
                error,
            } => WireServerFrame {
                invocation_id: Some(invocation_id.clone()),
                success: Some(error.is_none()),
                error: error.as_ref().map(WireAckError::from),
                data_type: data.as_ref().map(|d| d.data_type().to_owned()),
                data: data.as_ref().map(FrameData::to_value),
                ..WireServerFrame::new("invokeResponse")
            },
            Self::Pong => WireServerFrame::new("pong"),
        };
        // Serializing a struct of strings, numbers and JSON values cannot fail.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Parses a frame as a client does (used by tests and Rust clients).
    ///
    /// # Errors
    ///
    /// A [`FrameError`] when the text is not a known server frame.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let wire: WireServerFrame =
            serde_json::from_str(text).map_err(|e| FrameError::new(e.to_string()))?;
        Self::from_wire(wire).map_err(FrameError::new)
    }

    fn from_wire(wire: WireServerFrame) -> Result<Self, String> {
        match wire.kind.as_str() {
            "ack" => Ok(Self::Ack {
                ack_id: wire.ack_id.ok_or("an ack needs an ackId")?,
                error: wire_error(wire.success, wire.error)?,
            }),
            "invokeResponse" => Ok(Self::InvokeResponse {
                invocation_id: wire
                    .invocation_id
                    .ok_or("an invokeResponse needs an invocationId")?,
                data: match wire.data {
                    None => None,
                    data => Some(FrameData::from_wire(wire.data_type.as_deref(), data)?),
                },
                error: wire_error(wire.success, wire.error)?,
            }),
            "message" => Ok(Self::Message {
                from: match wire.from.as_deref() {
                    Some("server") => MessageSource::Server,
                    Some("group") => MessageSource::Group {
                        group: wire.group.ok_or("a group message needs a group")?,
                        from_user_id: wire.from_user_id,
                    },
                    other => return Err(format!("unknown message source {other:?}")),
                },
                data: FrameData::from_wire(wire.data_type.as_deref(), wire.data)?,
                sequence_id: wire.sequence_id,
            }),
            "system" => match wire.event.as_deref() {
                Some("connected") => Ok(Self::Connected {
                    connection_id: wire.connection_id.ok_or("connected needs a connectionId")?,
                    user_id: wire.user_id,
                    reconnection_token: wire.reconnection_token,
                }),
                Some("disconnected") => Ok(Self::Disconnected {
                    message: wire.message.unwrap_or_default(),
                }),
                other => Err(format!("unknown system event {other:?}")),
            },
            "pong" => Ok(Self::Pong),
            other => Err(format!("unknown frame type {other:?}")),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_client_frame() {
        let cases = [
            (
                r#"{"type":"joinGroup","group":"g","ackId":3}"#,
                ClientFrame::JoinGroup {
                    group: "g".into(),
                    ack_id: Some(3),
                },
            ),
            (
                r#"{"type":"leaveGroup","group":"g"}"#,
                ClientFrame::LeaveGroup {
                    group: "g".into(),
                    ack_id: None,
                },
            ),
            (
                r#"{"type":"sendToGroup","group":"g","dataType":"json","data":{"a":1}}"#,
                ClientFrame::SendToGroup {
                    group: "g".into(),
                    ack_id: None,
                    no_echo: false,
                    data: FrameData::Json(json!({"a":1})),
                },
            ),
            (
                r#"{"type":"event","event":"e","dataType":"binary","data":"AAE="}"#,
                ClientFrame::Event {
                    event: "e".into(),
                    ack_id: None,
                    data: FrameData::Binary(vec![0, 1]),
                },
            ),
            (
                r#"{"type":"sequenceAck","sequenceId":7}"#,
                ClientFrame::SequenceAck { sequence_id: 7 },
            ),
            (r#"{"type":"ping"}"#, ClientFrame::Ping),
            (
                r#"{"type":"invoke","invocationId":"7","target":"event","event":"e","dataType":"text","data":"q"}"#,
                ClientFrame::Invoke {
                    invocation_id: "7".into(),
                    event: "e".into(),
                    data: Some(FrameData::Text("q".into())),
                },
            ),
            (
                r#"{"type":"cancelInvocation","invocationId":8}"#,
                ClientFrame::CancelInvocation {
                    invocation_id: "8".into(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(ClientFrame::parse(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn invalid_frames_say_why_and_keep_the_ack_id() {
        let e = ClientFrame::parse(r#"{"type":"joinGroup","ackId":5}"#).unwrap_err();
        assert_eq!(e.ack_id(), Some(5));
        assert!(e.reason().contains("group"), "{e}");
        let e = ClientFrame::parse(
            r#"{"type":"event","event":"e","ackId":1,"dataType":"text","data":1}"#,
        )
        .unwrap_err();
        assert_eq!(e.ack_id(), Some(1));
        assert!(e.reason().contains("string"), "{e}");
        let e = ClientFrame::parse(
            r#"{"type":"sendToGroup","group":"g","dataType":"binary","data":"%%"}"#,
        )
        .unwrap_err();
        assert!(e.reason().contains("base64"), "{e}");
        let e = ClientFrame::parse(r#"{"type":"teleport"}"#).unwrap_err();
        assert!(e.reason().contains("teleport"), "{e}");
        assert_eq!(ClientFrame::parse("[1]").unwrap_err().ack_id(), None);
        assert!(ClientFrame::parse("not json").is_err());
        // A mistyped ackId is not readable, so there is nothing to ack.
        assert_eq!(
            ClientFrame::parse(r#"{"type":"joinGroup","ackId":"x"}"#)
                .unwrap_err()
                .ack_id(),
            None
        );
    }

    #[test]
    fn server_frames_match_the_documented_json() {
        assert_eq!(ServerFrame::Pong.to_json(), r#"{"type":"pong"}"#);
        assert_eq!(
            ServerFrame::Ack {
                ack_id: 1,
                error: None
            }
            .to_json(),
            r#"{"type":"ack","ackId":1,"success":true}"#
        );
        assert_eq!(
            ServerFrame::Connected {
                connection_id: "c".into(),
                user_id: Some("u".into()),
                reconnection_token: Some("t".into())
            }
            .to_json(),
            r#"{"type":"system","event":"connected","connectionId":"c","userId":"u","reconnectionToken":"t"}"#
        );
        assert_eq!(
            ServerFrame::Disconnected {
                message: "bye".into()
            }
            .to_json(),
            r#"{"type":"system","event":"disconnected","message":"bye"}"#
        );
        let message = ServerFrame::Message {
            from: MessageSource::Group {
                group: "g".into(),
                from_user_id: Some("u".into()),
            },
            data: FrameData::Binary(vec![1, 2]),
            sequence_id: Some(4),
        };
        assert_eq!(
            message.to_json(),
            r#"{"type":"message","from":"group","group":"g","fromUserId":"u","dataType":"binary","data":"AQI=","sequenceId":4}"#
        );
        assert_eq!(ServerFrame::parse(&message.to_json()).unwrap(), message);
        let answer = ServerFrame::InvokeResponse {
            invocation_id: "7".into(),
            data: Some(FrameData::Json(json!([1]))),
            error: None,
        };
        assert_eq!(
            answer.to_json(),
            r#"{"type":"invokeResponse","success":true,"dataType":"json","data":[1],"invocationId":"7"}"#
        );
        assert_eq!(ServerFrame::parse(&answer.to_json()).unwrap(), answer);
        let e =
            ClientFrame::parse(r#"{"type":"invoke","invocationId":"9","target":"x","event":"e"}"#)
                .unwrap_err();
        assert_eq!(e.invocation_id(), Some("9"));
    }

    fn frame_data() -> impl Strategy<Value = FrameData> {
        prop_oneof![
            any::<String>().prop_map(FrameData::Text),
            any::<Vec<u8>>().prop_map(FrameData::Binary),
            any::<i64>().prop_map(|n| FrameData::Json(json!({ "n": n }))),
        ]
    }

    fn client_frame() -> impl Strategy<Value = ClientFrame> {
        let group = "[a-z]{1,8}";
        let ack = proptest::option::of(any::<u64>());
        prop_oneof![
            (group, ack.clone())
                .prop_map(|(group, ack_id)| ClientFrame::JoinGroup { group, ack_id }),
            (group, ack.clone())
                .prop_map(|(group, ack_id)| ClientFrame::LeaveGroup { group, ack_id }),
            (group, ack.clone(), any::<bool>(), frame_data()).prop_map(
                |(group, ack_id, no_echo, data)| {
                    ClientFrame::SendToGroup {
                        group,
                        ack_id,
                        no_echo,
                        data,
                    }
                }
            ),
            (group, ack, frame_data()).prop_map(|(event, ack_id, data)| ClientFrame::Event {
                event,
                ack_id,
                data
            }),
            ("[0-9]{1,5}", group, proptest::option::of(frame_data())).prop_map(
                |(invocation_id, event, data)| ClientFrame::Invoke {
                    invocation_id,
                    event,
                    data
                }
            ),
            any::<u64>().prop_map(|sequence_id| ClientFrame::SequenceAck { sequence_id }),
            Just(ClientFrame::Ping),
        ]
    }

    proptest! {
        #[test]
        fn parsing_any_text_never_panics(text in any::<String>()) {
            let _ = ClientFrame::parse(&text);
            let _ = ServerFrame::parse(&text);
        }

        #[test]
        fn parsing_frame_shaped_json_never_panics(
            kind in prop_oneof![Just("joinGroup".to_owned()), Just("sendToGroup".to_owned()), Just("event".to_owned()), Just("sequenceAck".to_owned()), Just("ack".to_owned()), Just("message".to_owned()), Just("system".to_owned()), any::<String>()],
            data_type in prop_oneof![Just("text".to_owned()), Just("json".to_owned()), Just("binary".to_owned()), Just("protobuf".to_owned()), any::<String>()],
            data in prop_oneof![any::<String>().prop_map(Value::String), any::<i64>().prop_map(|n| json!(n)), Just(Value::Null)],
            ack in prop_oneof![any::<i64>().prop_map(|n| json!(n)), any::<String>().prop_map(Value::String)],
        ) {
            let text = json!({"type": kind, "group": "g", "event": "e", "ackId": ack, "dataType": data_type, "data": data, "sequenceId": ack, "from": "group", "success": false}).to_string();
            let _ = ClientFrame::parse(&text);
            let _ = ServerFrame::parse(&text);
        }

        #[test]
        fn client_frames_round_trip(frame in client_frame()) {
            prop_assert_eq!(ClientFrame::parse(&frame.to_json()).unwrap(), frame);
        }
    }
}
