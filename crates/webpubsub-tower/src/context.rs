//! What every event knows about its connection.

use std::fmt;

use http::{HeaderMap, HeaderName};
use webpubsub_protocol::{
    cloudevents::{
        EventType,
        headers::{
            CE_CONNECTION_ID, CE_EVENT_NAME, CE_HUB, CE_ID, CE_SIGNATURE, CE_SOURCE,
            CE_SUBPROTOCOL, CE_TIME, CE_USER_ID, WEBHOOK_REQUEST_ORIGIN,
        },
    },
    state::ConnectionStates,
};

use crate::field::Field;

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
    // Boxed: the fields take several hundred bytes, and the context moves from the request's
    // head into the event future, the typed request and the handler's future; one allocation is
    // cheaper than copying it at every step (and keeps those futures small).
    pub(crate) fields: Box<ContextFields>,
}

/// What a [`ConnectionContext`] holds.
#[derive(Clone)]
pub(crate) struct ContextFields {
    pub(crate) event_type: EventType,
    pub(crate) hub: Field,
    pub(crate) connection_id: Field,
    pub(crate) event_name: Field,
    pub(crate) user_id: Field,
    pub(crate) subprotocol: Field,
    pub(crate) states: ConnectionStates,
    pub(crate) origin: Field,
    pub(crate) id: Field,
    pub(crate) time: Field,
    pub(crate) source: Field,
    pub(crate) signature: Field,
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
        let event_name = event_type
            .event_name()
            .unwrap_or_default()
            .to_owned()
            .into();
        Self {
            fields: Box::new(ContextFields {
                event_type,
                hub: hub.into().into(),
                connection_id: connection_id.into().into(),
                event_name,
                user_id: Field::Absent,
                subprotocol: Field::Absent,
                states: ConnectionStates::new(),
                origin: Field::Absent,
                id: Field::Absent,
                time: Field::Absent,
                source: Field::Absent,
                signature: Field::Absent,
                mqtt: None,
                headers: HeaderMap::new(),
            }),
        }
    }

    /// Sets the user id.
    #[must_use]
    pub fn with_user_id(mut self, user_id: impl Into<String>) -> Self {
        self.fields.user_id = user_id.into().into();
        self
    }

    /// Sets the subprotocol.
    #[must_use]
    pub fn with_subprotocol(mut self, subprotocol: impl Into<String>) -> Self {
        self.fields.subprotocol = subprotocol.into().into();
        self
    }

    /// Sets the connection state.
    #[must_use]
    pub fn with_states(mut self, states: ConnectionStates) -> Self {
        self.fields.states = states;
        self
    }

    /// Sets the MQTT identifiers.
    #[must_use]
    pub fn with_mqtt(mut self, mqtt: MqttContext) -> Self {
        self.fields.mqtt = Some(mqtt);
        self
    }

    /// The event type (`ce-type`).
    pub fn event_type(&self) -> &EventType {
        &self.fields.event_type
    }

    /// The hub (`ce-hub`), as the service sent it (lower-cased).
    pub fn hub(&self) -> &str {
        self.text(&self.fields.hub, &CE_HUB).unwrap_or_default()
    }

    /// The connection id (`ce-connectionId`; for MQTT, the client id).
    pub fn connection_id(&self) -> &str {
        self.text(&self.fields.connection_id, &CE_CONNECTION_ID)
            .unwrap_or_default()
    }

    /// The event name (`ce-eventName`): `connect`, `message`, `joined`, ...
    pub fn event_name(&self) -> &str {
        self.text(&self.fields.event_name, &CE_EVENT_NAME)
            .unwrap_or_default()
    }

    /// The user id (`ce-userId`), absent for an anonymous client's `connect`.
    pub fn user_id(&self) -> Option<&str> {
        self.text(&self.fields.user_id, &CE_USER_ID)
    }

    /// The subprotocol the client negotiated (`ce-subprotocol`).
    pub fn subprotocol(&self) -> Option<&str> {
        self.text(&self.fields.subprotocol, &CE_SUBPROTOCOL)
    }

    /// The connection state (`ce-connectionState`), empty when none was set.
    pub fn states(&self) -> &ConnectionStates {
        &self.fields.states
    }

    /// The service host(s) that sent the event (`WebHook-Request-Origin`).
    pub fn origin(&self) -> Option<&str> {
        self.text(&self.fields.origin, &WEBHOOK_REQUEST_ORIGIN)
    }

    /// The event id (`ce-id`), unique among the events of one connection: a key to drop
    /// duplicates.
    pub fn id(&self) -> Option<&str> {
        self.text(&self.fields.id, &CE_ID)
    }

    /// When the event happened (`ce-time`, `yyyy-MM-ddTHH:mm:ssZ`).
    pub fn time(&self) -> Option<&str> {
        self.text(&self.fields.time, &CE_TIME)
    }

    /// The event source (`ce-source`, `/hubs/{hub}/client/{connectionId}`).
    pub fn source(&self) -> Option<&str> {
        self.text(&self.fields.source, &CE_SOURCE)
    }

    /// The raw `ce-signature` (already checked by the layer when keys are configured).
    pub fn signature(&self) -> Option<&str> {
        self.text(&self.fields.signature, &CE_SIGNATURE)
    }

    /// The MQTT identifiers, for MQTT clients (`ce-subprotocol: mqtt` with a
    /// `ce-physicalConnectionId`).
    pub fn mqtt(&self) -> Option<&MqttContext> {
        self.fields.mqtt.as_ref()
    }

    fn text<'a>(&'a self, field: &'a Field, name: &HeaderName) -> Option<&'a str> {
        field.get(&self.fields.headers, name)
    }

    /// All request headers, `mqtt-*` user properties included.
    pub fn headers(&self) -> &HeaderMap {
        &self.fields.headers
    }
}

impl fmt::Debug for ConnectionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionContext")
            .field("event_type", &self.fields.event_type)
            .field("hub", &self.hub())
            .field("connection_id", &self.connection_id())
            .field("event_name", &self.event_name())
            .field("user_id", &self.user_id())
            .field("subprotocol", &self.subprotocol())
            .field("states", &self.fields.states)
            .field("origin", &self.origin())
            .field("id", &self.id())
            .field("time", &self.time())
            .field("source", &self.source())
            .field("signature", &self.signature().map(|_| "[redacted]"))
            .field("mqtt", &self.fields.mqtt)
            .field("headers", &self.fields.headers)
            .finish()
    }
}
