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
    pub(crate) event_type: EventType,
    pub(crate) hub: String,
    pub(crate) connection_id: String,
    pub(crate) event_name: String,
    pub(crate) user_id: Option<String>,
    pub(crate) subprotocol: Option<String>,
    pub(crate) states: ConnectionStates,
    pub(crate) origin: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) time: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) signature: Option<String>,
    pub(crate) mqtt: Option<MqttContext>,
    pub(crate) headers: HeaderMap,
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
        let event_name = event_type.event_name().unwrap_or_default().to_owned();
        Self {
            event_type,
            hub: hub.into(),
            connection_id: connection_id.into(),
            event_name,
            user_id: None,
            subprotocol: None,
            states: ConnectionStates::new(),
            origin: None,
            id: None,
            time: None,
            source: None,
            signature: None,
            mqtt: None,
            headers: HeaderMap::new(),
        }
    }

    /// Sets the event name (`ce-eventName`; by default the type's).
    #[must_use]
    pub fn with_event_name(mut self, event_name: impl Into<String>) -> Self {
        self.event_name = event_name.into();
        self
    }

    /// Sets the user id.
    #[must_use]
    pub fn with_user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Sets the subprotocol.
    #[must_use]
    pub fn with_subprotocol(mut self, subprotocol: impl Into<String>) -> Self {
        self.subprotocol = Some(subprotocol.into());
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
        self.origin = Some(origin.into());
        self
    }

    /// Sets the event id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets when the event happened.
    #[must_use]
    pub fn with_time(mut self, time: impl Into<String>) -> Self {
        self.time = Some(time.into());
        self
    }

    /// Sets the event source.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the raw headers the event came with (`mqtt-*` user properties included).
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// The event type (`ce-type`).
    pub fn event_type(&self) -> &EventType {
        &self.event_type
    }

    /// The hub (`ce-hub`), as the service sent it (lower-cased).
    pub fn hub(&self) -> &str {
        &self.hub
    }

    /// The connection id (`ce-connectionId`; for MQTT, the client id).
    pub fn connection_id(&self) -> &str {
        &self.connection_id
    }

    /// The event name (`ce-eventName`): `connect`, `message`, `joined`, ...
    pub fn event_name(&self) -> &str {
        &self.event_name
    }

    /// The user id (`ce-userId`), absent for an anonymous client's `connect`.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The subprotocol the client negotiated (`ce-subprotocol`).
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The connection state (`ce-connectionState`), empty when none was set.
    pub fn states(&self) -> &ConnectionStates {
        &self.states
    }

    /// The service host(s) that sent the event (`WebHook-Request-Origin`).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The event id (`ce-id`), unique among the events of one connection: a key to drop
    /// duplicates.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// When the event happened (`ce-time`, `yyyy-MM-ddTHH:mm:ssZ`).
    pub fn time(&self) -> Option<&str> {
        self.time.as_deref()
    }

    /// The event source (`ce-source`, `/hubs/{hub}/client/{connectionId}`).
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The raw `ce-signature` (already checked by the layer when keys are configured).
    pub fn signature(&self) -> Option<&str> {
        self.signature.as_deref()
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
