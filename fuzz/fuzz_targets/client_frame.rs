//! Client-protocol frames (`json.webpubsub.azure.v1`): any text parses as a client frame and as
//! a server frame or gives an error, never a panic; a parsed frame survives `to_json` → `parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webpubsub_protocol::frames::{ClientFrame, ServerFrame};

fuzz_target!(|text: &str| {
    match ClientFrame::parse(text) {
        Ok(frame) => {
            let json = frame.to_json();
            let again = ClientFrame::parse(&json)
                .unwrap_or_else(|e| panic!("{frame:?} wrote {json:?}, which does not parse: {e}"));
            assert_eq!(again, frame, "through {json:?}");
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
    if let Ok(frame) = ServerFrame::parse(text) {
        let json = frame.to_json();
        let again = ServerFrame::parse(&json)
            .unwrap_or_else(|e| panic!("{frame:?} wrote {json:?}, which does not parse: {e}"));
        assert_eq!(again, frame, "through {json:?}");
    }
});
