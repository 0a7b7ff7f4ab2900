//! Golden vectors from the published examples, byte for byte, and property tests.
//!
//! The vectors are the frames the .NET protobuf client's tests write and read
//! (Azure/azure-webpubsub, `sdk/clients/protobuf-client/csharp/tests`), and the
//! `google.protobuf.Any` of the protobuf subprotocol reference ("Publish protobuf data": a
//! `TestMessage { value: 1 }` packed as Any), with the base64 a JSON client receives for it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use proptest::prelude::*;
use serde_json::json;

use super::super::{AckError, AckErrorName, ClientFrame, FrameData, MessageSource, ServerFrame};

fn b64(text: &str) -> Vec<u8> {
    BASE64.decode(text).unwrap()
}

/// `Any.pack(TestMessage { value: 1 })` as the reference shows it in hexadecimal.
const DOCS_ANY_HEX: &str = "0A 2F 74 79 70 65 2E 67 6F 6F 67 6C 65 61 70 69 73 2E 63 6F 6D 2F 61 7A 75 72 65 2E 77 65 62 70 75 62 73 75 62 2E 54 65 73 74 4D 65 73 73 61 67 65 12 02 08 01";

fn docs_any() -> Vec<u8> {
    DOCS_ANY_HEX
        .split(' ')
        .map(|byte| u8::from_str_radix(byte, 16).unwrap())
        .collect()
}

#[test]
fn client_frames_match_the_published_bytes_both_ways() {
    let cases = [
        (
            "MgcKBWdyb3Vw",
            ClientFrame::JoinGroup {
                group: "group".into(),
                ack_id: None,
            },
        ),
        (
            "MgsKBWdyb3VwEOXYAg==",
            ClientFrame::JoinGroup {
                group: "group".into(),
                ack_id: Some(44133),
            },
        ),
        (
            "OgcKBWdyb3Vw",
            ClientFrame::LeaveGroup {
                group: "group".into(),
                ack_id: None,
            },
        ),
        (
            "OgoKBWdyb3VwELlg",
            ClientFrame::LeaveGroup {
                group: "group".into(),
                ack_id: Some(12345),
            },
        ),
        (
            "ChAKBWdyb3VwGgUKA3h6eSAA",
            ClientFrame::SendToGroup {
                group: "group".into(),
                ack_id: None,
                no_echo: false,
                data: FrameData::Text("xzy".into()),
            },
        ),
        // The .NET client sends JSON as text_data.
        (
            "Ch8KBWdyb3VwELlgGhEKD3sidmFsdWUiOiJ4enkifSAA",
            ClientFrame::SendToGroup {
                group: "group".into(),
                ack_id: Some(12345),
                no_echo: false,
                data: FrameData::Text(r#"{"value":"xzy"}"#.into()),
            },
        ),
        (
            "QgQIwMQH",
            ClientFrame::SequenceAck {
                sequence_id: 123456,
            },
        ),
        (
            "Kg4KBWV2ZW50EgUKA3h6eQ==",
            ClientFrame::Event {
                event: "event".into(),
                ack_id: None,
                data: FrameData::Text("xzy".into()),
            },
        ),
    ];
    for (base64, frame) in cases {
        let bytes = b64(base64);
        assert_eq!(
            ClientFrame::from_protobuf(&bytes).unwrap(),
            frame,
            "{base64}"
        );
        assert_eq!(frame.to_protobuf().unwrap(), bytes, "{frame:?}");
    }
}

#[test]
fn server_frames_match_the_published_bytes() {
    let both_ways = [
        (
            "CgQIexAB",
            ServerFrame::Ack {
                ack_id: 123,
                error: None,
            },
        ),
        (
            "EhwKBWdyb3VwEglncm91cE5hbWUaBQoDeHl6ILlg",
            ServerFrame::Message {
                from: MessageSource::Group {
                    group: "groupName".into(),
                    from_user_id: None,
                },
                data: FrameData::Text("xyz".into()),
                sequence_id: Some(12345),
            },
        ),
        (
            "EhIKBnNlcnZlchoFCgN4eXoguWA=",
            ServerFrame::Message {
                from: MessageSource::Server,
                data: FrameData::Text("xyz".into()),
                sequence_id: Some(12345),
            },
        ),
        (
            "GhQKEgoKY29ubmVjdGlvbhIEdXNlcg==",
            ServerFrame::Connected {
                connection_id: "connection".into(),
                user_id: Some("user".into()),
                reconnection_token: None,
            },
        ),
        (
            "GhkKFwoKY29ubmVjdGlvbhIEdXNlchoDcmVj",
            ServerFrame::Connected {
                connection_id: "connection".into(),
                user_id: Some("user".into()),
                reconnection_token: Some("rec".into()),
            },
        ),
        (
            "GgcSBRIDbXNn",
            ServerFrame::Disconnected {
                message: "msg".into(),
            },
        ),
    ];
    for (base64, frame) in both_ways {
        let bytes = b64(base64);
        assert_eq!(
            ServerFrame::from_protobuf(&bytes).unwrap(),
            frame,
            "{base64}"
        );
        assert_eq!(frame.to_protobuf().unwrap(), bytes, "{frame:?}");
    }
    // This vector writes `success: false` explicitly; proto3 leaves a false bool out, so the
    // frame reads the same but encodes two bytes shorter.
    let forbidden = ServerFrame::Ack {
        ack_id: 123,
        error: Some(AckError::new(AckErrorName::Forbidden, "message")),
    };
    let published = b64("ChoIexAAGhQKCUZvcmJpZGRlbhIHbWVzc2FnZQ==");
    assert_eq!(ServerFrame::from_protobuf(&published).unwrap(), forbidden);
    let ours = forbidden.to_protobuf().unwrap();
    assert_eq!(ours.len(), published.len() - 2);
    assert_eq!(ServerFrame::from_protobuf(&ours).unwrap(), forbidden);
}

#[test]
fn protobuf_data_is_the_any_bytes_unchanged() {
    let any = docs_any();
    let frame = ClientFrame::SendToGroup {
        group: "group".into(),
        ack_id: None,
        no_echo: false,
        data: FrameData::Protobuf(any.clone()),
    };
    let bytes = frame.to_protobuf().unwrap();
    // send_to_group_message { group = "group", data { protobuf_data = <Any> }, no_echo = false }
    let mut expected = vec![0x0a, 0x42, 0x0a, 0x05];
    expected.extend_from_slice(b"group");
    expected.extend_from_slice(&[0x1a, 0x37, 0x1a, 0x35]);
    expected.extend_from_slice(&any);
    expected.extend_from_slice(&[0x20, 0x00]);
    assert_eq!(bytes, expected);
    assert_eq!(ClientFrame::from_protobuf(&bytes).unwrap(), frame);
    // A JSON client receives the same Any as base64, as the reference shows.
    let json = ServerFrame::Message {
        from: MessageSource::Group {
            group: "G".into(),
            from_user_id: None,
        },
        data: FrameData::Protobuf(any.clone()),
        sequence_id: None,
    }
    .to_json();
    assert_eq!(
        json,
        r#"{"type":"message","from":"group","group":"G","dataType":"protobuf","data":"Ci90eXBlLmdvb2dsZWFwaXMuY29tL2F6dXJlLndlYnB1YnN1Yi5UZXN0TWVzc2FnZRICCAE="}"#
    );
    assert_eq!(
        ServerFrame::parse(&json).unwrap(),
        ServerFrame::Message {
            from: MessageSource::Group {
                group: "G".into(),
                from_user_id: None
            },
            data: FrameData::Protobuf(any),
            sequence_id: None,
        }
    );
}

#[test]
fn protobuf_any_builds_the_documented_bytes() {
    let data = FrameData::protobuf_any(
        "type.googleapis.com/azure.webpubsub.TestMessage",
        &[0x08, 0x01],
    );
    assert_eq!(data, FrameData::Protobuf(docs_any()));
    assert_eq!(
        data.protobuf_any_parts(),
        Some((
            "type.googleapis.com/azure.webpubsub.TestMessage".to_owned(),
            vec![0x08, 0x01]
        ))
    );
    assert_eq!(FrameData::Binary(docs_any()).protobuf_any_parts(), None);
    assert_eq!(
        FrameData::Protobuf(vec![0x0a, 0x05]).protobuf_any_parts(),
        None
    );
}

#[test]
fn invalid_frames_say_why_and_keep_the_ack_id() {
    // join_group_message { ack_id = 5 } without a group.
    let e = ClientFrame::from_protobuf(&[0x32, 0x02, 0x10, 0x05]).unwrap_err();
    assert_eq!(e.ack_id(), Some(5));
    assert!(e.reason().contains("group"), "{e}");
    // event_message { event = "e", ack_id = 1 } without data.
    let e = ClientFrame::from_protobuf(&[0x2a, 0x05, 0x0a, 0x01, b'e', 0x18, 0x01]).unwrap_err();
    assert_eq!(e.ack_id(), Some(1));
    assert!(e.reason().contains("data"), "{e}");
    // protobuf_data that is not an Any (a truncated field).
    let bad_any = ClientFrame::Event {
        event: "e".into(),
        ack_id: Some(2),
        data: FrameData::Protobuf(vec![0x0a, 0x05, b'x']),
    };
    let e = ClientFrame::from_protobuf(&bad_any.to_protobuf().unwrap()).unwrap_err();
    assert_eq!(e.ack_id(), Some(2));
    assert!(e.reason().contains("Any"), "{e}");
    // json_data that is not JSON.
    let bytes = [
        0x2a, 0x0a, 0x0a, 0x01, b'e', 0x12, 0x05, 0x22, 0x03, b'{', b'x', b'}',
    ];
    assert!(
        ClientFrame::from_protobuf(&bytes)
            .unwrap_err()
            .reason()
            .contains("JSON")
    );
    // Empty, unknown or broken messages.
    assert!(
        ClientFrame::from_protobuf(&[])
            .unwrap_err()
            .reason()
            .contains("none")
    );
    assert!(ClientFrame::from_protobuf(&[0x7a, 0x00]).is_err());
    assert!(
        ClientFrame::from_protobuf(&[0x0a, 0x7f])
            .unwrap_err()
            .reason()
            .contains("UpstreamMessage")
    );
    assert_eq!(
        ClientFrame::from_protobuf(&[0x0a, 0x7f])
            .unwrap_err()
            .ack_id(),
        None
    );
    // No protobuf form for invoke.
    let invoke = ClientFrame::Invoke {
        invocation_id: "1".into(),
        event: "e".into(),
        data: None,
    };
    assert!(
        invoke
            .to_protobuf()
            .unwrap_err()
            .reason()
            .contains("invoke")
    );
    let answer = ServerFrame::InvokeResponse {
        invocation_id: "1".into(),
        data: None,
        error: None,
    };
    assert!(answer.to_protobuf().is_err());
}

#[test]
fn json_data_and_pong_round_trip() {
    let frame = ServerFrame::Message {
        from: MessageSource::Server,
        data: FrameData::Json(json!({"a": [1, "b"]})),
        sequence_id: None,
    };
    assert_eq!(
        ServerFrame::from_protobuf(&frame.to_protobuf().unwrap()).unwrap(),
        frame
    );
    assert_eq!(ServerFrame::Pong.to_protobuf().unwrap(), [0x22, 0x00]);
    assert_eq!(
        ServerFrame::from_protobuf(&[0x22, 0x00]).unwrap(),
        ServerFrame::Pong
    );
    assert_eq!(ClientFrame::Ping.to_protobuf().unwrap(), [0x4a, 0x00]);
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    ("[a-z./]{0,30}", any::<Vec<u8>>()).prop_map(|(type_url, value)| {
        prost::Message::encode_to_vec(&super::generated::Any { type_url, value })
    })
}

fn frame_data() -> impl Strategy<Value = FrameData> {
    prop_oneof![
        any::<String>().prop_map(FrameData::Text),
        any::<Vec<u8>>().prop_map(FrameData::Binary),
        any::<i64>().prop_map(|n| FrameData::Json(json!({ "n": n }))),
        any_bytes().prop_map(FrameData::Protobuf),
    ]
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    let name = "[a-z]{1,8}";
    let ack = proptest::option::of(any::<u64>());
    prop_oneof![
        (name, ack.clone()).prop_map(|(group, ack_id)| ClientFrame::JoinGroup { group, ack_id }),
        (name, ack.clone()).prop_map(|(group, ack_id)| ClientFrame::LeaveGroup { group, ack_id }),
        (name, ack.clone(), any::<bool>(), frame_data()).prop_map(
            |(group, ack_id, no_echo, data)| ClientFrame::SendToGroup {
                group,
                ack_id,
                no_echo,
                data,
            }
        ),
        (name, ack, frame_data()).prop_map(|(event, ack_id, data)| ClientFrame::Event {
            event,
            ack_id,
            data
        }),
        any::<u64>().prop_map(|sequence_id| ClientFrame::SequenceAck { sequence_id }),
        Just(ClientFrame::Ping),
    ]
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    let text = "[a-zA-Z0-9]{1,8}";
    let error = proptest::option::of(
        (text, any::<String>())
            .prop_map(|(name, message)| AckError::new(AckErrorName::from_wire(name), message)),
    );
    let source = prop_oneof![
        Just(MessageSource::Server),
        any::<String>().prop_map(|group| MessageSource::Group {
            group,
            from_user_id: None
        }),
    ];
    prop_oneof![
        (any::<u64>(), error).prop_map(|(ack_id, error)| ServerFrame::Ack { ack_id, error }),
        (source, frame_data(), proptest::option::of(any::<u64>())).prop_map(
            |(from, data, sequence_id)| ServerFrame::Message {
                from,
                data,
                sequence_id
            }
        ),
        (text, proptest::option::of(text), proptest::option::of(text)).prop_map(
            |(connection_id, user_id, reconnection_token)| ServerFrame::Connected {
                connection_id,
                user_id,
                reconnection_token
            }
        ),
        any::<String>().prop_map(|message| ServerFrame::Disconnected { message }),
        Just(ServerFrame::Pong),
    ]
}

proptest! {
    #[test]
    fn client_frames_round_trip(frame in client_frame()) {
        let bytes = frame.to_protobuf().unwrap();
        prop_assert_eq!(ClientFrame::from_protobuf(&bytes).unwrap(), frame);
    }

    #[test]
    fn server_frames_round_trip(frame in server_frame()) {
        let bytes = frame.to_protobuf().unwrap();
        prop_assert_eq!(ServerFrame::from_protobuf(&bytes).unwrap(), frame);
    }

    #[test]
    fn decoding_any_bytes_never_panics(bytes in any::<Vec<u8>>()) {
        let _ = ClientFrame::from_protobuf(&bytes);
        let _ = ServerFrame::from_protobuf(&bytes);
    }
}
