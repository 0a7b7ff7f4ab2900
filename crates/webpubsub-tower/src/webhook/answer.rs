//! Handling a checked event: read its body, run the handler, and write its answer as HTTP.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use http_body::Body;
use http_body_util::Full;
use webpubsub_protocol::{
    cloudevents::{
        headers::{CE_CONNECTION_STATE, MQTT_USER_PROPERTY_PREFIX},
        mqtt::{MqttErrorBody, MqttUserProperty, connect_code_for_status},
    },
    state::ConnectionStates,
};

use super::{
    read::{BoxError, Inbound, read_event},
    rejection::{Rejection, RejectionKind},
};
use crate::{
    ConnectResponse, DataType, Event, EventError, EventHandler, EventReply, EventRunner,
    StateChanges, UserEventResponse, event::Cause,
};

pub(crate) type HandledResponse = Response<Full<Bytes>>;

// The answers' content types, checked once at compile time (`from_static` on a value chosen at
// run time checks its bytes on every answer).
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");
const BINARY: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// Reads the body of a checked event, runs the handler and writes the answer.
pub(crate) async fn handle<H, B>(
    runner: EventRunner<H>,
    mut inbound: Inbound,
    body: B,
    body_limit: usize,
) -> HandledResponse
where
    H: EventHandler,
    B: Body,
    B::Error: Into<BoxError>,
{
    let state_header = inbound.state.take();
    let event = match read_event(inbound, body, body_limit).await {
        Ok(event) => event,
        Err(rejection) => return rejection.into_response(),
    };
    let mqtt_version = match &event {
        Event::Connect(request) => request.mqtt().map(|mqtt| mqtt.protocol_version),
        _ => None,
    };
    let blocking = event.is_blocking();
    match runner.run(event).await {
        Ok(EventReply::Connect(answer)) => connect_answer(&answer, state_header.as_ref()),
        Ok(EventReply::UserEvent(answer)) => user_event_answer(answer, state_header.as_ref()),
        Ok(EventReply::Done) => empty(StatusCode::OK),
        // The service does not wait for these answers; the runner logged the failure.
        Err(_) if !blocking => empty(StatusCode::OK),
        Err(err) => error_answer(err, mqtt_version),
    }
}

/// `204`, or `200` with the answer's JSON.
fn connect_answer(answer: &ConnectResponse, state_header: Option<&HeaderValue>) -> HandledResponse {
    let mut reply = if answer.body().is_empty() {
        empty(StatusCode::NO_CONTENT)
    } else {
        // Serializing these plain structs cannot fail.
        let json = serde_json::to_vec(answer.body()).expect("connect response serializes");
        with_body(json, JSON)
    };
    write_states(&mut reply, state_header, answer.state_changes());
    reply
}

/// `204`, or `200` with the answer's data.
fn user_event_answer(
    answer: UserEventResponse,
    state_header: Option<&HeaderValue>,
) -> HandledResponse {
    let mut reply = empty(StatusCode::NO_CONTENT);
    if let Err(err) = write_mqtt_user_properties(&mut reply, answer.mqtt_user_properties()) {
        return error_answer(err, None);
    }
    write_states(&mut reply, state_header, answer.state_changes());
    if let Some((data, data_type)) = answer.into_data() {
        let content_type = match data_type {
            DataType::Text => TEXT,
            DataType::Json => JSON,
            _ => BINARY,
        };
        *reply.status_mut() = StatusCode::OK;
        *reply.body_mut() = Full::new(data);
        reply
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    reply
}

/// The answer to a refused blocking event. `mqtt_version` is set for an MQTT client's
/// `connect`, which is answered with the MQTT error body.
fn error_answer(err: EventError, mqtt_version: Option<u8>) -> HandledResponse {
    let kind = match err.cause() {
        Cause::Handler => None,
        Cause::Panicked => Some(RejectionKind::HandlerPanicked),
        Cause::TimedOut => Some(RejectionKind::HandlerTimedOut),
    };
    let mqtt_body = match (err.mqtt_error(), mqtt_version) {
        (Some(mqtt), _) => Some(MqttErrorBody { mqtt: mqtt.clone() }),
        (None, Some(version)) => Some(MqttErrorBody::new(
            connect_code_for_status(err.status(), version),
            err.message(),
        )),
        (None, None) => None,
    };
    let mut reply = match kind {
        // The runner logged it in the event's span.
        Some(kind) => Rejection::new(kind, err.message()).into_response_unlogged(),
        None => with_body(err.message().to_owned(), TEXT),
    };
    *reply.status_mut() = err.status();
    if let Some(body) = mqtt_body {
        *reply.body_mut() =
            Full::from(serde_json::to_vec(&body).expect("mqtt error body serializes"));
        reply.headers_mut().insert(header::CONTENT_TYPE, JSON);
    }
    reply
}

/// Sets `ce-connectionState` to the request's state with `changes` applied; no changes, no header.
fn write_states(
    reply: &mut HandledResponse,
    request_state: Option<&HeaderValue>,
    changes: &StateChanges,
) {
    if changes.is_empty() {
        return;
    }
    // The request's state was checked when the head was read.
    let mut states = request_state
        .and_then(|value| ConnectionStates::decode_bytes(value.as_bytes()).ok())
        .unwrap_or_default();
    changes.apply_to(&mut states);
    let value = HeaderValue::try_from(states.encode()).expect("base64 is a valid header value");
    reply.headers_mut().insert(CE_CONNECTION_STATE, value);
}

/// Adds the `mqtt-<name>` headers of an answer's MQTT user properties.
fn write_mqtt_user_properties(
    reply: &mut HandledResponse,
    properties: &[MqttUserProperty],
) -> Result<(), EventError> {
    for MqttUserProperty { name, value } in properties {
        let header_name = HeaderName::try_from(format!("{MQTT_USER_PROPERTY_PREFIX}{name}"))
            .map_err(|_| {
                EventError::internal(format!(
                    "mqtt user property name {name:?} is not a valid header name"
                ))
            })?;
        let header_value = HeaderValue::try_from(value).map_err(|_| {
            EventError::internal(format!(
                "mqtt user property {name:?} has a value that is not a valid header value"
            ))
        })?;
        reply.headers_mut().append(header_name, header_value);
    }
    Ok(())
}

fn empty(status: StatusCode) -> HandledResponse {
    let mut reply = Response::new(Full::default());
    *reply.status_mut() = status;
    reply
}

fn with_body(body: impl Into<Bytes>, content_type: HeaderValue) -> HandledResponse {
    let mut reply = Response::new(Full::new(body.into()));
    reply
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    reply
}
