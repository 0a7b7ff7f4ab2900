//! The service's access key, a secret that never prints.

use std::fmt;

/// An access key of a Web PubSub resource (the `AccessKey` of a connection string).
///
/// The service uses the key's UTF-8 bytes, not its base64 decoding, as the HMAC key for
/// `ce-signature` and for the HS256 tokens of the REST API and of clients, so the key is kept
/// as the string it was given.
///
/// `Debug` prints `AccessKey([redacted])`, and there is no `Display`: the key cannot reach a log
/// or an error message by accident.
///
/// ```
/// use webpubsub_protocol::AccessKey;
///
/// let key = AccessKey::new("s3cr3t");
/// assert_eq!(format!("{key:?}"), "AccessKey([redacted])");
/// assert_eq!(key.expose(), "s3cr3t");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey(String);

impl AccessKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key's UTF-8 bytes, the HMAC key the service signs with.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The key itself. Named so that every place that reads the secret is easy to find.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKey([redacted])")
    }
}

impl From<String> for AccessKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

impl From<&str> for AccessKey {
    fn from(key: &str) -> Self {
        Self(key.to_owned())
    }
}
