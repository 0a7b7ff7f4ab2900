//! The path pattern the layer owns.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// A path such as `/eventhandler`, `/eventhandler/{event}` or `/api/webpubsub/hubs/{hub}/`.
///
/// Segments are compared ASCII case-insensitively (the JavaScript SDK lower-cases both sides);
/// `{hub}` and `{event}` match one non-empty segment. A pattern ending in `/` is a prefix: any
/// further segments match, and so does the path without its trailing slash. A pattern without
/// it matches exactly, with or without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathPattern {
    segments: Vec<Segment>,
    prefix: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Hub,
    Event,
}

/// What a path match captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathMatch<'a> {
    /// The `{hub}` segment, percent-decoded.
    pub(crate) hub: Option<Cow<'a, str>>,
}

/// The default, the JavaScript SDK's.
pub(crate) const DEFAULT_PATH: &str = "/api/webpubsub/hubs/{hub}/";

impl PathPattern {
    /// Parses a pattern; the error says what is wrong with it.
    pub(crate) fn parse(pattern: &str) -> Result<Self, String> {
        let Some(rest) = pattern.strip_prefix('/') else {
            return Err(format!("path {pattern:?} does not start with '/'"));
        };
        // `/` itself is a prefix too: it owns every path.
        let prefix = pattern.ends_with('/');
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let mut segments = Vec::new();
        if !rest.is_empty() {
            for segment in rest.split('/') {
                segments.push(match segment {
                    "" => return Err(format!("path {pattern:?} has an empty segment")),
                    "{hub}" => Segment::Hub,
                    "{event}" => Segment::Event,
                    s if s.contains(['{', '}']) => {
                        return Err(format!(
                            "path {pattern:?} has the segment {s:?}: only whole {{hub}} and {{event}} segments are placeholders"
                        ));
                    }
                    s => Segment::Literal(s.to_owned()),
                });
            }
        }
        if segments.iter().filter(|s| **s == Segment::Hub).count() > 1 {
            return Err(format!("path {pattern:?} has more than one {{hub}}"));
        }
        Ok(Self { segments, prefix })
    }

    /// Matches a request path (without the query).
    pub(crate) fn matches<'a>(&self, path: &'a str) -> Option<PathMatch<'a>> {
        // Every request goes through here, so segments are cut off one at a time with a plain
        // byte loop: paths are short, and `str::split`'s searcher (memchr) costs more to set up
        // than it saves on them. `rest` is what follows the segments matched so far; `None` once
        // the path has no more segments.
        let mut rest = Some(path.strip_prefix('/')?);
        let mut hub = None;
        for segment in &self.segments {
            let whole = rest?;
            let (part, after) = match whole.bytes().position(|b| b == b'/') {
                Some(slash) => (&whole[..slash], Some(&whole[slash + 1..])),
                None => (whole, None),
            };
            rest = after;
            match segment {
                Segment::Literal(literal) if literal.eq_ignore_ascii_case(part) => {}
                Segment::Literal(_) => return None,
                Segment::Hub | Segment::Event if part.is_empty() => return None,
                Segment::Hub if !part.bytes().any(|b| b == b'%') => hub = Some(Cow::Borrowed(part)),
                Segment::Hub => hub = Some(percent_decode_str(part).decode_utf8_lossy()),
                Segment::Event => {}
            }
        }
        // What is left: nothing, or one trailing slash, or (prefix patterns) anything.
        if !self.prefix && !matches!(rest, None | Some("")) {
            return None;
        }
        Some(PathMatch { hub })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hub_of(pattern: &str, path: &str) -> Option<Option<String>> {
        PathPattern::parse(pattern)
            .unwrap()
            .matches(path)
            .map(|m| m.hub.map(Cow::into_owned))
    }

    #[test]
    fn default_path_is_a_prefix_with_a_hub() {
        assert_eq!(
            hub_of(DEFAULT_PATH, "/api/webpubsub/hubs/chat/"),
            Some(Some("chat".into()))
        );
        assert_eq!(
            hub_of(DEFAULT_PATH, "/api/webpubsub/hubs/chat"),
            Some(Some("chat".into()))
        );
        assert_eq!(
            hub_of(DEFAULT_PATH, "/API/WebPubSub/hubs/Chat/validate"),
            Some(Some("Chat".into()))
        );
        assert_eq!(hub_of(DEFAULT_PATH, "/api/webpubsub/hubs/"), None);
        assert_eq!(hub_of(DEFAULT_PATH, "/api/webpubsub/hubs"), None);
        assert_eq!(hub_of(DEFAULT_PATH, "/api/other/hubs/chat/"), None);
        assert_eq!(hub_of(DEFAULT_PATH, "/"), None);
    }

    #[test]
    fn exact_paths_allow_only_a_trailing_slash() {
        assert_eq!(hub_of("/eventhandler", "/eventhandler"), Some(None));
        assert_eq!(hub_of("/eventhandler", "/eventhandler/"), Some(None));
        assert_eq!(hub_of("/eventhandler", "/eventhandler/connect"), None);
        assert_eq!(hub_of("/eventhandler", "/eventhandlers"), None);
        assert_eq!(
            hub_of("/eventhandler/{event}", "/eventhandler/connect"),
            Some(None)
        );
        assert_eq!(hub_of("/eventhandler/{event}", "/eventhandler/"), None);
        assert_eq!(hub_of("/", "/"), Some(None));
        assert_eq!(hub_of("/", "/anything"), Some(None));
    }

    #[test]
    fn hub_segments_are_percent_decoded() {
        assert_eq!(hub_of("/h/{hub}", "/h/a%20b"), Some(Some("a b".into())));
    }

    #[test]
    fn bad_patterns_say_why() {
        assert!(
            PathPattern::parse("eventhandler")
                .unwrap_err()
                .contains("start with '/'")
        );
        assert!(
            PathPattern::parse("/a//b")
                .unwrap_err()
                .contains("empty segment")
        );
        assert!(
            PathPattern::parse("/a/x{hub}")
                .unwrap_err()
                .contains("placeholders")
        );
        assert!(
            PathPattern::parse("/{hub}/{hub}")
                .unwrap_err()
                .contains("more than one")
        );
        assert!(PathPattern::parse("/{event}/{hub}/").is_ok());
    }

    /// The matcher as first written, with `str::split`: the reference for the faster one.
    fn matches_by_split(pattern: &PathPattern, path: &str) -> Option<Option<String>> {
        let rest = path.strip_prefix('/')?;
        let mut parts = rest.split('/');
        let mut hub = None;
        for segment in &pattern.segments {
            let part = parts.next()?;
            match segment {
                Segment::Literal(literal) if literal.eq_ignore_ascii_case(part) => {}
                Segment::Literal(_) => return None,
                Segment::Hub | Segment::Event if part.is_empty() => return None,
                Segment::Hub => {
                    hub = Some(percent_decode_str(part).decode_utf8_lossy().into_owned())
                }
                Segment::Event => {}
            }
        }
        if !pattern.prefix {
            match (parts.next(), parts.next()) {
                (None, _) | (Some(""), None) => {}
                _ => return None,
            }
        }
        Some(hub)
    }

    proptest! {
        #[test]
        fn matches_as_splitting_would(path in "(/|[aAhH]|api|hubs|%41|x){0,12}") {
            for pattern in [DEFAULT_PATH, "/api/{hub}", "/a/{event}", "/h/{hub}/x", "/"] {
                let pattern = PathPattern::parse(pattern).unwrap();
                prop_assert_eq!(
                    pattern.matches(&path).map(|m| m.hub.map(Cow::into_owned)),
                    matches_by_split(&pattern, &path)
                );
            }
        }

        #[test]
        fn matching_never_panics(path in ".*") {
            for pattern in [DEFAULT_PATH, "/eventhandler", "/e/{event}", "/"] {
                let _ = PathPattern::parse(pattern).unwrap().matches(&path);
            }
        }
    }
}
