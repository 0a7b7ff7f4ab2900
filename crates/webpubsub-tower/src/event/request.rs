//! The typed events a handler receives.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use webpubsub_protocol::cloudevents::{
    ClientCertificate, ConnectEventBody, DisconnectedEventBody, MultiMap,
    headers::MQTT_USER_PROPERTY_PREFIX,
    mqtt::{MqttConnectProperties, MqttDisconnectedProperties},
};

use crate::{ConnectionContext, EventError};

/// `azure.webpubsub.sys.connect`: a client asks to connect. Answer with a
/// [`ConnectResponse`](crate::ConnectResponse) or refuse with an [`EventError`](crate::EventError).
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    context: Box<ConnectionContext>,
    // Boxed like the context: the body (claims, query, headers) is 200 bytes that would make
    // every `Event` that large.
    body: Box<ConnectEventBody>,
}

impl ConnectRequest {
    /// A request from its parts (for tests of handlers and for other transports).
    pub fn new(context: impl Into<Box<ConnectionContext>>, body: ConnectEventBody) -> Self {
        Self {
            context: context.into(),
            body: Box::new(body),
        }
    }

    /// The connection.
    pub fn context(&self) -> &ConnectionContext {
        &self.context
    }

    /// The claims of the client's access token.
    pub fn claims(&self) -> &MultiMap {
        &self.body.claims
    }

    /// The query parameters of the client's connect URL.
    pub fn query(&self) -> &MultiMap {
        &self.body.query
    }

    /// The headers of the client's connect request (not the upstream request's headers, which
    /// are in the [context](ConnectionContext::headers)).
    pub fn headers(&self) -> &MultiMap {
        &self.body.headers
    }

    /// The subprotocols the client asked for; answer with one of them, or none.
    pub fn subprotocols(&self) -> &[String] {
        &self.body.subprotocols
    }

    /// The client's TLS certificates.
    pub fn client_certificates(&self) -> &[ClientCertificate] {
        &self.body.client_certificates
    }

    /// The CONNECT packet's properties, for MQTT clients.
    pub fn mqtt(&self) -> Option<&MqttConnectProperties> {
        self.body.mqtt.as_ref()
    }

    /// The whole body.
    pub fn body(&self) -> &ConnectEventBody {
        &self.body
    }

    /// The context and the body.
    pub fn into_parts(self) -> (ConnectionContext, ConnectEventBody) {
        (*self.context, *self.body)
    }
}

/// `azure.webpubsub.sys.connected`: a client is connected.
#[derive(Debug, Clone)]
pub struct ConnectedRequest {
    context: Box<ConnectionContext>,
}

impl ConnectedRequest {
    /// A request from its context.
    pub fn new(context: impl Into<Box<ConnectionContext>>) -> Self {
        Self {
            context: context.into(),
        }
    }

    /// The connection.
    pub fn context(&self) -> &ConnectionContext {
        &self.context
    }

    /// The context.
    pub fn into_context(self) -> ConnectionContext {
        *self.context
    }
}

/// How a user event's data was sent, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DataType {
    /// `text/plain`: UTF-8 text (read it with [`UserEventRequest::text`]).
    Text,
    /// `application/json` (read it with [`UserEventRequest::json`]).
    Json,
    /// `application/octet-stream`, or no `Content-Type`.
    Binary,
    /// `application/x-protobuf`: the `protobuf_data` of a `protobuf.webpubsub.azure.v1` client.
    Protobuf,
}

impl DataType {
    /// The data type of a `Content-Type` value; `None` for a type the service does not send.
    ///
    /// Only the media type counts (parameters such as `charset` are ignored), compared
    /// case-insensitively.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type
            .split_once(';')
            .map_or(content_type, |(essence, _)| essence)
            .trim_ascii();
        [
            ("text/plain", Self::Text),
            ("application/json", Self::Json),
            ("application/octet-stream", Self::Binary),
            ("application/x-protobuf", Self::Protobuf),
        ]
        .into_iter()
        .find_map(|(name, ty)| essence.eq_ignore_ascii_case(name).then_some(ty))
    }
}

/// `azure.webpubsub.user.<event>`: a client sent data. Answer with a
/// [`UserEventResponse`](crate::UserEventResponse); an error drops the client.
///
/// ```
/// use webpubsub_protocol::cloudevents::EventType;
/// use webpubsub_tower::{ConnectionContext, DataType, UserEventRequest};
///
/// let context = ConnectionContext::new(EventType::User("message".into()), "chat", "conn1");
/// let request = UserEventRequest::new(context, r#"{"n":1}"#.into(), DataType::Json);
/// let value: serde_json::Value = request.json()?;
/// assert_eq!(value["n"], 1);
/// assert_eq!(request.text()?, r#"{"n":1}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct UserEventRequest {
    // Boxed in every request type: an event is moved whole through the handler's nested futures,
    // and the inline context (440 bytes) made those copies cost 2.7k of 53k instructions per user
    // event (5 %, the request's work in `benches/instructions.sh layer user`).
    context: Box<ConnectionContext>,
    data: Bytes,
    data_type: DataType,
}

impl UserEventRequest {
    /// A request from its parts, taken as they are: for data whose type is known to be right
    /// (tests of handlers). A transport reading client data uses [`try_new`](Self::try_new).
    /// The context may come boxed already, as a transport's does (every request type takes
    /// either).
    pub fn new(
        context: impl Into<Box<ConnectionContext>>,
        data: Bytes,
        data_type: DataType,
    ) -> Self {
        Self {
            context: context.into(),
            data,
            data_type,
        }
    }

    /// A request whose data is checked against its declared type first, as the layer does
    /// before any handler runs: [`DataType::Text`] must be UTF-8 and [`DataType::Json`] must
    /// parse as JSON, so that [`text`](Self::text) and [`json`](Self::json) of a valid value
    /// succeed.
    ///
    /// # Errors
    ///
    /// When the data is not what its type declares.
    ///
    /// ```
    /// use webpubsub_protocol::cloudevents::EventType;
    /// use webpubsub_tower::{ConnectionContext, DataType, UserEventRequest};
    ///
    /// let context = ConnectionContext::new(EventType::User("message".into()), "chat", "conn1");
    /// assert!(UserEventRequest::try_new(context.clone(), "{\"n\":".into(), DataType::Json).is_err());
    /// assert!(UserEventRequest::try_new(context, "{\"n\":1}".into(), DataType::Json).is_ok());
    /// ```
    pub fn try_new(
        context: impl Into<Box<ConnectionContext>>,
        data: Bytes,
        data_type: DataType,
    ) -> Result<Self, InvalidData> {
        match data_type {
            DataType::Text => {
                std::str::from_utf8(&data).map_err(InvalidData::Utf8)?;
            }
            DataType::Json => {
                serde_json::from_slice::<serde::de::IgnoredAny>(&data)
                    .map_err(InvalidData::NotJson)?;
            }
            DataType::Binary | DataType::Protobuf => {}
        }
        Ok(Self::new(context, data, data_type))
    }

    /// The connection.
    pub fn context(&self) -> &ConnectionContext {
        &self.context
    }

    /// The event name (`message` for plain `send`s).
    pub fn event_name(&self) -> &str {
        self.context.event_name()
    }

    /// How the data was sent.
    pub fn data_type(&self) -> DataType {
        self.data_type
    }

    /// The data's bytes, whatever its type (protobuf data included).
    pub fn bytes(&self) -> &Bytes {
        &self.data
    }

    /// The data as text.
    ///
    /// # Errors
    ///
    /// When the bytes are not UTF-8. The error converts into a `400` [`EventError`], so `?`
    /// in a handler answers bad client data as bad input.
    pub fn text(&self) -> Result<&str, InvalidData> {
        std::str::from_utf8(&self.data).map_err(InvalidData::Utf8)
    }

    /// The data deserialized from JSON.
    ///
    /// # Errors
    ///
    /// When the bytes are not JSON of a `T`. The error converts into a `400` [`EventError`],
    /// so `?` in a handler answers bad client data as bad input.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, InvalidData> {
        serde_json::from_slice(&self.data).map_err(InvalidData::Json)
    }

    /// The MQTT 5 user properties of the PUBLISH packet (`mqtt-<name>` headers), in header order.
    /// Values that are not UTF-8 are skipped.
    pub fn mqtt_user_properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.context.headers().iter().filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix(MQTT_USER_PROPERTY_PREFIX)?;
            Some((name, std::str::from_utf8(value.as_bytes()).ok()?))
        })
    }

    /// The context and the data.
    pub fn into_parts(self) -> (ConnectionContext, Bytes) {
        (*self.context, self.data)
    }
}

/// User-event data that is not what the handler asked for: not UTF-8 text, or not JSON of the
/// expected shape. It is the client's mistake, so it converts into a `400` [`EventError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidData {
    /// The data is not UTF-8.
    #[error("the event data is not utf-8 text: {0}")]
    Utf8(#[source] std::str::Utf8Error),
    /// The data is not JSON of the expected shape.
    #[error("the event data is not the expected json: {0}")]
    Json(#[source] serde_json::Error),
    /// The data is declared `application/json` but does not parse as JSON.
    #[error("the event data is declared application/json but is not json: {0}")]
    NotJson(#[source] serde_json::Error),
}

impl From<InvalidData> for EventError {
    fn from(err: InvalidData) -> Self {
        Self::bad_request(err.to_string())
    }
}

/// `azure.webpubsub.sys.disconnected`: a client disconnected.
#[derive(Debug, Clone)]
pub struct DisconnectedRequest {
    context: Box<ConnectionContext>,
    body: DisconnectedEventBody,
}

impl DisconnectedRequest {
    /// A request from its parts.
    pub fn new(context: impl Into<Box<ConnectionContext>>, body: DisconnectedEventBody) -> Self {
        Self {
            context: context.into(),
            body,
        }
    }

    /// The connection.
    pub fn context(&self) -> &ConnectionContext {
        &self.context
    }

    /// Why the connection ended; `None` or empty for a normal close.
    pub fn reason(&self) -> Option<&str> {
        self.body.reason.as_deref()
    }

    /// The MQTT details, for MQTT sessions.
    pub fn mqtt(&self) -> Option<&MqttDisconnectedProperties> {
        self.body.mqtt.as_ref()
    }

    /// The context and the body.
    pub fn into_parts(self) -> (ConnectionContext, DisconnectedEventBody) {
        (*self.context, self.body)
    }
}

/// `azure.webpubsub.gp.joined` / `azure.webpubsub.gp.left`: a connection joined or left a group
/// (group presence events, when enabled in the hub settings).
#[derive(Debug, Clone)]
pub struct GroupEventRequest {
    context: Box<ConnectionContext>,
    group: String,
}

impl GroupEventRequest {
    /// A request from its parts.
    pub fn new(context: impl Into<Box<ConnectionContext>>, group: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            group: group.into(),
        }
    }

    /// The connection.
    pub fn context(&self) -> &ConnectionContext {
        &self.context
    }

    /// The group.
    pub fn group(&self) -> &str {
        &self.group
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;
    use webpubsub_protocol::cloudevents::EventType;

    #[test]
    fn content_types_map_to_data_types() {
        for (value, ty) in [
            ("text/plain", Some(DataType::Text)),
            ("Text/Plain; charset=utf-8", Some(DataType::Text)),
            ("application/json;charset=UTF-8", Some(DataType::Json)),
            (" application/octet-stream ", Some(DataType::Binary)),
            ("application/x-protobuf", Some(DataType::Protobuf)),
            ("text/html", None),
            ("application/jsonx", None),
            ("", None),
        ] {
            assert_eq!(DataType::from_content_type(value), ty, "{value:?}");
        }
    }

    #[test]
    fn reads_mqtt_user_properties_from_headers() {
        let mut headers = http::HeaderMap::new();
        headers.append("mqtt-color", HeaderValue::from_static("red"));
        headers.append("mqtt-color", HeaderValue::from_static("blue"));
        headers.append("ce-hub", HeaderValue::from_static("h"));
        let context =
            ConnectionContext::new(EventType::User("e".into()), "h", "c").with_headers(headers);
        let request = UserEventRequest::new(context, Bytes::new(), DataType::Binary);
        let props: Vec<_> = request.mqtt_user_properties().collect();
        assert_eq!(props, [("color", "red"), ("color", "blue")]);
    }

    #[test]
    fn text_of_invalid_utf8_is_an_error() {
        let context = ConnectionContext::new(EventType::User("e".into()), "h", "c");
        let request = UserEventRequest::new(context, Bytes::from_static(&[0xff]), DataType::Text);
        assert!(request.text().is_err());
        assert!(request.json::<serde_json::Value>().is_err());
    }

    #[test]
    fn bad_client_data_becomes_a_bad_request() {
        let context = ConnectionContext::new(EventType::User("e".into()), "h", "c");
        let request =
            UserEventRequest::new(context, Bytes::from_static(b"{\"n\":"), DataType::Json);
        let err = EventError::from(request.json::<serde_json::Value>().unwrap_err());
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        assert!(
            err.message().contains("not the expected json"),
            "{}",
            err.message()
        );
        let request = UserEventRequest::new(
            request.into_parts().0,
            Bytes::from_static(&[0xc3]),
            DataType::Text,
        );
        assert_eq!(
            EventError::from(request.text().unwrap_err()).status(),
            http::StatusCode::BAD_REQUEST
        );
    }

    proptest! {
        #[test]
        fn content_type_parsing_never_panics(value in ".*") {
            let _ = DataType::from_content_type(&value);
        }
    }
}
