//! The emulator's HTTP server: HTTP/1 (with WebSocket upgrades) and HTTP/2 (gRPC) on one port,
//! with a time limit for reading a request's headers, a cap on open connections, and an accept
//! loop that survives running out of descriptors.
//!
//! Written on hyper-util rather than `axum::serve`, which has neither a header timeout nor a
//! connection cap: without them, a few hundred sockets that send half a request line hold every
//! descriptor of the process and the emulator stops answering anyone.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// The limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerLimits {
    /// How long a connection may take to send a request's headers (also an idle keep-alive
    /// connection's next request).
    pub(crate) read_timeout: Duration,
    /// How many connections may be open at once; more are answered 503 and closed.
    pub(crate) max_connections: usize,
}

/// How long a connection may take to send a request's headers (and a REST body each of its
/// pieces), by default.
pub(crate) const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections may be open at once, by default.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The pause after an accept error that is not about one connection (out of descriptors:
/// `EMFILE`/`ENFILE`, or out of memory), so the loop does not spin while none are free.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long open connections get to finish after a shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            read_timeout: DEFAULT_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` turns true, then gives the open connections a
/// few seconds to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout);
    // An HTTP/2 peer (a gRPC upstream) that stops answering pings within the read timeout is
    // gone, or never finished its handshake: close it.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.read_timeout)
        .keep_alive_timeout(limits.read_timeout);
    let builder = Arc::new(builder);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let stream = tokio::select! {
            stream = accept(&listener) => stream,
            () = stopping(&mut shutdown) => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        let builder = builder.clone();
        let service = TowerToHyperService::new(app.clone());
        let mut stopped = shutdown.clone();
        tokio::spawn(async move {
            if !protocol_decided(&stream, limits.read_timeout).await {
                drop(permit);
                return;
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopping(&mut stopped) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    // Every connection holds a permit until it ends: all of them back means all ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, open.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("emulator connections did not close within {SHUTDOWN_GRACE:?}");
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The pause between looks at a connection that sent part of the HTTP/2 preface.
const PREFACE_POLL: Duration = Duration::from_millis(10);

/// Whether the connection's first bytes, which tell HTTP/1 from HTTP/2, arrive within `limit`.
///
/// hyper-util's auto builder waits for them without a time limit (the HTTP/1 header timeout
/// starts only once it chose HTTP/1), so a socket that sends nothing, or part of the HTTP/2
/// preface, would hold its connection slot and descriptor for good.
async fn protocol_decided(stream: &TcpStream, limit: Duration) -> bool {
    let decided = async {
        let mut first = [0; HTTP2_PREFACE.len()];
        loop {
            let seen = match stream.peek(&mut first).await {
                Ok(0) | Err(_) => return false,
                Ok(seen) => seen,
            };
            if seen == first.len() || first[..seen] != HTTP2_PREFACE[..seen] {
                return true;
            }
            // Part of the preface: `peek` returns at once while those bytes wait, so pause
            // before looking again.
            tokio::time::sleep(PREFACE_POLL).await;
        }
    };
    let decided = tokio::time::timeout(limit, decided).await.unwrap_or(false);
    if !decided {
        tracing::debug!("closed a connection that did not start a request within {limit:?}");
    }
    decided
}

/// Returns once `shutdown` is true (or its sender is gone, which is a shutdown too).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopped| *stopped).await;
}

/// The next connection. Errors about one connection (it was reset before it was accepted) are
/// skipped; others (no descriptor left) pause the loop instead of ending it.
async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // No Nagle delay: a gRPC upstream stream, or an answer followed by its ack, is
                // small writes in a row, which Nagle holds for the peer's delayed ACK (~40 ms).
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "cannot set TCP_NODELAY");
                }
                return stream;
            }
            Err(error) if is_about_one_connection(&error) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot accept a connection; retrying in {ACCEPT_BACKOFF:?}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

fn is_about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Answers a connection over the cap with 503 and closes it, without reading its request.
async fn refuse(mut stream: TcpStream, max: usize) {
    let reason = format!("the emulator has {max} open connections, its limit; try again later");
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nretry-after: 1\r\n\r\n{reason}",
        reason.len()
    );
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    };
    // A client that does not read gets nothing more than a second of our time.
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
    tracing::warn!(max, "refused a connection over the limit");
}
