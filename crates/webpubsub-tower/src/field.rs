//! The text fields of a [`ConnectionContext`](crate::ConnectionContext), most of which stay in
//! the request's headers.

use http::{HeaderMap, HeaderName};

/// Where a text field of a context is.
///
/// An event's fields are its `ce-*` headers, and the context keeps the request's header map: a
/// field read from a header needs no copy of its own. The context records that the field is
/// there and looks it up when asked. Every event carries about ten such fields and a handler
/// reads few of them, so one lookup per read costs less than copying (or sharing, with an atomic
/// count each) all of them for every event.
#[derive(Debug, Clone, Default)]
pub(crate) enum Field {
    #[default]
    Absent,
    /// The only line of the field's header, checked to be UTF-8 when the event was read.
    InHeaders,
    /// Given by hand, joined from several lines, or a default.
    Owned(Box<str>),
}

impl Field {
    /// `InHeaders` for a header that was there, `Absent` for one that was not.
    pub(crate) fn in_headers<T>(value: Option<T>) -> Self {
        match value {
            Some(_) => Self::InHeaders,
            None => Self::Absent,
        }
    }

    /// The field's text; `name` is its header.
    pub(crate) fn get<'a>(&'a self, headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
        match self {
            Self::Absent => None,
            Self::InHeaders => headers
                .get(name)
                .and_then(|value| std::str::from_utf8(value.as_bytes()).ok()),
            Self::Owned(text) => Some(text),
        }
    }
}

impl From<String> for Field {
    fn from(text: String) -> Self {
        Self::Owned(text.into_boxed_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn reads_from_the_headers_or_from_itself() {
        let name = HeaderName::from_static("ce-hub");
        let mut headers = HeaderMap::new();
        headers.insert(
            &name,
            HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap(),
        );
        assert_eq!(Field::InHeaders.get(&headers, &name), Some("caf\u{e9}"));
        assert_eq!(Field::Absent.get(&headers, &name), None);
        assert_eq!(
            Field::from("own".to_owned()).get(&headers, &name),
            Some("own")
        );
        assert!(matches!(Field::in_headers(Some(())), Field::InHeaders));
        assert!(matches!(Field::in_headers(None::<()>), Field::Absent));
    }
}
