//! The asynchronous part of an event: read the body, call the handler, turn its answer into HTTP.

use std::{
    any::Any,
    future::{Future, poll_fn},
    panic::AssertUnwindSafe,
    pin::pin,
    sync::Arc,
    task::Poll,
    time::Duration,
};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::FutureExt as _;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt as _, Full};
use serde::de::DeserializeOwned;
use webpubsub_protocol::{
    cloudevents::{
        ConnectEventBody, DisconnectedEventBody, EventType, GroupEventBody,
        headers::{CE_CONNECTION_STATE, MQTT_USER_PROPERTY_PREFIX},
        mqtt::{MqttErrorBody, MqttUserProperty, connect_code_for_status},
    },
    state::ConnectionStates,
};

use crate::{
    ConnectRequest, ConnectedRequest, DisconnectedRequest, EventError, EventHandler,
    GroupEventRequest, Rejection, RejectionKind, UserEventRequest,
    config::Limits,
    inbound::{Inbound, too_large},
    response::{Payload, StateChanges},
};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type HandledResponse = Response<Full<Bytes>>;

/// Reads the body of a checked event, runs the handler and builds the answer.
pub(crate) async fn dispatch<H, B>(
    handler: Arc<H>,
    limits: Limits,
    inbound: Inbound,
    body: B,
) -> HandledResponse
where
    H: EventHandler,
    B: Body,
    B::Error: Into<BoxError>,
{
    let body = match read_body(body, limits.body).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let Inbound {
        context,
        data_type,
        state_header,
    } = inbound;
    let timeout = limits.handler_timeout;
    match context.event_type() {
        EventType::Connect => {
            let body: ConnectEventBody = match parse_json(&body, "connect") {
                Ok(body) => body,
                Err(rejection) => return rejection.into_response(),
            };
            let mqtt_version = body.mqtt.as_ref().map(|mqtt| mqtt.protocol_version);
            let request = ConnectRequest::new(context, body);
            match run(timeout, async { handler.on_connect(request).await }).await {
                Ok(response) => {
                    let (body, states) = response.into_parts();
                    let mut reply = if body.is_empty() {
                        empty(StatusCode::NO_CONTENT)
                    } else {
                        // Serializing these plain structs cannot fail.
                        let json = serde_json::to_vec(&body).expect("connect response serializes");
                        with_body(json, "application/json; charset=utf-8")
                    };
                    write_states(&mut reply, state_header.as_ref(), states);
                    reply
                }
                Err(failure) => failure.into_response(mqtt_version),
            }
        }
        EventType::User(_) => {
            let data_type = data_type.expect("user events are typed when their head is read");
            let request = UserEventRequest::new(context, body, data_type);
            match run(timeout, async { handler.on_user_event(request).await }).await {
                Ok(response) => {
                    let (payload, mqtt_user_properties, states) = response.into_parts();
                    let mut reply = match payload {
                        None => empty(StatusCode::NO_CONTENT),
                        Some(Payload::Text(text)) => with_body(text, "text/plain; charset=utf-8"),
                        Some(Payload::Json(json)) => {
                            with_body(json, "application/json; charset=utf-8")
                        }
                        Some(Payload::Binary(data)) => with_body(data, "application/octet-stream"),
                    };
                    if let Err(err) = write_mqtt_user_properties(&mut reply, mqtt_user_properties) {
                        return Failure::Handler(err).into_response(None);
                    }
                    write_states(&mut reply, state_header.as_ref(), states);
                    reply
                }
                Err(failure) => failure.into_response(None),
            }
        }
        EventType::Connected => {
            let request = ConnectedRequest::new(context);
            non_blocking(
                "connected",
                run(timeout, async { handler.on_connected(request).await }).await,
            )
        }
        EventType::Disconnected => {
            let body: DisconnectedEventBody = match parse_json(&body, "disconnected") {
                Ok(body) => body,
                Err(rejection) => return rejection.into_response(),
            };
            let request = DisconnectedRequest::new(context, body);
            non_blocking(
                "disconnected",
                run(timeout, async { handler.on_disconnected(request).await }).await,
            )
        }
        ty @ (EventType::GroupJoined | EventType::GroupLeft) => {
            let joined = *ty == EventType::GroupJoined;
            let GroupEventBody { group } = match parse_required_json(&body, "group") {
                Ok(body) => body,
                Err(rejection) => return rejection.into_response(),
            };
            let request = GroupEventRequest::new(context, group);
            if joined {
                non_blocking(
                    "group joined",
                    run(timeout, async { handler.on_group_joined(request).await }).await,
                )
            } else {
                non_blocking(
                    "group left",
                    run(timeout, async { handler.on_group_left(request).await }).await,
                )
            }
        }
        // `read_head` rejects unknown types before the body is read.
        _ => Rejection::new(
            RejectionKind::UnknownEventType,
            "the event type is not handled",
        )
        .into_response(),
    }
}

/// Collects the body, enforcing the limit while it streams (chunked bodies have no length).
///
/// By hand rather than `Limited` + `collect()`: an event body is almost always one frame, which
/// this keeps as it is, with no buffer list to allocate and no copy.
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, Rejection>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut body = pin!(body);
    let mut first = Bytes::new();
    let mut more: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| {
            Rejection::new(
                RejectionKind::InvalidBody,
                format!("could not read the request body: {}", err.into()),
            )
        })?;
        // Trailers carry nothing an event uses.
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        let length = more.as_ref().map_or(first.len(), BytesMut::len) + data.remaining();
        if length > limit {
            return Err(too_large(limit));
        }
        match &mut more {
            None if first.is_empty() => first = data.copy_to_bytes(data.remaining()),
            None => {
                let mut joined = BytesMut::with_capacity(length);
                joined.extend_from_slice(&first);
                joined.put(data);
                more = Some(joined);
            }
            Some(joined) => joined.put(data),
        }
    }
    Ok(more.map_or(first, BytesMut::freeze))
}

/// A system event body; an empty body reads as the default (`connect` may come without one).
fn parse_json<T: DeserializeOwned + Default>(body: &[u8], event: &str) -> Result<T, Rejection> {
    if body.trim_ascii().is_empty() {
        return Ok(T::default());
    }
    parse_required_json(body, event)
}

fn parse_required_json<T: DeserializeOwned>(body: &[u8], event: &str) -> Result<T, Rejection> {
    // serde's derived structs also read a JSON array (fields by position), so `[]` would pass
    // as an empty event: an event body is an object or nothing.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(Rejection::new(
            RejectionKind::InvalidBody,
            format!("the {event} event body is not a json object"),
        ));
    }
    serde_json::from_slice(body).map_err(|err| {
        Rejection::new(
            RejectionKind::InvalidBody,
            format!("the {event} event body is not valid json: {err}"),
        )
    })
}

/// How a handler call ended, when not with an answer.
#[derive(Debug)]
enum Failure {
    Handler(EventError),
    Panicked,
    TimedOut(Duration),
}

/// Runs a handler future: a panic (also one raised while creating the future) and a timeout
/// become failures instead of unwinding into the server or hanging the service.
async fn run<T>(
    timeout: Option<Duration>,
    future: impl Future<Output = Result<T, EventError>>,
) -> Result<T, Failure> {
    // The handler owns everything it touches through `&self` behind an `Arc`; a panic leaves
    // nothing of ours half-updated, so asserting unwind safety is sound.
    let mut guarded = pin!(AssertUnwindSafe(future).catch_unwind());
    let outcome = match timeout {
        Some(limit) => {
            // Most handlers answer without waiting: poll once before arming a timer, so that
            // they do not pay for registering one and cancelling it. The limit thus counts from
            // the handler's first wait, which is where a timer can interrupt it anyway.
            match poll_fn(|cx| Poll::Ready(guarded.as_mut().poll(cx))).await {
                Poll::Ready(outcome) => outcome,
                Poll::Pending => match tokio::time::timeout(limit, guarded).await {
                    Ok(outcome) => outcome,
                    Err(_) => return Err(Failure::TimedOut(limit)),
                },
            }
        }
        None => guarded.await,
    };
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(Failure::Handler(err)),
        Err(panic) => {
            tracing::error!(
                panic = panic_message(&*panic),
                "web pubsub event handler panicked"
            );
            Err(Failure::Panicked)
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<non-string panic>")
}

impl Failure {
    /// The answer to a blocking event. `mqtt_version` is set for an MQTT client's `connect`,
    /// which is answered with the MQTT error body.
    fn into_response(self, mqtt_version: Option<u8>) -> HandledResponse {
        let err = match self {
            Self::Handler(err) => err,
            Self::Panicked => {
                return Rejection::new(RejectionKind::HandlerPanicked, "the event handler failed")
                    .into_response_mqtt(mqtt_version);
            }
            Self::TimedOut(limit) => {
                return Rejection::new(
                    RejectionKind::HandlerTimedOut,
                    format!("the event handler did not answer within {limit:?}"),
                )
                .into_response_mqtt(mqtt_version);
            }
        };
        tracing::debug!(
            status = err.status().as_u16(),
            message = err.message(),
            "web pubsub event handler refused the event"
        );
        let mqtt_body = match (err.mqtt_error(), mqtt_version) {
            (Some(mqtt), _) => Some(MqttErrorBody { mqtt: mqtt.clone() }),
            (None, Some(version)) => Some(MqttErrorBody::new(
                connect_code_for_status(err.status(), version),
                err.message(),
            )),
            (None, None) => None,
        };
        let mut reply = match mqtt_body {
            Some(body) => with_body(
                serde_json::to_vec(&body).expect("mqtt error body serializes"),
                "application/json; charset=utf-8",
            ),
            None => with_body(err.message().to_owned(), "text/plain; charset=utf-8"),
        };
        *reply.status_mut() = err.status();
        reply
    }
}

impl Rejection {
    /// [`into_response`](Rejection::into_response), in the MQTT error form for MQTT connects.
    fn into_response_mqtt(self, mqtt_version: Option<u8>) -> HandledResponse {
        let Some(version) = mqtt_version else {
            return self.into_response();
        };
        let body = MqttErrorBody::new(
            connect_code_for_status(self.status(), version),
            self.message(),
        );
        let mut reply: HandledResponse = self.into_response();
        *reply.body_mut() =
            Full::from(serde_json::to_vec(&body).expect("mqtt error body serializes"));
        reply.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        reply
    }
}

/// The answer to a non-blocking event: `200` whatever happened, since the service does not wait
/// for it; a failure is logged.
fn non_blocking(event: &str, outcome: Result<(), Failure>) -> HandledResponse {
    match outcome {
        Ok(()) => {}
        Err(Failure::Handler(err)) => {
            tracing::warn!(
                event,
                status = err.status().as_u16(),
                message = err.message(),
                "web pubsub event handler failed"
            );
        }
        Err(Failure::Panicked) => {} // logged where it was caught
        Err(Failure::TimedOut(limit)) => {
            tracing::warn!(event, ?limit, "web pubsub event handler timed out");
        }
    }
    empty(StatusCode::OK)
}

/// Sets `ce-connectionState` to the request's state with `changes` applied; no changes, no header.
fn write_states(
    reply: &mut HandledResponse,
    request_state: Option<&HeaderValue>,
    changes: StateChanges,
) {
    if changes.is_empty() {
        return;
    }
    // The request's state was decoded once already to check it; decoding it again here, only
    // when the answer changes it, keeps the common path free of a copy.
    let mut states = request_state
        .and_then(|value| ConnectionStates::decode_bytes(value.as_bytes()).ok())
        .unwrap_or_default();
    changes.apply(&mut states);
    let value = HeaderValue::try_from(states.encode()).expect("base64 is a valid header value");
    reply.headers_mut().insert(CE_CONNECTION_STATE, value);
}

/// Adds the `mqtt-<name>` headers of an answer's MQTT user properties.
fn write_mqtt_user_properties(
    reply: &mut HandledResponse,
    properties: Vec<MqttUserProperty>,
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

fn with_body(body: impl Into<Bytes>, content_type: &'static str) -> HandledResponse {
    let mut reply = Response::new(Full::new(body.into()));
    reply
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;
    use http_body::Frame;
    use http_body_util::StreamBody;

    type Frames = Vec<Result<Frame<Bytes>, std::io::Error>>;

    fn frames(frames: Frames) -> StreamBody<stream::Iter<<Frames as IntoIterator>::IntoIter>> {
        StreamBody::new(stream::iter(frames))
    }

    fn data(text: &'static str) -> Result<Frame<Bytes>, std::io::Error> {
        Ok(Frame::data(Bytes::from_static(text.as_bytes())))
    }

    #[tokio::test]
    async fn bodies_are_joined_across_frames_up_to_the_limit() {
        let one = read_body(frames(vec![data("hello")]), 5).await.unwrap();
        assert_eq!(one, "hello");
        let trailers = Ok(Frame::trailers(http::HeaderMap::new()));
        let many = vec![
            data(""),
            data("he"),
            data(""),
            data("ll"),
            trailers,
            data("o"),
        ];
        assert_eq!(read_body(frames(many), 5).await.unwrap(), "hello");
        assert_eq!(read_body(frames(vec![]), 5).await.unwrap(), "");

        let over = vec![data("hel"), data("lo"), data("!")];
        let rejection = read_body(frames(over), 5).await.unwrap_err();
        assert_eq!(rejection.kind(), RejectionKind::PayloadTooLarge);
        let rejection = read_body(frames(vec![data("hello!")]), 5)
            .await
            .unwrap_err();
        assert_eq!(rejection.kind(), RejectionKind::PayloadTooLarge);
    }

    #[tokio::test]
    async fn a_broken_body_is_a_400_that_says_why() {
        let broken = vec![data("he"), Err(std::io::Error::other("connection reset"))];
        let rejection = read_body(frames(broken), 5).await.unwrap_err();
        assert_eq!(rejection.kind(), RejectionKind::InvalidBody);
        assert_eq!(
            rejection.message(),
            "could not read the request body: connection reset"
        );
    }
}
