//! [`Error`]: why an operation of the client failed.

use std::time::Duration;

use webpubsub_protocol::frames::AckErrorName;

/// Why an operation of the client failed.
///
/// Messages never contain the client access URL's query (it holds the access token) nor the
/// reconnection token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client is not started, or it was stopped.
    #[error("the client is not started")]
    NotStarted,
    /// The client was stopped while the operation waited.
    #[error("the client stopped before {what} was answered")]
    Stopped {
        /// The operation, in words (`"ack id 3"`, `"invocation 1"`).
        what: String,
    },
    /// The callback that fetches the client access URL failed.
    #[error("cannot fetch the client access url: {0}")]
    UrlFetch(String),
    /// The client access URL is not a `ws://`, `wss://`, `http://` or `https://` URL.
    #[error("invalid client access url: {0}")]
    InvalidUrl(String),
    /// The WebSocket connection could not be opened, or it did not start as the protocol says.
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect {
        /// The URL without its query.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// The service answered the frame with a failed ack.
    #[error("the service refused ack id {ack_id}: {name}: {message}")]
    Ack {
        /// The frame's ack id.
        ack_id: u64,
        /// The ack's error name.
        name: AckErrorName,
        /// The ack's error message.
        message: String,
    },
    /// The service (or its event handler) answered an invocation with an error.
    #[error("invocation {invocation_id} failed: {name}: {message}")]
    Invocation {
        /// The invocation id.
        invocation_id: String,
        /// The error name.
        name: AckErrorName,
        /// The error message.
        message: String,
    },
    /// No answer came within the operation's timeout.
    #[error("no answer to {what} within {timeout:?}")]
    Timeout {
        /// The operation, in words.
        what: String,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// The connection ended, and could not be recovered, before the service answered.
    #[error("the connection was lost before {what} was answered")]
    ConnectionLost {
        /// The operation, in words.
        what: String,
    },
    /// The frame would be larger than the service accepts.
    #[error("the frame is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The encoded frame's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The ack id given in [`SendOptions::ack_id`](crate::SendOptions::ack_id) is already
    /// awaiting its ack.
    #[error("ack id {0} is already awaiting its ack")]
    AckIdInUse(u64),
    /// The client's subprotocol has no frame for the operation (`invoke` on the protobuf
    /// subprotocols).
    #[error("not supported by the subprotocol: {0}")]
    Unsupported(String),
    /// A name (group, event) the service would refuse.
    #[error("invalid {what}: {reason}")]
    InvalidName {
        /// `"group"` or `"event"`.
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
}

impl Error {
    /// The ack id of a refused frame.
    pub fn ack_id(&self) -> Option<u64> {
        match self {
            Self::Ack { ack_id, .. } => Some(*ack_id),
            _ => None,
        }
    }

    /// The ack or invocation error name the service answered with, if it answered.
    pub fn error_name(&self) -> Option<&AckErrorName> {
        match self {
            Self::Ack { name, .. } | Self::Invocation { name, .. } => Some(name),
            _ => None,
        }
    }
}
