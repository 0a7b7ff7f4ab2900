//! The gRPC upstream's event conversion (app side): any bytes decode as a `StreamingRequest`
//! and convert into a typed event and its ack, or are refused with a reason in words; never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Err(reason) = webpubsub_grpc::fuzzing::convert(bytes) {
        assert!(!reason.is_empty());
    }
});
