//! The tunnel's header map: names to lists of values, as JSON, in the order they came.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{MapAccess, Visitor},
    ser::SerializeMap,
};

/// The headers of a tunnel request or response: each name with its list of values (the JSON
/// `Record<string, string[]>` of the official code), in the order they came. Names are kept as
/// they were sent; [`to_header_map`](Self::to_header_map) validates them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TunnelHeaders(Vec<(String, Vec<String>)>);

/// A tunnel header that is not a valid HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelHeadersError {
    /// The name is not a valid HTTP header name.
    #[error("tunnel header name {name:?} is not a valid HTTP header name")]
    Name {
        /// The name, as sent.
        name: String,
    },
    /// A value of this header is not a valid HTTP header value (control characters).
    #[error("a value of tunnel header {name:?} is not a valid HTTP header value")]
    Value {
        /// The header's name.
        name: String,
    },
    /// A value of this header is not text; the tunnel carries header values as JSON strings.
    #[error("a value of header {name:?} is not UTF-8 text and cannot cross the tunnel")]
    NotText {
        /// The header's name.
        name: String,
    },
}

impl TunnelHeaders {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Each name with its values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0
            .iter()
            .map(|(name, values)| (name.as_str(), values.as_slice()))
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values of `name` (compared without regard to case), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, values)| values.iter().map(String::as_str))
    }

    /// Adds a value to `name`, after its values so far.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => self.0.push((name, vec![value])),
        }
    }

    /// The headers of an `http` request or response, each name once with all its values.
    ///
    /// # Errors
    /// A value that is not UTF-8 text: the tunnel carries values as JSON strings.
    pub fn from_header_map(map: &HeaderMap) -> Result<Self, TunnelHeadersError> {
        let mut headers = Vec::with_capacity(map.keys_len());
        for name in map.keys() {
            let values = map
                .get_all(name)
                .iter()
                .map(|value| {
                    value
                        .to_str()
                        .map(str::to_owned)
                        .map_err(|_| TunnelHeadersError::NotText {
                            name: name.as_str().to_owned(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            headers.push((name.as_str().to_owned(), values));
        }
        Ok(Self(headers))
    }

    /// These headers as an `http` header map.
    ///
    /// # Errors
    /// A name or value that is not valid in HTTP.
    pub fn to_header_map(&self) -> Result<HeaderMap, TunnelHeadersError> {
        let mut map = HeaderMap::with_capacity(self.0.len());
        for (name, values) in &self.0 {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| TunnelHeadersError::Name { name: name.clone() })?;
            for value in values {
                let value = HeaderValue::from_str(value)
                    .map_err(|_| TunnelHeadersError::Value { name: name.clone() })?;
                map.append(header.clone(), value);
            }
        }
        Ok(map)
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for TunnelHeaders {
    fn from_iter<T: IntoIterator<Item = (N, V)>>(iter: T) -> Self {
        let mut headers = Self::new();
        for (name, value) in iter {
            headers.append(name, value);
        }
        headers
    }
}

impl Serialize for TunnelHeaders {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, values) in &self.0 {
            map.serialize_entry(name, values)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for TunnelHeaders {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;

        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = TunnelHeaders;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an object of header names to lists of strings, or null")
            }

            fn visit_unit<E>(self) -> Result<TunnelHeaders, E> {
                Ok(TunnelHeaders::new())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TunnelHeaders, A::Error> {
                let mut headers = TunnelHeaders::new();
                while let Some((name, values)) = map.next_entry::<String, Vec<String>>()? {
                    // A name sent twice keeps both lists, as HTTP keeps repeated headers.
                    match headers.0.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, existing)) => existing.extend(values),
                        None => headers.0.push((name, values)),
                    }
                }
                Ok(headers)
            }
        }

        deserializer.deserialize_any(HeadersVisitor)
    }
}
