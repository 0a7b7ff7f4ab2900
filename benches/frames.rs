//! The cost of one client-subprotocol frame, JSON against protobuf, on what a receiving client
//! decodes and a sending client encodes most: a reliable group message (`ServerFrame::parse` vs
//! `ServerFrame::from_protobuf`) with 64 bytes of text and with 1 KiB of binary data (base64 in
//! JSON, raw in protobuf), and a `sendToGroup` with 1 KiB of binary data (`ClientFrame::to_json`
//! vs `to_protobuf`). The JSON subprotocol is the baseline of each pair.
//!
//! Run: `cargo bench --bench frames -- --warm-up-time 1 --measurement-time 3`; results in
//! BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use webpubsub_protocol::frames::{ClientFrame, FrameData, MessageSource, ServerFrame};

fn group_message(data: FrameData) -> ServerFrame {
    ServerFrame::Message {
        from: MessageSource::Group {
            group: "room-0042".into(),
            from_user_id: None,
        },
        data,
        sequence_id: Some(123_456),
    }
}

fn decode(c: &mut Criterion) {
    let binary: Vec<u8> = (0..1024u32).map(|i| (i * 31 % 251) as u8).collect();
    for (name, data) in [
        ("decode_text_64", FrameData::Text("x".repeat(64))),
        ("decode_binary_1k", FrameData::Binary(binary)),
    ] {
        let frame = group_message(data);
        let json = frame.to_json();
        let protobuf = frame.to_protobuf().unwrap();
        let mut group = c.benchmark_group(name);
        group.bench_function("json", |b| {
            b.iter(|| black_box(ServerFrame::parse(black_box(&json)).unwrap()))
        });
        group.bench_function("protobuf", |b| {
            b.iter(|| black_box(ServerFrame::from_protobuf(black_box(&protobuf)).unwrap()))
        });
        group.finish();
    }
}

fn encode(c: &mut Criterion) {
    let frame = ClientFrame::SendToGroup {
        group: "room-0042".into(),
        ack_id: Some(77),
        no_echo: false,
        data: FrameData::Binary((0..1024u32).map(|i| (i % 256) as u8).collect()),
    };
    let mut group = c.benchmark_group("encode_send_binary_1k");
    group.bench_function("json", |b| {
        b.iter(|| black_box(black_box(&frame).to_json()))
    });
    group.bench_function("protobuf", |b| {
        b.iter(|| black_box(black_box(&frame).to_protobuf().unwrap()))
    });
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
