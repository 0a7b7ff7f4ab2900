//! The emulator's live trace page in headless Chromium: `tests/browser/trace.mjs` watches
//! traffic on two hubs stream in, filters by hub and kind, and saves screenshots under
//! `tests/browser/artifacts/`. `UPDATE_DOCS_SCREENSHOT=1` also rewrites `docs/trace.png`.

mod support;

use std::path::Path;
use std::time::Duration;

use webpubsub::emulator::{Emulator, HubSettings};
use webpubsub::handler::{ClosureHandler, WebPubSubLayer};

use support::layer::TestServer;

/// The longest the browser script may run (it takes a few seconds).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_page_streams_and_filters_traffic_in_chromium() {
    support::browser::ensure_chromium();
    // An app that takes the events of both hubs, so upstream calls show up too.
    let app = TestServer::start(
        axum::Router::new().layer(WebPubSubLayer::new(ClosureHandler::new()).path("/eventhandler")),
    )
    .await;
    let upstream = format!("http://{}/eventhandler", app.addr);
    let emulator = Emulator::builder()
        .hub(
            HubSettings::new("alpha")
                .upstream(&upstream)
                .allow_anonymous(true),
        )
        .hub(
            HubSettings::new("beta")
                .upstream(&upstream)
                .allow_anonymous(true),
        )
        .start()
        .await
        .expect("the emulator starts");

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut envs = vec![
        ("TRACE_URL".to_owned(), emulator.trace_url()),
        (
            "WS_ENDPOINT".to_owned(),
            emulator.endpoint().replacen("http", "ws", 1),
        ),
        ("CHROMIUM".to_owned(), support::browser::CHROMIUM.to_owned()),
    ];
    if std::env::var_os("UPDATE_DOCS_SCREENSHOT").is_some() {
        let docs = root.join("docs/trace.png");
        envs.push((
            "DOCS_SCREENSHOT".to_owned(),
            docs.to_str().expect("a UTF-8 path").to_owned(),
        ));
    }
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let output = support::node::run_node_in(
        &root.join("tests/browser"),
        "trace.mjs",
        &[],
        &envs,
        SCRIPT_TIMEOUT,
    )
    .await;
    assert!(
        output.success && output.stdout.contains("all checks passed"),
        "the browser test failed (screenshots in tests/browser/artifacts/)\n--- stdout\n{}\n--- stderr\n{}",
        output.stdout,
        output.stderr
    );
    emulator.shutdown().await;
}
