//! The official `@azure/web-pubsub` 1.2.0 SDK (Node) drives the emulator's REST API:
//! `tests/interop/emulator_rest_sdk.mjs` sends to every target, manages groups, users and
//! permissions, lists a group, mints a token with `:generateToken` and closes connections, and
//! checks every effect through WebSocket clients. The script asserts; this test runs it against
//! an in-process emulator and requires every check to have passed.

mod support;

use std::time::Duration;

use serde_json::Value;
use webpubsub_emulator::Emulator;

#[tokio::test]
async fn the_official_js_sdk_drives_the_emulator_rest_api() {
    let emulator = Emulator::builder()
        .key("interop-emulator-key-0123456789ABCDEFGH")
        .start()
        .await
        .expect("the emulator starts");
    let connection_string = emulator.connection_string();
    let output = support::node::run_node(
        "emulator_rest_sdk.mjs",
        &[],
        &[("WEBPUBSUB_CONNECTION_STRING", connection_string.as_str())],
        Duration::from_secs(60),
    )
    .await;
    assert!(
        output.success,
        "the script failed\nstdout:\n{}\nstderr:\n{}",
        output.stdout, output.stderr
    );
    let summary: Value = output
        .stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON summary in: {}", output.stdout));
    let checks: Vec<&str> = summary["checks"]
        .as_array()
        .expect("a list of checks")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        checks,
        [
            "send to all, user, connection and group with excluded and filters",
            "group and user membership, exists checks, paged listing, addToGroups/removeFromGroups",
            "grant, check and revoke permissions, enforced on joinGroup",
            ":generateToken mints a token that connects with its user and groups",
            "close a group, a user, a connection and everyone, with reasons and excluded",
        ]
    );
}
