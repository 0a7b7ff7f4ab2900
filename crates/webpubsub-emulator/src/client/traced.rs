//! What the live trace says about a client's connection and frames.

use webpubsub_protocol::frames::{ClientFrame, FrameData, ServerFrame};

use super::commands::Effect;
use super::protocol::ClientKind;
use crate::trace::{TraceKind, TraceRecord};
use crate::upstream::EventSource;

/// `connected`: who, with which subprotocol.
pub(super) fn connected(source: &EventSource, kind: ClientKind) -> TraceRecord {
    who(TraceRecord::new("connected"), source).detail("subprotocol", kind.name())
}

/// `disconnected`: who, why, after how long.
pub(super) fn disconnected(
    source: &EventSource,
    reason: &str,
    lived: std::time::Duration,
) -> TraceRecord {
    who(TraceRecord::new("disconnected"), source)
        .detail("reason", reason)
        .detail("duration_ms", lived.as_millis())
}

/// A plain client's frame: a `message` event.
pub(super) fn plain_message(source: &EventSource, data_type: &str) -> (TraceKind, TraceRecord) {
    let record = who(TraceRecord::new("message"), source).detail("data_type", data_type);
    (TraceKind::Message, record)
}

/// A JSON client's frame, before it is applied; `None` for the protocol's own frames
/// (`ping`, `sequenceAck`, …), which would drown the rest.
pub(super) fn client_frame(
    source: &EventSource,
    frame: &ClientFrame,
) -> Option<(TraceKind, TraceRecord)> {
    let data_type = |data: &FrameData| data.data_type();
    let (kind, record) = match frame {
        ClientFrame::JoinGroup { group, .. } => (
            TraceKind::Group,
            TraceRecord::new("joinGroup").detail("group", group),
        ),
        ClientFrame::LeaveGroup { group, .. } => (
            TraceKind::Group,
            TraceRecord::new("leaveGroup").detail("group", group),
        ),
        ClientFrame::SendToGroup { group, data, .. } => (
            TraceKind::Message,
            TraceRecord::new("sendToGroup")
                .detail("group", group)
                .detail("data_type", data_type(data)),
        ),
        ClientFrame::Event { event, data, .. } => (
            TraceKind::Message,
            TraceRecord::new("event")
                .detail("event", event)
                .detail("data_type", data_type(data)),
        ),
        ClientFrame::Invoke { event, data, .. } => (
            TraceKind::Message,
            TraceRecord::new("invoke")
                .detail("event", event)
                .detail_opt("data_type", data.as_ref().map(data_type)),
        ),
        _ => return None,
    };
    Some((kind, who(record, source)))
}

/// `record` with the refusal the frame got, if any.
pub(super) fn outcome(record: TraceRecord, effect: &Effect) -> TraceRecord {
    match effect {
        Effect::Reply(ServerFrame::Ack {
            error: Some(error), ..
        }) => record
            .detail("error", error.name.as_str())
            .detail("reason", &error.message),
        _ => record,
    }
}

fn who(record: TraceRecord, source: &EventSource) -> TraceRecord {
    record
        .detail("connection_id", &source.connection_id)
        .detail_opt("user_id", source.user_id.as_deref())
}
