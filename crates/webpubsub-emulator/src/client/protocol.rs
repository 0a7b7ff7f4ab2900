//! Which client protocol a connection speaks, from its negotiated WebSocket subprotocol, and
//! [`WireFormat`]: how its frames are encoded (the one place the session turns frames into
//! WebSocket messages and back).

use axum::extract::ws::Message as WsMessage;
use http::{HeaderMap, header::SEC_WEBSOCKET_PROTOCOL};
use webpubsub_protocol::frames::{
    ClientFrame, FrameData, FrameError, JSON_RELIABLE_SUBPROTOCOL, JSON_SUBPROTOCOL, MessageSource,
    PROTOBUF_RELIABLE_SUBPROTOCOL, PROTOBUF_SUBPROTOCOL, ServerFrame,
};

/// How the emulator talks to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientKind {
    /// No Web PubSub subprotocol: every frame is a `message` user event.
    Plain,
    /// `json.webpubsub.azure.v1`.
    Json,
    /// `json.reliable.webpubsub.azure.v1`: sequence ids and recovery.
    Reliable,
    /// `protobuf.webpubsub.azure.v1`: binary frames.
    Protobuf,
    /// `protobuf.reliable.webpubsub.azure.v1`: binary frames, sequence ids and recovery.
    ProtobufReliable,
}

impl ClientKind {
    /// The subprotocol's name, `none` for a plain client.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Plain => "none",
            Self::Json => JSON_SUBPROTOCOL,
            Self::Reliable => JSON_RELIABLE_SUBPROTOCOL,
            Self::Protobuf => PROTOBUF_SUBPROTOCOL,
            Self::ProtobufReliable => PROTOBUF_RELIABLE_SUBPROTOCOL,
        }
    }

    pub(crate) fn of(subprotocol: Option<&str>) -> Self {
        match subprotocol {
            Some(JSON_SUBPROTOCOL) => Self::Json,
            Some(JSON_RELIABLE_SUBPROTOCOL) => Self::Reliable,
            Some(PROTOBUF_SUBPROTOCOL) => Self::Protobuf,
            Some(PROTOBUF_RELIABLE_SUBPROTOCOL) => Self::ProtobufReliable,
            _ => Self::Plain,
        }
    }

    /// Whether messages carry sequence ids and a dropped socket can be recovered.
    pub(crate) fn is_reliable(self) -> bool {
        matches!(self, Self::Reliable | Self::ProtobufReliable)
    }

    /// How the frames are encoded; `None` for a plain client, which has no frames.
    pub(crate) fn wire(self) -> Option<WireFormat> {
        match self {
            Self::Plain => None,
            Self::Json | Self::Reliable => Some(WireFormat::Json),
            Self::Protobuf | Self::ProtobufReliable => Some(WireFormat::Protobuf),
        }
    }
}

/// How a Web PubSub subprotocol's frames travel: JSON text or protobuf binary messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireFormat {
    /// One JSON text message per frame.
    Json,
    /// One protobuf binary message per frame (`UpstreamMessage` in, `DownstreamMessage` out).
    Protobuf,
}

impl WireFormat {
    /// The WebSocket message that carries `frame`; `None` when the format has no such frame
    /// (the protobuf subprotocols have no `invokeResponse`; their clients cannot invoke).
    pub(crate) fn encode(self, frame: &ServerFrame) -> Option<WsMessage> {
        match self {
            Self::Json => Some(WsMessage::Text(frame.to_json().into())),
            Self::Protobuf => match frame.to_protobuf() {
                Ok(bytes) => Some(WsMessage::Binary(bytes.into())),
                Err(error) => {
                    tracing::debug!(%error, "a frame without a protobuf form was not sent");
                    None
                }
            },
        }
    }

    /// A `message` frame, which every format has.
    pub(crate) fn message(
        self,
        from: MessageSource,
        data: FrameData,
        sequence_id: Option<u64>,
    ) -> WsMessage {
        let frame = ServerFrame::Message {
            from,
            data,
            sequence_id,
        };
        match self {
            Self::Json => WsMessage::Text(frame.to_json().into()),
            // Only `invokeResponse` lacks a protobuf form.
            Self::Protobuf => WsMessage::Binary(frame.to_protobuf().unwrap_or_default().into()),
        }
    }

    /// The client frame in a text or binary message. `Err` when the message is of the other
    /// kind (text on protobuf, binary on JSON): the connection is closed with the reason.
    pub(crate) fn decode(
        self,
        message: &WsMessage,
    ) -> Result<Result<ClientFrame, FrameError>, &'static str> {
        match (self, message) {
            (Self::Json, WsMessage::Text(text)) => Ok(ClientFrame::parse(text)),
            (Self::Protobuf, WsMessage::Binary(bytes)) => Ok(ClientFrame::from_protobuf(bytes)),
            (Self::Json, _) => Err("binary frames are not part of the JSON subprotocols"),
            (Self::Protobuf, _) => Err("text frames are not part of the protobuf subprotocols"),
        }
    }
}

/// The subprotocols the client asked for, in its order.
pub(crate) fn requested(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The subprotocol the emulator picks itself: the first Web PubSub one the client asked for.
pub(crate) fn default_choice(requested: &[String]) -> Option<String> {
    requested
        .iter()
        .find(|p| ClientKind::of(Some(p)) != ClientKind::Plain)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_first_known_subprotocol() {
        let mut headers = HeaderMap::new();
        headers.append(
            SEC_WEBSOCKET_PROTOCOL,
            "foo, json.reliable.webpubsub.azure.v1".parse().unwrap(),
        );
        headers.append(
            SEC_WEBSOCKET_PROTOCOL,
            "json.webpubsub.azure.v1".parse().unwrap(),
        );
        let asked = requested(&headers);
        assert_eq!(asked.len(), 3);
        assert_eq!(
            default_choice(&asked).as_deref(),
            Some(JSON_RELIABLE_SUBPROTOCOL)
        );
        assert_eq!(default_choice(&["foo".to_owned()]), None);
        assert_eq!(ClientKind::of(Some("foo")), ClientKind::Plain);
        let protobuf = ClientKind::of(Some(PROTOBUF_RELIABLE_SUBPROTOCOL));
        assert!(protobuf.is_reliable());
        assert_eq!(protobuf.wire(), Some(WireFormat::Protobuf));
        assert!(!ClientKind::of(Some(PROTOBUF_SUBPROTOCOL)).is_reliable());
    }

    #[test]
    fn each_format_takes_only_its_own_messages() {
        let ping = WireFormat::Protobuf.encode(&ServerFrame::Pong).unwrap();
        assert!(matches!(ping, WsMessage::Binary(_)));
        let binary = WsMessage::Binary(ClientFrame::Ping.to_protobuf().unwrap().into());
        assert_eq!(
            WireFormat::Protobuf.decode(&binary).unwrap().unwrap(),
            ClientFrame::Ping
        );
        assert!(WireFormat::Json.decode(&binary).is_err());
        let text = WsMessage::Text(ClientFrame::Ping.to_json().into());
        assert!(WireFormat::Protobuf.decode(&text).is_err());
        assert_eq!(
            WireFormat::Json.decode(&text).unwrap().unwrap(),
            ClientFrame::Ping
        );
        let answer = ServerFrame::InvokeResponse {
            invocation_id: "1".into(),
            data: None,
            error: None,
        };
        assert!(WireFormat::Protobuf.encode(&answer).is_none());
    }
}
