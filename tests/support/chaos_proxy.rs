//! A TCP proxy on 127.0.0.1:0 that breaks connections on purpose, with seeded randomness: each
//! accepted connection gets a [`Fault`] from the plan, and the proxy counts what it saw. A test
//! can also cut every open connection when it wants ([`ChaosProxy::cut_all`]).

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// What happens to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Bytes flow both ways untouched.
    Pass,
    /// Closed at once: nothing reaches the upstream.
    Refuse,
    /// The client's bytes reach the upstream; the connection is cut as soon as the upstream
    /// starts answering, so the upstream acted but the client never hears it.
    CutAnswer,
    /// Cut after this many bytes in total, in either direction (mid-frame, mid-header...).
    CutAfter(usize),
    /// Bytes flow both ways untouched until this long after the connection was accepted,
    /// then it is cut.
    CutAt(std::time::Duration),
    /// Bytes flow both ways untouched until this long after the connection was accepted, then
    /// none moves while both sockets stay open ([`STALL_HOLD`]): a path that died silently (a
    /// NAT forgot it), which each peer only finds out by its own timeouts.
    StallAt(std::time::Duration),
}

/// How long a stalled connection's sockets stay open.
pub const STALL_HOLD: std::time::Duration = std::time::Duration::from_secs(10);

/// Chooses the fault of each new connection (called with its index).
pub type Plan = Box<dyn FnMut(usize) -> Fault + Send>;

/// The running proxy; stops when dropped.
pub struct ChaosProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Where the proxy forwards to.
    pub upstream: SocketAddr,
    connections: Arc<AtomicUsize>,
    faults: Arc<Mutex<Vec<Fault>>>,
    /// Bumped by [`ChaosProxy::cut_all`]; every relay watches it.
    cuts: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ChaosProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosProxy")
            .field("addr", &self.addr)
            .finish()
    }
}

impl ChaosProxy {
    /// Proxies to `upstream`, choosing each connection's fault with `plan`.
    pub async fn start(upstream: SocketAddr, mut plan: Plan) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let faults = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (connections.clone(), faults.clone());
        let cuts = watch::Sender::new(0);
        let cut_signal = cuts.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let index = count.fetch_add(1, Ordering::SeqCst);
                let fault = plan(index);
                seen.lock().unwrap_or_else(|e| e.into_inner()).push(fault);
                let mut cut = cut_signal.subscribe();
                cut.mark_unchanged();
                tokio::spawn(async move {
                    tokio::select! {
                        () = relay(client, upstream, fault) => {}
                        // Dropping the relay drops both sockets: a reset, as a network failure.
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            addr,
            upstream,
            connections,
            faults,
            cuts,
            task,
        }
    }

    /// A proxy that applies `fault` to every connection.
    pub async fn always(upstream: SocketAddr, fault: Fault) -> Self {
        Self::start(upstream, Box::new(move |_| fault)).await
    }

    /// How many connections it accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Cuts every connection open now (new ones pass as their fault says).
    pub fn cut_all(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// The fault of every connection so far, in order.
    pub fn faults(&self) -> Vec<Fault> {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, fault: Fault) {
    if fault == Fault::Refuse {
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    if fault == Fault::Pass {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        return;
    }
    if let Fault::CutAt(after) = fault {
        let relay = tokio::io::copy_bidirectional(&mut client, &mut server);
        let _ = tokio::time::timeout(after, relay).await;
        return;
    }
    if let Fault::StallAt(after) = fault {
        let relay = tokio::io::copy_bidirectional(&mut client, &mut server);
        let _ = tokio::time::timeout(after, relay).await;
        tokio::time::sleep(STALL_HOLD).await;
        return;
    }
    let budget = match fault {
        Fault::CutAfter(n) => n,
        _ => usize::MAX,
    };
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let mut used = 0usize;
    let mut up = [0u8; 4096];
    let mut down = [0u8; 4096];
    loop {
        tokio::select! {
            read = client_read.read(&mut up) => {
                let Ok(n @ 1..) = read else { return };
                let n = n.min(budget - used);
                if server_write.write_all(&up[..n]).await.is_err() { return }
                used += n;
            }
            read = server_read.read(&mut down) => {
                let Ok(n @ 1..) = read else { return };
                if fault == Fault::CutAnswer { return }
                let n = n.min(budget - used);
                if client_write.write_all(&down[..n]).await.is_err() { return }
                used += n;
            }
        }
        if used >= budget {
            // Dropping both halves resets the connection mid-stream.
            return;
        }
    }
}
