//! The service's rule for hub names, shared by the REST client, the emulator and its REST API.

/// The rule in words, for error messages.
pub const HUB_NAME_RULE: &str =
    "a hub name starts with a letter and has at most 128 letters, digits or _`,.[]";

/// Whether `name` is a valid hub name: ``^[A-Za-z][A-Za-z0-9_`,.[\]]{0,127}$`` (the REST API's
/// path parameter pattern).
///
/// ```
/// use webpubsub_protocol::is_valid_hub_name;
///
/// assert!(is_valid_hub_name("chat_1"));
/// assert!(!is_valid_hub_name("1chat"));
/// assert!(!is_valid_hub_name("chat/room"));
/// ```
pub fn is_valid_hub_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "_`,.[]".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn follows_the_rest_api_pattern() {
        assert!(is_valid_hub_name("a"));
        assert!(is_valid_hub_name("Hub`,.[]_9"));
        assert!(is_valid_hub_name(&format!("h{}", "x".repeat(127))));
        assert!(!is_valid_hub_name(&format!("h{}", "x".repeat(128))));
        assert!(!is_valid_hub_name(""));
        assert!(!is_valid_hub_name("_hub"));
        assert!(!is_valid_hub_name("hub name"));
        assert!(!is_valid_hub_name("hüb"));
    }

    proptest! {
        #[test]
        fn names_of_the_pattern_are_valid(name in "[A-Za-z][A-Za-z0-9_`,.\\[\\]]{0,127}") {
            prop_assert!(is_valid_hub_name(&name), "{name:?}");
        }

        #[test]
        fn a_character_outside_the_pattern_makes_a_name_invalid(
            name in "[A-Za-z][A-Za-z0-9_`,.\\[\\]]{0,126}",
            bad in "[^A-Za-z0-9_`,.\\[\\]]",
            at in any::<prop::sample::Index>(),
        ) {
            // The pattern is ASCII: every byte index is a character boundary.
            let mut name = name;
            name.insert_str(at.index(name.len() + 1), &bad);
            prop_assert!(!is_valid_hub_name(&name), "{name:?}");
        }

        #[test]
        fn a_name_must_start_with_a_letter_and_stay_short(
            not_a_letter in "[0-9_`,.\\[\\]][A-Za-z0-9_`,.\\[\\]]{0,20}",
            too_long in "[A-Za-z][A-Za-z0-9_`,.\\[\\]]{128,140}",
        ) {
            prop_assert!(!is_valid_hub_name(&not_a_letter), "{not_a_letter:?}");
            prop_assert!(!is_valid_hub_name(&too_long), "{too_long:?}");
        }

        #[test]
        fn no_input_panics(name in "\\PC{0,140}") {
            let _ = is_valid_hub_name(&name);
        }
    }
}
