//! The MQTT parts of upstream events: connect properties, disconnect packets, the error body of a
//! rejected MQTT connect, and the mapping between MQTT CONNACK codes and HTTP statuses.
//!
//! MQTT 3.1.1 CONNACK return codes are 1 to 5; MQTT 5 reason codes are 0x80 and above, so a code
//! alone says which protocol version it belongs to.
//!
//! ```
//! use http::StatusCode;
//! use webpubsub_protocol::cloudevents::mqtt::{self, MqttErrorBody};
//!
//! // A handler rejects an MQTT 5 client: the service gets 403 and this JSON body.
//! let body = MqttErrorBody::new(mqtt::v5::BANNED, "banned by server");
//! assert_eq!(mqtt::status_for_connect_code(mqtt::v5::BANNED), StatusCode::FORBIDDEN);
//! assert_eq!(
//!     serde_json::to_string(&body)?,
//!     r#"{"mqtt":{"code":138,"reason":"banned by server"}}"#
//! );
//! // A plain 401 becomes "not authorized" in the client's protocol version.
//! assert_eq!(mqtt::connect_code_for_status(StatusCode::UNAUTHORIZED, 4), mqtt::v311::NOT_AUTHORIZED);
//! assert_eq!(mqtt::connect_code_for_status(StatusCode::UNAUTHORIZED, 5), mqtt::v5::NOT_AUTHORIZED);
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::fmt;

use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::nullable;

/// One MQTT 5 user property (a name/value pair; names may repeat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttUserProperty {
    /// The property name.
    pub name: String,
    /// The property value.
    pub value: String,
}

impl MqttUserProperty {
    /// A property.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The `mqtt` object of a `connect` request body: the CONNECT packet's properties.
///
/// `Debug` redacts the password.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MqttConnectProperties {
    /// The MQTT protocol version: 4 for MQTT 3.1.1, 5 for MQTT 5.0.
    pub protocol_version: u8,
    /// The user name of the CONNECT packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password of the CONNECT packet, base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The CONNECT packet's user properties (MQTT 5).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub user_properties: Vec<MqttUserProperty>,
}

impl fmt::Debug for MqttConnectProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttConnectProperties")
            .field("protocol_version", &self.protocol_version)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("user_properties", &self.user_properties)
            .finish()
    }
}

/// The `mqtt` object of a `connect` response body: user properties for the CONNACK packet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MqttConnectResponseProperties {
    /// User properties the service puts in the CONNACK packet (MQTT 5).
    #[serde(default, deserialize_with = "nullable")]
    pub user_properties: Vec<MqttUserProperty>,
}

/// The `mqtt` object of a `disconnected` request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MqttDisconnectedProperties {
    /// Whether the client sent the DISCONNECT packet (rather than the server closing).
    #[serde(default)]
    pub initiated_by_client: bool,
    /// The DISCONNECT packet, absent when the connection ended with an I/O error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_packet: Option<MqttDisconnectPacket>,
}

/// A DISCONNECT packet's reason code and user properties.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MqttDisconnectPacket {
    /// The MQTT 5 reason code (0 is a normal disconnection).
    #[serde(default)]
    pub code: u8,
    /// The packet's user properties (MQTT 5).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub user_properties: Vec<MqttUserProperty>,
}

/// The body of a rejected MQTT `connect`: `{"mqtt":{"code":..,"reason":..,"userProperties":[..]}}`,
/// sent with `Content-Type: application/json` and a 4xx/5xx status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttErrorBody {
    /// The error.
    pub mqtt: MqttError,
}

impl MqttErrorBody {
    /// A body with a CONNACK code and a reason (the reason reaches MQTT 5 clients only).
    pub fn new(code: u8, reason: impl Into<String>) -> Self {
        Self {
            mqtt: MqttError {
                code,
                reason: Some(reason.into()),
                user_properties: Vec::new(),
            },
        }
    }
}

/// The `mqtt` object of [`MqttErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MqttError {
    /// The MQTT 3.1.1 CONNACK return code (1-5) or MQTT 5 reason code (0x80-0x9F).
    pub code: u8,
    /// Why the connection was refused (MQTT 5 clients only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// User properties for the CONNACK packet (MQTT 5 clients only).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub user_properties: Vec<MqttUserProperty>,
}

/// MQTT 3.1.1 CONNACK return codes.
pub mod v311 {
    /// The server does not support the requested protocol level.
    pub const UNACCEPTABLE_PROTOCOL_VERSION: u8 = 1;
    /// The client identifier is not allowed.
    pub const IDENTIFIER_REJECTED: u8 = 2;
    /// The service is unavailable.
    pub const SERVER_UNAVAILABLE: u8 = 3;
    /// The user name or password is malformed or wrong.
    pub const BAD_USERNAME_OR_PASSWORD: u8 = 4;
    /// The client is not authorized to connect.
    pub const NOT_AUTHORIZED: u8 = 5;
}

/// MQTT 5 CONNACK reason codes (the failure ones).
pub mod v5 {
    /// Unspecified error.
    pub const UNSPECIFIED_ERROR: u8 = 0x80;
    /// Malformed packet.
    pub const MALFORMED_PACKET: u8 = 0x81;
    /// Protocol error.
    pub const PROTOCOL_ERROR: u8 = 0x82;
    /// Implementation-specific error.
    pub const IMPLEMENTATION_SPECIFIC_ERROR: u8 = 0x83;
    /// Unsupported protocol version.
    pub const UNSUPPORTED_PROTOCOL_VERSION: u8 = 0x84;
    /// Client identifier not valid.
    pub const CLIENT_IDENTIFIER_NOT_VALID: u8 = 0x85;
    /// Bad user name or password.
    pub const BAD_USERNAME_OR_PASSWORD: u8 = 0x86;
    /// Not authorized.
    pub const NOT_AUTHORIZED: u8 = 0x87;
    /// Server unavailable.
    pub const SERVER_UNAVAILABLE: u8 = 0x88;
    /// Server busy.
    pub const SERVER_BUSY: u8 = 0x89;
    /// Banned.
    pub const BANNED: u8 = 0x8A;
    /// Bad authentication method.
    pub const BAD_AUTHENTICATION_METHOD: u8 = 0x8C;
    /// Topic name invalid.
    pub const TOPIC_NAME_INVALID: u8 = 0x90;
    /// Packet too large.
    pub const PACKET_TOO_LARGE: u8 = 0x95;
    /// Quota exceeded.
    pub const QUOTA_EXCEEDED: u8 = 0x97;
    /// Payload format invalid.
    pub const PAYLOAD_FORMAT_INVALID: u8 = 0x99;
    /// Retain not supported.
    pub const RETAIN_NOT_SUPPORTED: u8 = 0x9A;
    /// QoS not supported.
    pub const QOS_NOT_SUPPORTED: u8 = 0x9B;
    /// Use another server.
    pub const USE_ANOTHER_SERVER: u8 = 0x9C;
    /// Server moved.
    pub const SERVER_MOVED: u8 = 0x9D;
    /// Connection rate exceeded.
    pub const CONNECTION_RATE_EXCEEDED: u8 = 0x9F;
}

/// The HTTP status that carries a CONNACK failure code, as `@azure/web-pubsub-express` maps it
/// (`getStatusCodeFromMqttConnectCode`); unknown codes map to 500.
pub fn status_for_connect_code(code: u8) -> StatusCode {
    match code {
        v311::UNACCEPTABLE_PROTOCOL_VERSION | v311::IDENTIFIER_REJECTED => StatusCode::BAD_REQUEST,
        v311::SERVER_UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        v311::BAD_USERNAME_OR_PASSWORD | v311::NOT_AUTHORIZED => StatusCode::UNAUTHORIZED,
        v5::BAD_USERNAME_OR_PASSWORD | v5::NOT_AUTHORIZED => StatusCode::UNAUTHORIZED,
        v5::CLIENT_IDENTIFIER_NOT_VALID
        | v5::MALFORMED_PACKET
        | v5::UNSUPPORTED_PROTOCOL_VERSION
        | v5::BAD_AUTHENTICATION_METHOD
        | v5::TOPIC_NAME_INVALID
        | v5::PAYLOAD_FORMAT_INVALID
        | v5::IMPLEMENTATION_SPECIFIC_ERROR
        | v5::PACKET_TOO_LARGE
        | v5::RETAIN_NOT_SUPPORTED
        | v5::QOS_NOT_SUPPORTED => StatusCode::BAD_REQUEST,
        v5::QUOTA_EXCEEDED | v5::CONNECTION_RATE_EXCEEDED => StatusCode::TOO_MANY_REQUESTS,
        v5::BANNED => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The CONNACK failure code for an HTTP error status, in the client's MQTT `protocol_version`
/// (5 for MQTT 5, anything else for 3.1.1).
///
/// 400, 401 and 500 map as `@azure/web-pubsub-express` maps them (4/0x86, 5/0x87, 3/0x80); 403
/// is "not authorized" (5) or "banned" (0x8A), 429 "server unavailable" (3) or "quota exceeded"
/// (0x97), 503 "server unavailable" (3/0x88), and any other status "bad user name or password"
/// (4xx) or "server unavailable"/"unspecified error" (5xx).
pub fn connect_code_for_status(status: StatusCode, protocol_version: u8) -> u8 {
    let is_v5 = protocol_version == 5;
    match status.as_u16() {
        401 => pick(is_v5, v311::NOT_AUTHORIZED, v5::NOT_AUTHORIZED),
        403 => pick(is_v5, v311::NOT_AUTHORIZED, v5::BANNED),
        429 => pick(is_v5, v311::SERVER_UNAVAILABLE, v5::QUOTA_EXCEEDED),
        503 => pick(is_v5, v311::SERVER_UNAVAILABLE, v5::SERVER_UNAVAILABLE),
        400..=499 => pick(
            is_v5,
            v311::BAD_USERNAME_OR_PASSWORD,
            v5::BAD_USERNAME_OR_PASSWORD,
        ),
        _ => pick(is_v5, v311::SERVER_UNAVAILABLE, v5::UNSPECIFIED_ERROR),
    }
}

fn pick(is_v5: bool, v311_code: u8, v5_code: u8) -> u8 {
    if is_v5 { v5_code } else { v311_code }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_codes_like_the_js_sdk() {
        let cases = [
            (1, 400),
            (2, 400),
            (3, 503),
            (4, 401),
            (5, 401),
            (0x86, 401),
            (0x87, 401),
            (0x85, 400),
            (0x81, 400),
            (0x9B, 400),
            (0x84, 400),
            (0x95, 400),
            (0x97, 429),
            (0x9F, 429),
            (0x8A, 403),
            (0x9C, 500),
            (0x88, 500),
            (0x89, 500),
            (0x80, 500),
            (0, 500),
            (0xFF, 500),
        ];
        for (code, status) in cases {
            assert_eq!(
                status_for_connect_code(code).as_u16(),
                status,
                "code {code}"
            );
        }
    }

    #[test]
    fn maps_statuses_back_to_codes_per_version() {
        assert_eq!(connect_code_for_status(StatusCode::BAD_REQUEST, 4), 4);
        assert_eq!(connect_code_for_status(StatusCode::BAD_REQUEST, 5), 0x86);
        assert_eq!(connect_code_for_status(StatusCode::UNAUTHORIZED, 4), 5);
        assert_eq!(connect_code_for_status(StatusCode::UNAUTHORIZED, 5), 0x87);
        assert_eq!(
            connect_code_for_status(StatusCode::INTERNAL_SERVER_ERROR, 4),
            3
        );
        assert_eq!(
            connect_code_for_status(StatusCode::INTERNAL_SERVER_ERROR, 5),
            0x80
        );
        assert_eq!(connect_code_for_status(StatusCode::FORBIDDEN, 5), 0x8A);
        assert_eq!(
            connect_code_for_status(StatusCode::GATEWAY_TIMEOUT, 5),
            0x80
        );
        // Every code we pick for a status maps back to a status of the same class.
        for status in [400, 401, 403, 404, 413, 429, 500, 503, 504] {
            let status = StatusCode::from_u16(status).unwrap();
            for version in [4, 5] {
                let back = status_for_connect_code(connect_code_for_status(status, version));
                assert!(back.is_client_error() || back.is_server_error());
            }
        }
    }

    #[test]
    fn password_is_redacted() {
        let props = MqttConnectProperties {
            protocol_version: 5,
            username: Some("u".into()),
            password: Some("c2VjcmV0".into()),
            user_properties: vec![],
        };
        assert!(!format!("{props:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn error_body_round_trips_with_user_properties() {
        let mut body = MqttErrorBody::new(v5::NOT_AUTHORIZED, "no");
        body.mqtt
            .user_properties
            .push(MqttUserProperty::new("a", "b"));
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(
            json,
            r#"{"mqtt":{"code":135,"reason":"no","userProperties":[{"name":"a","value":"b"}]}}"#
        );
        assert_eq!(serde_json::from_str::<MqttErrorBody>(&json).unwrap(), body);
    }
}
