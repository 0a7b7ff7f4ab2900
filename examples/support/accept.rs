//! The accept step of the examples' servers (and the benches' own servers), in one file that
//! `tests/descriptors.rs` runs out of descriptors: copy it along with the loop that calls it.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// The pause after an accept error that is the process's, not one connection's.
const BACKOFF: Duration = Duration::from_millis(100);

/// The next connection.
///
/// `accept` fails for two kinds of reasons. One connection's (it was reset before it was
/// taken): skip it. The process's (no descriptor left, `EMFILE`/`ENFILE`, or no memory): a
/// server that returns the error exits while it is busiest, and one that retries at once spins,
/// so pause and try again; connections wait in the listen queue meanwhile.
pub(crate) async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(error) if is_about_one_connection(&error) => {}
            Err(error) => {
                eprintln!("cannot accept a connection ({error}); trying again in {BACKOFF:?}");
                tokio::time::sleep(BACKOFF).await;
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
