//! What every event knows about its connection.

use std::fmt;

use http::HeaderMap;
use webpubsub_protocol::{cloudevents::EventType, state::ConnectionStates};

/// The connection an event comes from, read from the request's `ce-*` headers.
///
/// Every request type has it through `.context()`. `Debug` shows the signature redacted, and the
/// raw headers mark `ce-signature` and `Authorization` sensitive, so the context can be logged.
///
/// Handlers are tested without HTTP by building a context by hand:
///
/// ```
/// use webpubsub_protocol::cloudevents::EventType;
/// use webpubsub_tower::ConnectionContext;
///
/// let context = ConnectionContext::new(EventType::Connected, "chat", "conn1").with_user_id("alice");
/// assert_eq!(context.hub(), "chat");
/// assert_eq!(context.event_name(), "connected");
/// assert_eq!(context.user_id(), Some("alice"));
/// assert!(context.states().is_empty());
/// ```
#[derive(Clone)]
pub struct ConnectionContext {
    event_type: EventType,
    /// The text values, one after the other: one allocation per event instead of one per value
    /// (3.2k of 47.2k instructions per event, 6.8 %, `benches/instructions.sh layer user`). A
    /// value set again by a `with_*` method is appended; the old one stays unused.
    text: String,
    hub: Text,
    connection_id: Text,
    event_name: Text,
    user_id: Option<Text>,
    subprotocol: Option<Text>,
    states: ConnectionStates,
    origin: Option<Text>,
    id: Option<Text>,
    time: Option<Text>,
    source: Option<Text>,
    signature: Option<Text>,
    mqtt: Option<MqttContext>,
    headers: HeaderMap,
}

/// Where one value of a [`ConnectionContext`] lies in its `text`.
#[derive(Debug, Clone, Copy)]
struct Text {
    start: usize,
    end: usize,
}

/// The text values of a context read from a request, borrowed from its headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ContextText<'a> {
    pub(crate) hub: &'a str,
    pub(crate) connection_id: &'a str,
    /// `None`: the event type's.
    pub(crate) event_name: Option<&'a str>,
    pub(crate) user_id: Option<&'a str>,
    pub(crate) subprotocol: Option<&'a str>,
    pub(crate) origin: Option<&'a str>,
    pub(crate) id: Option<&'a str>,
    pub(crate) time: Option<&'a str>,
    pub(crate) source: Option<&'a str>,
    pub(crate) signature: Option<&'a str>,
}

/// The MQTT identifiers of an event from an MQTT client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttContext {
    pub(crate) physical_connection_id: String,
    pub(crate) session_id: Option<String>,
}

impl MqttContext {
    /// An MQTT context (for tests of handlers).
    pub fn new(physical_connection_id: impl Into<String>, session_id: Option<String>) -> Self {
        Self {
            physical_connection_id: physical_connection_id.into(),
            session_id,
        }
    }

    /// `ce-physicalConnectionId`: one physical connection of the session.
    pub fn physical_connection_id(&self) -> &str {
        &self.physical_connection_id
    }

    /// `ce-sessionId`: the session, absent on `connect`.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }
}

impl ConnectionContext {
    /// A context with the event type, hub and connection id, and nothing else; the event name is
    /// the type's. For tests of handlers and for other transports.
    pub fn new(
        event_type: EventType,
        hub: impl Into<String>,
        connection_id: impl Into<String>,
    ) -> Self {
        let (hub, connection_id) = (hub.into(), connection_id.into());
        let text = ContextText {
            hub: &hub,
            connection_id: &connection_id,
            event_name: None,
            user_id: None,
            subprotocol: None,
            origin: None,
            id: None,
            time: None,
            source: None,
            signature: None,
        };
        Self::read(
            event_type,
            text,
            ConnectionStates::new(),
            None,
            HeaderMap::new(),
        )
    }

    /// A context from the values of a request.
    pub(crate) fn read(
        event_type: EventType,
        text: ContextText<'_>,
        states: ConnectionStates,
        mqtt: Option<MqttContext>,
        headers: HeaderMap,
    ) -> Self {
        let optional = [
            text.user_id,
            text.subprotocol,
            text.origin,
            text.id,
            text.time,
            text.source,
            text.signature,
        ];
        let event_name = (text.event_name)
            .or_else(|| event_type.event_name())
            .unwrap_or_default();
        let capacity = [text.hub, text.connection_id, event_name]
            .into_iter()
            .chain(optional.into_iter().flatten())
            .map(str::len)
            .sum();
        let mut buffer = String::with_capacity(capacity);
        let push_some =
            |buffer: &mut String, value: Option<&str>| value.map(|value| push(buffer, value));
        Self {
            hub: push(&mut buffer, text.hub),
            connection_id: push(&mut buffer, text.connection_id),
            event_name: push(&mut buffer, event_name),
            user_id: push_some(&mut buffer, text.user_id),
            subprotocol: push_some(&mut buffer, text.subprotocol),
            origin: push_some(&mut buffer, text.origin),
            id: push_some(&mut buffer, text.id),
            time: push_some(&mut buffer, text.time),
            source: push_some(&mut buffer, text.source),
            signature: push_some(&mut buffer, text.signature),
            text: buffer,
            event_type,
            states,
            mqtt,
            headers,
        }
    }

    /// Appends `value` to the context's text.
    fn push(&mut self, value: impl Into<String>) -> Text {
        push(&mut self.text, &value.into())
    }

    fn get(&self, text: Text) -> &str {
        &self.text[text.start..text.end]
    }

    /// Sets the event name (`ce-eventName`; by default the type's).
    #[must_use]
    pub fn with_event_name(mut self, event_name: impl Into<String>) -> Self {
        self.event_name = self.push(event_name);
        self
    }

    /// Sets the user id.
    #[must_use]
    pub fn with_user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(self.push(user_id));
        self
    }

    /// Sets the subprotocol.
    #[must_use]
    pub fn with_subprotocol(mut self, subprotocol: impl Into<String>) -> Self {
        self.subprotocol = Some(self.push(subprotocol));
        self
    }

    /// Sets the connection state.
    #[must_use]
    pub fn with_states(mut self, states: ConnectionStates) -> Self {
        self.states = states;
        self
    }

    /// Sets the MQTT identifiers.
    #[must_use]
    pub fn with_mqtt(mut self, mqtt: MqttContext) -> Self {
        self.mqtt = Some(mqtt);
        self
    }

    /// Sets the service host(s) that sent the event.
    #[must_use]
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(self.push(origin));
        self
    }

    /// Sets the event id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(self.push(id));
        self
    }

    /// Sets when the event happened.
    #[must_use]
    pub fn with_time(mut self, time: impl Into<String>) -> Self {
        self.time = Some(self.push(time));
        self
    }

    /// Sets the event source.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(self.push(source));
        self
    }

    /// Sets the raw headers the event came with (`mqtt-*` user properties included).
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// [`with_headers`](Self::with_headers) in place, for a boxed context.
    pub(crate) fn set_headers(&mut self, headers: HeaderMap) {
        self.headers = headers;
    }

    /// The event type (`ce-type`).
    pub fn event_type(&self) -> &EventType {
        &self.event_type
    }

    /// The hub (`ce-hub`), as the service sent it (lower-cased).
    pub fn hub(&self) -> &str {
        self.get(self.hub)
    }

    /// The connection id (`ce-connectionId`; for MQTT, the client id).
    pub fn connection_id(&self) -> &str {
        self.get(self.connection_id)
    }

    /// The event name (`ce-eventName`): `connect`, `message`, `joined`, ...
    pub fn event_name(&self) -> &str {
        self.get(self.event_name)
    }

    /// The user id (`ce-userId`), absent for an anonymous client's `connect`.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.map(|text| self.get(text))
    }

    /// The subprotocol the client negotiated (`ce-subprotocol`).
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.map(|text| self.get(text))
    }

    /// The connection state (`ce-connectionState`), empty when none was set.
    pub fn states(&self) -> &ConnectionStates {
        &self.states
    }

    /// The service host(s) that sent the event (`WebHook-Request-Origin`).
    pub fn origin(&self) -> Option<&str> {
        self.origin.map(|text| self.get(text))
    }

    /// The event id (`ce-id`), unique among the events of one connection: a key to drop
    /// duplicates.
    pub fn id(&self) -> Option<&str> {
        self.id.map(|text| self.get(text))
    }

    /// When the event happened (`ce-time`, `yyyy-MM-ddTHH:mm:ssZ`).
    pub fn time(&self) -> Option<&str> {
        self.time.map(|text| self.get(text))
    }

    /// The event source (`ce-source`, `/hubs/{hub}/client/{connectionId}`).
    pub fn source(&self) -> Option<&str> {
        self.source.map(|text| self.get(text))
    }

    /// The raw `ce-signature` (already checked by the layer when keys are configured).
    pub fn signature(&self) -> Option<&str> {
        self.signature.map(|text| self.get(text))
    }

    /// The MQTT identifiers, for MQTT clients (`ce-subprotocol: mqtt` with a
    /// `ce-physicalConnectionId`).
    pub fn mqtt(&self) -> Option<&MqttContext> {
        self.mqtt.as_ref()
    }

    /// All request headers, `mqtt-*` user properties included.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

impl fmt::Debug for ConnectionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionContext")
            .field("event_type", &self.event_type)
            .field("hub", &self.hub())
            .field("connection_id", &self.connection_id())
            .field("event_name", &self.event_name())
            .field("user_id", &self.user_id())
            .field("subprotocol", &self.subprotocol())
            .field("states", &self.states)
            .field("origin", &self.origin())
            .field("id", &self.id())
            .field("time", &self.time())
            .field("source", &self.source())
            .field("signature", &self.signature().map(|_| "[redacted]"))
            .field("mqtt", &self.mqtt)
            .field("headers", &self.headers)
            .finish()
    }
}

/// Appends `value` to `buffer` and says where it lies.
fn push(buffer: &mut String, value: &str) -> Text {
    let start = buffer.len();
    buffer.push_str(value);
    Text {
        start,
        end: buffer.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back_from_the_one_buffer() {
        let text = ContextText {
            hub: "chat",
            connection_id: "c1",
            event_name: None,
            user_id: Some("alice"),
            subprotocol: None,
            origin: Some("a.com, b.com"),
            id: Some(""),
            time: Some("2026-12-04T00:00:00Z"),
            source: Some("/hubs/chat/client/c1"),
            signature: Some("sha256=00"),
        };
        let event_type = EventType::User("message".into());
        let context = ConnectionContext::read(
            event_type,
            text,
            ConnectionStates::new(),
            None,
            HeaderMap::new(),
        );
        assert_eq!(context.hub(), "chat");
        assert_eq!(context.connection_id(), "c1");
        assert_eq!(context.event_name(), "message");
        assert_eq!(context.user_id(), Some("alice"));
        assert_eq!(context.subprotocol(), None);
        assert_eq!(context.origin(), Some("a.com, b.com"));
        assert_eq!(context.id(), Some(""));
        assert_eq!(context.time(), Some("2026-12-04T00:00:00Z"));
        assert_eq!(context.source(), Some("/hubs/chat/client/c1"));
        assert_eq!(context.signature(), Some("sha256=00"));
        assert_eq!(context.text.len(), context.text.capacity());
    }

    #[test]
    fn builders_replace_values() {
        let context = ConnectionContext::new(EventType::Connect, "chat", "c1")
            .with_user_id("alice")
            .with_event_name("custom")
            .with_user_id("bob")
            .with_subprotocol("json.webpubsub.azure.v1")
            .with_origin("a.com")
            .with_id("7")
            .with_time("t")
            .with_source("s");
        assert_eq!(context.event_name(), "custom");
        assert_eq!(context.user_id(), Some("bob"));
        assert_eq!(context.subprotocol(), Some("json.webpubsub.azure.v1"));
        assert_eq!(context.origin(), Some("a.com"));
        assert_eq!(context.id(), Some("7"));
        assert_eq!(context.time(), Some("t"));
        assert_eq!(context.source(), Some("s"));
        assert_eq!(context.hub(), "chat");
        assert_eq!(context.connection_id(), "c1");
        assert_eq!(context.signature(), None);
        let debug = format!("{:?}", context.clone());
        assert!(
            debug.contains("\"bob\"") && !debug.contains("alice"),
            "{debug}"
        );
    }
}
