//! [`FrameData`]: a frame's payload with its `dataType`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

/// The payload of a frame with its `dataType`.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameData {
    /// `dataType: text`: `data` is a string.
    Text(String),
    /// `dataType: json`: `data` is any JSON value.
    Json(Value),
    /// `dataType: binary`: `data` is base64 on the wire.
    Binary(Vec<u8>),
    /// `dataType: protobuf`: the bytes of an encoded `google.protobuf.Any`, as a protobuf
    /// client sends them (`protobuf_data`); base64 on the JSON subprotocols. The service passes
    /// them on unchanged: to protobuf clients as `protobuf_data`, to plain clients as a binary
    /// frame, and to the upstream as an `application/x-protobuf` user event.
    Protobuf(Vec<u8>),
}

impl FrameData {
    /// The `dataType` name.
    pub fn data_type(&self) -> &'static str {
        match self {
            Self::Text(_) => "text",
            Self::Json(_) => "json",
            Self::Binary(_) => "binary",
            Self::Protobuf(_) => "protobuf",
        }
    }

    /// The `data` value as it appears on the wire.
    pub fn to_value(&self) -> Value {
        match self {
            Self::Text(text) => Value::String(text.clone()),
            Self::Json(value) => value.clone(),
            Self::Binary(bytes) | Self::Protobuf(bytes) => Value::String(BASE64.encode(bytes)),
        }
    }

    pub(super) fn from_wire(data_type: Option<&str>, data: Option<Value>) -> Result<Self, String> {
        let data = data.ok_or("the frame has no data")?;
        // The service treats a missing dataType as json.
        match data_type.unwrap_or("json") {
            "json" => Ok(Self::Json(data)),
            "text" => match data {
                Value::String(text) => Ok(Self::Text(text)),
                other => Err(format!(
                    "dataType text needs a string data, got {}",
                    kind(&other)
                )),
            },
            "binary" => match data {
                Value::String(text) => BASE64
                    .decode(text.as_bytes())
                    .map(Self::Binary)
                    .map_err(|e| format!("binary data is not valid base64: {e}")),
                other => Err(format!(
                    "dataType binary needs a base64 string data, got {}",
                    kind(&other)
                )),
            },
            "protobuf" => match data {
                Value::String(text) => {
                    let bytes = BASE64
                        .decode(text.as_bytes())
                        .map_err(|e| format!("protobuf data is not valid base64: {e}"))?;
                    super::protobuf::check_any(&bytes)?;
                    Ok(Self::Protobuf(bytes))
                }
                other => Err(format!(
                    "dataType protobuf needs a base64 string data, got {}",
                    kind(&other)
                )),
            },
            other => Err(format!("unknown dataType {other:?}")),
        }
    }

    /// Like `from_wire`, for frames whose data is optional (`invoke`, `invokeResponse`).
    pub(super) fn optional_from_wire(
        data_type: Option<&str>,
        data: Option<Value>,
    ) -> Result<Option<Self>, String> {
        data.map(|data| Self::from_wire(data_type, Some(data)))
            .transpose()
    }
}

impl From<String> for FrameData {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for FrameData {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<Value> for FrameData {
    fn from(value: Value) -> Self {
        Self::Json(value)
    }
}

impl From<Vec<u8>> for FrameData {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Binary(bytes)
    }
}

impl From<&[u8]> for FrameData {
    fn from(bytes: &[u8]) -> Self {
        Self::Binary(bytes.to_vec())
    }
}

/// What kind of JSON value `value` is, for error messages.
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
