//! The tunnel client's errors.

/// Why the tunnel client cannot start or connect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelError {
    /// The connection string does not parse.
    #[error("invalid connection string: {0}")]
    ConnectionString(String),
    /// The hub name breaks the service's rule.
    #[error("invalid hub name {hub:?}: {rule}", rule = webpubsub_protocol::HUB_NAME_RULE)]
    InvalidHub {
        /// The hub name.
        hub: String,
    },
    /// The access token cannot be signed.
    #[error("cannot sign the tunnel's access token: {0}")]
    Token(String),
    /// The Entra ID credential gave no token.
    #[error("the credential gave no token for the tunnel: {0}")]
    Credential(String),
    /// A token credential would be sent in clear to a host that is not this machine.
    #[error(
        "a token credential needs an https endpoint, not {0:?}: the bearer token would travel in clear"
    )]
    InsecureEndpoint(String),
    /// A connection attempt failed (the URL shown has no token).
    #[error("cannot connect the tunnel to {url}: {reason}")]
    Connect {
        /// The tunnel URL, without its token.
        url: String,
        /// Why, in words.
        reason: String,
    },
    /// The tunnel stopped before it connected.
    #[error("the tunnel stopped before it connected")]
    Stopped,
}
