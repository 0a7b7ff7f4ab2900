//! What a subprotocol client's frames do: join and leave groups, send to groups, raise
//! events, acknowledge sequence ids and ping, with permission checks and duplicate ack ids.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;
use webpubsub_protocol::frames::{AckError, ClientFrame, FrameData, ServerFrame};
use webpubsub_protocol::token::Permission;

use super::events::{Job, Reply, content_type_of};
use crate::registry::{self, DataType, Hub, Message, Origin, Pressure};

/// How many ack ids a connection remembers to detect duplicates.
const REMEMBERED_ACK_IDS: usize = 10_000;

/// The ack ids a connection used, oldest forgotten first.
#[derive(Debug, Default)]
pub(super) struct AckLog {
    seen: HashSet<u64>,
    order: VecDeque<u64>,
}

impl AckLog {
    /// Records `ack_id`; `false` when it was used before.
    pub(super) fn first_use(&mut self, ack_id: u64) -> bool {
        if !self.seen.insert(ack_id) {
            return false;
        }
        self.order.push_back(ack_id);
        if self.order.len() > REMEMBERED_ACK_IDS
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

/// What the session must do after a frame.
#[derive(Debug)]
pub(super) enum Effect {
    /// Nothing to send.
    None,
    /// Send this frame.
    Reply(ServerFrame),
    /// Queue this upstream event; its outcome comes later.
    Event(Job),
    /// The client acknowledged messages up to this sequence id.
    SequenceAck(u64),
}

/// The connection a frame comes from.
#[derive(Debug)]
pub(super) struct Sender<'a> {
    pub(super) hub: &'a Hub,
    pub(super) connection_id: &'a str,
    pub(super) user_id: Option<&'a str>,
}

/// Applies one valid frame.
///
/// A group send adds the recipients it filled past their high-water mark to `pressure`: the
/// session reads no further frame until they catch up.
pub(super) fn apply(
    frame: ClientFrame,
    from: &Sender<'_>,
    acks: &mut AckLog,
    pressure: &mut Pressure,
) -> Effect {
    if let Some(ack_id) = frame.ack_id()
        && !acks.first_use(ack_id)
    {
        return ack(
            ack_id,
            Err(AckError::duplicate(format!(
                "the ack id {ack_id} was used before"
            ))),
        );
    }
    match frame {
        ClientFrame::JoinGroup { group, ack_id } => {
            let result = permitted(from, Permission::JoinLeaveGroup, &group, "join group")
                .and_then(|()| {
                    from.hub
                        .add_connection_to_group(&group, from.connection_id)
                        .map(drop)
                        .map_err(|e| AckError::bad_request(e.to_string()))
                });
            ack_if(ack_id, result)
        }
        ClientFrame::LeaveGroup { group, ack_id } => {
            let result =
                permitted(from, Permission::JoinLeaveGroup, &group, "leave group").map(|()| {
                    from.hub
                        .remove_connection_from_group(&group, from.connection_id);
                });
            ack_if(ack_id, result)
        }
        ClientFrame::SendToGroup {
            group,
            ack_id,
            no_echo,
            data,
        } => {
            let result = permitted(
                from,
                Permission::SendToGroup,
                &group,
                "send message to group",
            )
            .map(|()| {
                let (data_type, data) = message_data(data);
                let message = Message::new(
                    data,
                    data_type,
                    Origin::Group {
                        group: group.clone(),
                        from_user_id: from.user_id.map(str::to_owned),
                    },
                );
                let excluded: &[&str] = if no_echo { &[from.connection_id] } else { &[] };
                let (_, congested) = from.hub.send_to_group_paced(&group, message, excluded);
                pressure.extend(congested);
            });
            ack_if(ack_id, result)
        }
        ClientFrame::Event {
            event,
            ack_id,
            data,
        } => {
            if let Err(error) = event_name(&event) {
                return ack_if(ack_id, Err(error));
            }
            let (content_type, body) = content_type_of(data);
            Effect::Event(Job::User {
                name: event,
                content_type,
                body,
                reply: Reply::Message { ack_id },
            })
        }
        ClientFrame::Invoke {
            invocation_id,
            event,
            data,
        } => {
            if let Err(error) = event_name(&event) {
                return Effect::Reply(ServerFrame::InvokeResponse {
                    invocation_id,
                    data: None,
                    error: Some(error),
                });
            }
            let (content_type, body) =
                data.map_or(("application/octet-stream", Bytes::new()), content_type_of);
            Effect::Event(Job::User {
                name: event,
                content_type,
                body,
                reply: Reply::Invocation(invocation_id),
            })
        }
        // The upstream call cannot be taken back; its answer is still sent and the client,
        // which stopped waiting, ignores it.
        ClientFrame::CancelInvocation { .. } => Effect::None,
        ClientFrame::SequenceAck { sequence_id } => Effect::SequenceAck(sequence_id),
        ClientFrame::Ping => Effect::Reply(ServerFrame::Pong),
        // Frames added to the protocol later are not sent by clients of this version.
        _ => Effect::None,
    }
}

/// Whether the sender may `action` (`join group`, …) `group`, and the group name is valid.
fn permitted(
    from: &Sender<'_>,
    permission: Permission,
    group: &str,
    action: &str,
) -> Result<(), AckError> {
    registry::validate_group(group).map_err(|e| AckError::bad_request(e.to_string()))?;
    if from
        .hub
        .has_permission(from.connection_id, permission, Some(group))
    {
        Ok(())
    } else {
        Err(AckError::forbidden(format!(
            "The client has no permission to {action} '{group}'."
        )))
    }
}

/// Whether `name` may go upstream as an event name (it becomes a header and a URL segment).
fn event_name(name: &str) -> Result<(), AckError> {
    if webpubsub_protocol::is_valid_event_name(name) {
        Ok(())
    } else {
        Err(AckError::bad_request(format!(
            "invalid event name {:?}: {}",
            name.chars().take(64).collect::<String>(),
            webpubsub_protocol::EVENT_NAME_RULE
        )))
    }
}

fn ack(ack_id: u64, result: Result<(), AckError>) -> Effect {
    Effect::Reply(ServerFrame::Ack {
        ack_id,
        error: result.err(),
    })
}

fn ack_if(ack_id: Option<u64>, result: Result<(), AckError>) -> Effect {
    match ack_id {
        Some(ack_id) => ack(ack_id, result),
        None => {
            if let Err(error) = result {
                tracing::debug!(name = %error.name, message = error.message, "refused a frame without ack id");
            }
            Effect::None
        }
    }
}

/// A client's frame data as registry message bytes.
fn message_data(data: FrameData) -> (DataType, Bytes) {
    match data {
        FrameData::Text(text) => (DataType::Text, Bytes::from(text)),
        FrameData::Json(value) => (DataType::Json, Bytes::from(value.to_string())),
        FrameData::Binary(bytes) => (DataType::Binary, Bytes::from(bytes)),
        FrameData::Protobuf(bytes) => (DataType::Protobuf, Bytes::from(bytes)),
    }
}

/// Registry message bytes as frame data for a subprotocol client.
pub(super) fn frame_data(message: &Message) -> FrameData {
    match message.data_type {
        DataType::Text => match std::str::from_utf8(&message.data) {
            Ok(text) => FrameData::Text(text.to_owned()),
            Err(_) => FrameData::Binary(message.data.to_vec()),
        },
        DataType::Json => match serde_json::from_slice(&message.data) {
            Ok(value) => FrameData::Json(value),
            Err(_) => FrameData::Text(String::from_utf8_lossy(&message.data).into_owned()),
        },
        DataType::Binary => FrameData::Binary(message.data.to_vec()),
        DataType::Protobuf => FrameData::Protobuf(message.data.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{ConnectionInfo, Delivery, Registry};
    use webpubsub_protocol::frames::AckErrorName;

    /// Applies a frame; these sends fill no queue past its high-water mark.
    fn run(frame: ClientFrame, from: &Sender<'_>, acks: &mut AckLog) -> Effect {
        let mut pressure = Pressure::default();
        let effect = apply(frame, from, acks, &mut pressure);
        assert!(pressure.is_empty());
        effect
    }

    fn ack_error(effect: Effect) -> Option<AckErrorName> {
        match effect {
            Effect::Reply(ServerFrame::Ack { error, .. }) => error.map(|e| e.name),
            other => panic!("expected an ack, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn permissions_duplicates_and_no_echo() {
        let registry = Registry::new();
        let hub = registry.hub("h");
        let info = |id: &str, roles: &[&str]| ConnectionInfo {
            connection_id: id.into(),
            user_id: Some(format!("user-{id}")),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            ..Default::default()
        };
        let (_g1, mut out1) = hub
            .register(info(
                "c1",
                &["webpubsub.joinLeaveGroup.room", "webpubsub.sendToGroup"],
            ))
            .unwrap();
        let (_g2, _out2) = hub.register(info("c2", &[])).unwrap();
        let mut acks = AckLog::default();
        let c1 = Sender {
            hub: &hub,
            connection_id: "c1",
            user_id: Some("user-c1"),
        };
        let c2 = Sender {
            hub: &hub,
            connection_id: "c2",
            user_id: None,
        };

        let join = |group: &str, ack_id| ClientFrame::JoinGroup {
            group: group.into(),
            ack_id: Some(ack_id),
        };
        assert_eq!(ack_error(run(join("room", 1), &c1, &mut acks)), None);
        assert_eq!(
            ack_error(run(join("room", 1), &c1, &mut acks)),
            Some(AckErrorName::Duplicate)
        );
        assert_eq!(
            ack_error(run(join("other", 2), &c1, &mut acks)),
            Some(AckErrorName::Forbidden)
        );
        assert_eq!(
            ack_error(run(join("room", 3), &c2, &mut acks)),
            Some(AckErrorName::Forbidden)
        );
        assert_eq!(
            ack_error(run(join(" ", 4), &c1, &mut acks)),
            Some(AckErrorName::BadRequest)
        );

        let send = |no_echo, ack_id| ClientFrame::SendToGroup {
            group: "room".into(),
            ack_id: Some(ack_id),
            no_echo,
            data: FrameData::Text("hi".into()),
        };
        assert_eq!(ack_error(run(send(true, 10), &c1, &mut acks)), None);
        assert_eq!(ack_error(run(send(false, 11), &c1, &mut acks)), None);
        assert_eq!(
            ack_error(run(send(false, 12), &c2, &mut acks)),
            Some(AckErrorName::Forbidden)
        );
        // noEcho kept the first send from its sender; the second arrived.
        let Some(Delivery::Message(message)) = out1.recv().await else {
            panic!()
        };
        assert_eq!(message.data, "hi");
        assert_eq!(
            message.origin,
            Origin::Group {
                group: "room".into(),
                from_user_id: Some("user-c1".into())
            }
        );
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), out1.recv())
                .await
                .is_err()
        );

        assert!(matches!(
            run(ClientFrame::Ping, &c1, &mut acks),
            Effect::Reply(ServerFrame::Pong)
        ));
        assert!(matches!(
            run(ClientFrame::SequenceAck { sequence_id: 3 }, &c1, &mut acks),
            Effect::SequenceAck(3)
        ));
    }

    #[test]
    fn the_ack_log_forgets_the_oldest() {
        let mut log = AckLog::default();
        for id in 0..=REMEMBERED_ACK_IDS as u64 {
            assert!(log.first_use(id));
        }
        assert!(log.first_use(0), "the oldest id is forgotten");
        assert!(!log.first_use(REMEMBERED_ACK_IDS as u64));
    }
}
