//! One upstream event as a CloudEvents binary-mode request: the connection it is about and the
//! `ce-*` headers the service sends.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
use webpubsub_protocol::{
    AccessKey,
    cloudevents::{EventType, headers as ce},
    signature,
};

/// A connection as upstream events describe it, with its connection state (the opaque
/// `ce-connectionState` the upstream set last, echoed on every later event).
#[derive(Debug)]
pub(crate) struct EventSource {
    /// The hub, lower-cased as the service sends it.
    pub(crate) hub: String,
    pub(crate) connection_id: String,
    pub(crate) user_id: Option<String>,
    pub(crate) subprotocol: Option<String>,
    state: Mutex<Option<String>>,
    next_event_id: AtomicU64,
}

impl EventSource {
    pub(crate) fn new(
        hub: &str,
        connection_id: String,
        user_id: Option<String>,
        subprotocol: Option<String>,
        state: Option<String>,
    ) -> Self {
        Self {
            hub: hub.to_ascii_lowercase(),
            connection_id,
            user_id,
            subprotocol,
            state: Mutex::new(state),
            next_event_id: AtomicU64::new(1),
        }
    }

    /// The same connection once `connect` settled who it is: the state and the event ids carry
    /// over.
    pub(crate) fn after_connect(
        self,
        user_id: Option<String>,
        subprotocol: Option<String>,
    ) -> Self {
        Self {
            user_id,
            subprotocol,
            ..self
        }
    }

    /// The connection state as the upstream set it last.
    pub(crate) fn state(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the state; an empty value clears it.
    pub(crate) fn set_state(&self, state: &str) {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            (!state.is_empty()).then(|| state.to_owned());
    }

    /// The id of this connection's next event (`ce-id`).
    pub(crate) fn next_event_id(&self) -> u64 {
        self.next_event_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The headers of the next event of this connection.
    pub(crate) fn headers(
        &self,
        event: &EventType,
        content_type: &'static str,
        keys: &[AccessKey],
        origin: &str,
    ) -> HeaderMap {
        let id = self.next_event_id();
        let mut headers = HeaderMap::new();
        let mut put = |name: http::HeaderName, value: &str| {
            // Names and ids are validated where they enter (no control characters), so their
            // UTF-8 bytes are header values; one that still is not is left out, not mangled.
            match HeaderValue::from_bytes(value.as_bytes()) {
                Ok(value) => {
                    headers.insert(name, value);
                }
                Err(_) => {
                    tracing::warn!(header = %name, "left out a header whose value is not valid in HTTP")
                }
            }
        };
        put(CONTENT_TYPE, content_type);
        put(ce::CE_SPEC_VERSION, ce::SPEC_VERSION);
        put(ce::CE_AWPS_VERSION, ce::AWPS_VERSION);
        put(ce::CE_TYPE, &event.ce_type());
        put(
            ce::CE_SOURCE,
            &format!("/hubs/{}/client/{}", self.hub, self.connection_id),
        );
        put(ce::CE_ID, &id.to_string());
        put(ce::CE_TIME, &super::time::now());
        put(ce::CE_HUB, &self.hub);
        put(ce::CE_CONNECTION_ID, &self.connection_id);
        put(ce::CE_EVENT_NAME, event.event_name().unwrap_or_default());
        if let Some(user_id) = &self.user_id {
            put(ce::CE_USER_ID, user_id);
        }
        if let Some(subprotocol) = &self.subprotocol {
            put(ce::CE_SUBPROTOCOL, subprotocol);
        }
        if let Some(state) = self.state() {
            put(ce::CE_CONNECTION_STATE, &state);
        }
        put(
            ce::CE_SIGNATURE,
            &signature::sign_all(keys, &self.connection_id),
        );
        put(ce::WEBHOOK_REQUEST_ORIGIN, origin);
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn valid_names_and_ids_arrive_whole(event in "\\PC{1,40}", user in "\\PC{1,40}") {
            prop_assume!(webpubsub_protocol::is_valid_event_name(&event));
            prop_assume!(webpubsub_protocol::is_valid_user_id(&user));
            let source = EventSource::new("chat", "c1".into(), Some(user.clone()), None, None);
            let h = source.headers(&EventType::User(event.clone()), "text/plain", &[AccessKey::new("k")], "o");
            let text = |name: &str| std::str::from_utf8(h[name].as_bytes()).map(str::to_owned);
            prop_assert_eq!(text("ce-eventName"), Ok(event.clone()));
            prop_assert_eq!(text("ce-userId"), Ok(user));
            prop_assert_eq!(text("ce-type"), Ok(format!("azure.webpubsub.user.{event}")));
        }
    }

    #[test]
    fn headers_carry_every_attribute_and_a_signature_per_key() {
        let source = EventSource::new(
            "Chat",
            "c1".into(),
            Some("alice".into()),
            Some("json.webpubsub.azure.v1".into()),
            Some("e30=".into()),
        );
        let keys = [AccessKey::new("k1"), AccessKey::new("k2")];
        let h = source.headers(
            &EventType::User("message".into()),
            "text/plain",
            &keys,
            "127.0.0.1",
        );
        assert_eq!(h["ce-type"], "azure.webpubsub.user.message");
        assert_eq!(h["ce-hub"], "chat");
        assert_eq!(h["ce-source"], "/hubs/chat/client/c1");
        assert_eq!(h["ce-eventName"], "message");
        assert_eq!(h["ce-userId"], "alice");
        assert_eq!(h["ce-awpsversion"], "1.0");
        assert_eq!(h["ce-specversion"], "1.0");
        assert_eq!(h["ce-connectionState"], "e30=");
        assert_eq!(h["webhook-request-origin"], "127.0.0.1");
        assert_eq!(h["ce-id"], "1");
        let sig = h["ce-signature"].to_str().unwrap();
        assert!(signature::verify([sig], "c1", [&keys[1]]));
        assert_eq!(
            source.headers(&EventType::Connected, "application/json", &keys, "o")["ce-id"],
            "2"
        );
        source.set_state("");
        assert!(
            !source
                .headers(&EventType::Connected, "application/json", &keys, "o")
                .contains_key("ce-connectionstate")
        );
    }
}
