//! Per-request cost (issue 6, row 2), in process, no sockets:
//!
//! - `event/<type>`: one signed event of each type through `WebPubSubLayer`: header parsing,
//!   the `ce-signature` check (HMAC-SHA256, primary + secondary entries), the state header,
//!   dispatch to the handler, the response (body collected). `event/inner_alone` is the same
//!   user-event request answered by the inner service alone (a fixed body, nothing parsed):
//!   the floor of the in-process call;
//! - `pass_through/layer` vs `pass_through/inner_alone`: a request on another path through the
//!   layer and straight to the inner service; the difference is the layer's pass-through cost
//!   (target: under 50 ns);
//! - `state/decode`, `state/encode`: the `ce-connectionState` codec on a 3-key state;
//! - `signature/sign`, `signature/verify`: one HMAC entry, and the check of a two-entry header
//!   against one key (`webpubsub_protocol::signature`);
//! - `jwt/client_token`, `jwt/rest_token`: HS256 signing of a client token (user, 2 roles, a group)
//!   and of a REST token (audience = URL), with `jsonwebtoken`.
//!
//! Each service call is `ready().await` + `call()` on one service value (no clone per call), the
//! same for the layer and the inner service. Run:
//! `cargo bench --bench events -- --warm-up-time 1 --measurement-time 3`; results in
//! BENCHMARKS.md.

use std::{
    convert::Infallible,
    hint::black_box,
    time::{Duration, Instant},
};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Body;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tower::{Layer as _, Service, ServiceExt as _};
use webpubsub::{
    handler::{
        ConnectRequest, ConnectResponse, EventError, EventHandler, UserEventRequest,
        UserEventResponse, WebPubSubLayer,
    },
    protocol::{AccessKey, signature, state::ConnectionStates, token::RestTokenClaims},
};

mod support;

use support::{
    CONNECTION_ID, PRIMARY, client_claims, event_request, other_path, service_signature,
};

/// `{"count":4,"room":"lobby","nick":"alice"}`
const STATE: &str = "eyJjb3VudCI6NCwicm9vbSI6ImxvYmJ5IiwibmljayI6ImFsaWNlIn0=";

/// The handler of the other benches: "Hey " + text for user events, a user id on connect,
/// defaults for the rest.
#[derive(Debug, Clone)]
struct Hey;

impl EventHandler for Hey {
    async fn on_connect(&self, req: ConnectRequest) -> Result<ConnectResponse, EventError> {
        let user = req.context().user_id().unwrap_or("anonymous").to_owned();
        Ok(ConnectResponse::new().user_id(user))
    }

    async fn on_user_event(&self, req: UserEventRequest) -> Result<UserEventResponse, EventError> {
        match req.text() {
            Ok(text) => Ok(UserEventResponse::text(format!("Hey {text}"))),
            Err(_) => Ok(UserEventResponse::binary(req.bytes().clone())),
        }
    }
}

/// The events measured: name, `ce-type`, content type, body.
const EVENTS: &[(&str, &str, &str, &[u8])] = &[
    (
        "connect",
        "azure.webpubsub.sys.connect",
        "application/json; charset=utf-8",
        br#"{"claims":{"sub":["alice"]},"query":{"room":["lobby"]},"headers":{},"subprotocols":["json.webpubsub.azure.v1"],"clientCertificates":[]}"#,
    ),
    (
        "connected",
        "azure.webpubsub.sys.connected",
        "application/json; charset=utf-8",
        b"{}",
    ),
    (
        "user_text",
        "azure.webpubsub.user.message",
        "text/plain; charset=utf-8",
        b"hello world",
    ),
    (
        "user_json",
        "azure.webpubsub.user.message",
        "application/json; charset=utf-8",
        br#"{"text":"hello world"}"#,
    ),
    (
        "user_binary",
        "azure.webpubsub.user.message",
        "application/octet-stream",
        b"\x00\x01\x02hello",
    ),
    (
        "disconnected",
        "azure.webpubsub.sys.disconnected",
        "application/json; charset=utf-8",
        br#"{"reason":"the client closed the connection"}"#,
    ),
    (
        "group_joined",
        "azure.webpubsub.gp.joined",
        "application/json; charset=utf-8",
        br#"{"group":"lobby"}"#,
    ),
    (
        "group_left",
        "azure.webpubsub.gp.left",
        "application/json; charset=utf-8",
        br#"{"group":"lobby"}"#,
    ),
];

/// The inner service: a fixed body, the request unread.
#[derive(Debug, Clone, Copy)]
struct Inner;

impl Service<Request<Full<Bytes>>> for Inner {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(
            b"Hey hello world",
        )))))
    }
}

/// One request through `service` (ready + call), the answer body collected.
async fn call<S, B>(service: &mut S, request: Request<Full<Bytes>>) -> (http::StatusCode, Bytes)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible>,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let response = service
        .ready()
        .await
        .expect("infallible")
        .call(request)
        .await
        .expect("infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, black_box(body))
}

/// `iters` calls of `service`, each with a request from `request`, timed together.
fn timed<S, B>(
    runtime: &tokio::runtime::Runtime,
    iters: u64,
    service: &mut S,
    request: impl Fn() -> Request<Full<Bytes>>,
) -> Duration
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible>,
    B: Body,
    B::Error: std::fmt::Debug,
{
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            call(service, request()).await;
        }
        start.elapsed()
    })
}

fn events(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut layered = WebPubSubLayer::new(Hey)
        .hub("chat")
        .access_key(AccessKey::new(PRIMARY))
        .layer(Inner);
    let signature = service_signature();

    let mut group = c.benchmark_group("event");
    for &(name, ce_type, content_type, body) in EVENTS {
        // Check once, outside the measurement, that the layer accepts the event.
        let (status, _) = runtime.block_on(call(
            &mut layered,
            event_request(ce_type, content_type, body, &signature, Some(STATE)),
        ));
        assert!(status.is_success(), "{name}: the layer answered {status}");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(&runtime, iters, &mut layered, || {
                    event_request(ce_type, content_type, body, &signature, Some(STATE))
                })
            });
        });
    }
    let mut inner = Inner;
    let &(_, ce_type, content_type, body) = EVENTS
        .iter()
        .find(|event| event.0 == "user_text")
        .expect("a user_text event");
    group.bench_function("inner_alone", |b| {
        b.iter_custom(|iters| {
            timed(&runtime, iters, &mut inner, || {
                event_request(ce_type, content_type, body, &signature, Some(STATE))
            })
        });
    });
    group.finish();

    let mut group = c.benchmark_group("pass_through");
    group.bench_function("layer", |b| {
        b.iter_custom(|iters| timed(&runtime, iters, &mut layered, other_path));
    });
    group.bench_function("inner_alone", |b| {
        b.iter_custom(|iters| timed(&runtime, iters, &mut inner, other_path));
    });
    group.finish();
}

fn codecs(c: &mut Criterion) {
    let mut group = c.benchmark_group("state");
    group.bench_function("decode", |b| {
        b.iter(|| ConnectionStates::decode(black_box(STATE)).expect("a valid state"));
    });
    let state = ConnectionStates::decode(STATE).expect("a valid state");
    group.bench_function("encode", |b| b.iter(|| black_box(&state).encode()));
    group.finish();

    let mut group = c.benchmark_group("signature");
    let primary = AccessKey::new(PRIMARY);
    let header = service_signature();
    group.bench_function("sign", |b| {
        b.iter(|| signature::sign(&primary, black_box(CONNECTION_ID)));
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            assert!(signature::verify(
                [black_box(header.as_str())],
                CONNECTION_ID,
                [&primary]
            ));
        });
    });
    group.finish();

    let mut group = c.benchmark_group("jwt");
    let key = EncodingKey::from_secret(PRIMARY.as_bytes());
    let header = Header::new(Algorithm::HS256);
    group.bench_function("client_token", |b| {
        b.iter(|| {
            let claims = client_claims(black_box("alice"));
            jsonwebtoken::encode(&header, &claims, &key).expect("a token")
        });
    });
    group.bench_function("rest_token", |b| {
        b.iter(|| {
            let claims = RestTokenClaims::new(
                black_box(
                    "https://demo.webpubsub.azure.com/api/hubs/chat/:send?api-version=2024-12-01",
                ),
                1_700_000_000,
                3600,
            );
            jsonwebtoken::encode(&header, &claims, &key).expect("a token")
        });
    });
    group.finish();
}

criterion_group!(benches, events, codecs);
criterion_main!(benches);
