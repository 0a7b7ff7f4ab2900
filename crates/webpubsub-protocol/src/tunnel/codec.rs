//! Framing: the length prefix, the MessagePack array and the JSON fields.
//!
//! The array has a fixed shape of three known elements, so it is written and read with `rmp`'s
//! element functions rather than through a generic value tree: every shape error can then say
//! which element was wrong, and `Content` is sliced out of the frame without a copy.

use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

use super::{TunnelMessage, TunnelMessageType};

/// The largest MessagePack part of a frame (the bytes after the length prefix): 1 MiB.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;

const PREFIX_LEN: usize = 4;
const MSGPACK_NIL: u8 = 0xc0;

/// A tunnel frame that cannot be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelFrameError {
    /// Fewer bytes than the 4-byte length prefix.
    #[error("tunnel frame of {len} bytes is shorter than its 4-byte length prefix")]
    MissingLength {
        /// The frame's length.
        len: usize,
    },
    /// The length prefix and the bytes that follow it disagree.
    #[error("tunnel frame's length prefix says {declared} bytes but {actual} follow it")]
    LengthMismatch {
        /// What the prefix says.
        declared: u64,
        /// What follows it.
        actual: usize,
    },
    /// The frame is over [`MAX_FRAME_LEN`].
    #[error("tunnel frame of {len} bytes is over the {MAX_FRAME_LEN}-byte limit")]
    TooLarge {
        /// The length of the MessagePack part (declared or encoded).
        len: u64,
    },
    /// The MessagePack part is not `[type, JSON string, bytes or nil]`.
    #[error("tunnel frame is not a MessagePack [type, JSON, content] array: {reason}")]
    Shape {
        /// What was wrong, in words.
        reason: String,
    },
    /// The type number names no known message.
    #[error("tunnel frame has unknown message type {number}")]
    UnknownType {
        /// The type number.
        number: u64,
    },
    /// The JSON element does not hold the message's fields.
    #[error("tunnel {kind:?} message has invalid JSON fields: {reason}")]
    Fields {
        /// The message type.
        kind: TunnelMessageType,
        /// What was wrong, in words (serde_json's account, with the line and column).
        reason: String,
    },
}

fn shape(reason: impl Into<String>) -> TunnelFrameError {
    TunnelFrameError::Shape {
        reason: reason.into(),
    }
}

/// The JSON element: the message's fields, then `Type`, as the official code writes them.
#[derive(Serialize)]
struct JsonFields<'a, T> {
    #[serde(flatten)]
    fields: &'a T,
    #[serde(rename = "Type")]
    message_type: u8,
}

fn fields_json<T: Serialize>(
    fields: &T,
    message_type: TunnelMessageType,
) -> Result<String, TunnelFrameError> {
    serde_json::to_string(&JsonFields {
        fields,
        message_type: message_type.number(),
    })
    .map_err(|e| TunnelFrameError::Fields {
        kind: message_type,
        reason: e.to_string(),
    })
}

impl TunnelMessage {
    /// Encodes this message as one frame: the 4-byte little-endian length, then the MessagePack
    /// array.
    ///
    /// # Errors
    /// [`TunnelFrameError::TooLarge`] when the frame would be over [`MAX_FRAME_LEN`]: send a large
    /// body as several [`HttpResponseMessage`](super::HttpResponseMessage) parts.
    pub fn encode(&self) -> Result<Vec<u8>, TunnelFrameError> {
        let kind = self.message_type();
        let (json, content) = match self {
            Self::HttpRequest(m) => (fields_json(m, kind)?, Some(&m.content)),
            Self::HttpResponse(m) => (fields_json(m, kind)?, Some(&m.content)),
            Self::ServiceStatus(m) => (fields_json(m, kind)?, None),
            Self::ConnectionReconnect(m) => (fields_json(m, kind)?, None),
            Self::ConnectionClose(m) => (fields_json(m, kind)?, None),
            Self::ConnectionRebalance(m) => (fields_json(m, kind)?, None),
            Self::ConnectionConnected(m) => (fields_json(m, kind)?, None),
        };
        let payload = json.len() + content.map_or(0, Bytes::len);
        if payload > MAX_FRAME_LEN {
            // Over the limit before the MessagePack headers: no need to allocate it.
            return Err(TunnelFrameError::TooLarge {
                len: payload as u64,
            });
        }
        // The largest headers of the elements: array 1, type 1, str32 5, bin32 5.
        let mut frame = Vec::with_capacity(PREFIX_LEN + 12 + payload);
        frame.extend_from_slice(&[0; PREFIX_LEN]);
        let written = (|| {
            rmp::encode::write_array_len(&mut frame, 3)?;
            rmp::encode::write_uint(&mut frame, u64::from(kind.number()))?;
            rmp::encode::write_str(&mut frame, &json)?;
            match content {
                Some(content) => rmp::encode::write_bin(&mut frame, content)?,
                None => rmp::encode::write_nil(&mut frame)
                    .map_err(rmp::encode::ValueWriteError::InvalidMarkerWrite)?,
            }
            Ok::<_, rmp::encode::ValueWriteError>(())
        })();
        written.map_err(|e| shape(format!("cannot write MessagePack: {e}")))?;
        let body_len = frame.len() - PREFIX_LEN;
        if body_len > MAX_FRAME_LEN {
            return Err(TunnelFrameError::TooLarge {
                len: body_len as u64,
            });
        }
        // body_len <= MAX_FRAME_LEN, so it fits in u32.
        frame[..PREFIX_LEN].copy_from_slice(&(body_len as u32).to_le_bytes());
        Ok(frame)
    }

    /// Decodes one frame (one binary WebSocket message). `Content` shares `frame`'s memory.
    ///
    /// # Errors
    /// A frame shorter than its prefix, a prefix that disagrees with the bytes that follow, a
    /// frame over [`MAX_FRAME_LEN`], an array of another shape, an unknown type or JSON that does
    /// not hold the type's fields, each as its own [`TunnelFrameError`].
    pub fn decode(frame: &Bytes) -> Result<Self, TunnelFrameError> {
        let Some((prefix, body)) = frame.split_first_chunk::<PREFIX_LEN>() else {
            return Err(TunnelFrameError::MissingLength { len: frame.len() });
        };
        let declared = u64::from(u32::from_le_bytes(*prefix));
        if declared > MAX_FRAME_LEN as u64 {
            return Err(TunnelFrameError::TooLarge { len: declared });
        }
        if declared != body.len() as u64 {
            return Err(TunnelFrameError::LengthMismatch {
                declared,
                actual: body.len(),
            });
        }

        let mut rest = body;
        let elements = rmp::decode::read_array_len(&mut rest)
            .map_err(|_| shape("the frame does not start with a MessagePack array"))?;
        if elements != 3 {
            return Err(shape(format!("the array has {elements} elements, not 3")));
        }
        let number: u64 = rmp::decode::read_int(&mut rest)
            .map_err(|_| shape("element 1 (the type) is not a non-negative integer"))?;
        let json_len = rmp::decode::read_str_len(&mut rest)
            .map_err(|_| shape("element 2 (the JSON fields) is not a string"))?;
        let json = take(&mut rest, json_len, "element 2 (the JSON fields)")?;
        let content = if rest.first() == Some(&MSGPACK_NIL) {
            rest = &rest[1..];
            None
        } else {
            let len = rmp::decode::read_bin_len(&mut rest)
                .map_err(|_| shape("element 3 (the content) is neither bytes nor nil"))?;
            let start = body.len() - rest.len() + PREFIX_LEN;
            take(&mut rest, len, "element 3 (the content)")?;
            Some(frame.slice(start..start + len as usize))
        };
        if !rest.is_empty() {
            return Err(shape(format!("{} bytes follow the array", rest.len())));
        }

        let kind = TunnelMessageType::from_number(number)
            .ok_or(TunnelFrameError::UnknownType { number })?;
        let json = std::str::from_utf8(json)
            .map_err(|_| shape("element 2 (the JSON fields) is not UTF-8"))?;
        Ok(match kind {
            TunnelMessageType::HttpRequest => {
                let mut m: super::HttpRequestMessage = parse_fields(json, kind)?;
                m.content = content.unwrap_or_default();
                Self::HttpRequest(m)
            }
            TunnelMessageType::HttpResponse => {
                let mut m: super::HttpResponseMessage = parse_fields(json, kind)?;
                m.content = content.unwrap_or_default();
                Self::HttpResponse(m)
            }
            // The other types carry no content (the official code writes nil there and ignores
            // the element when it reads them), so bytes there are ignored too.
            TunnelMessageType::ServiceStatus => Self::ServiceStatus(parse_fields(json, kind)?),
            TunnelMessageType::ConnectionReconnect => {
                Self::ConnectionReconnect(parse_fields(json, kind)?)
            }
            TunnelMessageType::ConnectionClose => Self::ConnectionClose(parse_fields(json, kind)?),
            TunnelMessageType::ConnectionRebalance => {
                Self::ConnectionRebalance(parse_fields(json, kind)?)
            }
            TunnelMessageType::ConnectionConnected => {
                Self::ConnectionConnected(parse_fields(json, kind)?)
            }
        })
    }
}

/// Takes `len` bytes off the front of `rest`, or says that `what` is cut short.
fn take<'a>(rest: &mut &'a [u8], len: u32, what: &str) -> Result<&'a [u8], TunnelFrameError> {
    let len = len as usize;
    if rest.len() < len {
        return Err(shape(format!(
            "{what} declares {len} bytes but only {} remain",
            rest.len()
        )));
    }
    let (taken, after) = rest.split_at(len);
    *rest = after;
    Ok(taken)
}

fn parse_fields<T: DeserializeOwned>(
    json: &str,
    kind: TunnelMessageType,
) -> Result<T, TunnelFrameError> {
    serde_json::from_str(json).map_err(|e| TunnelFrameError::Fields {
        kind,
        reason: e.to_string(),
    })
}
