//! Retries against a scripted loopback server: 503s with Retry-After, a dropped connection, a
//! 400 that is not retried, an exhausted budget, timeouts (no answer, a stalled body) and a
//! refused connection.

#[path = "support/recorder.rs"]
mod recorder;

use std::{future::IntoFuture, time::Duration};

use recorder::{Recorder, Reply};
use serde_json::json;
use webpubsub_rest::{Error, RetryPolicy, WebPubSubServiceClient};

const KEY: &str = "retry-test-key";

fn client(endpoint: &str, policy: RetryPolicy) -> WebPubSubServiceClient {
    WebPubSubServiceClient::builder(endpoint, "chat")
        .access_key(KEY)
        .retry_policy(policy)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A policy whose own backoff is an hour: a test only finishes in time if the service's hint
/// (or a zero delay) is what the client waited for.
fn hint_only() -> RetryPolicy {
    RetryPolicy::default()
        .initial_delay(Duration::from_secs(3600))
        .max_delay(Duration::from_secs(3600))
}

/// A policy that retries at once.
fn immediate(retries: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(retries)
        .initial_delay(Duration::ZERO)
}

async fn bounded<T>(future: impl IntoFuture<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::time::timeout(Duration::from_secs(20), future.into_future())
        .await
        .expect("the operation should finish (a retry waited for its own backoff instead of Retry-After?)")
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_after_the_hinted_delay() {
    let rec = Recorder::start(KEY).await;
    rec.script([
        Reply::status(503).header("retry-after", "1"),
        Reply::status(503).header("retry-after-ms", "20"),
        Reply::status(202),
    ]);
    let client = client(&rec.endpoint(), hint_only());
    // A send: 503 means the service did not take it, so even a send is retried.
    bounded(client.send_to_group("g", "hello")).await.unwrap();
    let requests = rec.take();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        // Each attempt is signed again, for the same URL.
        request.assert_signed();
        assert_eq!(&request.body[..], b"hello");
    }
}

#[tokio::test]
async fn a_dropped_connection_is_retried_for_idempotent_operations() {
    let rec = Recorder::start(KEY).await;
    rec.script([Reply::Drop, Reply::status(200)]);
    let client = client(&rec.endpoint(), immediate(3));
    bounded(client.add_user_to_group("g", "u")).await.unwrap();
    assert_eq!(rec.take().len(), 2);
}

#[tokio::test]
async fn a_send_is_not_repeated_after_the_connection_dropped_mid_request() {
    let rec = Recorder::start(KEY).await;
    rec.script([Reply::Drop]);
    let client = client(&rec.endpoint(), immediate(3));
    let error = bounded(client.send_to_all("once")).await.unwrap_err();
    assert!(error.is_transport(), "{error:?}");
    assert_eq!(error.attempts(), 1);
    assert_eq!(
        rec.take().len(),
        1,
        "the service may have the message: no second copy"
    );

    // Opting in to the official SDKs' behaviour retries it.
    rec.script([Reply::Drop, Reply::status(202)]);
    let client = WebPubSubServiceClient::builder(rec.endpoint(), "chat")
        .access_key(KEY)
        .retry_policy(immediate(3).retry_sends(true))
        .build()
        .unwrap();
    bounded(client.send_to_all("twice")).await.unwrap();
    assert_eq!(rec.take().len(), 2);
}

#[tokio::test]
async fn a_500_is_retried_for_a_close_but_not_for_a_send() {
    let rec = Recorder::start(KEY).await;
    let client = client(&rec.endpoint(), immediate(3));
    rec.script([Reply::status(500), Reply::status(204)]);
    bounded(client.close_all_connections()).await.unwrap();
    assert_eq!(rec.take().len(), 2);
    rec.script([Reply::status(500)]);
    let error = bounded(client.send_to_user("u", "x")).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(rec.take().len(), 1);
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let rec = Recorder::start(KEY).await;
    rec.script([Reply::json(
        400,
        json!({"code": "Error.BadRequest", "message": "Invalid filter."}),
    )
    .header("x-ms-error-code", "Error.BadRequest")]);
    let client = client(&rec.endpoint(), immediate(5));
    let error = bounded(client.send_to_all("x").filter("userId eq"))
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(error.error_code(), Some("Error.BadRequest"));
    assert_eq!(error.attempts(), 1);
    assert_eq!(rec.take().len(), 1);
}

#[tokio::test]
async fn an_exhausted_budget_returns_the_last_answer() {
    let rec = Recorder::start_with(
        Some(KEY.to_owned()),
        None,
        Reply::status(503).header("x-ms-error-code", "ServiceUnavailable"),
    )
    .await;
    let client = client(&rec.endpoint(), immediate(2));
    let error = bounded(client.remove_user_from_all_groups("u"))
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(error.attempts(), 3, "the first attempt and two retries");
    assert_eq!(
        error.to_string(),
        "remove_user_from_all_groups: the service answered 503 Service Unavailable (ServiceUnavailable) (gave up after 3 attempts)"
    );
    assert_eq!(rec.take().len(), 3);
}

#[tokio::test]
async fn an_attempt_that_takes_too_long_times_out() {
    let rec = Recorder::start(KEY).await;
    rec.script([Reply::Hang]);
    let client = WebPubSubServiceClient::builder(rec.endpoint(), "chat")
        .access_key(KEY)
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = bounded(client.group_exists("g")).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("group_exists: the request to {} timed out", rec.endpoint())
    );
}

#[tokio::test]
async fn an_answer_whose_body_stalls_times_out() {
    // A raw server: the status line and headers arrive, the body never ends.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = socket.read(&mut buffer).await.unwrap();
            assert_ne!(read, 0, "the request ended before its headers");
            request.extend_from_slice(&buffer[..read]);
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{\"va")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let client = WebPubSubServiceClient::builder(endpoint.as_str(), "chat")
        .access_key(KEY)
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = bounded(client.send_to_group("g", "x")).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("send_to_group: the request to {endpoint} timed out")
    );
    server.abort();
}

#[tokio::test]
async fn a_refused_connection_is_retried_even_for_a_send() {
    // Bind, learn the port, close: nothing listens there any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = client(&format!("http://127.0.0.1:{port}"), immediate(2));
    let error = bounded(client.send_to_all("x")).await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert_eq!(
        error.attempts(),
        3,
        "nothing reached the service, so retrying is safe"
    );
    // The message names where it tried, and never the key.
    assert_eq!(
        error.to_string(),
        format!(
            "send_to_all: cannot connect to the service at http://127.0.0.1:{port} (gave up after 3 attempts)"
        )
    );
    assert!(!format!("{error} {error:?}").contains(KEY));
}
