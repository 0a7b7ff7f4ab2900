//! The HTTP binding of the event API: the service's CloudEvents webhook (the abuse-protection
//! handshake, the `ce-*` headers, the signature, the body) read into an
//! [`Event`](crate::Event), and the handler's answer written back as HTTP.

pub(crate) mod answer;
pub(crate) mod auth;
pub(crate) mod path;
pub(crate) mod read;
pub(crate) mod rejection;

use auth::Auth;
use path::{DEFAULT_PATH, PathPattern};

/// The default body limit: 1 MiB, the service's own frame limit.
pub(crate) const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// What the layer's builder methods set: plain data, shared by every service of a layer.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) path: PathPattern,
    /// `None` serves any hub; names are compared ASCII case-insensitively.
    pub(crate) hubs: Option<Vec<String>>,
    pub(crate) auth: Auth,
    /// The largest body accepted.
    pub(crate) body_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            path: PathPattern::parse(DEFAULT_PATH).expect("the default path is valid"),
            hubs: None,
            auth: Auth::default(),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

impl Config {
    pub(crate) fn serves_hub(&self, hub: &str) -> bool {
        self.hubs
            .as_ref()
            .is_none_or(|hubs| hubs.iter().any(|h| h.eq_ignore_ascii_case(hub)))
    }
}
