//! A connection's roles, parsed once at registration: the built-in
//! `webpubsub.<permission>[.<group>]` roles and the wildcard group roles
//! `webpubsub.sendToGroups.<pattern>` / `webpubsub.joinLeaveGroups.<pattern>` that the official
//! emulator supports (`*` within a dot-separated segment, `**` across segments, `?` one
//! character other than a dot; case-sensitive).

use webpubsub_protocol::token::{ClientRole, Permission, ROLE_PREFIX};

/// One role of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Role {
    /// `webpubsub.<permission>` or `webpubsub.<permission>.<group>`.
    BuiltIn(ClientRole),
    /// `webpubsub.<permission>s.<pattern>`.
    Wildcard {
        permission: Permission,
        pattern: String,
    },
}

impl Role {
    pub(super) fn parse(role: &str) -> Self {
        let wildcard = role.strip_prefix(ROLE_PREFIX).and_then(|rest| {
            [
                (Permission::SendToGroup, "sendToGroups."),
                (Permission::JoinLeaveGroup, "joinLeaveGroups."),
            ]
            .into_iter()
            .find_map(|(permission, prefix)| {
                let pattern = rest
                    .strip_prefix(prefix)
                    .filter(|pattern| !pattern.is_empty())?;
                Some(Self::Wildcard {
                    permission,
                    pattern: pattern.to_owned(),
                })
            })
        });
        wildcard.unwrap_or_else(|| Self::BuiltIn(ClientRole::parse(role)))
    }

    /// Whether the role grants `permission` on `group`, or on every group with `None`.
    pub(super) fn grants(&self, permission: Permission, group: Option<&str>) -> bool {
        match (self, group) {
            (Self::BuiltIn(role), Some(group)) => role.grants(permission, group),
            (
                Self::BuiltIn(ClientRole::Permission {
                    permission: granted,
                    group: None,
                }),
                None,
            ) => *granted == permission,
            (
                Self::Wildcard {
                    permission: granted,
                    pattern,
                },
                Some(group),
            ) => *granted == permission && wildcard_matches(pattern, group),
            _ => false,
        }
    }
}

/// Glob matching by dynamic programming over (pattern position, text position), so a pattern
/// such as `**a**a**a**b` costs O(pattern × text), never exponential backtracking.
fn wildcard_matches(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Token {
        AnyAcross,
        AnyInSegment,
        One,
        Char(char),
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                Token::AnyAcross
            }
            '*' => Token::AnyInSegment,
            '?' => Token::One,
            c => Token::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // `row[j]`: the tokens so far match `text[..j]`.
    let mut row = vec![false; text.len() + 1];
    row[0] = true;
    for token in tokens {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match token {
                Token::AnyAcross => row[j] || (j > 0 && next[j - 1]),
                Token::AnyInSegment => row[j] || (j > 0 && text[j - 1] != '.' && next[j - 1]),
                Token::One => j > 0 && row[j - 1] && text[j - 1] != '.',
                Token::Char(c) => j > 0 && row[j - 1] && text[j - 1] == c,
            };
        }
        row = next;
    }
    row[text.len()]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn wildcards_follow_the_segment_rules() {
        for (pattern, group, expected) in [
            ("chat.*", "chat.room1", true),
            ("chat.*", "chat.room1.sub", false),
            ("chat.**", "chat.room1.sub", true),
            ("chat.**", "chat.", true),
            ("*.room", "a.room", true),
            ("*.room", "a.b.room", false),
            ("room?", "room1", true),
            ("room?", "room.", false),
            ("room?", "room12", false),
            ("Room*", "room1", false),
            ("**", "", true),
            ("a**b**c", "a.x.b.y.c", true),
        ] {
            assert_eq!(
                wildcard_matches(pattern, group),
                expected,
                "{pattern} vs {group}"
            );
        }
    }

    #[test]
    fn roles_grant_what_they_name() {
        let send = Role::parse("webpubsub.sendToGroups.chat.*");
        assert!(send.grants(Permission::SendToGroup, Some("chat.a")));
        assert!(!send.grants(Permission::JoinLeaveGroup, Some("chat.a")));
        assert!(!send.grants(Permission::SendToGroup, None));
        let join = Role::parse("webpubsub.joinLeaveGroups.**");
        assert!(join.grants(Permission::JoinLeaveGroup, Some("any.thing")));
        let all = Role::parse("webpubsub.joinLeaveGroup");
        assert!(
            all.grants(Permission::JoinLeaveGroup, None)
                && all.grants(Permission::JoinLeaveGroup, Some("g"))
        );
        let one = Role::parse("webpubsub.sendToGroup.g.1");
        assert!(
            one.grants(Permission::SendToGroup, Some("g.1"))
                && !one.grants(Permission::SendToGroup, None)
        );
        assert!(!Role::parse("webpubsub.sendToGroups.").grants(Permission::SendToGroup, Some("")));
        assert!(!Role::parse("custom").grants(Permission::SendToGroup, Some("g")));
    }

    proptest! {
        /// A pattern without wildcards matches only itself; `**` matches everything.
        #[test]
        fn literal_patterns_and_double_star(text in "[a-z.]{0,12}", other in "[a-z.]{0,12}") {
            prop_assert!(wildcard_matches(&text, &text));
            prop_assert_eq!(wildcard_matches(&text, &other), text == other);
            prop_assert!(wildcard_matches("**", &other));
        }

        #[test]
        fn never_panics(pattern in "[*?a.]{0,30}", text in "\\PC{0,30}") {
            let _ = wildcard_matches(&pattern, &text);
        }
    }
}
