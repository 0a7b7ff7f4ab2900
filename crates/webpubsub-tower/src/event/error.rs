//! The error a handler returns.

use http::StatusCode;
use webpubsub_protocol::cloudevents::mqtt::{self, MqttError, MqttUserProperty};

/// An event handler's refusal: a 4xx/5xx status and a message, optionally in the MQTT form.
///
/// For `connect` the message reaches the client (the service returns a connect 4xx to it); for
/// user events any error drops the client's connection. For the non-blocking events
/// (`connected`, `disconnected`, group events) an error is only logged: the service does not wait
/// for those answers.
///
/// When the connecting client speaks MQTT and the error has no MQTT form, the layer answers with
/// the MQTT error body, picking the CONNACK code from the status
/// ([`connect_code_for_status`](webpubsub_protocol::cloudevents::mqtt::connect_code_for_status)).
///
/// ```
/// use http::StatusCode;
/// use webpubsub_tower::EventError;
///
/// let err = EventError::new(StatusCode::FORBIDDEN, "room is full");
/// assert_eq!(err.status(), StatusCode::FORBIDDEN);
/// assert_eq!(err.to_string(), "event refused with status 403: room is full");
///
/// // A status that is not an error is answered as 500.
/// assert_eq!(EventError::new(StatusCode::OK, "?").status(), StatusCode::INTERNAL_SERVER_ERROR);
///
/// // MQTT: the code picks the status (0x8A "banned" is 403).
/// let err = EventError::mqtt(0x8A, "banned");
/// assert_eq!(err.status(), StatusCode::FORBIDDEN);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event refused with status {}: {message}", status.as_u16())]
pub struct EventError {
    status: StatusCode,
    message: String,
    mqtt: Option<MqttError>,
    cause: Cause,
}

/// Who made an [`EventError`]: the handler, or the [`EventRunner`](crate::EventRunner)'s guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    Handler,
    Panicked,
    TimedOut,
}

impl EventError {
    /// An error with `status` (a status outside 400-599 becomes 500) and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let status = if status.is_client_error() || status.is_server_error() {
            status
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self {
            status,
            message: message.into(),
            mqtt: None,
            cause: Cause::Handler,
        }
    }

    /// The runner's answer for a handler that panicked: 500, without details.
    pub(crate) fn panicked() -> Self {
        Self {
            cause: Cause::Panicked,
            ..Self::internal("the event handler failed")
        }
    }

    /// The runner's answer for a handler that outlived `limit`: 504.
    pub(crate) fn timed_out(limit: std::time::Duration) -> Self {
        Self {
            cause: Cause::TimedOut,
            ..Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the event handler did not answer within {limit:?}"),
            )
        }
    }

    pub(crate) fn cause(&self) -> Cause {
        self.cause
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401 Unauthorized: the usual way to refuse a `connect`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// An MQTT connect refusal with a CONNACK `code` (3.1.1: 1-5, MQTT 5: 0x80-0x9F) and a reason;
    /// the status follows from the code
    /// ([`status_for_connect_code`](webpubsub_protocol::cloudevents::mqtt::status_for_connect_code)).
    pub fn mqtt(code: u8, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self {
            status: mqtt::status_for_connect_code(code),
            message: reason.clone(),
            mqtt: Some(MqttError {
                code,
                reason: Some(reason),
                user_properties: Vec::new(),
            }),
            cause: Cause::Handler,
        }
    }

    /// Adds a CONNACK user property to an [`mqtt`](Self::mqtt) error (ignored otherwise).
    #[must_use]
    pub fn with_mqtt_user_property(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        if let Some(mqtt) = &mut self.mqtt {
            mqtt.user_properties
                .push(MqttUserProperty::new(name, value));
        }
        self
    }

    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message, the body of the answer.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The MQTT form, for errors made with [`mqtt`](Self::mqtt).
    pub fn mqtt_error(&self) -> Option<&MqttError> {
        self.mqtt.as_ref()
    }
}

impl From<serde_json::Error> for EventError {
    /// A response that could not be serialized is the server's fault: 500, without the details.
    fn from(_: serde_json::Error) -> Self {
        Self::internal("the event handler's response could not be serialized")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_pick_their_status() {
        assert_eq!(
            EventError::bad_request("x").status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            EventError::unauthorized("x").status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(EventError::forbidden("x").status(), StatusCode::FORBIDDEN);
        assert_eq!(
            EventError::internal("x").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            EventError::new(StatusCode::IM_A_TEAPOT, "x").status(),
            StatusCode::IM_A_TEAPOT
        );
        assert_eq!(
            EventError::new(StatusCode::NO_CONTENT, "x").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn mqtt_errors_carry_code_reason_and_properties() {
        let err = EventError::mqtt(5, "not authorized").with_mqtt_user_property("a", "b");
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        let mqtt = err.mqtt_error().unwrap();
        assert_eq!(mqtt.code, 5);
        assert_eq!(mqtt.reason.as_deref(), Some("not authorized"));
        assert_eq!(mqtt.user_properties, [MqttUserProperty::new("a", "b")]);
        // Properties on a plain error are ignored rather than inventing an MQTT form.
        assert!(
            EventError::internal("x")
                .with_mqtt_user_property("a", "b")
                .mqtt_error()
                .is_none()
        );
    }
}
