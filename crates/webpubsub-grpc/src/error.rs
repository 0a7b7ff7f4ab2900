//! Why the gRPC upstream could not start or stopped.

/// An error of the gRPC upstream. Messages never contain the access key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrpcError {
    /// The connection string could not be read.
    #[error(transparent)]
    ConnectionString(#[from] webpubsub_protocol::ConnectionStringError),
    /// The endpoint is not a URL a gRPC channel can dial.
    #[error("the gRPC endpoint {endpoint:?} is not usable: {reason}")]
    Endpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The hub name is not valid.
    #[error("invalid hub name {0:?}: {rule}", rule = webpubsub_protocol::HUB_NAME_RULE)]
    InvalidHub(String),
    /// The service refused the registration for a reason retrying cannot fix (a wrong key, a
    /// hub that is not in gRPC mode).
    #[error("the service refused the registration: {code:?}: {message}")]
    Refused {
        /// The gRPC status code.
        code: tonic::Code,
        /// The service's reason.
        message: String,
    },
}
