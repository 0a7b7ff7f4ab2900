use bytes::Bytes;
use proptest::prelude::*;

use super::*;

fn frame_of(msgpack: &[u8]) -> Bytes {
    let mut frame = (msgpack.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(msgpack);
    Bytes::from(frame)
}

/// A MessagePack `[type, json, content]` array written by hand.
fn array(number: u64, json: &str, content: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_array_len(&mut out, 3).unwrap();
    rmp::encode::write_uint(&mut out, number).unwrap();
    rmp::encode::write_str(&mut out, json).unwrap();
    match content {
        Some(content) => rmp::encode::write_bin(&mut out, content).unwrap(),
        None => rmp::encode::write_nil(&mut out).unwrap(),
    }
    out
}

fn decode_err(frame: &[u8]) -> TunnelFrameError {
    TunnelMessage::decode(&Bytes::copy_from_slice(frame)).unwrap_err()
}

#[test]
fn a_request_round_trips_with_its_content_shared() {
    let message = TunnelMessage::HttpRequest(HttpRequestMessage {
        tracing_id: Some(9),
        ack_id: 1 << 40,
        local_routing: true,
        channel_name: "c".into(),
        method: "POST".into(),
        url: "/api/hubs/chat/:send?api-version=2024-01-01".into(),
        headers: TunnelHeaders::from_iter([("Content-Type", "text/plain"), ("x", "1"), ("x", "2")]),
        content: Bytes::from_static("héllo".as_bytes()),
    });
    let frame = Bytes::from(message.encode().unwrap());
    let decoded = TunnelMessage::decode(&frame).unwrap();
    assert_eq!(decoded, message);
    let TunnelMessage::HttpRequest(request) = decoded else {
        unreachable!()
    };
    let content = request.content.as_ptr() as usize;
    let frame_range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
    assert!(
        frame_range.contains(&content),
        "content is a slice of the frame"
    );
}

#[test]
fn the_json_element_lists_fields_then_type_as_the_official_code_does() {
    let frame = TunnelMessage::ConnectionClose(NoticeMessage {
        tracing_id: None,
        message: "bye".into(),
    })
    .encode()
    .unwrap();
    // Byte for byte the official frame of TunnelConnectionCloseMessage("bye").
    assert_eq!(
        hex::encode(frame),
        "1e00000093\
         07ba7b224d657373616765223a22627965222c2254797065223a377dc0"
            .replace(' ', "")
    );
}

#[test]
fn a_short_frame_is_refused() {
    assert_eq!(
        decode_err(&[1, 0]),
        TunnelFrameError::MissingLength { len: 2 }
    );
}

#[test]
fn a_frame_over_one_mebibyte_is_refused_before_it_is_read() {
    let len = (MAX_FRAME_LEN as u32 + 1).to_le_bytes();
    let err = decode_err(&len);
    assert_eq!(
        err,
        TunnelFrameError::TooLarge {
            len: MAX_FRAME_LEN as u64 + 1
        }
    );
    assert!(err.to_string().contains("1048576-byte limit"), "{err}");
}

#[test]
fn a_frame_of_exactly_one_mebibyte_is_accepted_and_one_byte_more_is_not() {
    let json = r#"{"AckId":1,"StatusCode":200}"#;
    // bin8 -> bin32 grows the content header by 3 bytes
    let overhead = array(2, json, Some(&[])).len() + 3;
    let content = vec![7u8; MAX_FRAME_LEN - overhead];
    let body = array(2, json, Some(&content));
    assert_eq!(body.len(), MAX_FRAME_LEN);
    assert!(TunnelMessage::decode(&frame_of(&body)).is_ok());

    let message = TunnelMessage::HttpResponse(HttpResponseMessage {
        ack_id: 1,
        status_code: 200,
        content: Bytes::from(vec![7u8; MAX_FRAME_LEN + 1]),
        ..Default::default()
    });
    assert!(matches!(
        message.encode(),
        Err(TunnelFrameError::TooLarge { .. })
    ));
}

#[test]
fn a_prefix_that_disagrees_with_the_bytes_is_refused() {
    let mut frame = frame_of(&array(7, "{}", None)).to_vec();
    frame.push(0);
    assert!(matches!(
        decode_err(&frame),
        TunnelFrameError::LengthMismatch { .. }
    ));
    frame.truncate(frame.len() - 3);
    assert!(matches!(
        decode_err(&frame),
        TunnelFrameError::LengthMismatch { .. }
    ));
}

#[test]
fn the_wrong_array_shape_is_refused_with_words() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![0xc0], "does not start with a MessagePack array"),
        (vec![0x92, 0x07, 0xa2, b'{', b'}'], "2 elements, not 3"),
        (
            vec![0x93, 0xa1, b'x', 0xa0, 0xc0],
            "the type) is not a non-negative integer",
        ),
        (
            vec![0x93, 0xff, 0xa2, b'{', b'}', 0xc0],
            "the type) is not a non-negative integer",
        ),
        (
            vec![0x93, 0x07, 0x07, 0xc0],
            "the JSON fields) is not a string",
        ),
        (
            vec![0x93, 0x07, 0xa5, b'{', b'}'],
            "declares 5 bytes but only 2 remain",
        ),
        (
            vec![0x93, 0x07, 0xa2, b'{', b'}', 0x01],
            "neither bytes nor nil",
        ),
        (
            vec![0x93, 0x01, 0xa2, b'{', b'}', 0xc4, 0x09, 1],
            "the content) declares 9 bytes",
        ),
        (
            vec![0x93, 0x07, 0xa2, b'{', b'}', 0xc0, 0xc0],
            "1 bytes follow the array",
        ),
        (vec![0x93, 0x07, 0xa2, 0xff, 0xfe, 0xc0], "is not UTF-8"),
    ];
    for (body, words) in cases {
        let err = decode_err(&frame_of(&body));
        assert!(
            matches!(err, TunnelFrameError::Shape { .. }) && err.to_string().contains(words),
            "{body:02x?}: {err}"
        );
    }
}

#[test]
fn an_unknown_type_and_bad_fields_are_refused_with_words() {
    assert_eq!(
        decode_err(&frame_of(&array(3, "{}", None))),
        TunnelFrameError::UnknownType { number: 3 }
    );
    let err = decode_err(&frame_of(&array(1, r#"{"AckId":"one"}"#, None)));
    assert!(
        matches!(
            err,
            TunnelFrameError::Fields {
                kind: TunnelMessageType::HttpRequest,
                ..
            }
        ),
        "{err}"
    );
    let err = decode_err(&frame_of(&array(10, "{}", None)));
    assert!(err.to_string().contains("ConnectionId"), "{err}");
    let err = decode_err(&frame_of(&array(
        2,
        r#"{"AckId":1,"StatusCode":200,"Headers":{"a":"b"}}"#,
        None,
    )));
    assert!(err.to_string().contains("expected a sequence"), "{err}");
}

#[test]
fn missing_optional_fields_take_their_defaults_and_unknown_ones_are_ignored() {
    let frame = frame_of(&array(
        2,
        r#"{"AckId":3,"StatusCode":204,"Headers":null,"Future":true,"Type":2}"#,
        None,
    ));
    assert_eq!(
        TunnelMessage::decode(&frame).unwrap(),
        TunnelMessage::HttpResponse(HttpResponseMessage {
            ack_id: 3,
            status_code: 204,
            ..Default::default()
        })
    );
}

#[test]
fn headers_convert_to_and_from_http_and_refuse_what_http_cannot_carry() {
    let headers =
        TunnelHeaders::from_iter([("Content-Type", "text/plain"), ("X-A", "1"), ("x-a", "2")]);
    let map = headers.to_header_map().unwrap();
    assert_eq!(map.get_all("x-a").iter().count(), 2);
    assert_eq!(headers.get_all("X-a").collect::<Vec<_>>(), ["1", "2"]);
    let back = TunnelHeaders::from_header_map(&map).unwrap();
    assert_eq!(
        back.get_all("content-type").collect::<Vec<_>>(),
        ["text/plain"]
    );

    let bad_name = TunnelHeaders::from_iter([("bad name", "v")]);
    assert!(matches!(
        bad_name.to_header_map(),
        Err(TunnelHeadersError::Name { .. })
    ));
    let bad_value = TunnelHeaders::from_iter([("x", "a\nb")]);
    let err = bad_value.to_header_map().unwrap_err();
    assert!(
        !err.to_string().contains("a\nb"),
        "values stay out of errors: {err}"
    );

    let mut opaque = http::HeaderMap::new();
    opaque.insert("x", http::HeaderValue::from_bytes(&[0xff]).unwrap());
    assert!(matches!(
        TunnelHeaders::from_header_map(&opaque),
        Err(TunnelHeadersError::NotText { .. })
    ));
}

fn headers_strategy() -> impl Strategy<Value = TunnelHeaders> {
    proptest::collection::vec(
        ("[a-zA-Z-]{1,8}", proptest::collection::vec(".{0,8}", 1..3)),
        0..4,
    )
    .prop_map(|pairs| {
        let mut headers = TunnelHeaders::new();
        for (name, values) in pairs {
            for value in values {
                headers.append(name.clone(), value);
            }
        }
        headers
    })
}

fn message_strategy() -> impl Strategy<Value = TunnelMessage> {
    let text = ".{0,16}";
    let tracing = proptest::option::of(any::<u64>());
    prop_oneof![
        (
            tracing.clone(),
            any::<u64>(),
            any::<bool>(),
            text,
            text,
            text,
            headers_strategy(),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(
                |(
                    tracing_id,
                    ack_id,
                    local_routing,
                    channel_name,
                    method,
                    url,
                    headers,
                    content,
                )| {
                    TunnelMessage::HttpRequest(HttpRequestMessage {
                        tracing_id,
                        ack_id,
                        local_routing,
                        channel_name,
                        method,
                        url,
                        headers,
                        content: Bytes::from(content),
                    })
                }
            ),
        (
            tracing.clone(),
            any::<u64>(),
            any::<bool>(),
            any::<u16>(),
            text,
            any::<bool>(),
            headers_strategy(),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(
                |(
                    tracing_id,
                    ack_id,
                    local_routing,
                    status_code,
                    channel_name,
                    not_completed,
                    headers,
                    content,
                )| {
                    TunnelMessage::HttpResponse(HttpResponseMessage {
                        tracing_id,
                        ack_id,
                        local_routing,
                        status_code,
                        channel_name,
                        not_completed,
                        headers,
                        content: Bytes::from(content),
                    })
                }
            ),
        (tracing.clone(), text).prop_map(|(tracing_id, message)| {
            TunnelMessage::ServiceStatus(NoticeMessage {
                tracing_id,
                message,
            })
        }),
        (any::<bool>(), tracing.clone(), text, text, text).prop_map(
            |(rebalance, tracing_id, target_id, endpoint, message)| {
                let target = ConnectionTargetMessage {
                    tracing_id,
                    target_id,
                    endpoint,
                    message,
                };
                if rebalance {
                    TunnelMessage::ConnectionRebalance(target)
                } else {
                    TunnelMessage::ConnectionReconnect(target)
                }
            }
        ),
        (tracing.clone(), text).prop_map(|(tracing_id, message)| {
            TunnelMessage::ConnectionClose(NoticeMessage {
                tracing_id,
                message,
            })
        }),
        (
            tracing,
            text,
            proptest::option::of(text),
            proptest::option::of(text)
        )
            .prop_map(|(tracing_id, connection_id, user_id, reconnection_token)| {
                TunnelMessage::ConnectionConnected(ConnectedMessage {
                    tracing_id,
                    connection_id,
                    user_id,
                    reconnection_token,
                })
            }),
    ]
}

proptest! {
    #[test]
    fn every_message_round_trips(message in message_strategy()) {
        let frame = Bytes::from(message.encode().unwrap());
        prop_assert_eq!(TunnelMessage::decode(&frame).unwrap(), message);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = TunnelMessage::decode(&Bytes::from(bytes));
    }

    #[test]
    fn arbitrary_bodies_behind_a_right_prefix_never_panic(body in proptest::collection::vec(any::<u8>(), 0..96)) {
        if let Err(err) = TunnelMessage::decode(&frame_of(&body)) {
            prop_assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn every_cut_of_a_valid_frame_is_an_error(message in message_strategy(), cut in any::<prop::sample::Index>()) {
        let frame = message.encode().unwrap();
        let cut = cut.index(frame.len());
        prop_assert!(TunnelMessage::decode(&Bytes::copy_from_slice(&frame[..cut])).is_err());
    }
}
