//! The official tunnel code against our emulator: `HttpServerProxy` of
//! `@azure/web-pubsub-socket.io` 1.2.1 (the official `WebPubSubTunnelClient` inside) dials
//! `/server/tunnel` and serves a `tunnel:///eventhandler` hub's events with an
//! `@azure/web-pubsub-express` handler, while an `@azure/web-pubsub-client` client connects,
//! sends an event and gets the handler's answer (`tests/interop/tunnel_official.mjs`).

mod support;

use std::time::Duration;

use serde_json::Value;
use support::emulator::start_tunnel_hub;
use support::node::run_node;

#[tokio::test]
async fn the_official_tunnel_serves_an_express_handler_through_our_emulator() {
    let (emulator, _) = start_tunnel_hub("tunnel-interop-key-0123", "tunnel:///eventhandler").await;
    let output = run_node(
        "tunnel_official.mjs",
        &[],
        &[("CONNECTION_STRING", &emulator.connection_string())],
        Duration::from_secs(90),
    )
    .await;
    let line = output.stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(line)
        .unwrap_or_else(|_| panic!("no JSON line: {}\n{}", output.stdout, output.stderr));
    assert!(
        output.success && result["ok"] == true,
        "{result}\n{}",
        output.stderr
    );
    assert_eq!(result["userId"], "express-ann");
    assert_eq!(
        result["events"],
        serde_json::json!(["connect ann", "connected express-ann", "greet hi"])
    );
    assert_eq!(result["serverMessages"], serde_json::json!(["echo hi"]));
}
