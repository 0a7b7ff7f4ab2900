//! Tunnel frames (`/server/tunnel`): any bytes decode as a tunnel message or give an error with
//! words, never a panic; a decoded message survives `encode` → `decode`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use webpubsub_protocol::tunnel::{TunnelFrameError, TunnelMessage};

fuzz_target!(|data: &[u8]| {
    match TunnelMessage::decode(&Bytes::copy_from_slice(data)) {
        Ok(message) => match message.encode() {
            Ok(frame) => {
                let again = TunnelMessage::decode(&Bytes::from(frame))
                    .unwrap_or_else(|e| panic!("{message:?} encoded to a frame that fails: {e}"));
                assert_eq!(again, message);
            }
            // Rust writes `{}` for absent headers, so a frame at the limit can grow past it.
            Err(TunnelFrameError::TooLarge { .. }) => {}
            Err(e) => panic!("{message:?} does not encode: {e}"),
        },
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
