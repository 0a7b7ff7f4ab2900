//! [`Emulator`]: a running emulator, shut down on request or when dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use webpubsub_protocol::AccessKey;

use crate::{EmulatorBuilder, HandshakeReport, config::EmulatorConfig, tunnel::Tunnels};

/// How long [`Emulator::shutdown`] waits for open connections to close before it stops waiting.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running emulator of the Azure Web PubSub service.
///
/// It serves WebSocket clients at `/client/hubs/{hub}`, the data-plane REST API at `/api/…` and
/// calls each hub's upstream. Dropping it stops the server and closes every connection.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), webpubsub_emulator::StartError> {
/// use webpubsub_emulator::{Emulator, HubSettings};
///
/// let emulator = Emulator::builder()
///     .key("a-key-for-tests-only")
///     .hub(HubSettings::new("chat").allow_anonymous(true))
///     .start()
///     .await?;
/// assert!(emulator.endpoint().starts_with("http://127.0.0.1:"));
/// assert!(emulator.connection_string().contains("AccessKey=a-key-for-tests-only;"));
/// emulator.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Emulator {
    local_addr: SocketAddr,
    config: Arc<EmulatorConfig>,
    handshakes: Vec<HandshakeReport>,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    tunnels: Tunnels,
}

impl Emulator {
    /// A builder with the defaults: see [`EmulatorBuilder`].
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    pub(crate) fn new(
        local_addr: SocketAddr,
        config: Arc<EmulatorConfig>,
        handshakes: Vec<HandshakeReport>,
        shutdown: watch::Sender<bool>,
        server: JoinHandle<()>,
        tunnels: Tunnels,
    ) -> Self {
        Self {
            local_addr,
            config,
            handshakes,
            shutdown,
            server: Some(server),
            tunnels,
        }
    }

    /// The endpoint, for example `http://127.0.0.1:8080` (no trailing slash).
    pub fn endpoint(&self) -> &str {
        &self.config.endpoint
    }

    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The connection string SDKs take: `Endpoint=http://127.0.0.1:PORT;AccessKey=…;Version=1.0;`.
    ///
    /// It holds the primary access key: treat it as a secret.
    pub fn connection_string(&self) -> String {
        self.config.connection_string()
    }

    /// The primary access key.
    pub fn access_key(&self) -> &AccessKey {
        self.config.primary_key()
    }

    /// The live trace page, for example `http://127.0.0.1:8080/trace`: connections, messages,
    /// group changes, REST and upstream calls as they happen, filterable by hub. It is served
    /// only when the emulator listens on a loopback address (it shows all traffic).
    pub fn trace_url(&self) -> String {
        format!("{}{}", self.config.endpoint, crate::trace::TRACE_PATH)
    }

    /// Watches the live trace from now on: each [`TraceEvent`](crate::TraceEvent) the trace
    /// page shows. The feed keeps the last few hundred events for a slow receiver, which then
    /// gets `Lagged` and loses the oldest; it never slows the emulator.
    pub fn subscribe_trace(&self) -> tokio::sync::broadcast::Receiver<Arc<crate::TraceEvent>> {
        self.config.trace.subscribe()
    }

    /// The outcome of the abuse-protection handshake with each configured upstream, in the
    /// order of the hubs' settings.
    pub fn handshakes(&self) -> &[HandshakeReport] {
        &self.handshakes
    }

    /// How many tunnel connections (`/server/tunnel`) of `hub` are open.
    pub fn tunnel_connections(&self, hub: &str) -> usize {
        self.tunnels.count(hub)
    }

    /// Sends `ConnectionReconnect` to every tunnel connection of `hub`, naming this emulator's
    /// endpoint, as the service does when it moves a tunnel: each app drops that connection and
    /// dials again. Returns how many connections were asked.
    pub fn tunnel_reconnect(&self, hub: &str) -> usize {
        self.tunnels.reconnect(hub, &self.config.endpoint)
    }

    /// Sends `ConnectionRebalance` to every tunnel connection of `hub`, naming this emulator's
    /// endpoint: each app opens one more connection and keeps the old one. Returns how many
    /// connections were asked.
    pub fn tunnel_rebalance(&self, hub: &str) -> usize {
        self.tunnels.rebalance(hub, &self.config.endpoint)
    }

    /// Stops accepting connections, closes the open ones (clients see close code 1001) and
    /// waits a few seconds for them to finish.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
                tracing::warn!(
                    "emulator connections did not close within {SHUTDOWN_GRACE:?}; stopping anyway"
                );
                abort.abort();
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Emulator>();
        send_sync::<EmulatorBuilder>();
    }

    #[tokio::test]
    async fn debug_never_shows_the_key() {
        let emulator = Emulator::builder()
            .key("very-secret-key")
            .start()
            .await
            .unwrap();
        let text = format!("{emulator:?}");
        assert!(!text.contains("very-secret-key"), "{text}");
        assert!(emulator.connection_string().contains("very-secret-key"));
    }
}
