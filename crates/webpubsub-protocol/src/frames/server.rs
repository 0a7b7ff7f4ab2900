//! [`ServerFrame`]: what the service sends to a JSON-subprotocol client.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AckError, AckErrorName, FrameData, FrameError};

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
                data: FrameData::optional_from_wire(wire.data_type.as_deref(), wire.data)?,
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
