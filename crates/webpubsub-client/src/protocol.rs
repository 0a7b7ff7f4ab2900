//! [`Protocol`]: which Web PubSub subprotocol the client speaks, and how its frames are encoded.

use tokio_tungstenite::tungstenite::Message;
use webpubsub_protocol::frames::{
    ClientFrame, JSON_RELIABLE_SUBPROTOCOL, JSON_SUBPROTOCOL, ServerFrame,
};

/// The subprotocol of the connection.
///
/// The reliable ones number the service's messages so that a dropped connection can be
/// recovered without loss or duplicates; the client uses `json.reliable.webpubsub.azure.v1`
/// unless told otherwise, as `@azure/web-pubsub-client` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// `json.webpubsub.azure.v1`: a dropped connection is replaced by a new one.
    Json,
    /// `json.reliable.webpubsub.azure.v1`: a dropped connection is recovered.
    #[default]
    JsonReliable,
}

impl Protocol {
    /// The WebSocket subprotocol name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => JSON_SUBPROTOCOL,
            Self::JsonReliable => JSON_RELIABLE_SUBPROTOCOL,
        }
    }

    /// Whether the service numbers messages and keeps them for recovery.
    pub fn is_reliable(self) -> bool {
        matches!(self, Self::JsonReliable)
    }

    /// The WebSocket message that carries `frame`.
    pub(crate) fn encode(self, frame: &ClientFrame) -> Message {
        match self {
            Self::Json | Self::JsonReliable => Message::text(frame.to_json()),
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
        let Message::Text(text) = Protocol::Json.encode(&frame) else {
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
    fn the_reliable_json_protocol_is_the_default() {
        assert_eq!(
            Protocol::default().name(),
            "json.reliable.webpubsub.azure.v1"
        );
        assert!(Protocol::default().is_reliable());
        assert!(!Protocol::Json.is_reliable());
    }
}
