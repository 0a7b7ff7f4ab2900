//! The answers a handler gives to blocking events, with their connection-state changes.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::DataType;
use webpubsub_protocol::{
    cloudevents::{
        ConnectResponseBody,
        mqtt::{MqttConnectResponseProperties, MqttUserProperty},
    },
    state::ConnectionStates,
};

/// One change to the connection state, applied in order to the state the request carried.
#[derive(Debug, Clone, PartialEq)]
enum StateChange {
    Set(String, Value),
    Remove(String),
    Clear,
}

/// The connection-state changes of an answer, in the order the handler made them.
///
/// Empty means "leave the stored state as it is" (the layer then sends no `ce-connectionState`).
/// A transport applies them to the state the event carried and sends the result whole:
///
/// ```
/// use serde_json::json;
/// use webpubsub_protocol::state::ConnectionStates;
/// use webpubsub_tower::UserEventResponse;
///
/// let answer = UserEventResponse::empty().set_state("count", 2).remove_state("draft");
/// let mut states: ConnectionStates = [("draft", json!("hi"))].into_iter().collect();
/// answer.state_changes().apply_to(&mut states);
/// assert_eq!(states, [("count", json!(2))].into_iter().collect());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateChanges(Vec<StateChange>);

impl StateChanges {
    /// Whether the answer changes nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies the changes to `states`, in the order they were made.
    pub fn apply_to(&self, states: &mut ConnectionStates) {
        for change in &self.0 {
            match change {
                StateChange::Set(key, value) => {
                    states.set(key.clone(), value.clone());
                }
                StateChange::Remove(key) => {
                    states.remove(key);
                }
                StateChange::Clear => states.clear(),
            }
        }
    }
}

/// The state-changing builder methods both answers share.
macro_rules! state_methods {
    () => {
        /// Sets the connection-state value `key` (any JSON value: `json!(..)`, strings, numbers,
        /// or `serde_json::to_value(&x)?` for your own types). The state is sent whole, merged
        /// with the state the request carried.
        pub fn set_state(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
            self.states
                .0
                .push(StateChange::Set(key.into(), value.into()));
            self
        }

        /// Removes the connection-state value `key`.
        pub fn remove_state(mut self, key: impl Into<String>) -> Self {
            self.states.0.push(StateChange::Remove(key.into()));
            self
        }

        /// Removes every connection-state value (values set afterwards are kept). The layer then
        /// sends an empty state, which replaces the stored one.
        pub fn clear_states(mut self) -> Self {
            self.states.0.push(StateChange::Clear);
            self
        }
    };
}

/// The answer to `connect`: `204 No Content` when it says nothing, else `200` with its JSON
/// (`userId`, `groups`, `roles`, `subprotocol`, `mqtt.userProperties`).
///
/// ```
/// use serde_json::json;
/// use webpubsub_tower::ConnectResponse;
///
/// let accept = ConnectResponse::new(); // 204
/// let with_user = ConnectResponse::new()
///     .user_id("alice")
///     .groups(["lobby"])
///     .roles(["webpubsub.sendToGroup.lobby", "webpubsub.joinLeaveGroup.lobby"])
///     .set_state("nick", json!("al"));
/// assert_eq!(with_user.body().user_id.as_deref(), Some("alice"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct ConnectResponse {
    body: ConnectResponseBody,
    states: StateChanges,
}

impl ConnectResponse {
    /// Accepts the connection as it is (`204`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the connection's user id (required when the client's token has none).
    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.body.user_id = Some(user_id.into());
        self
    }

    /// Adds groups the connection joins at once.
    pub fn groups<I>(mut self, groups: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        extend(&mut self.body.groups, groups);
        self
    }

    /// Adds roles, such as `webpubsub.sendToGroup.<group>` or `webpubsub.joinLeaveGroup`.
    pub fn roles<I>(mut self, roles: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        extend(&mut self.body.roles, roles);
        self
    }

    /// Picks one of the subprotocols the client asked for.
    pub fn subprotocol(mut self, subprotocol: impl Into<String>) -> Self {
        self.body.subprotocol = Some(subprotocol.into());
        self
    }

    /// Adds a user property to an MQTT client's CONNACK packet.
    pub fn mqtt_user_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.body
            .mqtt
            .get_or_insert_with(MqttConnectResponseProperties::default)
            .user_properties
            .push(MqttUserProperty::new(name, value));
        self
    }

    state_methods!();

    /// The JSON body this answer sends (empty means `204`): user id, groups, roles,
    /// subprotocol and MQTT user properties, each a public field.
    pub fn body(&self) -> &ConnectResponseBody {
        &self.body
    }

    /// The connection-state changes.
    pub fn state_changes(&self) -> &StateChanges {
        &self.states
    }
}

fn extend<I>(list: &mut Option<Vec<String>>, items: I)
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    list.get_or_insert_with(Vec::new)
        .extend(items.into_iter().map(Into::into));
}

/// The data of a user event's answer, and how it is sent.
#[derive(Debug, Clone, PartialEq)]
enum Payload {
    Text(String),
    Json(Vec<u8>),
    Binary(Bytes),
}

/// The answer to a user event: `204 No Content`, or `200` with text, JSON or binary data that the
/// service delivers to the client.
///
/// ```
/// use serde_json::json;
/// use webpubsub_tower::UserEventResponse;
///
/// let nothing = UserEventResponse::empty();                 // 204
/// let echo = UserEventResponse::text("hi");                  // 200 text/plain
/// let value = UserEventResponse::json(&json!({"ok": true}))?; // 200 application/json
/// let raw = UserEventResponse::binary(vec![1u8, 2, 3]);       // 200 application/octet-stream
/// let counted = UserEventResponse::empty().set_state("count", 3).remove_state("draft");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct UserEventResponse {
    payload: Option<Payload>,
    mqtt_user_properties: Vec<MqttUserProperty>,
    states: StateChanges,
}

impl UserEventResponse {
    /// No data (`204`).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Text data (`200`, `text/plain; charset=utf-8`).
    pub fn text(text: impl Into<String>) -> Self {
        Self::with(Payload::Text(text.into()))
    }

    /// JSON data (`200`, `application/json; charset=utf-8`).
    ///
    /// # Errors
    ///
    /// When `value` cannot be serialized (`?` turns this into a 500 [`EventError`](crate::EventError)).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::with(Payload::Json(serde_json::to_vec(value)?)))
    }

    /// Binary data (`200`, `application/octet-stream`).
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::with(Payload::Binary(data.into()))
    }

    fn with(payload: Payload) -> Self {
        Self {
            payload: Some(payload),
            ..Self::default()
        }
    }

    /// Adds an MQTT 5 user property to the answer an MQTT client receives (sent as an
    /// `mqtt-<name>` header, which the service turns back into a user property). HTTP header
    /// names are case-insensitive tokens: a name that is not a valid header name makes the layer
    /// answer `500`.
    pub fn mqtt_user_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.mqtt_user_properties
            .push(MqttUserProperty::new(name, value));
        self
    }

    state_methods!();

    /// The data sent back and its type; `None` for no data (`204`). JSON data is
    /// [`DataType::Json`], text [`DataType::Text`], binary [`DataType::Binary`].
    pub fn data(&self) -> Option<(&[u8], DataType)> {
        self.payload.as_ref().map(|payload| match payload {
            Payload::Text(text) => (text.as_bytes(), DataType::Text),
            Payload::Json(json) => (&json[..], DataType::Json),
            Payload::Binary(data) => (&data[..], DataType::Binary),
        })
    }

    /// The data sent back and its type, without a copy; `None` for no data.
    pub fn into_data(self) -> Option<(Bytes, DataType)> {
        self.payload.map(|payload| match payload {
            Payload::Text(text) => (Bytes::from(text), DataType::Text),
            Payload::Json(json) => (Bytes::from(json), DataType::Json),
            Payload::Binary(data) => (data, DataType::Binary),
        })
    }

    /// The MQTT 5 user properties of the answer.
    pub fn mqtt_user_properties(&self) -> &[MqttUserProperty] {
        &self.mqtt_user_properties
    }

    /// The connection-state changes.
    pub fn state_changes(&self) -> &StateChanges {
        &self.states
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_changes_apply_in_order() {
        let response = ConnectResponse::new()
            .set_state("a", 1)
            .clear_states()
            .set_state("b", 2)
            .set_state("c", 3)
            .remove_state("c");
        let mut states: ConnectionStates = [("old", json!(true))].into_iter().collect();
        response.state_changes().apply_to(&mut states);
        assert_eq!(states, [("b", json!(2))].into_iter().collect());
    }

    #[test]
    fn no_changes_is_empty() {
        assert!(UserEventResponse::text("x").state_changes().is_empty());
        assert!(
            !UserEventResponse::empty()
                .clear_states()
                .state_changes()
                .is_empty()
        );
    }

    #[test]
    fn connect_response_builds_its_body() {
        let response = ConnectResponse::new()
            .user_id("u")
            .groups(["a"])
            .groups(["b"])
            .roles(["r"])
            .subprotocol("json.webpubsub.azure.v1")
            .mqtt_user_property("k", "v");
        let body = response.body();
        assert_eq!(
            body.groups.as_deref(),
            Some(&["a".to_owned(), "b".to_owned()][..])
        );
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            json!({"userId":"u","groups":["a","b"],"roles":["r"],"subprotocol":"json.webpubsub.azure.v1",
                   "mqtt":{"userProperties":[{"name":"k","value":"v"}]}})
        );
        assert!(ConnectResponse::new().set_state("a", 1).body().is_empty());
    }
}
