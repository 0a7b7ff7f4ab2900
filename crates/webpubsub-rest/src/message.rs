//! The payload of a send: text, JSON or bytes, each with the content type the service maps to
//! the client's `dataType` (`text/plain` → text, `application/json` → json,
//! `application/octet-stream` → binary).

use bytes::Bytes;
use serde::Serialize;

use crate::Error;

/// A message to send, with its content type.
///
/// ```
/// use webpubsub_rest::Message;
///
/// assert_eq!(Message::text("hi").content_type(), "text/plain");
/// assert_eq!(Message::binary(vec![1, 2]).content_type(), "application/octet-stream");
/// let json = Message::json(&serde_json::json!({"x": 1}))?;
/// assert_eq!((json.content_type(), json.body().as_ref()), ("application/json", &br#"{"x":1}"#[..]));
/// // Strings and bytes convert directly.
/// let _: Message = "hello".into();
/// let _: Message = bytes::Bytes::from_static(b"\x00").into();
/// # Ok::<(), webpubsub_rest::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    content_type: &'static str,
    body: Bytes,
}

impl Message {
    /// A text message (`text/plain`).
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content_type: "text/plain",
            body: Bytes::from(text.into()),
        }
    }

    /// A JSON message (`application/json`) from any `Serialize` value.
    ///
    /// # Errors
    ///
    /// When `value` cannot be serialized (for example a map with non-string keys).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value).map_err(|e| {
            Error::invalid_argument("the message cannot be serialized as json").with_source(e)
        })?;
        Ok(Self::json_bytes(body))
    }

    /// A JSON message (`application/json`) from text that already is JSON. The text is sent as
    /// is; the service rejects it if it is not JSON.
    pub fn json_bytes(json: impl Into<Bytes>) -> Self {
        Self {
            content_type: "application/json",
            body: json.into(),
        }
    }

    /// A binary message (`application/octet-stream`).
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Self {
            content_type: "application/octet-stream",
            body: bytes.into(),
        }
    }

    /// The `Content-Type` the message is sent with.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// The bytes sent.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self::text(text)
    }
}

impl From<Bytes> for Message {
    fn from(bytes: Bytes) -> Self {
        Self::binary(bytes)
    }
}

impl From<Vec<u8>> for Message {
    fn from(bytes: Vec<u8>) -> Self {
        Self::binary(bytes)
    }
}

impl From<&serde_json::Value> for Message {
    fn from(value: &serde_json::Value) -> Self {
        // Serializing a `Value` cannot fail: its maps have string keys.
        Self::json_bytes(value.to_string())
    }
}

impl From<serde_json::Value> for Message {
    fn from(value: serde_json::Value) -> Self {
        Self::from(&value)
    }
}
