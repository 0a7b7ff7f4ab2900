//! A `StreamingRequest` as the typed [`Event`] the handler sees, and the handler's answer as
//! the ack the service expects. Everything here is pure, so the fuzz target drives it directly.

use webpubsub_protocol::cloudevents::{DisconnectedEventBody, EventType};
use webpubsub_protocol::grpc::{
    self as pb, AckConnectRequest, AckMessageRequest, ack_connect_request, ack_message_request,
    streaming_request::Request,
};
use webpubsub_protocol::state::ConnectionStates;
use webpubsub_tower::{
    ConnectRequest, ConnectedRequest, ConnectionContext, DataType, DisconnectedRequest, Event,
    EventError, EventReply, StateChanges, UserEventRequest,
};

/// One event off the stream, ready to run.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) connection_id: String,
    /// The ack it needs, if it is blocking.
    pub(crate) ack: Option<AckTo>,
    pub(crate) event: Event,
}

/// Where the answer to a blocking event goes.
#[derive(Debug, Clone)]
pub(crate) struct AckTo {
    pub(crate) kind: AckKind,
    pub(crate) hub: String,
    pub(crate) ack_id: u64,
    pub(crate) connection_id: String,
    /// The state the event carried, which the answer's state changes apply to.
    pub(crate) states: ConnectionStates,
}

/// Which ack a blocking event needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckKind {
    Connect,
    Message,
}

/// A message the app cannot turn into an event, with the reason in words. When the event
/// needed an ack, `ack` says where to send the refusal.
#[derive(Debug)]
pub(crate) struct Invalid {
    pub(crate) reason: String,
    pub(crate) ack: Option<AckTo>,
}

/// Reads one `StreamingRequest`.
pub(crate) fn incoming(request: pb::StreamingRequest) -> Result<Incoming, Invalid> {
    let invalid = |reason: String| Invalid { reason, ack: None };
    let Some(request) = request.request else {
        return Err(invalid(
            "the streaming request has no event (unknown to this version?)".into(),
        ));
    };
    let (kind, ack_id, context) = match &request {
        Request::Connect(r) => (Some(AckKind::Connect), r.ack_id, r.context.as_ref()),
        Request::Message(r) => (Some(AckKind::Message), r.ack_id, r.context.as_ref()),
        Request::Connected(r) => (None, 0, r.context.as_ref()),
        Request::Disconnected(r) => (None, 0, r.context.as_ref()),
    };
    let Some(context) = context else {
        return Err(invalid("the event has no context".into()));
    };
    if context.connection_id.is_empty() {
        return Err(invalid("the event's context has no connection id".into()));
    }
    let states = if context.connection_state.is_empty() {
        Ok(ConnectionStates::new())
    } else {
        ConnectionStates::decode(&context.connection_state)
    };
    let ack = kind.map(|kind| AckTo {
        kind,
        hub: context.hub.clone(),
        ack_id,
        connection_id: context.connection_id.clone(),
        states: states.as_ref().cloned().unwrap_or_default(),
    });
    let refuse = |reason: String| Invalid {
        reason,
        ack: ack.clone(),
    };
    let states = states.map_err(|e| refuse(format!("the connection state is invalid: {e}")))?;
    let event_type = match &request {
        Request::Connect(_) => EventType::Connect,
        Request::Connected(_) => EventType::Connected,
        Request::Disconnected(_) => EventType::Disconnected,
        Request::Message(_) => {
            if context.event_name.is_empty() {
                return Err(refuse("the user event has no name".into()));
            }
            EventType::User(context.event_name.clone())
        }
    };
    let mut typed = ConnectionContext::new(event_type, &context.hub, &context.connection_id)
        .with_states(states);
    if let Some(user_id) = context.user_id.as_deref().filter(|u| !u.is_empty()) {
        typed = typed.with_user_id(user_id);
    }
    if let Some(subprotocol) = context.subprotocol.as_deref().filter(|s| !s.is_empty()) {
        typed = typed.with_subprotocol(subprotocol);
    }
    let event = match request {
        Request::Connect(connect) => {
            let body = connect.to_body();
            Event::Connect(ConnectRequest::new(typed, body))
        }
        Request::Connected(_) => Event::Connected(ConnectedRequest::new(typed)),
        Request::Disconnected(disconnected) => {
            let body = DisconnectedEventBody {
                reason: (!disconnected.reason.is_empty()).then_some(disconnected.reason),
                mqtt: None,
            };
            Event::Disconnected(DisconnectedRequest::new(typed, body))
        }
        Request::Message(message) => {
            let payload = message.payload.unwrap_or_default();
            let data_type = pb::data_type_of(payload.data_type)
                .map_err(|e| refuse(format!("the payload's data type: {e}")))?;
            let data_type = match data_type {
                pb::DataType::Text => DataType::Text,
                pb::DataType::Json => DataType::Json,
                pb::DataType::Protobuf => DataType::Protobuf,
                pb::DataType::Binary | pb::DataType::Unspecified => DataType::Binary,
            };
            Event::UserEvent(UserEventRequest::new(typed, payload.content, data_type))
        }
    };
    Ok(Incoming {
        connection_id: context_connection_id(ack.as_ref(), &event),
        ack,
        event,
    })
}

fn context_connection_id(ack: Option<&AckTo>, event: &Event) -> String {
    if let Some(ack) = ack {
        return ack.connection_id.clone();
    }
    match event {
        Event::Connected(request) => request.context().connection_id().to_owned(),
        Event::Disconnected(request) => request.context().connection_id().to_owned(),
        _ => String::new(),
    }
}

/// The ack that answers a blocking event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AckMessage {
    Connect(AckConnectRequest),
    Message(AckMessageRequest),
}

fn response_error(error: &EventError) -> pb::ResponseError {
    pb::ResponseError {
        code: error.status().as_u16().into(),
        message: error.message().to_owned(),
    }
}

/// The whole new state when `changes` change anything, applied to the state the event carried.
fn state_update(changes: &StateChanges, mut states: ConnectionStates) -> Option<pb::StateUpdate> {
    if changes.is_empty() {
        return None;
    }
    changes.apply_to(&mut states);
    Some(pb::StateUpdate {
        connection_state: states.encode(),
    })
}

/// The ack for `outcome`, the handler's answer to the event `to` describes. An answer of the
/// wrong kind (which the runner never gives) accepts without changes.
pub(crate) fn ack(to: AckTo, outcome: Result<EventReply, EventError>) -> AckMessage {
    let AckTo {
        kind,
        hub,
        ack_id,
        connection_id,
        states,
    } = to;
    match kind {
        AckKind::Connect => {
            let (result, state) = match outcome {
                Ok(EventReply::Connect(response)) => {
                    let body = response.body();
                    let accept = pb::ConnectAccept {
                        user_id: body.user_id.clone(),
                        groups: body.groups.clone().unwrap_or_default(),
                        roles: body.roles.clone().unwrap_or_default(),
                        subprotocol: body.subprotocol.clone(),
                    };
                    let state = state_update(response.state_changes(), states);
                    (ack_connect_request::Result::Accept(accept), state)
                }
                Ok(_) => (
                    ack_connect_request::Result::Accept(Default::default()),
                    None,
                ),
                Err(error) => (
                    ack_connect_request::Result::Error(response_error(&error)),
                    None,
                ),
            };
            AckMessage::Connect(AckConnectRequest {
                hub,
                ack_id,
                connection_id,
                result: Some(result),
                state,
            })
        }
        AckKind::Message => {
            let (result, state) = match outcome {
                Ok(EventReply::UserEvent(response)) => {
                    let state = state_update(response.state_changes(), states);
                    let payload = response
                        .into_data()
                        .map(|(content, data_type)| pb::Payload {
                            data_type: wire_data_type(data_type).into(),
                            content,
                        });
                    let answer = pb::MessageAnswer { payload };
                    (ack_message_request::Result::Answer(answer), state)
                }
                Ok(_) => (
                    ack_message_request::Result::Answer(Default::default()),
                    None,
                ),
                Err(error) => (
                    ack_message_request::Result::Error(response_error(&error)),
                    None,
                ),
            };
            AckMessage::Message(AckMessageRequest {
                hub,
                ack_id,
                connection_id,
                result: Some(result),
                state,
            })
        }
    }
}

fn wire_data_type(data_type: DataType) -> pb::DataType {
    match data_type {
        DataType::Text => pb::DataType::Text,
        DataType::Json => pb::DataType::Json,
        DataType::Protobuf => pb::DataType::Protobuf,
        _ => pb::DataType::Binary,
    }
}

/// The refusal of a blocking event that could not be read: 400 with the reason.
pub(crate) fn refusal(to: AckTo, reason: String) -> AckMessage {
    let error = EventError::bad_request(reason);
    ack(to, Err(error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use webpubsub_tower::{ConnectResponse, UserEventResponse};

    fn context(connection_id: &str, event_name: &str, state: &str) -> Option<pb::RequestContext> {
        Some(pb::RequestContext {
            hub: "chat".into(),
            connection_id: connection_id.into(),
            event_name: event_name.into(),
            connection_state: state.into(),
            user_id: Some("alice".into()),
            ..pb::RequestContext::default()
        })
    }

    fn message(payload: Option<pb::Payload>, state: &str) -> pb::StreamingRequest {
        pb::StreamingRequest {
            request: Some(Request::Message(pb::MessageRequest {
                ack_id: 7,
                context: context("c1", "echo", state),
                payload,
            })),
        }
    }

    #[test]
    fn a_user_event_and_its_answer_with_state() {
        let state = [("count", json!(1))]
            .into_iter()
            .collect::<ConnectionStates>()
            .encode();
        let incoming = incoming(message(Some(pb::Payload::json("[1]")), &state)).unwrap();
        assert_eq!(incoming.connection_id, "c1");
        let Event::UserEvent(request) = &incoming.event else {
            panic!("not a user event")
        };
        assert_eq!(request.event_name(), "echo");
        assert_eq!(request.data_type(), DataType::Json);
        assert_eq!(request.context().user_id(), Some("alice"));
        assert_eq!(
            request.context().states().get_value("count"),
            Some(&json!(1))
        );

        let answer = UserEventResponse::text("hi").set_state("count", 2);
        let AckMessage::Message(ack) =
            ack(incoming.ack.unwrap(), Ok(EventReply::UserEvent(answer)))
        else {
            panic!("not a message ack")
        };
        assert_eq!((ack.ack_id, ack.connection_id.as_str()), (7, "c1"));
        let new_state = ConnectionStates::decode(&ack.state.unwrap().connection_state).unwrap();
        assert_eq!(new_state.get_value("count"), Some(&json!(2)));
        let Some(ack_message_request::Result::Answer(answer)) = ack.result else {
            panic!("no answer")
        };
        assert_eq!(answer.payload, Some(pb::Payload::text("hi")));
    }

    #[test]
    fn a_connect_refusal_keeps_its_status_and_message() {
        let request = pb::StreamingRequest {
            request: Some(Request::Connect(pb::ConnectRequest {
                ack_id: 3,
                context: context("c2", "connect", ""),
                ..pb::ConnectRequest::default()
            })),
        };
        let incoming = incoming(request).unwrap();
        assert!(matches!(incoming.event, Event::Connect(_)));
        let AckMessage::Connect(refused) = ack(
            incoming.ack.clone().unwrap(),
            Err(EventError::forbidden("not today")),
        ) else {
            panic!("not a connect ack")
        };
        assert_eq!(
            refused.result,
            Some(ack_connect_request::Result::Error(pb::ResponseError {
                code: 403,
                message: "not today".into()
            }))
        );
        assert_eq!(refused.state, None);
        let AckMessage::Connect(accepted) = ack(
            incoming.ack.unwrap(),
            Ok(EventReply::Connect(ConnectResponse::new().user_id("bob"))),
        ) else {
            panic!("not a connect ack")
        };
        let Some(ack_connect_request::Result::Accept(accept)) = accepted.result else {
            panic!("not accepted")
        };
        assert_eq!(accept.user_id.as_deref(), Some("bob"));
    }

    #[test]
    fn unreadable_events_are_refused_with_reasons() {
        // Unknown data type: the blocking event is answered with a refusal.
        let unknown = pb::Payload {
            data_type: 42,
            content: "x".into(),
        };
        let invalid = incoming(message(Some(unknown), "")).unwrap_err();
        assert!(invalid.reason.contains("42"), "{}", invalid.reason);
        let AckMessage::Message(refusal) = refusal(invalid.ack.unwrap(), invalid.reason) else {
            panic!("not a message ack")
        };
        assert!(matches!(
            refusal.result,
            Some(ack_message_request::Result::Error(pb::ResponseError {
                code: 400,
                ..
            }))
        ));
        // A bad state, no context, no event at all.
        let bad_state = incoming(message(Some(pb::Payload::text("x")), "%%%")).unwrap_err();
        assert!(bad_state.reason.contains("state"), "{}", bad_state.reason);
        assert!(bad_state.ack.is_some());
        let no_context = pb::StreamingRequest {
            request: Some(Request::Connected(pb::ConnectedRequest { context: None })),
        };
        assert!(incoming(no_context).unwrap_err().reason.contains("context"));
        assert!(incoming(pb::StreamingRequest { request: None }).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_convert_without_panicking(bytes: Vec<u8>) {
            let _ = crate::fuzzing::convert(&bytes);
        }
    }
}
