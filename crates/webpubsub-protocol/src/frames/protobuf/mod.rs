//! The binary frames of the protobuf subprotocols, `protobuf.webpubsub.azure.v1` and
//! `protobuf.reliable.webpubsub.azure.v1`: [`ClientFrame`] and [`ServerFrame`] as
//! `UpstreamMessage` and `DownstreamMessage` (`proto/webpubsub.client.v1.proto`, compiled by
//! `tools/grpc-codegen` into the checked-in `generated.rs`).
//!
//! The protobuf subprotocols have no `invoke`: [`ClientFrame::Invoke`],
//! [`ClientFrame::CancelInvocation`] and [`ServerFrame::InvokeResponse`] have no protobuf form.
//! Nor does a group message carry the sender's user id. JSON data travels as `json_data`.

use prost::Message as _;
use serde_json::Value;

use super::{
    AckError, AckErrorName, ClientFrame, FrameData, FrameError, MessageSource, ServerFrame,
};

#[allow(clippy::all, missing_docs, unreachable_pub)]
mod generated;

use generated::downstream_message::{self as down, ack_message, system_message};
use generated::upstream_message::{self as up};
use generated::{Any, DownstreamMessage, MessageData, UpstreamMessage, message_data};

/// Checks that `bytes` are an encoded `google.protobuf.Any`, the only protobuf data the service
/// takes.
pub(super) fn check_any(bytes: &[u8]) -> Result<(), String> {
    Any::decode(bytes)
        .map(drop)
        .map_err(|e| format!("protobuf data is not a google.protobuf.Any: {e}"))
}

impl FrameData {
    /// Protobuf data: a `google.protobuf.Any` with `type_url` and the encoded message `value`,
    /// as `Any.pack` makes it (`type_url` is usually `type.googleapis.com/<full message name>`).
    ///
    /// ```
    /// use webpubsub_protocol::frames::FrameData;
    ///
    /// // TestMessage { value: 1 } is the two bytes 08 01.
    /// let data = FrameData::protobuf_any("type.googleapis.com/azure.webpubsub.TestMessage", &[0x08, 0x01]);
    /// assert_eq!(data.data_type(), "protobuf");
    /// let (type_url, value) = data.protobuf_any_parts().unwrap();
    /// assert_eq!((type_url.as_str(), value.as_slice()), ("type.googleapis.com/azure.webpubsub.TestMessage", &[0x08, 0x01][..]));
    /// ```
    pub fn protobuf_any(type_url: &str, value: &[u8]) -> Self {
        Self::Protobuf(
            Any {
                type_url: type_url.to_owned(),
                value: value.to_vec(),
            }
            .encode_to_vec(),
        )
    }

    /// The `type_url` and encoded message of protobuf data; `None` for other data, or bytes that
    /// are not a `google.protobuf.Any`.
    pub fn protobuf_any_parts(&self) -> Option<(String, Vec<u8>)> {
        match self {
            Self::Protobuf(bytes) => Any::decode(bytes.as_slice())
                .ok()
                .map(|any| (any.type_url, any.value)),
            _ => None,
        }
    }
}

fn to_message_data(data: &FrameData) -> MessageData {
    let data = match data {
        FrameData::Text(text) => message_data::Data::TextData(text.clone()),
        FrameData::Json(value) => message_data::Data::JsonData(value.to_string()),
        FrameData::Binary(bytes) => message_data::Data::BinaryData(bytes.clone()),
        FrameData::Protobuf(bytes) => message_data::Data::ProtobufData(bytes.clone()),
    };
    MessageData { data: Some(data) }
}

fn from_message_data(data: Option<MessageData>) -> Result<FrameData, String> {
    match data.and_then(|d| d.data) {
        None => Err("the frame has no data".into()),
        Some(message_data::Data::TextData(text)) => Ok(FrameData::Text(text)),
        Some(message_data::Data::BinaryData(bytes)) => Ok(FrameData::Binary(bytes)),
        Some(message_data::Data::ProtobufData(bytes)) => {
            check_any(&bytes)?;
            Ok(FrameData::Protobuf(bytes))
        }
        Some(message_data::Data::JsonData(text)) => serde_json::from_str::<Value>(&text)
            .map(FrameData::Json)
            .map_err(|e| format!("json_data is not JSON: {e}")),
    }
}

fn non_empty(value: String, what: &str, frame: &str) -> Result<String, String> {
    if value.is_empty() {
        Err(format!("a {frame} frame needs a non-empty {what}"))
    } else {
        Ok(value)
    }
}

impl ClientFrame {
    /// Parses a binary frame of the protobuf subprotocols (an `UpstreamMessage`).
    ///
    /// # Errors
    ///
    /// A [`FrameError`] saying what is wrong: not an `UpstreamMessage`, none of its known
    /// messages, an empty group or event name, missing data, protobuf data that is not a
    /// `google.protobuf.Any`, `json_data` that is not JSON. A frame whose ack id could be read
    /// keeps it ([`FrameError::ack_id`]).
    pub fn from_protobuf(bytes: &[u8]) -> Result<Self, FrameError> {
        let upstream = UpstreamMessage::decode(bytes)
            .map_err(|e| FrameError::new(format!("not an UpstreamMessage: {e}")))?;
        let Some(message) = upstream.message else {
            return Err(FrameError::new(
                "the UpstreamMessage has none of the known messages",
            ));
        };
        let ack_id = match &message {
            up::Message::SendToGroupMessage(m) => m.ack_id,
            up::Message::EventMessage(m) => m.ack_id,
            up::Message::JoinGroupMessage(m) => m.ack_id,
            up::Message::LeaveGroupMessage(m) => m.ack_id,
            up::Message::SequenceAckMessage(_) | up::Message::PingMessage(_) => None,
        };
        Self::from_upstream(message).map_err(|reason| FrameError::with_ack_id(ack_id, reason))
    }

    fn from_upstream(message: up::Message) -> Result<Self, String> {
        Ok(match message {
            up::Message::JoinGroupMessage(m) => Self::JoinGroup {
                group: non_empty(m.group, "group", "joinGroup")?,
                ack_id: m.ack_id,
            },
            up::Message::LeaveGroupMessage(m) => Self::LeaveGroup {
                group: non_empty(m.group, "group", "leaveGroup")?,
                ack_id: m.ack_id,
            },
            up::Message::SendToGroupMessage(m) => Self::SendToGroup {
                group: non_empty(m.group, "group", "sendToGroup")?,
                ack_id: m.ack_id,
                no_echo: m.no_echo.unwrap_or(false),
                data: from_message_data(m.data)?,
            },
            up::Message::EventMessage(m) => Self::Event {
                event: non_empty(m.event, "event", "event")?,
                ack_id: m.ack_id,
                data: from_message_data(m.data)?,
            },
            up::Message::SequenceAckMessage(m) => Self::SequenceAck {
                sequence_id: m.sequence_id,
            },
            up::Message::PingMessage(_) => Self::Ping,
        })
    }

    /// The frame as a binary frame of the protobuf subprotocols, as a client sends it.
    ///
    /// # Errors
    ///
    /// A [`FrameError`] for `invoke` and `cancelInvocation`, which the protobuf subprotocols do
    /// not have.
    pub fn to_protobuf(&self) -> Result<Vec<u8>, FrameError> {
        let message = match self {
            Self::JoinGroup { group, ack_id } => {
                up::Message::JoinGroupMessage(up::JoinGroupMessage {
                    group: group.clone(),
                    ack_id: *ack_id,
                })
            }
            Self::LeaveGroup { group, ack_id } => {
                up::Message::LeaveGroupMessage(up::LeaveGroupMessage {
                    group: group.clone(),
                    ack_id: *ack_id,
                })
            }
            Self::SendToGroup {
                group,
                ack_id,
                no_echo,
                data,
            } => up::Message::SendToGroupMessage(up::SendToGroupMessage {
                group: group.clone(),
                ack_id: *ack_id,
                data: Some(to_message_data(data)),
                no_echo: Some(*no_echo),
            }),
            Self::Event {
                event,
                ack_id,
                data,
            } => up::Message::EventMessage(up::EventMessage {
                event: event.clone(),
                data: Some(to_message_data(data)),
                ack_id: *ack_id,
            }),
            Self::SequenceAck { sequence_id } => {
                up::Message::SequenceAckMessage(up::SequenceAckMessage {
                    sequence_id: *sequence_id,
                })
            }
            Self::Ping => up::Message::PingMessage(up::PingMessage {}),
            Self::Invoke { .. } | Self::CancelInvocation { .. } => {
                return Err(FrameError::new(
                    "the protobuf subprotocols have no invoke; use a JSON subprotocol",
                ));
            }
        };
        Ok(UpstreamMessage {
            message: Some(message),
        }
        .encode_to_vec())
    }
}

impl ServerFrame {
    /// The frame as a binary frame of the protobuf subprotocols (a `DownstreamMessage`), as the
    /// service sends it. A group message's sender user id has no protobuf field and is left out.
    ///
    /// # Errors
    ///
    /// A [`FrameError`] for `invokeResponse`, which the protobuf subprotocols do not have.
    pub fn to_protobuf(&self) -> Result<Vec<u8>, FrameError> {
        let message = match self {
            Self::Ack { ack_id, error } => down::Message::AckMessage(down::AckMessage {
                ack_id: *ack_id,
                success: error.is_none(),
                error: error.as_ref().map(|e| ack_message::ErrorMessage {
                    name: e.name.as_str().to_owned(),
                    message: e.message.clone(),
                }),
            }),
            Self::Message {
                from,
                data,
                sequence_id,
            } => {
                let (from, group) = match from {
                    MessageSource::Server => ("server", None),
                    MessageSource::Group { group, .. } => ("group", Some(group.clone())),
                };
                down::Message::DataMessage(down::DataMessage {
                    from: from.to_owned(),
                    group,
                    data: Some(to_message_data(data)),
                    sequence_id: *sequence_id,
                })
            }
            Self::Connected {
                connection_id,
                user_id,
                reconnection_token,
            } => system(system_message::Message::ConnectedMessage(
                system_message::ConnectedMessage {
                    connection_id: connection_id.clone(),
                    user_id: user_id.clone().unwrap_or_default(),
                    reconnection_token: reconnection_token.clone().unwrap_or_default(),
                },
            )),
            Self::Disconnected { message } => system(system_message::Message::DisconnectedMessage(
                system_message::DisconnectedMessage {
                    reason: message.clone(),
                },
            )),
            Self::Pong => down::Message::PongMessage(down::PongMessage {}),
            Self::InvokeResponse { .. } => {
                return Err(FrameError::new(
                    "the protobuf subprotocols have no invokeResponse",
                ));
            }
        };
        Ok(DownstreamMessage {
            message: Some(message),
        }
        .encode_to_vec())
    }

    /// Parses a binary frame of the protobuf subprotocols as a client does.
    ///
    /// # Errors
    ///
    /// A [`FrameError`] when the bytes are not a `DownstreamMessage` with a known message.
    pub fn from_protobuf(bytes: &[u8]) -> Result<Self, FrameError> {
        let downstream = DownstreamMessage::decode(bytes)
            .map_err(|e| FrameError::new(format!("not a DownstreamMessage: {e}")))?;
        Self::from_downstream(downstream.message).map_err(FrameError::new)
    }

    fn from_downstream(message: Option<down::Message>) -> Result<Self, String> {
        let some = |text: String| (!text.is_empty()).then_some(text);
        match message {
            None => Err("the DownstreamMessage has none of the known messages".into()),
            Some(down::Message::AckMessage(m)) => Ok(Self::Ack {
                ack_id: m.ack_id,
                error: match (m.success, m.error) {
                    (true, _) => None,
                    (false, Some(e)) => {
                        Some(AckError::new(AckErrorName::from_wire(e.name), e.message))
                    }
                    (false, None) => return Err("a failed ack needs an error".into()),
                },
            }),
            Some(down::Message::DataMessage(m)) => Ok(Self::Message {
                from: match m.from.as_str() {
                    "server" => MessageSource::Server,
                    "group" => MessageSource::Group {
                        group: m.group.ok_or("a group message needs a group")?,
                        from_user_id: None,
                    },
                    other => return Err(format!("unknown message source {other:?}")),
                },
                data: from_message_data(m.data)?,
                sequence_id: m.sequence_id,
            }),
            Some(down::Message::SystemMessage(m)) => match m.message {
                Some(system_message::Message::ConnectedMessage(c)) => Ok(Self::Connected {
                    connection_id: some(c.connection_id)
                        .ok_or("connected needs a connection_id")?,
                    user_id: some(c.user_id),
                    reconnection_token: some(c.reconnection_token),
                }),
                Some(system_message::Message::DisconnectedMessage(d)) => {
                    Ok(Self::Disconnected { message: d.reason })
                }
                None => Err("the SystemMessage has none of the known messages".into()),
            },
            Some(down::Message::PongMessage(_)) => Ok(Self::Pong),
        }
    }
}

fn system(message: system_message::Message) -> down::Message {
    down::Message::SystemMessage(down::SystemMessage {
        message: Some(message),
    })
}

#[cfg(test)]
mod tests;
