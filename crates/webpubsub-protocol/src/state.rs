//! The connection-state codec: the value of the `ce-connectionState` header.
//!
//! The service treats the state as an opaque string: it stores what a blocking event's answer
//! sets, and echoes it on every later event of the connection. The official SDKs disagree on the
//! encoding, so this crate writes one and reads both:
//!
//! - **Written** (the JavaScript SDK's format): base64 of a JSON object whose values are plain
//!   JSON, `base64({"room":"a","count":2})`.
//! - **Also read** (the .NET SDK's format): base64 of a JSON object whose values are JSON
//!   *strings* holding base64 of each value's JSON bytes, `base64({"room":"ImEi"})`.
//!
//! The two cannot be told apart value by value (`"MTIz"` is both a string and the .NET form of
//! `123`), so the decision is made for the whole object: it is read as .NET's format when it has
//! at least one entry and **every** value is a string that decodes (standard base64) to valid
//! JSON; otherwise it is read as the JavaScript format. A JavaScript-format state in which every
//! value happens to be such a string is therefore misread; states written by this crate avoid
//! that by being re-encoded in the JavaScript format on the next change.
//!
//! [`ConnectionStates::encode`] always writes the whole state, and an empty state encodes to
//! `base64("{}")` (`e30=`), so clearing takes effect on the wire: omitting the header would keep
//! the old state.
//!
//! ```
//! use serde_json::json;
//! use webpubsub_protocol::state::ConnectionStates;
//!
//! let mut states = ConnectionStates::new();
//! states.set("room", "a");
//! states.set("count", 2);
//! let header = states.encode();
//!
//! let decoded = ConnectionStates::decode(&header)?;
//! assert_eq!(decoded.get::<String>("room").transpose()?, Some("a".to_owned()));
//! assert_eq!(decoded.get_value("count"), Some(&json!(2)));
//!
//! // The .NET SDK's format reads the same.
//! let dotnet = "eyJyb29tIjoiSW1FaSJ9"; // base64 of {"room":"ImEi"}, "ImEi" = base64 of "a" as JSON
//! assert_eq!(ConnectionStates::decode(dotnet)?.get_value("room"), Some(&json!("a")));
//!
//! // Clearing writes an empty object, which replaces the stored state.
//! let mut cleared = decoded.clone();
//! cleared.clear();
//! assert_eq!(cleared.encode(), "e30=");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use base64::{
    Engine as _, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Standard base64 that reads values with or without padding and writes them padded.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a `ce-connectionState` value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The value is not standard base64.
    #[error("connection state is not base64: {0}")]
    Base64(String),
    /// The decoded bytes are not JSON.
    #[error("connection state is not json: {0}")]
    Json(String),
    /// The decoded JSON is not an object.
    #[error("connection state is a json {0}, not an object")]
    NotAnObject(&'static str),
}

/// The state of a connection: named JSON values.
///
/// Encoding the same values always gives the same header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionStates {
    values: Map<String, Value>,
}

impl ConnectionStates {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a `ce-connectionState` value, in either format (see the [module docs](self)).
    ///
    /// Surrounding whitespace is ignored and an empty value is an empty state.
    ///
    /// # Errors
    ///
    /// When the value is not base64, the bytes are not JSON, or the JSON is not an object.
    pub fn decode(header: &str) -> Result<Self, StateError> {
        Self::decode_bytes(header.as_bytes())
    }

    /// [`decode`](Self::decode) for a header value's raw bytes.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode).
    pub fn decode_bytes(header: &[u8]) -> Result<Self, StateError> {
        let header = header.trim_ascii();
        if header.is_empty() {
            return Ok(Self::new());
        }
        let json = BASE64
            .decode(header)
            .map_err(|err| StateError::Base64(describe_base64_error(&err)))?;
        let value: Value =
            serde_json::from_slice(&json).map_err(|err| StateError::Json(err.to_string()))?;
        let Value::Object(mut values) = value else {
            return Err(StateError::NotAnObject(json_kind(&value)));
        };
        if let Some(decoded) = decode_dotnet_values(&values) {
            for (value, decoded) in values.values_mut().zip(decoded) {
                *value = decoded;
            }
        }
        Ok(Self { values })
    }

    /// The header value: base64 of the JSON object of all values (`e30=` when empty).
    pub fn encode(&self) -> String {
        // Serializing a map of JSON values cannot fail.
        let json = serde_json::to_vec(&self.values).expect("a json map always serializes");
        BASE64.encode(json)
    }

    /// The value of `key` deserialized as `T`: `None` when absent, `Some(Err)` when it is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, serde_json::Error>> {
        self.values.get(key).map(T::deserialize)
    }

    /// The JSON value of `key`.
    pub fn get_value(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// Sets `key` to `value` and returns the old value. Use `serde_json::to_value` for your own
    /// types, or `serde_json::json!`.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.values.insert(key.into(), value.into())
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.values.remove(key)
    }

    /// Removes every value.
    pub fn clear(&mut self) {
        self.values.clear();
    }

    /// Whether `key` is set.
    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The keys and values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(key, value)| (key.as_str(), value))
    }

    /// The states as a JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.values
    }
}

impl From<Map<String, Value>> for ConnectionStates {
    fn from(values: Map<String, Value>) -> Self {
        Self { values }
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for ConnectionStates {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            values: iter
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
        }
    }
}

/// The decoded values when `values` is in the .NET format (every value a base64 string of JSON),
/// else `None`.
fn decode_dotnet_values(values: &Map<String, Value>) -> Option<Vec<Value>> {
    if values.is_empty() {
        return None;
    }
    values
        .values()
        .map(|value| {
            let Value::String(encoded) = value else {
                return None;
            };
            let bytes = BASE64.decode(encoded).ok()?;
            serde_json::from_slice(&bytes).ok()
        })
        .collect()
}

/// The base64 crate's messages are capitalized sentences; ours are lowercase phrases.
fn describe_base64_error(err: &base64::DecodeError) -> String {
    match err {
        base64::DecodeError::InvalidByte(offset, byte) => {
            format!("invalid byte {byte:#04x} at offset {offset}")
        }
        base64::DecodeError::InvalidLength(length) => format!("invalid length {length}"),
        base64::DecodeError::InvalidLastSymbol(offset, byte) => {
            format!("invalid last symbol {byte:#04x} at offset {offset}")
        }
        base64::DecodeError::InvalidPadding => "invalid padding".to_owned(),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        BASE64.encode(s)
    }

    #[test]
    fn reads_the_js_format() {
        let states =
            ConnectionStates::decode(&b64(r#"{"a":1,"b":{"c":[true]},"s":"hi"}"#)).unwrap();
        assert_eq!(states.get_value("a"), Some(&json!(1)));
        assert_eq!(states.get_value("b"), Some(&json!({"c": [true]})));
        assert_eq!(states.get::<String>("s").unwrap().unwrap(), "hi");
        assert!(states.get::<u8>("s").unwrap().is_err());
        assert!(states.get::<u8>("missing").is_none());
    }

    #[test]
    fn reads_the_dotnet_format() {
        let value = format!(r#"{{"a":"{}","b":"{}"}}"#, b64("1"), b64(r#"{"c":"d"}"#));
        let states = ConnectionStates::decode(&b64(&value)).unwrap();
        assert_eq!(states.get_value("a"), Some(&json!(1)));
        assert_eq!(states.get_value("b"), Some(&json!({"c": "d"})));
    }

    #[test]
    fn a_mixed_object_is_the_js_format() {
        // "MQ==" is the .NET form of 1, but the other value is not a string.
        let states = ConnectionStates::decode(&b64(r#"{"a":"MQ==","b":2}"#)).unwrap();
        assert_eq!(states.get_value("a"), Some(&json!("MQ==")));
        // A plain string that is not base64 of JSON stays a string.
        let states = ConnectionStates::decode(&b64(r#"{"a":"hello"}"#)).unwrap();
        assert_eq!(states.get_value("a"), Some(&json!("hello")));
    }

    #[test]
    fn tolerates_missing_padding_whitespace_and_empty_values() {
        assert_eq!(
            ConnectionStates::decode("e30").unwrap(),
            ConnectionStates::new()
        );
        assert_eq!(
            ConnectionStates::decode(" e30= ").unwrap(),
            ConnectionStates::new()
        );
        assert_eq!(
            ConnectionStates::decode("").unwrap(),
            ConnectionStates::new()
        );
    }

    #[test]
    fn rejects_bad_values_with_a_reason() {
        let err = ConnectionStates::decode("e3!=").unwrap_err();
        assert_eq!(
            err.to_string(),
            "connection state is not base64: invalid byte 0x21 at offset 2"
        );
        let err = ConnectionStates::decode(&b64("{")).unwrap_err();
        assert!(matches!(err, StateError::Json(_)), "{err}");
        let err = ConnectionStates::decode(&b64("[1]")).unwrap_err();
        assert_eq!(err, StateError::NotAnObject("array"));
        assert_eq!(
            err.to_string(),
            "connection state is a json array, not an object"
        );
    }

    #[test]
    fn clear_encodes_an_empty_object() {
        let mut states: ConnectionStates = [("a", 1)].into_iter().collect();
        assert_eq!(states.len(), 1);
        states.clear();
        assert_eq!(states.encode(), b64("{}"));
    }

    #[test]
    fn set_and_remove() {
        let mut states = ConnectionStates::new();
        assert_eq!(states.set("a", 1), None);
        assert_eq!(states.set("a", "x"), Some(json!(1)));
        assert!(states.contains("a"));
        assert_eq!(states.remove("a"), Some(json!("x")));
        assert!(states.is_empty());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".*".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(".*", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn decode_never_panics(raw in ".*") {
            let _ = ConnectionStates::decode(&raw);
        }

        #[test]
        fn decode_never_panics_on_base64_of_anything(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = ConnectionStates::decode(&BASE64.encode(&bytes));
        }

        #[test]
        fn encode_decode_round_trips(
            entries in proptest::collection::btree_map(".*", json_value(), 0..6)
        ) {
            let states: ConnectionStates = entries.into_iter().collect();
            let decoded = ConnectionStates::decode(&states.encode()).unwrap();
            // Only a state whose every value is a base64 string of JSON is read as .NET's format.
            let ambiguous = decode_dotnet_values(states.as_map()).is_some();
            if !ambiguous {
                prop_assert_eq!(decoded, states);
            }
        }
    }
}
