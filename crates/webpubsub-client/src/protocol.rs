//! [`Protocol`]: which Web PubSub subprotocol the client speaks, and how its frames are encoded.

use tokio_tungstenite::tungstenite::Message;
use webpubsub_protocol::frames::{
    ClientFrame, FrameError, JSON_RELIABLE_SUBPROTOCOL, JSON_SUBPROTOCOL,
    PROTOBUF_RELIABLE_SUBPROTOCOL, PROTOBUF_SUBPROTOCOL, ServerFrame,
};

/// The subprotocol of the connection.
///
/// The reliable ones number the service's messages so that a dropped connection can be
/// recovered without loss or duplicates; the client uses `json.reliable.webpubsub.azure.v1`
/// unless told otherwise, as `@azure/web-pubsub-client` does.
///
/// The protobuf subprotocols carry the same frames as binary protobuf messages, and add
/// [`FrameData::Protobuf`](crate::FrameData::Protobuf) data (an encoded `google.protobuf.Any`,
/// made with [`FrameData::protobuf_any`](crate::FrameData::protobuf_any))
/// to what a client sends and receives. They have no `invoke`:
/// [`WebPubSubClient::invoke_event`](crate::WebPubSubClient::invoke_event) fails with
/// [`Error::Unsupported`](crate::Error::Unsupported) on them. A group message reaches a
/// protobuf client without the sender's user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// `json.webpubsub.azure.v1`: a dropped connection is replaced by a new one.
    Json,
    /// `json.reliable.webpubsub.azure.v1`: a dropped connection is recovered.
    #[default]
    JsonReliable,
    /// `protobuf.webpubsub.azure.v1`: a dropped connection is replaced by a new one.
    Protobuf,
    /// `protobuf.reliable.webpubsub.azure.v1`: a dropped connection is recovered.
    ProtobufReliable,
}

impl Protocol {
    /// The WebSocket subprotocol name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => JSON_SUBPROTOCOL,
            Self::JsonReliable => JSON_RELIABLE_SUBPROTOCOL,
            Self::Protobuf => PROTOBUF_SUBPROTOCOL,
            Self::ProtobufReliable => PROTOBUF_RELIABLE_SUBPROTOCOL,
        }
    }

    /// Whether the service numbers messages and keeps them for recovery.
    pub fn is_reliable(self) -> bool {
        matches!(self, Self::JsonReliable | Self::ProtobufReliable)
    }

    /// All four subprotocols, the default first.
    pub fn all() -> [Self; 4] {
        [
            Self::JsonReliable,
            Self::Json,
            Self::ProtobufReliable,
            Self::Protobuf,
        ]
    }

    /// The WebSocket message that carries `frame`.
    ///
    /// # Errors
    ///
    /// `invoke` and `cancelInvocation` on a protobuf subprotocol, which has no such frames.
    pub(crate) fn encode(self, frame: &ClientFrame) -> Result<Message, FrameError> {
        match self {
            Self::Json | Self::JsonReliable => Ok(Message::text(frame.to_json())),
            Self::Protobuf | Self::ProtobufReliable => frame.to_protobuf().map(Message::binary),
        }
    }

    /// The frame in a WebSocket data message; `Ok(None)` for control messages.
    ///
    /// # Errors
    ///
    /// The reason in words when the message is not a frame of this protocol (the caller logs
    /// and skips it, as the official clients skip what they do not know).
    pub(crate) fn decode(self, message: &Message) -> Result<Option<ServerFrame>, String> {
        match (self, message) {
            (Self::Json | Self::JsonReliable, Message::Text(text)) => ServerFrame::parse(text)
                .map(Some)
                .map_err(|e| e.to_string()),
            (Self::Json | Self::JsonReliable, Message::Binary(_)) => {
                Err("a binary message on a JSON subprotocol".into())
            }
            (Self::Protobuf | Self::ProtobufReliable, Message::Binary(bytes)) => {
                ServerFrame::from_protobuf(bytes)
                    .map(Some)
                    .map_err(|e| e.to_string())
            }
            (Self::Protobuf | Self::ProtobufReliable, Message::Text(_)) => {
                Err("a text message on a protobuf subprotocol".into())
            }
            _ => Ok(None),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webpubsub_protocol::frames::FrameData;

    #[test]
    fn json_frames_round_trip_as_text() {
        let frame = ClientFrame::SendToGroup {
            group: "g".into(),
            ack_id: Some(1),
            no_echo: true,
            data: FrameData::Text("hi".into()),
        };
        let Message::Text(text) = Protocol::Json.encode(&frame).unwrap() else {
            panic!("json frames are text")
        };
        assert_eq!(ClientFrame::parse(&text).unwrap(), frame);
        let pong = Message::text(ServerFrame::Pong.to_json());
        assert_eq!(
            Protocol::JsonReliable.decode(&pong).unwrap(),
            Some(ServerFrame::Pong)
        );
        assert!(Protocol::Json.decode(&Message::binary(vec![1])).is_err());
        assert_eq!(
            Protocol::Json.decode(&Message::Ping(vec![].into())),
            Ok(None)
        );
    }

    #[test]
    fn protobuf_frames_round_trip_as_binary() {
        let frame = ClientFrame::SendToGroup {
            group: "g".into(),
            ack_id: Some(1),
            no_echo: true,
            data: FrameData::Binary(vec![1, 2]),
        };
        let Message::Binary(bytes) = Protocol::Protobuf.encode(&frame).unwrap() else {
            panic!("protobuf frames are binary")
        };
        assert_eq!(ClientFrame::from_protobuf(&bytes).unwrap(), frame);
        let pong = Message::binary(ServerFrame::Pong.to_protobuf().unwrap());
        assert_eq!(
            Protocol::ProtobufReliable.decode(&pong).unwrap(),
            Some(ServerFrame::Pong)
        );
        assert!(Protocol::Protobuf.decode(&Message::text("{}")).is_err());
        let invoke = ClientFrame::Invoke {
            invocation_id: "1".into(),
            event: "e".into(),
            data: None,
        };
        assert!(Protocol::Protobuf.encode(&invoke).is_err());
        assert!(Protocol::ProtobufReliable.is_reliable());
        assert!(!Protocol::Protobuf.is_reliable());
    }

    #[test]
    fn the_reliable_json_protocol_is_the_default() {
        assert_eq!(
            Protocol::default().name(),
            "json.reliable.webpubsub.azure.v1"
        );
        assert!(Protocol::default().is_reliable());
        assert!(!Protocol::Json.is_reliable());
    }
}
