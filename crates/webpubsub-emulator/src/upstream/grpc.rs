//! Sending an event to a hub's gRPC registrations instead of an HTTP URL.
//!
//! The event arrives here as the same CloudEvents body the HTTP upstream would get and leaves as
//! a `StreamingRequest`; the app's ack comes back as the same [`UpstreamReply`] (or refusal) an
//! HTTP answer would be, so the rest of the emulator cannot tell the transports apart.
//!
//! A blocking event waits for its ack until the upstream deadline. If its registration ends
//! first, the event goes to another registration of the hub (the app may see it twice, never
//! zero times); when none is left, or the deadline passes, it fails with the reason.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_TYPE};
use tokio::time::{Instant, timeout_at};
use webpubsub_protocol::cloudevents::{
    ConnectEventBody, ConnectResponseBody, DisconnectedEventBody, EventType, headers as ce,
};
use webpubsub_protocol::grpc::{
    self as pb, AckConnectRequest, AckMessageRequest, DataType, StreamingRequest,
    ack_connect_request, ack_message_request, streaming_request::Request,
};

use super::{EventSource, UpstreamError, UpstreamReply};
use crate::grpc::{Ack, Registrations};

/// Sends `event` to a registration of the source's hub; for a blocking event, waits for the ack
/// until `deadline` from now.
pub(super) async fn send(
    registrations: &Registrations,
    source: &EventSource,
    event: &EventType,
    content_type: &str,
    body: Bytes,
    deadline: Duration,
) -> Result<UpstreamReply, UpstreamError> {
    let deadline = Instant::now() + deadline;
    let unreachable = |attempts: usize, reason: String| UpstreamError::Unreachable {
        url: format!("grpc:{}", source.hub),
        attempts,
        reason,
    };
    let mut request = streaming_request(source, event, content_type, &body)
        .map_err(|reason| unreachable(0, reason))?;
    let kind = match &request {
        Request::Connect(_) => Some("connect"),
        Request::Message(_) => Some("message"),
        Request::Connected(_) | Request::Disconnected(_) => None,
    };
    let mut tried = Vec::new();
    loop {
        let Some(target) = registrations.pick(&source.hub, &source.connection_id, &tried) else {
            let reason = if tried.is_empty() {
                format!(
                    "no upstream is registered over gRPC for hub {:?}",
                    source.hub
                )
            } else {
                format!(
                    "every gRPC registration of hub {:?} ended before it answered",
                    source.hub
                )
            };
            return Err(unreachable(tried.len(), reason));
        };
        tried.push(target.id);
        let waiting = kind.map(|kind| {
            let (ack_id, answer) =
                registrations.expect_ack(&source.hub, &source.connection_id, target.id, kind);
            set_ack_id(&mut request, ack_id);
            (ack_id, answer)
        });
        let message = StreamingRequest {
            request: Some(request.clone()),
        };
        match timeout_at(deadline, target.events.send(Ok(message))).await {
            Ok(Ok(())) => {}
            // The registration ended: try another one.
            Ok(Err(_closed)) => {
                if let Some((ack_id, _)) = waiting {
                    registrations.forget(ack_id);
                }
                continue;
            }
            Err(_elapsed) => {
                if let Some((ack_id, _)) = waiting {
                    registrations.forget(ack_id);
                }
                return Err(unreachable(
                    tried.len(),
                    "the registration's stream stayed full until the deadline".into(),
                ));
            }
        }
        let Some((ack_id, answer)) = waiting else {
            return Ok(UpstreamReply {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: Bytes::new(),
            });
        };
        match timeout_at(deadline, answer).await {
            Ok(Ok(ack)) => return reply(ack, source),
            // The registration ended before it answered: try another one.
            Ok(Err(_gone)) => continue,
            Err(_elapsed) => {
                registrations.forget(ack_id);
                return Err(unreachable(
                    tried.len(),
                    format!(
                        "no ack for {} event {ack_id} before the deadline",
                        kind.unwrap_or("the")
                    ),
                ));
            }
        }
    }
}

fn set_ack_id(request: &mut Request, ack_id: u64) {
    match request {
        Request::Connect(connect) => connect.ack_id = ack_id,
        Request::Message(message) => message.ack_id = ack_id,
        Request::Connected(_) | Request::Disconnected(_) => {}
    }
}

/// The event as a `StreamingRequest`. The body is the emulator's own CloudEvents encoding, so
/// an error here is a bug, reported in words rather than a panic.
fn streaming_request(
    source: &EventSource,
    event: &EventType,
    content_type: &str,
    body: &Bytes,
) -> Result<Request, String> {
    let context = Some(pb::RequestContext {
        hub: source.hub.clone(),
        connection_id: source.connection_id.clone(),
        user_id: source.user_id.clone(),
        event_name: event.event_name().unwrap_or_default().to_owned(),
        subprotocol: source.subprotocol.clone(),
        connection_state: source.state().unwrap_or_default(),
        event_id: source.next_event_id().to_string(),
        time: super::time::now(),
    });
    Ok(match event {
        EventType::Connect => {
            let body: ConnectEventBody = serde_json::from_slice(body)
                .map_err(|e| format!("cannot read the connect event: {e}"))?;
            Request::Connect(pb::ConnectRequest {
                context,
                ..pb::ConnectRequest::from_body(body)
            })
        }
        EventType::Connected => Request::Connected(pb::ConnectedRequest { context }),
        EventType::Disconnected => {
            let body: DisconnectedEventBody = serde_json::from_slice(body)
                .map_err(|e| format!("cannot read the disconnected event: {e}"))?;
            Request::Disconnected(pb::DisconnectedRequest {
                context,
                reason: body.reason.unwrap_or_default(),
            })
        }
        EventType::User(_) => Request::Message(pb::MessageRequest {
            ack_id: 0,
            context,
            payload: Some(pb::Payload {
                data_type: DataType::from_content_type(content_type)
                    .unwrap_or(DataType::Binary)
                    .into(),
                content: body.clone(),
            }),
        }),
        other => return Err(format!("the {other} event does not travel over gRPC")),
    })
}

/// The ack as the HTTP answer it stands for. Acks are checked when they arrive
/// ([`check_connect_ack`], [`check_message_ack`]), so this only translates.
// The HTTP path's error type, so callers handle both transports alike.
#[allow(clippy::result_large_err)]
fn reply(ack: Ack, source: &EventSource) -> Result<UpstreamReply, UpstreamError> {
    let url = || format!("grpc:{}", source.hub);
    let (state, outcome) = match ack {
        Ack::Connect(AckConnectRequest { state, result, .. }) => {
            let outcome = match result {
                Some(ack_connect_request::Result::Error(error)) => Err(error),
                Some(ack_connect_request::Result::Accept(accept)) => {
                    let body = ConnectResponseBody {
                        user_id: accept.user_id,
                        groups: (!accept.groups.is_empty()).then_some(accept.groups),
                        roles: (!accept.roles.is_empty()).then_some(accept.roles),
                        subprotocol: accept.subprotocol,
                        mqtt: None,
                    };
                    Ok(if body.is_empty() {
                        None
                    } else {
                        let json = serde_json::to_vec(&body).unwrap_or_default();
                        Some((DataType::Json, Bytes::from(json)))
                    })
                }
                None => Ok(None),
            };
            (state, outcome)
        }
        Ack::Message(AckMessageRequest { state, result, .. }) => {
            let outcome = match result {
                Some(ack_message_request::Result::Error(error)) => Err(error),
                Some(ack_message_request::Result::Answer(answer)) => {
                    Ok(answer.payload.map(|payload| {
                        let kind = pb::data_type_of(payload.data_type).unwrap_or(DataType::Binary);
                        (kind, payload.content)
                    }))
                }
                None => Ok(None),
            };
            (state, outcome)
        }
    };
    let mut headers = HeaderMap::new();
    if let Some(state) = state {
        // Checked when the ack arrived: visible ASCII.
        if let Ok(value) = HeaderValue::from_str(&state.connection_state) {
            headers.insert(ce::CE_CONNECTION_STATE, value);
        }
    }
    match outcome {
        Ok(None) => Ok(UpstreamReply {
            status: StatusCode::NO_CONTENT,
            headers,
            body: Bytes::new(),
        }),
        Ok(Some((kind, body))) => {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind.content_type()));
            Ok(UpstreamReply {
                status: StatusCode::OK,
                headers,
                body,
            })
        }
        Err(error) => Err(UpstreamError::Status {
            url: url(),
            status: error_status(error.code),
            headers,
            body: Bytes::from(error.message),
        }),
    }
}

/// A `ResponseError.code` as a status; checked on arrival to be 400..=599.
fn error_status(code: u32) -> StatusCode {
    u16::try_from(code)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .filter(|status| status.is_client_error() || status.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Refuses an ack whose fields the emulator cannot apply, with the reason.
fn check_common(
    state: Option<&pb::StateUpdate>,
    error: Option<&pb::ResponseError>,
) -> Result<(), tonic::Status> {
    if let Some(state) = state {
        let encoded = &state.connection_state;
        if !encoded.is_empty() {
            webpubsub_protocol::state::ConnectionStates::decode(encoded).map_err(|e| {
                tonic::Status::invalid_argument(format!(
                    "state.connection_state is not base64 of a JSON object: {e}"
                ))
            })?;
        }
    }
    if let Some(error) = error.filter(|error| !(400..=599).contains(&error.code)) {
        return Err(tonic::Status::invalid_argument(format!(
            "error.code {} is not an HTTP error status (400..=599)",
            error.code
        )));
    }
    Ok(())
}

/// Checks an `AckConnect` before it is applied.
pub(crate) fn check_connect_ack(ack: &AckConnectRequest) -> Result<(), tonic::Status> {
    let error = match &ack.result {
        Some(ack_connect_request::Result::Error(error)) => Some(error),
        _ => None,
    };
    check_common(ack.state.as_ref(), error)
}

/// Checks an `AckMessage` before it is applied: a payload's data type must be known.
pub(crate) fn check_message_ack(ack: &AckMessageRequest) -> Result<(), tonic::Status> {
    let error = match &ack.result {
        Some(ack_message_request::Result::Error(error)) => Some(error),
        Some(ack_message_request::Result::Answer(pb::MessageAnswer {
            payload: Some(payload),
        })) => {
            pb::data_type_of(payload.data_type).map_err(|e| {
                tonic::Status::invalid_argument(format!("answer.payload.data_type: {e}"))
            })?;
            None
        }
        _ => None,
    };
    check_common(ack.state.as_ref(), error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> EventSource {
        EventSource::new(
            "Chat",
            "c1".into(),
            Some("u".into()),
            None,
            Some("e30=".into()),
        )
    }

    #[test]
    fn events_carry_the_context_and_body() {
        let source = source();
        let body = Bytes::from_static(br#"{"claims":{"sub":["u"]},"subprotocols":["a"]}"#);
        let Request::Connect(connect) =
            streaming_request(&source, &EventType::Connect, "application/json", &body).unwrap()
        else {
            panic!("not a connect request")
        };
        let context = connect.context.unwrap();
        assert_eq!(context.hub, "chat");
        assert_eq!(context.connection_id, "c1");
        assert_eq!(context.event_name, "connect");
        assert_eq!(context.connection_state, "e30=");
        assert_eq!(connect.subprotocols, ["a"]);
        assert_eq!(connect.claims["sub"].values, ["u"]);

        let Request::Message(message) = streaming_request(
            &source,
            &EventType::User("echo".into()),
            "text/plain; charset=utf-8",
            &Bytes::from_static(b"hi"),
        )
        .unwrap() else {
            panic!("not a message request")
        };
        let payload = message.payload.unwrap();
        assert_eq!(payload.data_type, i32::from(DataType::Text));
        assert_eq!(&payload.content[..], b"hi");
        assert!(streaming_request(&source, &EventType::GroupJoined, "", &Bytes::new()).is_err());
    }

    #[test]
    fn acks_become_http_answers() {
        let source = source();
        let accept = Ack::Connect(AckConnectRequest {
            result: Some(ack_connect_request::Result::Accept(pb::ConnectAccept {
                user_id: Some("bob".into()),
                groups: vec!["g".into()],
                ..pb::ConnectAccept::default()
            })),
            state: Some(pb::StateUpdate {
                connection_state: "e30=".into(),
            }),
            ..AckConnectRequest::default()
        });
        let accepted = reply(accept, &source).unwrap();
        let body: ConnectResponseBody = serde_json::from_slice(&accepted.body).unwrap();
        assert_eq!(body.user_id.as_deref(), Some("bob"));
        assert_eq!(accepted.headers["ce-connectionstate"], "e30=");

        let refuse = Ack::Connect(AckConnectRequest {
            result: Some(ack_connect_request::Result::Error(pb::ResponseError {
                code: 403,
                message: "no".into(),
            })),
            ..AckConnectRequest::default()
        });
        match reply_err(refuse, &source) {
            UpstreamError::Status { status, body, .. } => {
                assert_eq!(status, StatusCode::FORBIDDEN);
                assert_eq!(&body[..], b"no");
            }
            other => panic!("{other:?}"),
        }

        let json = Ack::Message(AckMessageRequest {
            result: Some(ack_message_request::Result::Answer(pb::MessageAnswer {
                payload: Some(pb::Payload {
                    data_type: DataType::Json.into(),
                    content: Bytes::from_static(b"[1]"),
                }),
            })),
            ..AckMessageRequest::default()
        });
        let answered = reply(json, &source).unwrap();
        assert_eq!(answered.media_type().as_deref(), Some("application/json"));
        let empty = Ack::Message(AckMessageRequest::default());
        assert_eq!(reply_status(empty, &source), StatusCode::NO_CONTENT);
    }

    fn reply_err(ack: Ack, source: &EventSource) -> UpstreamError {
        reply(ack, source).unwrap_err()
    }

    fn reply_status(ack: Ack, source: &EventSource) -> StatusCode {
        reply(ack, source).unwrap().status
    }

    #[test]
    fn bad_acks_are_refused_with_reasons() {
        let unknown_type = AckMessageRequest {
            result: Some(ack_message_request::Result::Answer(pb::MessageAnswer {
                payload: Some(pb::Payload {
                    data_type: 77,
                    content: Bytes::new(),
                }),
            })),
            ..AckMessageRequest::default()
        };
        let status = check_message_ack(&unknown_type).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("77"), "{status:?}");

        let bad_code = AckConnectRequest {
            result: Some(ack_connect_request::Result::Error(pb::ResponseError {
                code: 200,
                message: String::new(),
            })),
            ..AckConnectRequest::default()
        };
        assert!(check_connect_ack(&bad_code).is_err());
        let bad_state = AckConnectRequest {
            state: Some(pb::StateUpdate {
                connection_state: "not base64 \u{7f}".into(),
            }),
            ..AckConnectRequest::default()
        };
        assert!(check_connect_ack(&bad_state).is_err());
        assert!(check_connect_ack(&AckConnectRequest::default()).is_ok());
    }
}
