//! [`ClientFrame`]: what a JSON-subprotocol client sends, and [`FrameError`] when it is invalid.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::FrameData;
use super::data::kind;

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
    pub(super) fn new(reason: impl Into<String>) -> Self {
        Self {
            ack_id: None,
            invocation_id: None,
            reason: reason.into(),
        }
    }

    pub(super) fn with_ack_id(ack_id: Option<u64>, reason: impl Into<String>) -> Self {
        Self {
            ack_id,
            ..Self::new(reason)
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
        // `event` and `invoke` both start with a vowel.
        let event = |event: Option<String>| match event {
            Some(e) if !e.is_empty() => Ok(e),
            _ => Err(format!("an {} frame needs a non-empty event", wire.kind)),
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
                event: event(wire.event)?,
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
                Ok(Self::Invoke {
                    invocation_id,
                    event: event(wire.event)?,
                    data: FrameData::optional_from_wire(wire.data_type.as_deref(), wire.data)?,
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
