//! [`AckError`] and [`AckErrorName`]: why the service refused a client's frame.

use std::fmt;

/// The name of an ack error.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AckErrorName {
    /// The ack id was used before; the earlier frame was processed (clients treat it as success).
    Duplicate,
    /// The connection lacks the permission.
    Forbidden,
    /// The frame is invalid.
    BadRequest,
    /// The service (or the upstream) failed.
    InternalServerError,
    /// Another name, kept as sent.
    Other(String),
}

impl AckErrorName {
    /// The name on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Duplicate => "Duplicate",
            Self::Forbidden => "Forbidden",
            Self::BadRequest => "BadRequest",
            Self::InternalServerError => "InternalServerError",
            Self::Other(name) => name,
        }
    }

    pub(super) fn from_wire(name: String) -> Self {
        match name.as_str() {
            "Duplicate" => Self::Duplicate,
            "Forbidden" => Self::Forbidden,
            "BadRequest" => Self::BadRequest,
            "InternalServerError" => Self::InternalServerError,
            _ => Self::Other(name),
        }
    }
}

impl fmt::Display for AckErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of a failed ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// The error name.
    pub name: AckErrorName,
    /// What happened, in words.
    pub message: String,
}

impl AckError {
    /// An error with `name` and `message`.
    pub fn new(name: AckErrorName, message: impl Into<String>) -> Self {
        Self {
            name,
            message: message.into(),
        }
    }

    /// A `Duplicate` error.
    pub fn duplicate(message: impl Into<String>) -> Self {
        Self::new(AckErrorName::Duplicate, message)
    }

    /// A `Forbidden` error.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(AckErrorName::Forbidden, message)
    }

    /// A `BadRequest` error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(AckErrorName::BadRequest, message)
    }

    /// An `InternalServerError` error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(AckErrorName::InternalServerError, message)
    }
}
