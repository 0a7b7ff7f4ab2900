//! CloudEvents requests (method, path, headers, body in chunks) through `WebPubSubService`
//! in-process: every request is answered without a panic; refusals are 4xx with a reason in
//! words; the handler only ever sees events signed with the configured key for a served hub; the
//! inner service never sees a request on the event path.
#![no_main]

use std::{
    convert::Infallible,
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, StreamBody};
use libfuzzer_sys::fuzz_target;
use tower::{Layer as _, ServiceExt as _, service_fn};
use webpubsub_protocol::{AccessKey, signature};
use webpubsub_tower::{
    ConnectRequest, ConnectResponse, ConnectedRequest, ConnectionContext, DisconnectedRequest,
    EventError, EventHandler, GroupEventRequest, UserEventRequest, UserEventResponse,
    WebPubSubLayer,
};

const KEY: &str = "fuzz-layer-key-not-a-secret";
const ORIGIN: &str = "trusted.example.com";
const EVENT_PATH: &str = "/api/webpubsub/hubs/chat/";
const BODY_LIMIT: usize = 512;

const HEADERS: &[&str] = &[
    "ce-specversion",
    "ce-type",
    "ce-source",
    "ce-id",
    "ce-time",
    "ce-awpsversion",
    "ce-hub",
    "ce-connectionid",
    "ce-userid",
    "ce-eventname",
    "ce-subprotocol",
    "ce-connectionstate",
    "ce-signature",
    "ce-physicalconnectionid",
    "ce-sessionid",
    "webhook-request-origin",
    "content-type",
    "content-length",
    "mqtt-user-property",
];

const TYPES: &[&str] = &[
    "azure.webpubsub.sys.connect",
    "azure.webpubsub.sys.connected",
    "azure.webpubsub.sys.disconnected",
    "azure.webpubsub.user.message",
    "azure.webpubsub.gp.joined",
    "azure.webpubsub.gp.left",
];

const PATHS: &[&str] = &[
    EVENT_PATH,
    "/api/webpubsub/hubs/CHAT/",
    "/api/webpubsub/hubs/other/",
    "/api/webpubsub/hubs/chat/extra",
    "/",
    "/elsewhere",
];

#[derive(Debug, Arbitrary)]
enum Value {
    Bytes(Vec<u8>),
    EventType(u8),
    Hub(bool),
    Origin(bool),
}

#[derive(Debug, Arbitrary)]
struct Input {
    method: u8,
    path: Result<u8, String>,
    headers: Vec<(Result<u8, String>, Value)>,
    /// Whether to add a valid `ce-signature` for the (first) connection id, and where.
    sign: Option<bool>,
    chunks: Vec<Vec<u8>>,
}

/// Fails the run (through libFuzzer's panic hook) when an event reaches it that the layer must
/// have refused.
struct Checker;

fn check(context: &ConnectionContext) {
    HANDLED.store(true, Ordering::Relaxed);
    assert!(
        context.hub().eq_ignore_ascii_case("chat"),
        "hub {:?} served",
        context.hub()
    );
    let expected = signature::sign(&AccessKey::new(KEY), context.connection_id());
    let signed = context
        .headers()
        .get_all("ce-signature")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|s| s.trim() == expected);
    assert!(
        signed,
        "an event for {:?} without its signature reached the handler",
        context.connection_id()
    );
}

impl EventHandler for Checker {
    async fn on_connect(&self, request: ConnectRequest) -> Result<ConnectResponse, EventError> {
        check(request.context());
        Ok(ConnectResponse::new().user_id("u").set_state("seen", true))
    }
    async fn on_connected(&self, request: ConnectedRequest) -> Result<(), EventError> {
        check(request.context());
        Ok(())
    }
    async fn on_user_event(
        &self,
        request: UserEventRequest,
    ) -> Result<UserEventResponse, EventError> {
        check(request.context());
        Ok(UserEventResponse::binary(request.bytes().clone()).remove_state("seen"))
    }
    async fn on_disconnected(&self, request: DisconnectedRequest) -> Result<(), EventError> {
        check(request.context());
        Ok(())
    }
    async fn on_group_joined(&self, request: GroupEventRequest) -> Result<(), EventError> {
        check(request.context());
        Ok(())
    }
    async fn on_group_left(&self, request: GroupEventRequest) -> Result<(), EventError> {
        check(request.context());
        Ok(())
    }
}

static HANDLED: AtomicBool = AtomicBool::new(false);
static INNER: AtomicBool = AtomicBool::new(false);

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

/// The layer under test, built once rather than for every input.
fn layer() -> &'static WebPubSubLayer<Checker> {
    static LAYER: OnceLock<WebPubSubLayer<Checker>> = OnceLock::new();
    LAYER.get_or_init(|| {
        WebPubSubLayer::new(Checker)
            .hub("chat")
            .connection_string(&format!("Endpoint=https://{ORIGIN};AccessKey={KEY}"))
            .expect("the connection string")
            .body_limit(BODY_LIMIT)
            .handler_timeout(Duration::from_secs(5))
    })
}

fn request(input: &Input) -> Option<Request<StreamBody<BodyChunks>>> {
    let methods = [
        Method::POST,
        Method::OPTIONS,
        Method::GET,
        Method::PUT,
        Method::DELETE,
    ];
    let method = methods[usize::from(input.method) % methods.len()].clone();
    let path = match &input.path {
        Ok(i) => PATHS[usize::from(*i) % PATHS.len()].to_owned(),
        Err(raw) => raw.clone(),
    };
    let mut builder = Request::builder().method(method).uri(path);
    let mut connection_id = None;
    for (name, value) in input.headers.iter().take(32) {
        let name = match name {
            Ok(i) => HeaderName::from_static(HEADERS[usize::from(*i) % HEADERS.len()]),
            Err(raw) => HeaderName::try_from(raw.as_str()).ok()?,
        };
        let value = match value {
            Value::Bytes(bytes) => HeaderValue::from_bytes(bytes).ok()?,
            Value::EventType(i) => HeaderValue::from_static(TYPES[usize::from(*i) % TYPES.len()]),
            Value::Hub(upper) => HeaderValue::from_static(if *upper { "CHAT" } else { "chat" }),
            Value::Origin(true) => HeaderValue::from_static(ORIGIN),
            Value::Origin(false) => HeaderValue::from_static("trusted.example.com.attacker.tld"),
        };
        if name == "ce-connectionid" && connection_id.is_none() {
            connection_id = value.to_str().ok().map(str::to_owned);
        }
        builder = builder.header(name, value);
    }
    if let (Some(first), Some(id)) = (input.sign, connection_id) {
        let good = signature::sign(&AccessKey::new(KEY), &id);
        let value = if first {
            good
        } else {
            format!("sha256=00,{good}")
        };
        builder = builder.header("ce-signature", value);
    }
    let chunks: Vec<Result<http_body::Frame<Bytes>, Infallible>> = input
        .chunks
        .iter()
        .take(16)
        .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    builder
        .body(StreamBody::new(futures_util::stream::iter(chunks)))
        .ok()
}

type BodyChunks =
    futures_util::stream::Iter<std::vec::IntoIter<Result<http_body::Frame<Bytes>, Infallible>>>;

fuzz_target!(|input: Input| {
    let Some(request) = request(&input) else {
        return;
    };
    // The first four fixed paths are on the layer's path (`{hub}/` is a prefix).
    let on_event_path = matches!(input.path, Ok(i) if usize::from(i) % PATHS.len() < 4);
    let inner = service_fn(|_request: Request<StreamBody<BodyChunks>>| async {
        INNER.store(true, Ordering::Relaxed);
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"inner"))))
    });
    HANDLED.store(false, Ordering::Relaxed);
    INNER.store(false, Ordering::Relaxed);
    let service = layer().layer(inner);
    let (status, body) = runtime().block_on(async {
        let response = service.oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("infallible")
            .to_bytes();
        (status, body)
    });
    assert!(
        status != StatusCode::INTERNAL_SERVER_ERROR && status != StatusCode::GATEWAY_TIMEOUT,
        "{status} for {input:?}: {body:?}"
    );
    if status.is_client_error() {
        assert!(
            !HANDLED.load(Ordering::Relaxed),
            "{status} after the handler ran"
        );
        assert!(
            body.iter().any(u8::is_ascii_alphabetic),
            "{status} without a reason: {body:?}"
        );
    }
    if on_event_path {
        assert!(
            !INNER.load(Ordering::Relaxed),
            "the inner service saw an event-path request"
        );
    }
});
