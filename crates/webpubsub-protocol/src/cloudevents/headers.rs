//! Header names of upstream requests and responses.
//!
//! HTTP header names are case-insensitive; the docs spell them `ce-connectionId`, `ce-userId` and
//! so on, while [`HeaderName`] stores them lower-cased, which is how HTTP/2 and hyper send them.

use http::HeaderName;

/// `ce-specversion`: the CloudEvents version, always [`SPEC_VERSION`].
pub const CE_SPEC_VERSION: HeaderName = HeaderName::from_static("ce-specversion");
/// `ce-type`: the full event type, for example `azure.webpubsub.sys.connect` (see [`EventType`](super::EventType)).
pub const CE_TYPE: HeaderName = HeaderName::from_static("ce-type");
/// `ce-source`: `/hubs/{hub}/client/{connectionId}`.
pub const CE_SOURCE: HeaderName = HeaderName::from_static("ce-source");
/// `ce-id`: the event id, unique among the events of one connection.
pub const CE_ID: HeaderName = HeaderName::from_static("ce-id");
/// `ce-time`: when the event happened, `yyyy-MM-ddTHH:mm:ssZ`.
pub const CE_TIME: HeaderName = HeaderName::from_static("ce-time");
/// `ce-awpsversion`: the Web PubSub extension version, always [`AWPS_VERSION`].
pub const CE_AWPS_VERSION: HeaderName = HeaderName::from_static("ce-awpsversion");
/// `ce-hub`: the hub name. The service lower-cases it, so compare it case-insensitively.
pub const CE_HUB: HeaderName = HeaderName::from_static("ce-hub");
/// `ce-connectionId`: the connection id (for MQTT, the client id).
pub const CE_CONNECTION_ID: HeaderName = HeaderName::from_static("ce-connectionid");
/// `ce-userId`: the user id, absent while an anonymous client connects.
pub const CE_USER_ID: HeaderName = HeaderName::from_static("ce-userid");
/// `ce-eventName`: the event name without prefix (`connect`, `message`, `joined`, ...).
pub const CE_EVENT_NAME: HeaderName = HeaderName::from_static("ce-eventname");
/// `ce-subprotocol`: the subprotocol the client negotiated, `mqtt` for MQTT clients.
pub const CE_SUBPROTOCOL: HeaderName = HeaderName::from_static("ce-subprotocol");
/// `ce-connectionState`: the connection state, in requests and in responses of blocking events
/// (see [`state`](crate::state)).
pub const CE_CONNECTION_STATE: HeaderName = HeaderName::from_static("ce-connectionstate");
/// `ce-signature`: `sha256=<hex>` entries, one per access key (see [`signature`](crate::signature)).
pub const CE_SIGNATURE: HeaderName = HeaderName::from_static("ce-signature");
/// `ce-physicalConnectionId`: MQTT only, the id of one physical connection of a session.
pub const CE_PHYSICAL_CONNECTION_ID: HeaderName =
    HeaderName::from_static("ce-physicalconnectionid");
/// `ce-sessionId`: MQTT only, the session id (every event except `connect`).
pub const CE_SESSION_ID: HeaderName = HeaderName::from_static("ce-sessionid");
/// `WebHook-Request-Origin`: the service host name(s), on the handshake and on every event.
pub const WEBHOOK_REQUEST_ORIGIN: HeaderName = HeaderName::from_static("webhook-request-origin");
/// `WebHook-Allowed-Origin`: the handshake answer, the accepted origin or `*`.
pub const WEBHOOK_ALLOWED_ORIGIN: HeaderName = HeaderName::from_static("webhook-allowed-origin");

/// The prefix of the headers that carry the MQTT 5 user properties of a user event
/// (`mqtt-<name>`), in requests and responses.
pub const MQTT_USER_PROPERTY_PREFIX: &str = "mqtt-";

/// The value of `ce-specversion`.
pub const SPEC_VERSION: &str = "1.0";
/// The value of `ce-awpsversion`.
pub const AWPS_VERSION: &str = "1.0";
/// The `ce-subprotocol` of MQTT connections.
pub const MQTT_SUBPROTOCOL: &str = "mqtt";
