//! Secrets stay out of logs: with every `tracing` event enabled (ours, reqwest's, hyper's),
//! neither REST tokens, client tokens nor the access key are ever written.
//!
//! In a test binary of its own: `tracing` caches per-callsite interest, and a test without a
//! subscriber running first on another thread could hide the spans this test looks for.

#[path = "support/recorder.rs"]
mod recorder;

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use recorder::{Recorder, Reply};
use webpubsub_rest::WebPubSubServiceClient;

const KEY: &str = "logging-test-key";

/// A `MakeWriter` that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn traces_name_operations_but_never_tokens_or_keys() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer({
            let captured = captured.clone();
            move || captured.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let rec = Recorder::start(KEY).await;
    rec.script([
        Reply::status(503).header("retry-after-ms", "1"),
        Reply::status(202),
    ]);
    let client = WebPubSubServiceClient::builder(rec.endpoint(), "chat")
        .access_key(KEY)
        .build()
        .unwrap();
    client.send_to_group("room1", "hello").await.unwrap();
    let minted = client.client_access_token().user_id("alice").await.unwrap();
    rec.script([Reply::status(403)]);
    let _ = client.remove_user_from_all_groups("alice").await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("send_to_group"), "{logs}");
    assert!(logs.contains("retrying"), "{logs}");
    for request in rec.take() {
        let token = request.bearer().unwrap().to_owned();
        assert!(!logs.contains(&token), "a REST token was logged");
    }
    assert!(!logs.contains(minted.token()), "a client token was logged");
    assert!(!logs.contains(KEY), "the access key was logged");
    assert!(!format!("{client:?}{minted:?}").contains(KEY));
}
