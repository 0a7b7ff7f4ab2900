//! The REST client against the real emulator behind a proxy that refuses connections, cuts them
//! mid-request and swallows answers (seeded): sends are never delivered twice, every send that
//! returned `Ok` was delivered exactly once, idempotent operations are retried, and when the
//! retry budget runs out the error says what failed and how many attempts were made.

mod support;

use std::{collections::HashMap, time::Duration};

use support::{
    chaos_proxy::{ChaosProxy, Fault},
    emulator::json_client,
    ws_client::WsClient,
};
use webpubsub::emulator::Emulator;
use webpubsub_protocol::frames::{FrameData, ServerFrame};
use webpubsub_rest::{Message, RetryPolicy, WebPubSubServiceClient};

const KEY: &str = "faults-rest-key-not-a-secret";
const HUB: &str = "chat";
const SEED: u64 = 0x5eed_0007;

async fn emulator() -> Emulator {
    support::emulator::start(KEY, HUB).await.0
}

/// A client through `proxy`, one TCP connection per request (so each request meets its own
/// fault), fast retries.
fn client_via(proxy: &ChaosProxy, retries: u32) -> WebPubSubServiceClient {
    // reqwest is built without a TLS provider (see Cargo.toml); plain HTTP still needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("reqwest client");
    // Tokens name the emulator (it accepts no other audience); requests go to the proxy.
    WebPubSubServiceClient::builder(format!("http://{}", proxy.upstream), HUB)
        .reverse_proxy(format!("http://{}", proxy.addr))
        .access_key(KEY)
        .http_client(http)
        .timeout(Duration::from_secs(5))
        .retry_policy(
            RetryPolicy::default()
                .max_retries(retries)
                .initial_delay(Duration::from_millis(5))
                .max_delay(Duration::from_millis(20)),
        )
        .build()
        .expect("client")
}

/// A client connected straight to the emulator (no proxy) that sees every send to all.
async fn watcher(emulator: &Emulator) -> WsClient {
    let rest = WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), HUB)
        .expect("client");
    json_client(&rest, "watcher", &[], &[]).await
}

/// Every text message the watcher gets until `marker` arrives (sent last, without faults).
async fn received_until(watcher: &mut WsClient, marker: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..10_000 {
        if let ServerFrame::Message {
            data: FrameData::Text(text),
            ..
        } = watcher.next_frame().await
        {
            if text == marker {
                return counts;
            }
            *counts.entry(text).or_insert(0) += 1;
        }
    }
    panic!("the marker never arrived");
}

#[tokio::test]
async fn sends_through_random_faults_are_never_duplicated_and_oks_are_delivered() {
    let emulator = emulator().await;
    let mut watcher = watcher(&emulator).await;
    let mut rng = fastrand::Rng::with_seed(SEED);
    let proxy = ChaosProxy::start(
        emulator.local_addr(),
        Box::new(move |_| match rng.u8(0..100) {
            0..50 => Fault::Pass,
            50..65 => Fault::Refuse,
            65..85 => Fault::CutAnswer,
            _ => Fault::CutAfter(rng.usize(1..400)),
        }),
    )
    .await;
    let client = client_via(&proxy, 3);
    let mut outcomes = Vec::new();
    for i in 0..40 {
        let text = format!("m{i}");
        let result = tokio::time::timeout(
            Duration::from_secs(30),
            client.send_to_all(Message::text(text.clone())),
        )
        .await
        .expect("a send ends within its budget");
        if let Err(error) = &result {
            let shown = error.to_string();
            assert!(
                shown.contains("connection") || shown.contains("answered"),
                "an unclear error: {shown}"
            );
        }
        outcomes.push((text, result.is_ok()));
    }
    let direct = WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), HUB)
        .expect("client");
    direct
        .send_to_all(Message::text("marker"))
        .await
        .expect("marker");
    let counts = received_until(&mut watcher, "marker").await;

    let faults = proxy.faults();
    assert!(
        faults.iter().any(|f| *f != Fault::Pass),
        "the plan injected no fault"
    );
    for (text, ok) in &outcomes {
        let delivered = counts.get(text).copied().unwrap_or(0);
        assert!(delivered <= 1, "{text} was delivered {delivered} times");
        if *ok {
            assert_eq!(delivered, 1, "{text} returned Ok but was not delivered");
        }
    }
    assert!(
        outcomes.iter().any(|(_, ok)| *ok) && outcomes.iter().any(|(_, ok)| !*ok),
        "the seed should give both outcomes: {outcomes:?}"
    );
}

#[tokio::test]
async fn a_send_whose_answer_is_lost_is_not_sent_again() {
    let emulator = emulator().await;
    let mut watcher = watcher(&emulator).await;
    let proxy = ChaosProxy::always(emulator.local_addr(), Fault::CutAnswer).await;
    let error = client_via(&proxy, 3)
        .send_to_all(Message::text("once"))
        .await
        .expect_err("the answer never arrives");
    assert_eq!(proxy.connections(), 1, "a send was retried: {error}");
    assert!(
        error.to_string().contains("connection"),
        "unclear error: {error}"
    );
    // The emulator did act on it, once.
    match watcher.next_frame().await {
        ServerFrame::Message {
            data: FrameData::Text(text),
            ..
        } => assert_eq!(text, "once"),
        other => panic!("expected the message, got {other:?}"),
    }
    assert!(watcher.is_quiet(Duration::from_millis(300)).await);
}

#[tokio::test]
async fn idempotent_operations_are_retried_until_the_budget_runs_out() {
    let emulator = emulator().await;

    // Answers lost every time: 1 + 2 retries, then a clear error naming the attempts.
    let proxy = ChaosProxy::always(emulator.local_addr(), Fault::CutAnswer).await;
    let error = client_via(&proxy, 2)
        .add_user_to_group("g", "alice")
        .await
        .expect_err("never answered");
    assert_eq!(proxy.connections(), 3);
    let shown = error.to_string();
    assert!(shown.contains("3 attempts"), "{shown}");

    // Refused every time: the same budget.
    let proxy = ChaosProxy::always(emulator.local_addr(), Fault::Refuse).await;
    let error = client_via(&proxy, 2)
        .remove_user_from_all_groups("alice")
        .await
        .expect_err("refused");
    assert_eq!(proxy.connections(), 3, "{error}");

    // Lost the first two times, then through: the operation succeeds.
    let proxy = ChaosProxy::start(
        emulator.local_addr(),
        Box::new(|i| if i < 2 { Fault::CutAnswer } else { Fault::Pass }),
    )
    .await;
    client_via(&proxy, 3)
        .remove_user_from_all_groups("bob")
        .await
        .expect("the third attempt goes through");
    assert_eq!(proxy.connections(), 3);
}
