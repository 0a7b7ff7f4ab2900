//! Which client protocol a connection speaks, from its negotiated WebSocket subprotocol.

use http::{HeaderMap, header::SEC_WEBSOCKET_PROTOCOL};
use webpubsub_protocol::frames::{JSON_RELIABLE_SUBPROTOCOL, JSON_SUBPROTOCOL};

/// How the emulator talks to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientKind {
    /// No Web PubSub subprotocol: every frame is a `message` user event.
    Plain,
    /// `json.webpubsub.azure.v1`.
    Json,
    /// `json.reliable.webpubsub.azure.v1`: sequence ids and recovery.
    Reliable,
}

impl ClientKind {
    /// The subprotocol's name, `none` for a plain client.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Plain => "none",
            Self::Json => JSON_SUBPROTOCOL,
            Self::Reliable => JSON_RELIABLE_SUBPROTOCOL,
        }
    }

    pub(crate) fn of(subprotocol: Option<&str>) -> Self {
        match subprotocol {
            Some(JSON_SUBPROTOCOL) => Self::Json,
            Some(JSON_RELIABLE_SUBPROTOCOL) => Self::Reliable,
            _ => Self::Plain,
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
    }
}
