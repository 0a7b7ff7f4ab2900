//! The string fields of a [`ConnectionContext`](crate::ConnectionContext), kept without a copy.

use std::fmt;

use http::HeaderValue;

/// A string read from a request header, or given by hand.
///
/// A header's text stays in its `HeaderValue`, whose bytes are shared with the request: taking
/// it is a reference-count increment instead of an allocation and a copy, which matters because
/// every event carries about ten such fields. The bytes are checked to be UTF-8 when the `Text`
/// is made, so reading it back cannot fail.
#[derive(Clone)]
pub(crate) struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Header(HeaderValue),
    Owned(Box<str>),
}

impl Text {
    /// The value's text, or `None` when it is not UTF-8.
    pub(crate) fn from_header(value: &HeaderValue) -> Option<Self> {
        std::str::from_utf8(value.as_bytes()).ok()?;
        Some(Self(Repr::Header(value.clone())))
    }

    pub(crate) fn as_str(&self) -> &str {
        match &self.0 {
            // Checked in `from_header`; the fallback is unreachable.
            Repr::Header(value) => std::str::from_utf8(value.as_bytes()).unwrap_or_default(),
            Repr::Owned(text) => text,
        }
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self(Repr::Owned(text.into_boxed_str()))
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_was_made_of() {
        let value = HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap();
        assert_eq!(Text::from_header(&value).unwrap().as_str(), "caf\u{e9}");
        assert!(Text::from_header(&HeaderValue::from_bytes(b"\xff").unwrap()).is_none());
        assert_eq!(Text::from("owned".to_owned()).as_str(), "owned");
        assert_eq!(format!("{:?}", Text::from("a\"b".to_owned())), r#""a\"b""#);
    }
}
