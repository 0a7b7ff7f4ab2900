//! Test your own handler: signed events exactly as the service sends them, and their answers
//! read back. Behind the `testing` feature (enable it in your `[dev-dependencies]`).
//!
//! [`SignedEvent`] builds the webhook request of one event (`connect`, `connected`, a user event
//! of any data type, `disconnected`, the group events) with every `ce-*` header the service
//! sets, the connection state, the connect body's claims and query, and `ce-signature` under the
//! keys you give. Send it through your router or layer with `tower::ServiceExt::oneshot`, then
//! read the answer with [`EventAnswer::read`].
//!
//! # Testing your handler
//!
//! ```
//! use axum::Router;
//! use serde_json::json;
//! use tower::ServiceExt as _;
//! use webpubsub_tower::{
//!     ConnectRequest, ConnectResponse, EventError, EventHandler, UserEventRequest,
//!     UserEventResponse, WebPubSubLayer,
//!     testing::{EventAnswer, SignedEvent},
//! };
//!
//! struct Chat;
//!
//! impl EventHandler for Chat {
//!     async fn on_connect(&self, request: ConnectRequest) -> Result<ConnectResponse, EventError> {
//!         let Some(name) = request.query().get("name").and_then(|names| names.first()) else {
//!             return Err(EventError::unauthorized("who are you?"));
//!         };
//!         Ok(ConnectResponse::new().user_id(name.clone()).groups(["lobby"]))
//!     }
//!
//!     async fn on_user_event(&self, request: UserEventRequest) -> Result<UserEventResponse, EventError> {
//!         let seen = request.context().states().get_value("seen").and_then(|v| v.as_u64());
//!         Ok(UserEventResponse::text(format!("echo: {}", request.text()?))
//!             .set_state("seen", seen.unwrap_or(0) + 1))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), webpubsub_tower::testing::ReadError> {
//! let key = "test-key";
//! let app = Router::<()>::new().layer(WebPubSubLayer::new(Chat).hub("chat").access_key(key));
//!
//! // A connect with a query parameter: accepted, with a user id and a group.
//! let connect = SignedEvent::connect("chat", "conn1").query("name", "alice").key(key);
//! let answer = EventAnswer::read(app.clone().oneshot(connect.into_request()).await?).await?;
//! assert_eq!(answer.status(), 200);
//! let body = answer.connect_body()?;
//! assert_eq!(body.user_id.as_deref(), Some("alice"));
//! assert_eq!(body.groups, Some(vec!["lobby".to_owned()]));
//!
//! // Without it: refused, with the handler's reason.
//! let anonymous = SignedEvent::connect("chat", "conn2").key(key);
//! let answer = EventAnswer::read(app.clone().oneshot(anonymous.into_request()).await?).await?;
//! assert_eq!((answer.status(), answer.text()), (401, Some("who are you?")));
//!
//! // A text message with connection state: the echo, and the state updated.
//! let message = SignedEvent::user_event("chat", "conn1", "message")
//!     .user_id("alice")
//!     .state("seen", json!(41))
//!     .text("hi")
//!     .key(key);
//! let answer = EventAnswer::read(app.clone().oneshot(message.into_request()).await?).await?;
//! assert_eq!(answer.text(), Some("echo: hi"));
//! assert_eq!(answer.states()?.get_value("seen"), Some(&json!(42)));
//!
//! // A forged signature never reaches the handler.
//! let forged = SignedEvent::user_event("chat", "conn1", "message").text("hi").key("wrong");
//! let answer = EventAnswer::read(app.oneshot(forged.into_request()).await?).await?;
//! assert_eq!(answer.status(), 401);
//! # Ok(())
//! # }
//! ```
//!
//! To run a handler against the service's behaviour end to end, serve it on a loopback port and
//! point the in-process emulator (`webpubsub_emulator::Emulator`, the `emulator` feature of the
//! `webpubsub` crate) at it; any WebSocket client then drives it as a browser would.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt as _, Full};
use serde::de::DeserializeOwned;
use serde_json::Value;
use webpubsub_protocol::{
    AccessKey,
    cloudevents::{
        ConnectEventBody, ConnectResponseBody, DisconnectedEventBody, EventType, GroupEventBody,
        headers as ce,
    },
    signature,
    state::{ConnectionStates, StateError},
};

use crate::{DataType, Rejection};

/// The webhook request of one event, as the service sends it. See the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct SignedEvent {
    event_type: EventType,
    hub: String,
    connection_id: String,
    user_id: Option<String>,
    subprotocol: Option<String>,
    states: ConnectionStates,
    keys: Vec<AccessKey>,
    origin: String,
    path: Option<String>,
    id: u64,
    connect: ConnectEventBody,
    reason: Option<String>,
    group: String,
    data: Bytes,
    content_type: Option<&'static str>,
}

impl SignedEvent {
    fn new(event_type: EventType, hub: &str, connection_id: &str) -> Self {
        Self {
            event_type,
            hub: hub.to_ascii_lowercase(),
            connection_id: connection_id.to_owned(),
            user_id: None,
            subprotocol: None,
            states: ConnectionStates::new(),
            keys: Vec::new(),
            origin: "localhost".to_owned(),
            path: None,
            id: 1,
            connect: ConnectEventBody::default(),
            reason: None,
            group: String::new(),
            data: Bytes::new(),
            content_type: None,
        }
    }

    /// `azure.webpubsub.sys.connect`; add [`claim`](Self::claim)s, [`query`](Self::query)
    /// parameters, connect [`header`](Self::header)s and [`subprotocols`](Self::subprotocols).
    pub fn connect(hub: &str, connection_id: &str) -> Self {
        Self::new(EventType::Connect, hub, connection_id)
    }

    /// `azure.webpubsub.sys.connected`.
    pub fn connected(hub: &str, connection_id: &str) -> Self {
        Self::new(EventType::Connected, hub, connection_id)
    }

    /// `azure.webpubsub.user.<event>`, with no data until [`text`](Self::text),
    /// [`json`](Self::json), [`binary`](Self::binary) or [`protobuf`](Self::protobuf).
    pub fn user_event(hub: &str, connection_id: &str, event: &str) -> Self {
        Self::new(EventType::User(event.to_owned()), hub, connection_id)
    }

    /// `azure.webpubsub.sys.disconnected`, with an optional [`reason`](Self::reason).
    pub fn disconnected(hub: &str, connection_id: &str) -> Self {
        Self::new(EventType::Disconnected, hub, connection_id)
    }

    /// `azure.webpubsub.gp.joined`.
    pub fn group_joined(hub: &str, connection_id: &str, group: &str) -> Self {
        Self {
            group: group.to_owned(),
            ..Self::new(EventType::GroupJoined, hub, connection_id)
        }
    }

    /// `azure.webpubsub.gp.left`.
    pub fn group_left(hub: &str, connection_id: &str, group: &str) -> Self {
        Self {
            group: group.to_owned(),
            ..Self::new(EventType::GroupLeft, hub, connection_id)
        }
    }

    /// Signs with `key` (repeat for several keys: one `ce-signature` entry each, as the service
    /// signs with its primary and secondary keys). Unsigned without.
    pub fn key(mut self, key: impl Into<AccessKey>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// `ce-userId`.
    pub fn user_id(mut self, user_id: &str) -> Self {
        self.user_id = Some(user_id.to_owned());
        self
    }

    /// `ce-subprotocol`.
    pub fn subprotocol(mut self, subprotocol: &str) -> Self {
        self.subprotocol = Some(subprotocol.to_owned());
        self
    }

    /// A connection-state value (sent in `ce-connectionState`).
    pub fn state(mut self, key: &str, value: Value) -> Self {
        self.states.set(key, value);
        self
    }

    /// `WebHook-Request-Origin` (default `localhost`): the service's host.
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = origin.to_owned();
        self
    }

    /// The request path (default the layer's default, `/api/webpubsub/hubs/{hub}/`).
    pub fn path(mut self, path: &str) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    /// `ce-id` (default `1`).
    pub fn id(mut self, id: u64) -> Self {
        self.id = id;
        self
    }

    /// A claim of the client's token (`connect`).
    pub fn claim(mut self, name: &str, value: &str) -> Self {
        push(&mut self.connect.claims, name, value);
        self
    }

    /// A query parameter of the client's connect URL (`connect`).
    pub fn query(mut self, name: &str, value: &str) -> Self {
        push(&mut self.connect.query, name, value);
        self
    }

    /// A header of the client's connect request (`connect`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        push(&mut self.connect.headers, name, value);
        self
    }

    /// The subprotocols the client asks for (`connect`).
    pub fn subprotocols<I>(mut self, subprotocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.connect
            .subprotocols
            .extend(subprotocols.into_iter().map(Into::into));
        self
    }

    /// Why the connection ended (`disconnected`).
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    /// Text data (`text/plain`).
    pub fn text(self, text: &str) -> Self {
        self.data(Bytes::copy_from_slice(text.as_bytes()), DataType::Text)
    }

    /// JSON data (`application/json`).
    pub fn json(self, value: &Value) -> Self {
        self.data(Bytes::from(value.to_string()), DataType::Json)
    }

    /// Binary data (`application/octet-stream`).
    pub fn binary(self, data: impl Into<Bytes>) -> Self {
        self.data(data.into(), DataType::Binary)
    }

    /// Protobuf data (`application/x-protobuf`), as a `protobuf.webpubsub.azure.v1` client's.
    pub fn protobuf(self, data: impl Into<Bytes>) -> Self {
        self.data(data.into(), DataType::Protobuf)
    }

    /// Raw data with the `Content-Type` of `data_type` (for bad-input tests: the bytes are not
    /// checked).
    pub fn data(mut self, data: Bytes, data_type: DataType) -> Self {
        self.content_type = Some(match data_type {
            DataType::Text => "text/plain",
            DataType::Json => "application/json",
            DataType::Protobuf => "application/x-protobuf",
            _ => "application/octet-stream",
        });
        self.data = data;
        self
    }

    /// The request.
    pub fn into_request(self) -> Request<Full<Bytes>> {
        let (body, content_type) = match &self.event_type {
            EventType::Connect => (to_json(&self.connect), "application/json"),
            EventType::Disconnected => (
                to_json(&DisconnectedEventBody {
                    reason: self.reason.clone(),
                    ..DisconnectedEventBody::default()
                }),
                "application/json",
            ),
            EventType::GroupJoined | EventType::GroupLeft => (
                to_json(&GroupEventBody {
                    group: self.group.clone(),
                }),
                "application/json",
            ),
            EventType::User(_) => (
                self.data.clone(),
                self.content_type.unwrap_or("application/octet-stream"),
            ),
            _ => (Bytes::new(), "application/json"),
        };
        let path = self
            .path
            .clone()
            .unwrap_or_else(|| format!("/api/webpubsub/hubs/{}/", self.hub));
        let mut headers = http::HeaderMap::new();
        let mut put = |name: http::HeaderName, value: &str| {
            // A value that is not valid in HTTP is left out, as the service does.
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        };
        put(header::CONTENT_TYPE, content_type);
        put(ce::CE_SPEC_VERSION, ce::SPEC_VERSION);
        put(ce::CE_AWPS_VERSION, ce::AWPS_VERSION);
        put(ce::CE_TYPE, &self.event_type.ce_type());
        put(
            ce::CE_SOURCE,
            &format!("/hubs/{}/client/{}", self.hub, self.connection_id),
        );
        put(ce::CE_ID, &self.id.to_string());
        put(ce::CE_TIME, &now());
        put(ce::CE_HUB, &self.hub);
        put(ce::CE_CONNECTION_ID, &self.connection_id);
        put(
            ce::CE_EVENT_NAME,
            self.event_type.event_name().unwrap_or_default(),
        );
        if let Some(user_id) = &self.user_id {
            put(ce::CE_USER_ID, user_id);
        }
        if let Some(subprotocol) = &self.subprotocol {
            put(ce::CE_SUBPROTOCOL, subprotocol);
        }
        if !self.states.is_empty() {
            put(ce::CE_CONNECTION_STATE, &self.states.encode());
        }
        if !self.keys.is_empty() {
            put(
                ce::CE_SIGNATURE,
                &signature::sign_all(&self.keys, &self.connection_id),
            );
        }
        put(ce::WEBHOOK_REQUEST_ORIGIN, &self.origin);
        let mut request = Request::post(path)
            .body(Full::new(body))
            .expect("the path of a test event is a valid URI");
        *request.headers_mut() = headers;
        request
    }
}

fn push(map: &mut webpubsub_protocol::cloudevents::MultiMap, name: &str, value: &str) {
    map.entry(name.to_owned())
        .or_default()
        .push(value.to_owned());
}

fn to_json(value: &impl serde::Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("event bodies serialize"))
}

/// `ce-time`'s format, `yyyy-MM-ddTHH:mm:ssZ`, of now (UTC).
fn now() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's days-to-civil conversion.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// An answer of the layer, read whole, with getters for assertions.
#[derive(Debug, Clone)]
pub struct EventAnswer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
    rejection: Option<Rejection>,
}

/// Why an answer's body could not be read.
pub type ReadError = Box<dyn std::error::Error + Send + Sync>;

impl EventAnswer {
    /// Reads `response` whole.
    ///
    /// # Errors
    ///
    /// When the body fails.
    pub async fn read<B>(response: Response<B>) -> Result<Self, ReadError>
    where
        B: Body,
        B::Error: Into<ReadError>,
    {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(Into::into)?.to_bytes();
        Ok(Self {
            status: parts.status,
            rejection: parts.extensions.get::<Rejection>().cloned(),
            headers: parts.headers,
            body,
        })
    }

    /// The status, as a number.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The headers.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text, when it is UTF-8 (an answer's text data, or a refusal's reason).
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The body as JSON of a `T`.
    ///
    /// # Errors
    ///
    /// When it is not.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The answer to `connect` (`204` reads as the empty answer).
    ///
    /// # Errors
    ///
    /// When the body is not a connect answer.
    pub fn connect_body(&self) -> Result<ConnectResponseBody, serde_json::Error> {
        if self.body.is_empty() {
            return Ok(ConnectResponseBody::default());
        }
        self.json()
    }

    /// The connection state the answer sets (`ce-connectionState`); empty when it leaves the
    /// state as it is.
    ///
    /// # Errors
    ///
    /// When the header cannot be decoded.
    pub fn states(&self) -> Result<ConnectionStates, StateError> {
        match self.headers.get(ce::CE_CONNECTION_STATE) {
            Some(value) => ConnectionStates::decode_bytes(value.as_bytes()),
            None => Ok(ConnectionStates::new()),
        }
    }

    /// Why the layer itself refused the request, when it did (the handler's own refusals are
    /// not rejections).
    pub fn rejection(&self) -> Option<&Rejection> {
        self.rejection.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_the_service_format() {
        let time = now();
        assert_eq!(time.len(), "2024-01-01T00:00:00Z".len(), "{time}");
        assert!(time.starts_with("20") && time.ends_with('Z'), "{time}");
    }

    #[tokio::test]
    async fn events_carry_what_the_service_sends() {
        let request = SignedEvent::connect("Chat", "c1")
            .claim("role", "admin")
            .query("name", "a")
            .subprotocols(["json.webpubsub.azure.v1"])
            .key("k1")
            .key("k2")
            .into_request();
        assert_eq!(request.uri().path(), "/api/webpubsub/hubs/chat/");
        let headers = request.headers().clone();
        assert_eq!(headers["ce-type"], "azure.webpubsub.sys.connect");
        assert_eq!(headers["ce-hub"], "chat");
        assert_eq!(headers["ce-source"], "/hubs/chat/client/c1");
        let signature = headers["ce-signature"].to_str().unwrap();
        for key in ["k1", "k2"] {
            assert!(signature::verify([signature], "c1", [&AccessKey::new(key)]));
        }
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let body: ConnectEventBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.claims["role"], ["admin"]);
        assert_eq!(body.subprotocols, ["json.webpubsub.azure.v1"]);
    }
}
