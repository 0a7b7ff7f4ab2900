//! The OData filter of the REST API: any text parses or gives an error with a position inside
//! the text, never a panic; a parsed filter evaluates on any connection without a panic, and
//! means the same in parentheses.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use webpubsub_protocol::filter::{FilterError, FilterSubject, ParsedFilter};

#[derive(Debug, Arbitrary)]
struct Subject {
    connection_id: String,
    user_id: Option<String>,
    protocol: Option<String>,
    groups: Vec<String>,
}

impl FilterSubject for Subject {
    fn connection_id(&self) -> &str {
        &self.connection_id
    }
    fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }
    fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }
    fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
    fn group_count(&self) -> usize {
        self.groups.len()
    }
}

fn fixed() -> [Subject; 2] {
    [
        Subject {
            connection_id: "c1".into(),
            user_id: Some("alice".into()),
            protocol: Some("json.webpubsub.azure.v1".into()),
            groups: vec!["g1".into(), "it's".into()],
        },
        Subject {
            connection_id: String::new(),
            user_id: None,
            protocol: None,
            groups: Vec::new(),
        },
    ]
}

// The input is the filter text, then (after a NUL byte) bytes that make extra connections, so
// that the seeds can be plain filters.
fuzz_target!(|data: &[u8]| {
    let (text, rest) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let extra: Vec<Subject> = Unstructured::new(rest).arbitrary().unwrap_or_default();
    let filter = match ParsedFilter::parse(text) {
        Ok(filter) => filter,
        Err(error) => {
            if let Some(position) = error.position() {
                assert!(
                    position <= text.len(),
                    "{error} points past the end of {text:?}"
                );
            }
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    // (Re-parsing `filter.as_str()` would prove nothing: it is `text` itself.) Grouping changes
    // nothing: `(text)` parses, unless that makes it too long or too deep, and matches exactly
    // the connections `text` matches.
    match ParsedFilter::parse(&format!("({text})")) {
        Ok(grouped) => {
            for subject in fixed().iter().chain(extra.iter().take(8)) {
                assert_eq!(
                    grouped.matches(subject),
                    filter.matches(subject),
                    "({text}) on {subject:?}"
                );
            }
        }
        Err(error) => assert!(
            matches!(
                error,
                FilterError::TooLong { .. } | FilterError::TooDeep { .. }
            ),
            "({text}) does not parse: {error}"
        ),
    }
});
