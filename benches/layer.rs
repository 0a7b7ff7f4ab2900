//! Per-request cost of `WebPubSubLayer`, in process (no sockets), each beside the inner service
//! alone:
//!
//! - `user_event/layer`: a signed `user.message` event (text) through header parsing, the
//!   signature check (HMAC-SHA256 over two `ce-signature` entries), the state header, dispatch to
//!   an echoing handler, and the response with a new state header, body collected;
//! - `pass_through/layer`: a request on another path, which the layer hands to the inner service;
//! - `user_event/layer_without_keys`: the same event through a layer with no keys configured,
//!   which shows what the signature check costs;
//! - `*/inner_alone`: the same requests sent straight to the inner service: the baseline.
//!
//! Every iteration builds its request the same way (the signature is computed once, as the
//! service would have), so the difference is the layer's own cost.
//! Run: `cargo bench --bench layer -- --warm-up-time 1 --measurement-time 5` (as
//! BENCHMARKS.md measured it; results there).

use std::{convert::Infallible, hint::black_box, sync::OnceLock};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Body;
use tower::{Layer as _, Service, ServiceExt as _};
use webpubsub::handler::{
    EventError, EventHandler, UserEventRequest, UserEventResponse, WebPubSubLayer,
};

mod support;

use support::{PRIMARY, event_request, other_path, service_signature};

/// Answers "Hey " + the text and counts messages in the state, like the interop reference handler.
#[derive(Debug, Clone)]
struct Echo;

impl EventHandler for Echo {
    async fn on_user_event(&self, req: UserEventRequest) -> Result<UserEventResponse, EventError> {
        let count = req
            .context()
            .states()
            .get::<u64>("count")
            .and_then(Result::ok)
            .unwrap_or(0);
        // Not UTF-8: `InvalidData` converts into a 400 `EventError`.
        let text = req.text()?;
        Ok(UserEventResponse::text(format!("Hey {text}")).set_state("count", count + 1))
    }
}

/// A signed user event with the state `{"count":4}`; the signature is computed once, as the
/// service would have, so that building the request costs the baseline little.
fn user_event() -> Request<Full<Bytes>> {
    static SIGNATURE: OnceLock<String> = OnceLock::new();
    event_request(
        "azure.webpubsub.user.message",
        "text/plain; charset=utf-8",
        b"hello world",
        SIGNATURE.get_or_init(service_signature),
        Some("eyJjb3VudCI6NH0="),
    )
}

/// The inner service: answers a small fixed body.
async fn inner(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"inner"))))
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let inner = tower::service_fn(inner);
    let layered = WebPubSubLayer::new(Echo)
        .hub("chat")
        .connection_string(&format!(
            "Endpoint=https://demo.webpubsub.azure.com;AccessKey={PRIMARY};Version=1.0;"
        ))
        .expect("connection string")
        .layer(inner);

    // Check once, outside the measurement, that the layer really answers the event.
    let body = runtime.block_on(call(layered.clone(), user_event()));
    assert_eq!(
        body,
        Bytes::from_static(b"Hey hello world"),
        "the bench event must be accepted"
    );

    for (name, request) in [
        ("user_event", user_event as fn() -> _),
        ("pass_through", other_path),
    ] {
        let mut group = c.benchmark_group(name);
        group.bench_function("layer", |b| {
            b.to_async(&runtime)
                .iter(|| call(layered.clone(), request()));
        });
        group.bench_function("inner_alone", |b| {
            b.to_async(&runtime).iter(|| call(inner, request()));
        });
        group.finish();
    }

    // The same event through a layer without keys: the difference to `user_event/layer` is the
    // signature check (two HMAC-SHA256 digests compared against the header's entries).
    let unchecked = WebPubSubLayer::new(Echo).hub("chat").layer(inner);
    let mut group = c.benchmark_group("user_event");
    group.bench_function("layer_without_keys", |b| {
        b.to_async(&runtime)
            .iter(|| call(unchecked.clone(), user_event()));
    });
    group.finish();
}

/// One request through `service`, the answer body collected: what a server does per request.
async fn call<S, B>(service: S, request: Request<Full<Bytes>>) -> Bytes
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible>,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let response = service.oneshot(request).await.expect("infallible");
    black_box(
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes(),
    )
}

criterion_group!(benches, bench);
criterion_main!(benches);
