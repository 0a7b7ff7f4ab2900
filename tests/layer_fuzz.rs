//! Arbitrary requests on the layer's path (property tests, in process through
//! `tower::ServiceExt::oneshot`): whatever the method, `ce-*` headers, content type, state and
//! body, the layer never panics, never answers 5xx with a handler that never fails, never hands
//! its path to the inner service, explains every refusal in words with a `Rejection`, and never
//! accepts an event whose signature was not made with the configured key.

use std::{convert::Infallible, sync::Arc};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use proptest::{prelude::*, test_runner::TestRunner};
use tower::{Layer as _, ServiceExt as _};
use webpubsub::handler::{ClosureHandler, Rejection, WebPubSubLayer};
use webpubsub_protocol::{AccessKey, signature};

const KEY: &str = "fuzz-key-not-a-secret";
const ORIGIN: &str = "demo.webpubsub.azure.com";

/// One generated request.
#[derive(Debug, Clone)]
struct Input {
    method: Method,
    ce_type: Option<String>,
    hub: Option<String>,
    connection_id: Option<String>,
    content_type: Option<String>,
    state: Option<String>,
    origin: Option<String>,
    /// true: sign with the configured key; false: this arbitrary value (or none)
    signed: bool,
    signature: Option<String>,
    body: Vec<u8>,
}

fn one_of(values: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(values).prop_map(str::to_owned)
}

/// Mostly `valid`, sometimes absent, one of the interesting values, or any printable text.
fn header_text(
    valid: &'static str,
    interesting: &'static [&'static str],
) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        12 => Just(Some(valid.to_owned())),
        1 => Just(None),
        2 => one_of(interesting).prop_map(Some),
        1 => "[ -~]{0,40}".prop_map(Some),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    let method = prop_oneof![
        6 => Just(Method::POST),
        2 => Just(Method::OPTIONS),
        1 => Just(Method::GET),
        1 => Just(Method::PUT),
    ];
    let ce_type = header_text(
        "azure.webpubsub.user.message",
        &[
            "azure.webpubsub.sys.connect",
            "azure.webpubsub.sys.connected",
            "azure.webpubsub.sys.disconnected",
            "azure.webpubsub.user.message",
            "azure.webpubsub.user.",
            "azure.webpubsub.gp.joined",
            "azure.webpubsub.gp.left",
            "azure.webpubsub.sys.other",
        ],
    );
    let hub = header_text("chat", &["CHAT", "other", ""]);
    let connection_id = header_text("conn1", &["", "c", "conn 2"]);
    let content_type = header_text(
        "text/plain",
        &[
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/octet-stream",
            "application/x-protobuf",
            "image/png",
            ";",
        ],
    );
    let state = header_text("eyJhIjoxfQ==", &["e30=", "!!", "W10=", "bnVsbA==", ""]);
    let origin = header_text(
        ORIGIN,
        &["evil.example.com", "demo.webpubsub.azure.com, x.y", ""],
    );
    let signature = header_text("sha256=00", &["sha256=", "", ",,,"]);
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        one_of(&[
            "{}",
            "{\"group\":\"g\"}",
            "{\"reason\":null}",
            "[]",
            "null",
            "{\"claims\":{\"a\":[\"b\"]}}"
        ])
        .prop_map(String::into_bytes),
    ];
    (
        (method, ce_type, hub, connection_id, content_type),
        (
            state,
            origin,
            proptest::bool::weighted(0.8),
            signature,
            body,
        ),
    )
        .prop_map(
            |(
                (method, ce_type, hub, connection_id, content_type),
                (state, origin, signed, signature, body),
            )| Input {
                method,
                ce_type,
                hub,
                connection_id,
                content_type,
                state,
                origin,
                signed,
                signature,
                body,
            },
        )
}

fn request(input: &Input) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(input.method.clone())
        .uri("/api/webpubsub/hubs/chat/")
        .header("ce-awpsversion", "1.0")
        .header("ce-specversion", "1.0");
    let mut set = |name: &str, value: &Option<String>| {
        if let Some(value) = value {
            let value = HeaderValue::from_str(value).expect("printable ASCII is a header value");
            builder = std::mem::take(&mut builder).header(name, value);
        }
    };
    set("ce-type", &input.ce_type);
    set("ce-hub", &input.hub);
    set("ce-connectionId", &input.connection_id);
    set("content-type", &input.content_type);
    set("ce-connectionState", &input.state);
    set("WebHook-Request-Origin", &input.origin);
    let signature = if input.signed {
        input
            .connection_id
            .as_deref()
            .map(|id| signature::sign(&AccessKey::new(KEY), id))
    } else {
        input.signature.clone()
    };
    set("ce-signature", &signature);
    builder
        .body(Full::new(Bytes::from(input.body.clone())))
        .expect("a valid request")
}

async fn inner(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .status(StatusCode::IM_A_TEAPOT)
        .body(Full::new(Bytes::from_static(b"inner")))
        .expect("response"))
}

#[test]
fn arbitrary_requests_get_a_clear_answer() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let service = WebPubSubLayer::new(ClosureHandler::new())
        .hub("chat")
        .connection_string(&format!(
            "Endpoint=https://{ORIGIN};AccessKey={KEY};Version=1.0;"
        ))
        .expect("connection string")
        .layer(tower::service_fn(inner));

    let mut runner = TestRunner::new(ProptestConfig {
        cases: 1024,
        ..ProptestConfig::default()
    });
    let result = runner.run(&input(), |input| {
        let response = runtime
            .block_on(service.clone().oneshot(request(&input)))
            .expect("infallible");
        let status = response.status();
        let rejection = response.extensions().get::<Rejection>().cloned();
        let body = runtime
            .block_on(response.into_body().collect())
            .expect("the layer's bodies do not fail")
            .to_bytes();

        prop_assert_ne!(
            status,
            StatusCode::IM_A_TEAPOT,
            "the layer's path never reaches the inner service"
        );
        prop_assert!(!status.is_server_error(), "{} for {:?}", status, input);
        if status.is_client_error() {
            prop_assert!(
                rejection.is_some(),
                "a {} without a Rejection for {:?}",
                status,
                input
            );
            prop_assert_eq!(rejection.as_ref().map(Rejection::status), Some(status));
            let reason = String::from_utf8_lossy(&body);
            prop_assert!(
                reason.chars().any(char::is_alphabetic),
                "{} without a reason for {:?}",
                status,
                input
            );
        } else if input.method == Method::POST {
            // accepted: only ever with a signature made with the configured key
            prop_assert!(
                input.signed,
                "{} for an event not signed with the key: {:?}",
                status,
                input
            );
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // The generator must reach the handler now and then, or the property says little.
    let accepted = accepted.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        accepted > 10,
        "only {accepted} of 1024 generated events were accepted"
    );
}
