//! Every accept loop of the project survives running out of descriptors (`EMFILE`): the
//! examples' and benches' own loop (`examples/support/accept.rs`), `axum::serve` (the chat and
//! soak examples, the other bench servers) and the emulator's (its tunnel endpoint and gRPC
//! service are routes on the same port). The test
//! lowers this process's descriptor limit, fills it, connects one client with the last
//! descriptor, holds the server out of descriptors for several of its pauses, then frees them:
//! the client is answered. A loop that exits on the error drops its listener, and the client
//! is reset instead.
//!
//! One test in its own binary: the limit is the process's, so nothing may run beside it.
#![cfg(target_os = "linux")]

#[path = "../examples/support/accept.rs"]
mod accept;

use std::fs::File;
use std::net::SocketAddr;
use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use webpubsub::emulator::Emulator;

/// "Too many open files".
const EMFILE: i32 = rustix::io::Errno::MFILE.raw_os_error();
/// The longest any single wait takes.
const BOUND: Duration = Duration::from_secs(10);
/// How long the server is held out of descriptors: several of its 100 ms pauses.
const STARVED: Duration = Duration::from_millis(500);

#[test]
fn accept_loops_keep_serving_after_running_out_of_descriptors() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let examples = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = accept::accept(&listener).await;
                tokio::spawn(answer_ok(stream));
            }
        });
        answers_after_starving(examples, "the examples' accept loop").await;

        // The chat and soak examples and the benches' other servers use `axum::serve`, which
        // pauses a second on such errors.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let axum_server = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/api/health", axum::routing::get(|| async { "ok" }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        answers_after_starving(axum_server, "axum::serve").await;

        let emulator = Emulator::builder().start().await.unwrap();
        answers_after_starving(emulator.local_addr(), "the emulator").await;
    });
}

/// Reads a request's head and answers 200.
async fn answer_ok(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buffer = [0; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
    }
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .await;
}

/// Connects to `server` while the process has no descriptor left for it to accept with, and
/// checks the answer comes once descriptors are free again.
async fn answers_after_starving(server: SocketAddr, name: &str) {
    let mut client = {
        let _limit = DescriptorLimit::lower_to(open_descriptors() + 64);
        let mut filler = Vec::new();
        loop {
            match File::open("/dev/null") {
                Ok(file) => filler.push(file),
                Err(error) if error.raw_os_error() == Some(EMFILE) => break,
                Err(error) => panic!("cannot open /dev/null: {error}"),
            }
            assert!(filler.len() < 1024, "the lowered limit does not hold");
        }
        // The last descriptor is the client's: the server has none to accept with.
        drop(filler.pop());
        let mut client = TcpStream::connect(server).await.unwrap();
        client
            .write_all(b"GET /api/health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .await
            .unwrap_or_else(|error| panic!("{name} reset the connection: {error}"));
        assert_eq!(
            File::open("/dev/null").err().and_then(|e| e.raw_os_error()),
            Some(EMFILE),
            "a descriptor is still free"
        );
        let mut byte = [0; 1];
        let early = tokio::time::timeout(STARVED, client.read(&mut byte)).await;
        assert!(
            early.is_err(),
            "{name} answered without a descriptor to accept with: {early:?}"
        );
        client
        // The filler and the lowered limit go here.
    };
    let mut answer = Vec::new();
    let read = tokio::time::timeout(BOUND, client.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        matches!(read, Ok(Ok(_))) && answer.starts_with("HTTP/1.1 "),
        "{name} stopped serving after running out of descriptors: {read:?} {answer:?}"
    );
}

fn open_descriptors() -> u64 {
    let count = std::fs::read_dir("/proc/self/fd").unwrap().count();
    u64::try_from(count).unwrap()
}

/// The process's soft `RLIMIT_NOFILE`, lowered until dropped.
struct DescriptorLimit {
    before: Rlimit,
}

impl DescriptorLimit {
    fn lower_to(soft: u64) -> Self {
        let before = getrlimit(Resource::Nofile);
        let lowered = Rlimit {
            current: Some(before.current.map_or(soft, |current| current.min(soft))),
            maximum: before.maximum,
        };
        setrlimit(Resource::Nofile, lowered).expect("the soft limit can be lowered");
        Self { before }
    }
}

impl Drop for DescriptorLimit {
    fn drop(&mut self) {
        setrlimit(Resource::Nofile, self.before).expect("the limit is restored");
    }
}
