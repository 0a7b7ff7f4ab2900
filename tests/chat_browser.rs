//! The chat page in headless Chromium: `tests/browser/chat.mjs` (playwright-core, pinned by its
//! lockfile) opens two pages as two users against the chat app running in-process on the
//! emulator, talks both ways, switches rooms and saves screenshots under
//! `tests/browser/artifacts/`.
//!
//! Needs Debian's `chromium` (`/usr/bin/chromium`): installed here when missing and running as
//! root, else the test fails saying how to install it. `UPDATE_DOCS_SCREENSHOT=1` also rewrites
//! `docs/chat.png`, the README's screenshot.

// The example's app, compiled into this test; the parts only `main.rs` uses are unused here.
#[allow(dead_code)]
#[path = "../examples/chat/app/mod.rs"]
mod chat;
mod support;

use std::path::Path;
use std::time::Duration;

use tokio::net::TcpListener;

use chat::{ChatServer, Config, Service, Upstream};

/// The longest the browser script may run (it takes a few seconds).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_talk_and_switch_rooms_in_chromium() {
    talk_in_chromium(Upstream::Webhook).await;
}

/// The same page and script with the chat's events over the gRPC upstream (`CHAT_UPSTREAM=grpc`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_talk_over_the_grpc_upstream_in_chromium() {
    talk_in_chromium(Upstream::Grpc).await;
}

/// The same page and script with the chat's events over the tunnel (`CHAT_UPSTREAM=tunnel`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_talk_over_the_tunnel_in_chromium() {
    talk_in_chromium(Upstream::Tunnel).await;
}

async fn talk_in_chromium(upstream: Upstream) {
    support::browser::ensure_chromium();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        service: Service::Emulator,
        hub: "chat".into(),
        upstream,
    };
    let server = ChatServer::start(listener, config)
        .await
        .expect("the chat starts on the emulator");

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let artifacts = root.join("tests/browser/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    // The script writes this file when it is ready to watch the pages being closed.
    let signal = artifacts.join(format!(
        "shutdown-signal-{}-{upstream:?}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&signal);
    let mut envs = vec![
        ("CHAT_URL".to_owned(), server.url()),
        ("CHROMIUM".to_owned(), support::browser::CHROMIUM.to_owned()),
        ("SHUTDOWN_SIGNAL_FILE".to_owned(), path_str(&signal)),
        // One folder per upstream: the two tests may run at once.
        (
            "ARTIFACTS".to_owned(),
            path_str(&artifacts.join(format!("{upstream:?}").to_lowercase())),
        ),
    ];
    if upstream == Upstream::Webhook && std::env::var_os("UPDATE_DOCS_SCREENSHOT").is_some() {
        envs.push((
            "DOCS_SCREENSHOT".to_owned(),
            path_str(&root.join("docs/chat.png")),
        ));
        envs.push((
            "DOCS_MOBILE_SCREENSHOT".to_owned(),
            path_str(&root.join("docs/chat-mobile.png")),
        ));
    }
    let browser_dir = root.join("tests/browser");
    let mut script = tokio::spawn(async move {
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        support::node::run_node_in(&browser_dir, "chat.mjs", &[], &envs, SCRIPT_TIMEOUT).await
    });

    // Ctrl-C's path: shut the chat down once the script has checked the conversation.
    let output = loop {
        tokio::select! {
            output = &mut script => break output.expect("the script task ran"),
            () = tokio::time::sleep(Duration::from_millis(100)), if !signal.exists() => {}
            () = std::future::ready(()), if signal.exists() => {
                let _ = std::fs::remove_file(&signal);
                server.shutdown().await;
                break script.await.expect("the script task ran");
            }
        }
    };
    let _ = std::fs::remove_file(&signal);
    assert!(
        output.success,
        "the browser test failed (screenshots in tests/browser/artifacts/)\n--- stdout\n{}\n--- stderr\n{}",
        output.stdout, output.stderr
    );
    assert!(
        output.stdout.contains("all checks passed"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("ok - the server shuts down"),
        "{}",
        output.stdout
    );
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}
