//! Parsing and rendering every frame, and property tests that no input panics.

use super::*;
use proptest::prelude::*;
use serde_json::{Value, json};

#[test]
fn parses_every_client_frame() {
    let cases = [
        (
            r#"{"type":"joinGroup","group":"g","ackId":3}"#,
            ClientFrame::JoinGroup {
                group: "g".into(),
                ack_id: Some(3),
            },
        ),
        (
            r#"{"type":"leaveGroup","group":"g"}"#,
            ClientFrame::LeaveGroup {
                group: "g".into(),
                ack_id: None,
            },
        ),
        (
            r#"{"type":"sendToGroup","group":"g","dataType":"json","data":{"a":1}}"#,
            ClientFrame::SendToGroup {
                group: "g".into(),
                ack_id: None,
                no_echo: false,
                data: FrameData::Json(json!({"a":1})),
            },
        ),
        (
            r#"{"type":"event","event":"e","dataType":"binary","data":"AAE="}"#,
            ClientFrame::Event {
                event: "e".into(),
                ack_id: None,
                data: FrameData::Binary(vec![0, 1]),
            },
        ),
        (
            r#"{"type":"sequenceAck","sequenceId":7}"#,
            ClientFrame::SequenceAck { sequence_id: 7 },
        ),
        (r#"{"type":"ping"}"#, ClientFrame::Ping),
        (
            r#"{"type":"invoke","invocationId":"7","target":"event","event":"e","dataType":"text","data":"q"}"#,
            ClientFrame::Invoke {
                invocation_id: "7".into(),
                event: "e".into(),
                data: Some(FrameData::Text("q".into())),
            },
        ),
        (
            r#"{"type":"cancelInvocation","invocationId":8}"#,
            ClientFrame::CancelInvocation {
                invocation_id: "8".into(),
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(ClientFrame::parse(text).unwrap(), expected, "{text}");
    }
}

#[test]
fn invalid_frames_say_why_and_keep_the_ack_id() {
    let e = ClientFrame::parse(r#"{"type":"joinGroup","ackId":5}"#).unwrap_err();
    assert_eq!(e.ack_id(), Some(5));
    assert!(e.reason().contains("group"), "{e}");
    let e =
        ClientFrame::parse(r#"{"type":"event","event":"e","ackId":1,"dataType":"text","data":1}"#)
            .unwrap_err();
    assert_eq!(e.ack_id(), Some(1));
    assert!(e.reason().contains("string"), "{e}");
    let e =
        ClientFrame::parse(r#"{"type":"sendToGroup","group":"g","dataType":"binary","data":"%%"}"#)
            .unwrap_err();
    assert!(e.reason().contains("base64"), "{e}");
    let e = ClientFrame::parse(r#"{"type":"teleport"}"#).unwrap_err();
    assert!(e.reason().contains("teleport"), "{e}");
    assert_eq!(ClientFrame::parse("[1]").unwrap_err().ack_id(), None);
    assert!(ClientFrame::parse("not json").is_err());
    // A mistyped ackId is not readable, so there is nothing to ack.
    assert_eq!(
        ClientFrame::parse(r#"{"type":"joinGroup","ackId":"x"}"#)
            .unwrap_err()
            .ack_id(),
        None
    );
}

#[test]
fn server_frames_match_the_documented_json() {
    assert_eq!(ServerFrame::Pong.to_json(), r#"{"type":"pong"}"#);
    assert_eq!(
        ServerFrame::Ack {
            ack_id: 1,
            error: None
        }
        .to_json(),
        r#"{"type":"ack","ackId":1,"success":true}"#
    );
    assert_eq!(
        ServerFrame::Connected {
            connection_id: "c".into(),
            user_id: Some("u".into()),
            reconnection_token: Some("t".into())
        }
        .to_json(),
        r#"{"type":"system","event":"connected","connectionId":"c","userId":"u","reconnectionToken":"t"}"#
    );
    assert_eq!(
        ServerFrame::Disconnected {
            message: "bye".into()
        }
        .to_json(),
        r#"{"type":"system","event":"disconnected","message":"bye"}"#
    );
    let message = ServerFrame::Message {
        from: MessageSource::Group {
            group: "g".into(),
            from_user_id: Some("u".into()),
        },
        data: FrameData::Binary(vec![1, 2]),
        sequence_id: Some(4),
    };
    assert_eq!(
        message.to_json(),
        r#"{"type":"message","from":"group","group":"g","fromUserId":"u","dataType":"binary","data":"AQI=","sequenceId":4}"#
    );
    assert_eq!(ServerFrame::parse(&message.to_json()).unwrap(), message);
    let answer = ServerFrame::InvokeResponse {
        invocation_id: "7".into(),
        data: Some(FrameData::Json(json!([1]))),
        error: None,
    };
    assert_eq!(
        answer.to_json(),
        r#"{"type":"invokeResponse","success":true,"dataType":"json","data":[1],"invocationId":"7"}"#
    );
    assert_eq!(ServerFrame::parse(&answer.to_json()).unwrap(), answer);
    let e = ClientFrame::parse(r#"{"type":"invoke","invocationId":"9","target":"x","event":"e"}"#)
        .unwrap_err();
    assert_eq!(e.invocation_id(), Some("9"));
}

/// A number JSON cannot hold exactly (an integer beyond `u64`, read as the nearest `f64`) is
/// written back as that `f64` and reads back as the same one (found by fuzz/client_frame).
#[test]
fn json_numbers_read_back_as_the_same_value() {
    let text = r#"{"type":"sendToGroup","group":"g","dataType":"json","data":{"a":933333333333333333333333}}"#;
    let frame = ClientFrame::parse(text).unwrap();
    let json = frame.to_json();
    assert!(json.contains("9.333333333333333e+23"), "{json}");
    assert_eq!(ClientFrame::parse(&json).unwrap(), frame);
}

fn frame_data() -> impl Strategy<Value = FrameData> {
    prop_oneof![
        any::<String>().prop_map(FrameData::Text),
        any::<Vec<u8>>().prop_map(FrameData::Binary),
        any::<i64>().prop_map(|n| FrameData::Json(json!({ "n": n }))),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| FrameData::Json(json!({ "f": f }))),
    ]
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    let group = "[a-z]{1,8}";
    let ack = proptest::option::of(any::<u64>());
    prop_oneof![
        (group, ack.clone()).prop_map(|(group, ack_id)| ClientFrame::JoinGroup { group, ack_id }),
        (group, ack.clone()).prop_map(|(group, ack_id)| ClientFrame::LeaveGroup { group, ack_id }),
        (group, ack.clone(), any::<bool>(), frame_data()).prop_map(
            |(group, ack_id, no_echo, data)| {
                ClientFrame::SendToGroup {
                    group,
                    ack_id,
                    no_echo,
                    data,
                }
            }
        ),
        (group, ack, frame_data()).prop_map(|(event, ack_id, data)| ClientFrame::Event {
            event,
            ack_id,
            data
        }),
        ("[0-9]{1,5}", group, proptest::option::of(frame_data())).prop_map(
            |(invocation_id, event, data)| ClientFrame::Invoke {
                invocation_id,
                event,
                data
            }
        ),
        any::<u64>().prop_map(|sequence_id| ClientFrame::SequenceAck { sequence_id }),
        Just(ClientFrame::Ping),
    ]
}

proptest! {
    #[test]
    fn parsing_any_text_never_panics(text in any::<String>()) {
        let _ = ClientFrame::parse(&text);
        let _ = ServerFrame::parse(&text);
    }

    #[test]
    fn parsing_frame_shaped_json_never_panics(
        kind in prop_oneof![Just("joinGroup".to_owned()), Just("sendToGroup".to_owned()), Just("event".to_owned()), Just("sequenceAck".to_owned()), Just("ack".to_owned()), Just("message".to_owned()), Just("system".to_owned()), any::<String>()],
        data_type in prop_oneof![Just("text".to_owned()), Just("json".to_owned()), Just("binary".to_owned()), Just("protobuf".to_owned()), any::<String>()],
        data in prop_oneof![any::<String>().prop_map(Value::String), any::<i64>().prop_map(|n| json!(n)), Just(Value::Null)],
        ack in prop_oneof![any::<i64>().prop_map(|n| json!(n)), any::<String>().prop_map(Value::String)],
    ) {
        let text = json!({"type": kind, "group": "g", "event": "e", "ackId": ack, "dataType": data_type, "data": data, "sequenceId": ack, "from": "group", "success": false}).to_string();
        let _ = ClientFrame::parse(&text);
        let _ = ServerFrame::parse(&text);
    }

    #[test]
    fn client_frames_round_trip(frame in client_frame()) {
        prop_assert_eq!(ClientFrame::parse(&frame.to_json()).unwrap(), frame);
    }
}
