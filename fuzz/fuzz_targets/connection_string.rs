//! Connection-string parsing: any text gives a connection string or an error in words, never a
//! panic; a parsed one re-parses from its parts to the same value, and its `Debug` hides the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webpubsub_protocol::ConnectionString;

fuzz_target!(|text: &str| {
    let parsed = match text.parse::<ConnectionString>() {
        Ok(parsed) => parsed,
        Err(error) => {
            assert!(!error.to_string().is_empty(), "an error without words");
            return;
        }
    };
    let key = parsed.access_key().expose().to_owned();
    let shown = format!("{parsed:?}");
    // The same value with a key of one control character: any text of the key found there (a
    // field name, the endpoint) cannot tell a leak.
    let baseline = ConnectionString::new(parsed.endpoint(), "\u{1}")
        .map(|cs| format!("{cs:?}"))
        .unwrap_or_default();
    if key.len() >= 4 && !baseline.contains(&key) {
        assert!(!shown.contains(&key), "Debug shows the key: {shown}");
    }
    let rebuilt = format!("Endpoint={};AccessKey={key}", parsed.endpoint());
    if !key.contains(';') && key.trim() == key {
        let again: ConnectionString = rebuilt
            .parse()
            .unwrap_or_else(|e| panic!("{rebuilt:?} (from {text:?}) does not parse: {e}"));
        assert_eq!(again.endpoint(), parsed.endpoint());
        assert_eq!(again.host(), parsed.host());
    }
});
