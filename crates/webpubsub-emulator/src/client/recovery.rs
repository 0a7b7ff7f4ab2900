//! Recovery of reliable connections: a dropped socket's connection waits for the client to come
//! back with `awps_connection_id` and `awps_reconnection_token`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::WebSocket;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use webpubsub_protocol::AccessKey;

/// What a recoverable connection holds: its token and where recovering sockets arrive.
pub(crate) type Recoverable = (ReconnectionToken, mpsc::Receiver<WebSocket>);

/// The connections that can be recovered, by hub and connection id. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecoveryStore {
    entries: Arc<Mutex<HashMap<(String, String), Entry>>>,
}

#[derive(Debug)]
struct Entry {
    token: ReconnectionToken,
    attach: mpsc::Sender<WebSocket>,
    /// The connection's subprotocol, which the recovering socket must speak too.
    subprotocol: &'static str,
}

/// Where a recovering client's socket goes, and the subprotocol to answer its upgrade with.
#[derive(Debug)]
pub(crate) struct Attach {
    pub(crate) socket: mpsc::Sender<WebSocket>,
    pub(crate) subprotocol: &'static str,
}

/// Why recovery was refused (the client then gets close code 1008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such connection, or it ended.
    UnknownConnection,
    /// The token is not this connection's.
    WrongToken,
}

impl Refusal {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::UnknownConnection => {
                "the connection cannot be recovered: it is not known or it ended"
            }
            Self::WrongToken => {
                "the connection cannot be recovered: the reconnection token is not valid"
            }
        }
    }
}

/// A connection's reconnection token: whoever holds it can take the connection over, so it
/// never prints.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ReconnectionToken(String);

impl ReconnectionToken {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ReconnectionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReconnectionToken(<redacted>)")
    }
}

/// The reconnection token of a connection: a MAC of its hub and id, so it cannot be guessed
/// and needs no storage to check.
pub(crate) fn reconnection_token(
    key: &AccessKey,
    hub: &str,
    connection_id: &str,
) -> ReconnectionToken {
    // HMAC takes keys of any length, so this cannot fail.
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("hmac accepts any key length");
    let message = format!("reconnect\n{}\n{connection_id}", hub.to_ascii_lowercase());
    ReconnectionToken(URL_SAFE_NO_PAD.encode(mac.chain_update(message).finalize().into_bytes()))
}

impl RecoveryStore {
    /// Makes a connection recoverable; sockets of recovering clients arrive on the receiver.
    pub(crate) fn insert(
        &self,
        hub: &str,
        connection_id: &str,
        token: ReconnectionToken,
        subprotocol: &'static str,
    ) -> mpsc::Receiver<WebSocket> {
        let (attach, receiver) = mpsc::channel(1);
        self.lock().insert(
            key(hub, connection_id),
            Entry {
                token,
                attach,
                subprotocol,
            },
        );
        receiver
    }

    /// Makes a connection unrecoverable (it ended).
    pub(crate) fn remove(&self, hub: &str, connection_id: &str) {
        self.lock().remove(&key(hub, connection_id));
    }

    /// Where to send the new socket of a recovering client, if the token is right.
    pub(crate) fn find(
        &self,
        hub: &str,
        connection_id: &str,
        token: &str,
    ) -> Result<Attach, Refusal> {
        let entries = self.lock();
        let entry = entries
            .get(&key(hub, connection_id))
            .ok_or(Refusal::UnknownConnection)?;
        if bool::from(entry.token.0.as_bytes().ct_eq(token.as_bytes())) {
            Ok(Attach {
                socket: entry.attach.clone(),
                subprotocol: entry.subprotocol,
            })
        } else {
            Err(Refusal::WrongToken)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn key(hub: &str, connection_id: &str) -> (String, String) {
    (hub.to_ascii_lowercase(), connection_id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_hub_and_connection() {
        let key = AccessKey::new("k");
        let token = reconnection_token(&key, "Chat", "c1");
        assert!(!format!("{token:?}").contains(token.as_str()));
        assert_eq!(token, reconnection_token(&key, "chat", "c1"));
        assert_ne!(token, reconnection_token(&key, "chat", "c2"));
        assert_ne!(
            token,
            reconnection_token(&AccessKey::new("k2"), "chat", "c1")
        );
    }

    #[test]
    fn find_checks_the_token() {
        let store = RecoveryStore::default();
        let _receiver = store.insert(
            "Chat",
            "c1",
            ReconnectionToken("secret".into()),
            "protobuf.reliable.webpubsub.azure.v1",
        );
        assert_eq!(
            store.find("chat", "c1", "secret").unwrap().subprotocol,
            "protobuf.reliable.webpubsub.azure.v1"
        );
        assert_eq!(
            store.find("chat", "c1", "guess").unwrap_err(),
            Refusal::WrongToken
        );
        assert_eq!(
            store.find("chat", "c2", "secret").unwrap_err(),
            Refusal::UnknownConnection
        );
        store.remove("chat", "c1");
        assert_eq!(
            store.find("chat", "c1", "secret").unwrap_err(),
            Refusal::UnknownConnection
        );
    }
}
