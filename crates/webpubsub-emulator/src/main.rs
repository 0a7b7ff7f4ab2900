//! The `webpubsub-emulator` command: runs the emulator until Ctrl-C.
//!
//! ```text
//! webpubsub-emulator --port 8080 --key MY_KEY --hub chat=http://localhost:3000/eventhandler/{event} --allow-anonymous
//! webpubsub-emulator --hub chat=grpc   # the app registers over gRPC at the same endpoint
//! ```

use std::net::IpAddr;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use webpubsub_emulator::{Emulator, HubSettings};

/// A local emulator of the Azure Web PubSub service: WebSocket clients, the REST API and signed
/// upstream CloudEvents calls. Prints its connection string at start.
#[derive(Debug, Parser)]
#[command(name = "webpubsub-emulator", version)]
struct Cli {
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080, env = "WEBPUBSUB_EMULATOR_PORT")]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    /// An access key (repeatable; the first is the primary key). Without one, the fixed public
    /// development key (the same at every start), or a random one with --random-key.
    #[arg(long = "key", env = "WEBPUBSUB_EMULATOR_KEY", hide_env_values = true)]
    keys: Vec<String>,
    /// Without --key, make a random key at start instead of using the development key.
    #[arg(long, conflicts_with = "keys")]
    random_key: bool,
    /// A hub and its event handler, `NAME=URL_TEMPLATE` (repeatable); the template may hold
    /// `{hub}` and `{event}`. The handler takes every event. `NAME=tunnel:///PATH` sends the
    /// hub's events to `PATH` through the apps connected at `/server/tunnel` instead of HTTP;
    /// `NAME=grpc` sends them to the apps registered over gRPC.
    #[arg(long = "hub", value_parser = parse_hub)]
    hubs: Vec<(String, String)>,
    /// Let clients connect without an access token.
    #[arg(long)]
    allow_anonymous: bool,
    /// The URL clients use to reach the emulator through a reverse proxy: tokens whose
    /// audience names it are accepted too (never the request's Host header).
    #[arg(long, env = "WEBPUBSUB_EMULATOR_PUBLIC_ENDPOINT")]
    public_endpoint: Option<String>,
    /// Seconds a blocking upstream event (connect, user events) may take in all, retries
    /// included; the client gets its answer within it.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    upstream_timeout: u64,
    /// How many connections may be open at once; more are answered 503.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Seconds a connection may take to send a request's headers, and a REST request each
    /// piece of its body.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    read_timeout: u64,
    /// Seconds a write to a client may make no progress before the client is dropped; also the
    /// longest a client that does not read can hold up those sending to its groups.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    write_timeout: u64,
    /// MiB of user events one connection may have waiting for a slow upstream; more are
    /// refused with an error ack.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    max_pending_event_mib_per_connection: u64,
    /// MiB of user events all connections may have waiting for a slow upstream; more are
    /// refused with an error ack.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    max_pending_event_mib: u64,
    /// Seconds a client's WebSocket may stay silent (pongs count) before it is closed; it is
    /// pinged after a sixth of that.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    client_idle_timeout: u64,
}

/// `mib` mebibytes in bytes, saturating.
fn mib(mib: u64) -> usize {
    usize::try_from(mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
}

fn parse_hub(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((name, url)) if !name.is_empty() && !url.is_empty() => {
            Ok((name.to_owned(), url.to_owned()))
        }
        _ => Err(format!("expected NAME=URL_TEMPLATE, got {value:?}")),
    }
}

fn main() -> std::process::ExitCode {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    // One scheduler thread unless TOKIO_WORKER_THREADS says otherwise: a fan-out wakes one task
    // per recipient, and with a worker per core each wake-up also unparks a sibling worker that
    // competes with the clients for the same cores. On 2 cores shared with 1,000 clients, one
    // worker delivers 495k messages/s at 2.0 µs of emulator CPU each against 170k at 6.4 µs with
    // two (benches/emulator_fanout.sh, unpinned, one publisher).
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        runtime.worker_threads(1);
    }
    match runtime.enable_all().build() {
        Ok(runtime) => runtime.block_on(run()),
        Err(error) => {
            eprintln!("webpubsub-emulator: cannot start the async runtime: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let mut builder = Emulator::builder()
        .ip(cli.ip)
        .port(cli.port)
        .allow_anonymous(cli.allow_anonymous)
        .random_key(cli.random_key)
        .upstream_timeout(Duration::from_secs(cli.upstream_timeout))
        .max_connections(usize::try_from(cli.max_connections).unwrap_or(usize::MAX))
        .read_timeout(Duration::from_secs(cli.read_timeout))
        .write_timeout(Duration::from_secs(cli.write_timeout))
        .max_pending_event_bytes_per_connection(mib(cli.max_pending_event_mib_per_connection))
        .max_pending_event_bytes(mib(cli.max_pending_event_mib))
        .client_idle_timeout(Duration::from_secs(cli.client_idle_timeout));
    if let Some(endpoint) = cli.public_endpoint {
        builder = builder.public_endpoint(endpoint);
    }
    for key in cli.keys {
        builder = builder.key(key);
    }
    for (name, url) in cli.hubs {
        builder = builder.hub(HubSettings::new(name).upstream(url));
    }
    let emulator = match builder.start().await {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("webpubsub-emulator: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The one place the key is shown: the user asked for the connection string.
    println!("{}", emulator.connection_string());
    for report in emulator.handshakes() {
        println!("{report}");
    }
    if emulator.local_addr().ip().is_loopback() {
        println!("live trace: {}", emulator.trace_url());
    } else {
        println!("live trace: off (served only when listening on a loopback address)");
    }
    // gRPC shares the port (HTTP/2 without TLS).
    println!(
        "gRPC upstream: {} (webpubsub.upstream.v1.Upstream)",
        emulator.endpoint()
    );
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("webpubsub-emulator: cannot wait for Ctrl-C: {error}");
    }
    emulator.shutdown().await;
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_arguments_are_name_equals_url() {
        assert_eq!(
            parse_hub("chat=http://x/{event}").unwrap(),
            ("chat".to_owned(), "http://x/{event}".to_owned())
        );
        assert!(parse_hub("chat").is_err());
        assert!(parse_hub("=http://x").is_err());
        Cli::command_checks();
    }

    impl Cli {
        fn command_checks() {
            use clap::CommandFactory;
            Self::command().debug_assert();
        }
    }
}
