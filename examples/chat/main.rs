//! A chat on Azure Web PubSub: an axum app that serves a web page, mints client URLs at
//! `/negotiate` and handles the service's events with `WebPubSubLayer`, all on one router.
//!
//! ```text
//! cargo run --example chat                  # on the emulator, started in-process
//! CHAT_UPSTREAM=grpc cargo run --example chat   # events over the gRPC upstream instead of webhooks
//! CHAT_UPSTREAM=tunnel cargo run --example chat # events over the tunnel (/server/tunnel)
//! WEBPUBSUB_CONNECTION_STRING='Endpoint=https://…;AccessKey=…;Version=1.0;' cargo run --example chat
//! ```
//!
//! It prints where to open the page; open it in two tabs with two names. `CHAT_ADDR` sets the
//! address to serve on (default `127.0.0.1:3000`, or a free port when 3000 is taken),
//! `WEBPUBSUB_HUB` the hub (default `chat`). With a connection string the events come through the
//! tunnel by default, so the app needs no public endpoint: set the hub's event handler URL
//! template in the Azure portal to `tunnel:///eventhandler` (or, with `CHAT_UPSTREAM=webhook`,
//! to `https://<this app, reachable from Azure>/eventhandler`).
//!
//! A demo, not a product: anyone may pick any name at `/negotiate` (a real app takes the user
//! from its own login), and rooms and history live in memory.

mod app;

use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::TcpListener;

use app::{ChatServer, Config, Service};

const DEFAULT_ADDR: &str = "127.0.0.1:3000";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let listener = match bind().await {
        Ok(listener) => listener,
        Err(message) => {
            eprintln!("chat: {message}");
            return ExitCode::FAILURE;
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("chat: {e}");
            return ExitCode::FAILURE;
        }
    };
    let on_azure = matches!(config.service, Service::ConnectionString(_));
    let server = match ChatServer::start(listener, config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("chat: {e}");
            return ExitCode::FAILURE;
        }
    };
    if on_azure {
        println!(
            "chat: open {} in two browser tabs (Azure Web PubSub; its event handler must reach {}eventhandler); Ctrl-C stops",
            server.url(),
            server.url()
        );
    } else {
        println!(
            "chat: open {} in two browser tabs (emulator at {}); Ctrl-C stops",
            server.url(),
            server.emulator_endpoint().unwrap_or("?")
        );
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("chat: cannot wait for Ctrl-C ({e}); stopping");
    }
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Binds `CHAT_ADDR`, or 127.0.0.1:3000 falling back to a free port.
async fn bind() -> Result<TcpListener, String> {
    if let Ok(addr) = std::env::var("CHAT_ADDR") {
        let addr: SocketAddr = addr
            .parse()
            .map_err(|e| format!("invalid CHAT_ADDR {addr:?}: {e}"))?;
        return TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on CHAT_ADDR {addr}: {e}"));
    }
    match TcpListener::bind(DEFAULT_ADDR).await {
        Ok(listener) => Ok(listener),
        // The printed line names the port, so any free one will do.
        Err(_) => TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1: {e}")),
    }
}
