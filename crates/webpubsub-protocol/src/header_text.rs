//! The rules for client-chosen names that the service puts into upstream headers and URLs:
//! event names (`ce-eventName`, `{event}` in URL templates) and user ids (`ce-userId`).
//!
//! A value that cannot travel as an HTTP header value would be dropped or mangled on the way
//! upstream (an event with no `ce-eventName`, an authenticated user who looks anonymous), so
//! these values are refused where they enter: a client frame, a token, a REST call or a
//! `connect` answer. The service's own limits are not published; these are the safe choice.

/// The largest event name, in characters.
pub const MAX_EVENT_NAME_LENGTH: usize = 128;

/// The largest user id, in characters.
pub const MAX_USER_ID_LENGTH: usize = 1024;

/// The event-name rule in words, for error messages.
pub const EVENT_NAME_RULE: &str = "an event name has 1 to 128 characters, none of them whitespace or control characters, and is not `.` or `..`";

/// The user-id rule in words, for error messages.
pub const USER_ID_RULE: &str = "a user id has 1 to 1024 characters, no control characters, and does not start or end with whitespace";

/// Whether `name` may name a user event: 1 to [`MAX_EVENT_NAME_LENGTH`] characters, none of
/// them whitespace or control characters, and not `.` or `..` (which a URL would read as a
/// path step, even percent-encoded).
///
/// ```
/// use webpubsub_protocol::is_valid_event_name;
///
/// assert!(is_valid_event_name("message"));
/// assert!(is_valid_event_name("caf\u{e9}/?#"));
/// assert!(!is_valid_event_name(".."));
/// assert!(!is_valid_event_name("line\r\nbreak"));
/// assert!(!is_valid_event_name(""));
/// ```
pub fn is_valid_event_name(name: &str) -> bool {
    !matches!(name, "" | "." | "..")
        && name.chars().count() <= MAX_EVENT_NAME_LENGTH
        && !name.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// Whether `user_id` may be a user id: 1 to [`MAX_USER_ID_LENGTH`] characters, no control
/// characters, no whitespace at either end (HTTP trims it from header values).
///
/// ```
/// use webpubsub_protocol::is_valid_user_id;
///
/// assert!(is_valid_user_id("alice"));
/// assert!(is_valid_user_id("Alice Smith"));
/// assert!(!is_valid_user_id("alice\r\n"));
/// assert!(!is_valid_user_id(" alice"));
/// assert!(!is_valid_user_id(""));
/// ```
pub fn is_valid_user_id(user_id: &str) -> bool {
    !user_id.is_empty()
        && user_id.trim() == user_id
        && user_id.chars().count() <= MAX_USER_ID_LENGTH
        && !user_id.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    #[test]
    fn limits_are_inclusive() {
        assert!(is_valid_event_name(&"e".repeat(MAX_EVENT_NAME_LENGTH)));
        assert!(!is_valid_event_name(&"e".repeat(MAX_EVENT_NAME_LENGTH + 1)));
        assert!(is_valid_user_id(&"u".repeat(MAX_USER_ID_LENGTH)));
        assert!(!is_valid_user_id(&"u".repeat(MAX_USER_ID_LENGTH + 1)));
        assert!(is_valid_event_name("..."));
        assert!(!is_valid_event_name("a b"));
        assert!(!is_valid_user_id("alice\u{85}"));
    }

    /// A header value as the upstream reads it back: the bytes, as UTF-8, after HTTP's trim.
    fn round_trips(text: &str) -> bool {
        HeaderValue::from_bytes(text.as_bytes())
            .is_ok_and(|value| std::str::from_utf8(value.as_bytes()) == Ok(text))
            && text.trim() == text
    }

    proptest! {
        #[test]
        fn valid_names_and_ids_are_header_values(text in "\\PC{1,64}") {
            if is_valid_event_name(&text) {
                prop_assert!(round_trips(&text), "{text:?}");
            }
            if is_valid_user_id(&text) {
                prop_assert!(round_trips(&text), "{text:?}");
            }
        }

        #[test]
        fn a_control_character_makes_either_invalid(
            text in "[a-z]{0,10}",
            bad in "\\p{Cc}",
            at in any::<prop::sample::Index>(),
        ) {
            let mut text = text;
            text.insert_str(at.index(text.len() + 1), &bad);
            prop_assert!(!is_valid_event_name(&text), "{text:?}");
            prop_assert!(!is_valid_user_id(&text), "{text:?}");
        }

        #[test]
        fn no_input_panics(text in "(?s).{0,200}") {
            let _ = (is_valid_event_name(&text), is_valid_user_id(&text));
        }
    }
}
