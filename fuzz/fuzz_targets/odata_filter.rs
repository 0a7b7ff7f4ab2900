//! The OData filter of the REST API: any text parses or gives an error with a position inside
//! the text, never a panic; a parsed filter evaluates on any connection without a panic, and
//! re-parses from its own text to the same meaning.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use webpubsub_protocol::filter::{FilterSubject, ParsedFilter};

#[derive(Debug, Arbitrary)]
struct Input {
    filter: String,
    subjects: Vec<Subject>,
}

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

fuzz_target!(|input: Input| {
    let filter = match ParsedFilter::parse(&input.filter) {
        Ok(filter) => filter,
        Err(error) => {
            if let Some(position) = error.position() {
                assert!(
                    position <= input.filter.len(),
                    "{error} points past the end of {:?}",
                    input.filter
                );
            }
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    let again = ParsedFilter::parse(filter.as_str()).expect("a parsed filter parses again");
    assert_eq!(again, filter);
    for subject in input.subjects.iter().take(8) {
        assert_eq!(filter.matches(subject), again.matches(subject));
    }
});
