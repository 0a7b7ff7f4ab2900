//! The official `@azure/web-pubsub` 1.2.0 SDK (Node) drives the emulator's REST API:
//! `tests/interop/emulator_rest_sdk.mjs` sends to every target, manages groups, users and
//! permissions, lists a group, mints a token with `:generateToken` and closes connections, and
//! checks every effect through WebSocket clients. The script asserts; this test runs it against
//! an in-process emulator and requires every check to have passed.

mod support;

use std::time::Duration;

use serde_json::Value;
use webpubsub_emulator::Emulator;

/// Runs `script` against an in-process emulator and requires it to succeed; returns its output.
async fn run_against_an_emulator(script: &str) -> support::node::NodeOutput {
    let emulator = Emulator::builder()
        .key("interop-emulator-key-0123456789ABCDEFGH")
        .start()
        .await
        .expect("the emulator starts");
    let connection_string = emulator.connection_string();
    let output = support::node::run_node(
        script,
        &[],
        &[("WEBPUBSUB_CONNECTION_STRING", connection_string.as_str())],
        Duration::from_secs(60),
    )
    .await;
    assert!(
        output.success,
        "{script} failed\nstdout:\n{}\nstderr:\n{}",
        output.stdout, output.stderr
    );
    output
}

#[tokio::test]
async fn the_official_js_sdk_drives_the_emulator_rest_api() {
    let output = run_against_an_emulator("emulator_rest_sdk.mjs").await;
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

/// A body over 1 MiB is read to its end before the 413 is sent, so the SDK sees the status (not
/// `EPIPE`) and its next calls on the same kept-alive connection succeed.
#[tokio::test]
async fn the_official_js_sdk_gets_413_and_its_next_calls_succeed() {
    let output = run_against_an_emulator("emulator_rest_too_large.mjs").await;
    assert!(
        output.stdout.contains(r#"{"status":413,"after":3}"#),
        "{}",
        output.stdout
    );
}
