//! Why an emulator could not start.

use std::io;

/// An error starting the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address that was asked for.
        address: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A configured access key is empty.
    #[error("access key {index} is empty")]
    EmptyKey {
        /// The position of the key, from 0.
        index: usize,
    },
    /// A hub name is not a valid hub name.
    #[error("invalid hub name {0:?}: {rule}", rule = webpubsub_protocol::HUB_NAME_RULE)]
    InvalidHub(String),
    /// An event handler URL template is not an absolute http(s) URL.
    #[error("invalid event handler url template {template:?} for hub {hub:?}: {reason}")]
    InvalidUpstream {
        /// The hub.
        hub: String,
        /// The template as given, without its query (it may hold a `code=` secret).
        template: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The public endpoint is not an http(s) URL of a host without a path.
    #[error("invalid public endpoint {endpoint:?}: {reason}")]
    InvalidPublicEndpoint {
        /// The endpoint as given, without its query.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An upstream refused the abuse-protection handshake and valid upstreams were required.
    #[error("upstream handshake failed: {0}")]
    Handshake(String),
    /// The HTTP client for upstream calls could not be built.
    #[error("cannot build the upstream http client: {0}")]
    HttpClient(String),
}
