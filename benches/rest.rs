//! Per-call cost of the REST client, each beside a baseline:
//!
//! - `client_token/webpubsub_rest`: `client_access_token()` with a user, two roles and a group:
//!   claims, HS256 signature, client URL; `client_token/jsonwebtoken_alone`: the bare
//!   `jsonwebtoken::encode` of the same claims, the floor any implementation pays;
//! - `send/webpubsub_rest`: `send_to_group(...).excluded(..).filter(..)` to a loopback hyper
//!   server that answers 202: path encoding, query, REST token signed for the exact URL, the
//!   HTTP round trip; `send/reqwest_alone`: the same POST (same URL, body, a fixed bearer token)
//!   with a bare `reqwest::Client`, so the difference is this crate's request building and
//!   signing.
//!
//! Run: `cargo bench --bench rest -- --warm-up-time 1 --measurement-time 3`; results in
//! BENCHMARKS.md.

use std::{convert::Infallible, hint::black_box, time::Duration};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use webpubsub::rest::{Message, RetryPolicy, WebPubSubServiceClient};

#[path = "../examples/support/accept.rs"]
mod accept;
mod support;

use support::client_claims;

const KEY: &str = "bench-access-key-not-a-secret-0123456789";

/// A loopback HTTP/1 server that reads each request and answers 202.
async fn accepting_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            // Out of descriptors under load, `accept` pauses and tries again.
            let (stream, _) = accept::accept(&listener).await;
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    let mut response = Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = hyper::StatusCode::ACCEPTED;
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn client_token(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let client = WebPubSubServiceClient::builder("https://demo.webpubsub.azure.com", "chat")
        .access_key(KEY)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("client_token");
    group.bench_function("webpubsub_rest", |b| {
        b.to_async(&rt).iter(|| async {
            let token = client
                .client_access_token()
                .user_id(black_box("alice"))
                .roles(["webpubsub.sendToGroup.room1", "webpubsub.joinLeaveGroup"])
                .groups(["room1"])
                .await
                .unwrap();
            black_box(token);
        });
    });
    let key = EncodingKey::from_secret(KEY.as_bytes());
    group.bench_function("jsonwebtoken_alone", |b| {
        b.iter(|| {
            let claims = client_claims(black_box("alice"));
            black_box(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap());
        });
    });
    group.finish();
}

fn send(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let endpoint = rt.block_on(accepting_server());
    let client = WebPubSubServiceClient::builder(&endpoint, "chat")
        .access_key(KEY)
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut group = c.benchmark_group("send");
    group.bench_function("webpubsub_rest", |b| {
        b.to_async(&rt).iter(|| async {
            client
                .send_to_group(black_box("room 1"), Message::text("hello"))
                .excluded(["c1", "c2"])
                .filter("userId ne 'bot'")
                .await
                .unwrap();
        });
    });
    // reqwest's own TLS setup needs a process-wide rustls provider when built with
    // `rustls-no-provider` (this crate's client does not: it picks ring itself).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bare = reqwest::Client::new();
    let url = format!(
        "{endpoint}/api/hubs/chat/groups/room%201/:send?api-version=2024-12-01&excluded=c1&excluded=c2&filter=userId%20ne%20%27bot%27"
    );
    group.bench_function("reqwest_alone", |b| {
        b.to_async(&rt).iter(|| async {
            let response = bare
                .post(&url)
                .header("authorization", "Bearer fixed.token.value")
                .header("content-type", "text/plain")
                .body("hello")
                .send()
                .await
                .unwrap();
            black_box(response.bytes().await.unwrap());
        });
    });
    group.finish();
}

criterion_group!(benches, client_token, send);
criterion_main!(benches);
