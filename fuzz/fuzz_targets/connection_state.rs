//! `ce-connectionState` decoding: any bytes give a state or an error, never a panic, and a
//! decoded state survives `encode` → `decode` (except the documented .NET-format ambiguity).
#![no_main]

use base64::{Engine as _, engine::general_purpose::STANDARD};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use webpubsub_protocol::state::ConnectionStates;

fuzz_target!(|data: &[u8]| {
    let Ok(states) = ConnectionStates::decode_bytes(data) else {
        return;
    };
    let encoded = states.encode();
    let again = ConnectionStates::decode(&encoded).expect("an encoded state decodes");
    if again != states {
        // The module docs: a JavaScript-format state whose every value is a string holding
        // base64 of JSON reads as the .NET format. Anything else is a codec bug.
        let ambiguous = !states.is_empty()
            && states.iter().all(|(_, value)| match value {
                Value::String(s) => STANDARD
                    .decode(s.trim_end_matches('='))
                    .or_else(|_| STANDARD.decode(s))
                    .is_ok_and(|bytes| serde_json::from_slice::<Value>(&bytes).is_ok()),
                _ => false,
            });
        assert!(ambiguous, "{states:?} became {again:?} through {encoded:?}");
    }
});
