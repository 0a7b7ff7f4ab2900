//! Event throughput over loopback HTTP: the two Rust servers and the load generator that
//! `benches/throughput.sh` runs (the third server, @azure/web-pubsub-express, is
//! `benches/load/express_server.mjs`).
//!
//! ```text
//! event_load serve-layer ADDR        (a) axum + WebPubSubLayer at the event path's route
//!                                        (`Router::route_service`), as (b)'s handlers are; the
//!                                        handler answers "Hey " + data
//! event_load serve-layer-router ADDR (a2) as (a), mounted with `Router::layer` (the README's
//!                                        way): axum routes each event through its fallback
//! event_load serve-fixed ADDR        (b) the same axum stack answering the event path with a
//!                                        fixed body, reading nothing: the stack's limit
//! event_load serve-fixed-read ADDR   (b2) as (b), after reading the request body (axum's
//!                                        `Bytes` extractor): what any handler of the event pays
//!                                        the stack before doing anything with it
//! event_load serve-fixed-verify ADDR (b3) as (b2), after checking `ce-signature` with the
//!                                        `hmac` crate: the least a handler that follows the
//!                                        protocol does, the floor under (a)
//! event_load wrk-script EVENT          a wrk Lua script sending the same request as `load`
//!                                    (headers, body) and printing the same JSON line
//! event_load load URL EVENT CONNECTIONS SECONDS
//!                                    closed-loop load: CONNECTIONS keep-alive HTTP/1.1
//!                                    connections (hyper client) each send one signed EVENT
//!                                    (`user` = a `user.message` text event, `connect` = a
//!                                    `sys.connect` event) after the other for SECONDS, after one
//!                                    second of warm-up; prints one JSON line with requests/s
//!                                    and the p50/p99 latency
//! ```
//!
//! A server prints `listening ADDR` once it accepts connections. Requests carry the same
//! headers the service sends (`ce-*`, `WebHook-Request-Origin`, `ce-signature` for the key
//! below); every answer is checked (status, and the body of user events), and a wrong one counts
//! as an error in the report.

use std::{
    net::SocketAddr,
    sync::LazyLock,
    time::{Duration, Instant},
};

use axum::{Router, extract::FromRequest as _, response::IntoResponse as _, routing::post};
use bytes::Bytes;
use hmac::{Hmac, Mac as _};
use http::{HeaderMap, HeaderName, HeaderValue, Request, header::CONTENT_TYPE};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use webpubsub::{
    AccessKey,
    handler::{EventError, EventHandler, UserEventRequest, UserEventResponse, WebPubSubLayer},
    protocol::signature,
};

mod support;

use support::{CONNECTION_ID, event_request};

/// The access key the servers check and the load generator signs with (not a secret).
const KEY: &str = "throughput-bench-key-not-a-secret";
/// The event path: the layer's default, and @azure/web-pubsub-express's for hub `chat`.
const PATH: &str = "/api/webpubsub/hubs/chat/";
const USER_DATA: &str = "hello world";
const USER_ANSWER: &str = "Hey hello world";
const CONNECT_BODY: &str =
    r#"{"claims":{},"query":{},"headers":{},"subprotocols":[],"clientCertificates":[]}"#;
const WARM_UP: Duration = Duration::from_secs(1);

/// Answers user events with "Hey " + their text; `connect` keeps the trait's default (accept).
#[derive(Debug, Clone)]
struct Hey;

impl EventHandler for Hey {
    async fn on_user_event(&self, req: UserEventRequest) -> Result<UserEventResponse, EventError> {
        // Not UTF-8: `InvalidData` converts into a 400 `EventError`.
        let text = req.text()?;
        Ok(UserEventResponse::text(format!("Hey {text}")))
    }
}

fn main() {
    let args = support::args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match args.as_slice() {
        ["serve-layer", addr] => runtime.block_on(serve(addr, layer_route_app())),
        ["serve-layer-router", addr] => runtime.block_on(serve(addr, layer_app())),
        ["serve-fixed", addr] => runtime.block_on(serve(addr, fixed_app())),
        ["serve-fixed-read", addr] => runtime.block_on(serve(addr, fixed_read_app())),
        ["serve-fixed-verify", addr] => runtime.block_on(serve(addr, fixed_verify_app())),
        ["wrk-script", event] => print!("{}", wrk_script(Event::parse(event))),
        ["load", url, event, connections, seconds] => {
            let event = Event::parse(event);
            let connections = connections.parse().expect("CONNECTIONS is a number");
            let seconds = seconds.parse().expect("SECONDS is a number");
            let report = runtime.block_on(load(url, event, connections, seconds));
            println!("{}", report.to_json());
        }
        // `cargo bench`/`cargo test --all-targets` (maybe with a filter): nothing to measure on
        // its own; the script drives it.
        _ => eprintln!(
            "event_load: nothing to do for {args:?}; run benches/throughput.sh (usage in benches/event_load.rs)"
        ),
    }
}

fn layer() -> WebPubSubLayer<Hey> {
    WebPubSubLayer::new(Hey)
        .hub("chat")
        .access_key(AccessKey::new(KEY))
}

/// (a): the layer as the route of the event path, the way (b)'s handlers are routed, so that
/// (a) and (b3) pay axum the same routing (docs/axum.md, "Mounting on one path only").
fn layer_route_app() -> Router {
    let not_found = tower::service_fn(|_: axum::extract::Request| async {
        Ok::<_, std::convert::Infallible>(http::StatusCode::NOT_FOUND.into_response())
    });
    Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route_service(PATH, tower::Layer::layer(&layer(), not_found))
}

/// (a2): the layer on the whole router, which has no route of its own on the event path: axum
/// routes every event through its fallback first.
fn layer_app() -> Router {
    Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .layer(layer())
}

/// (b): the same router answering the event path itself, without reading the request.
fn fixed_app() -> Router {
    Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route(
            PATH,
            post(|| async { ([(CONTENT_TYPE, "text/plain; charset=utf-8")], USER_ANSWER) }),
        )
}

/// (b2): (b), reading the request body first.
fn fixed_read_app() -> Router {
    Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route(
            PATH,
            post(|body: Bytes| async move {
                // Read, and used just enough that it cannot be optimized away.
                let status = if body.is_empty() {
                    http::StatusCode::BAD_REQUEST
                } else {
                    http::StatusCode::OK
                };
                (
                    status,
                    [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                    USER_ANSWER,
                )
            }),
        )
}

/// (b3): (b2), checking the request's signature first, with the `hmac` crate directly and the
/// key's state prepared once: the protocol's one mandatory computation, at its cheapest.
fn fixed_verify_app() -> Router {
    Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route(
            PATH,
            post(|request: axum::extract::Request| async move {
                let signed = signed(request.headers());
                let body = Bytes::from_request(request, &()).await;
                let status = match body {
                    Ok(body) if signed && !body.is_empty() => http::StatusCode::OK,
                    _ => http::StatusCode::UNAUTHORIZED,
                };
                (
                    status,
                    [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                    USER_ANSWER,
                )
            }),
        )
}

/// Whether `headers` carry one `ce-signature` entry that is the HMAC of the connection id under
/// [`KEY`] (the service sends one entry per key; this server has one key).
fn signed(headers: &HeaderMap) -> bool {
    static MAC: LazyLock<Hmac<Sha256>> =
        LazyLock::new(|| Hmac::new_from_slice(KEY.as_bytes()).expect("any key length"));
    const CONNECTION_ID: HeaderName = HeaderName::from_static("ce-connectionid");
    const SIGNATURE: HeaderName = HeaderName::from_static("ce-signature");
    let (Some(connection_id), Some(signature)) =
        (headers.get(CONNECTION_ID), headers.get(SIGNATURE))
    else {
        return false;
    };
    let mut digest = [0; 32];
    let Some(hex_digest) = signature.as_bytes().strip_prefix(b"sha256=") else {
        return false;
    };
    if hex::decode_to_slice(hex_digest, &mut digest).is_err() {
        return false;
    }
    let mut mac = MAC.clone();
    mac.update(connection_id.as_bytes());
    mac.verify_slice(&digest).is_ok()
}

async fn serve(addr: &str, app: Router) {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("the address is free");
    println!(
        "listening {}",
        listener.local_addr().expect("a local address")
    );
    axum::serve(listener, app).await.expect("the server runs");
}

/// The event the load generator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    User,
    Connect,
}

impl Event {
    fn parse(name: &str) -> Self {
        match name {
            "user" => Self::User,
            "connect" => Self::Connect,
            other => panic!("EVENT is `user` or `connect`, not {other:?}"),
        }
    }

    /// The request headers the service sends for this event (without `host`), signed with
    /// [`KEY`] alone; the connection has no state.
    fn headers(self) -> HeaderMap {
        let (ce_type, content_type) = match self {
            Self::User => ("azure.webpubsub.user.message", "text/plain; charset=utf-8"),
            Self::Connect => (
                "azure.webpubsub.sys.connect",
                "application/json; charset=utf-8",
            ),
        };
        let signature = signature::sign(&AccessKey::new(KEY), CONNECTION_ID);
        let request = event_request(ce_type, content_type, self.body(), &signature, None);
        request.into_parts().0.headers
    }

    fn body(self) -> &'static [u8] {
        match self {
            Self::User => USER_DATA.as_bytes(),
            Self::Connect => CONNECT_BODY.as_bytes(),
        }
    }

    /// Whether an answer is what every server gives: 2xx, and "Hey hello world" for user events.
    fn accepts(self, status: http::StatusCode, body: &[u8]) -> bool {
        status.is_success() && (self == Self::Connect || body == USER_ANSWER.as_bytes())
    }
}

/// A wrk script for `event`: the same method, headers and body as [`load`], and a `done`
/// hook printing the JSON line of [`Report::to_json`] (wrk counts non-2xx answers as errors;
/// it does not read bodies, so the script's caller checks them once with `load`).
fn wrk_script(event: Event) -> String {
    let lua = |s: &str| format!("{s:?}"); // Rust's escaping is valid Lua for these ASCII strings
    let mut script = String::from("wrk.method = \"POST\"\n");
    script += &format!(
        "wrk.body = {}\n",
        lua(std::str::from_utf8(event.body()).expect("a UTF-8 body"))
    );
    for (name, value) in &event.headers() {
        script += &format!(
            "wrk.headers[{}] = {}\n",
            lua(name.as_str()),
            lua(value.to_str().expect("an ASCII header"))
        );
    }
    script += r#"
function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format('{"requests":%d,"errors":%d,"seconds":%.3f,"rps":%.1f,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, seconds,
    summary.requests / seconds, latency:percentile(50), latency:percentile(99)))
end
"#;
    script
}

/// What one load run measured.
#[derive(Debug)]
struct Report {
    requests: usize,
    errors: usize,
    seconds: f64,
    latencies_us: Vec<u32>,
}

impl Report {
    fn percentile(&self, p: f64) -> f64 {
        support::percentile(&self.latencies_us, p).map_or(f64::NAN, f64::from)
    }

    fn to_json(&self) -> String {
        format!(
            r#"{{"requests":{},"errors":{},"seconds":{:.3},"rps":{:.1},"p50_us":{},"p99_us":{}}}"#,
            self.requests,
            self.errors,
            self.seconds,
            self.requests as f64 / self.seconds,
            self.percentile(0.50),
            self.percentile(0.99),
        )
    }
}

async fn load(url: &str, event: Event, connections: usize, seconds: u64) -> Report {
    let uri: http::Uri = url.parse().expect("URL is an http URL");
    let authority = uri.authority().expect("URL has a host and port").clone();
    let addr: SocketAddr = authority
        .as_str()
        .parse()
        .expect("URL's host is an IP address and port");
    let mut headers = event.headers();
    headers.insert(
        http::header::HOST,
        HeaderValue::from_str(authority.as_str()).expect("a host header"),
    );
    let start = Instant::now() + WARM_UP;
    let end = start + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (headers, uri) = (headers.clone(), uri.clone());
            tokio::spawn(connection(addr, uri, headers, event, start, end))
        })
        .collect();
    let mut report = Report {
        requests: 0,
        errors: 0,
        seconds: seconds as f64,
        latencies_us: Vec::new(),
    };
    for task in tasks {
        let (latencies, errors) = task.await.expect("a load connection finished");
        report.requests += latencies.len();
        report.errors += errors;
        report.latencies_us.extend(latencies);
    }
    report.latencies_us.sort_unstable();
    report
}

/// One keep-alive connection sending `event` after `event` until `end`; latencies of the
/// requests started after `start`, and how many answers were wrong.
async fn connection(
    addr: SocketAddr,
    uri: http::Uri,
    headers: HeaderMap,
    event: Event,
    start: Instant,
    end: Instant,
) -> (Vec<u32>, usize) {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the server accepts connections");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("an HTTP/1 connection");
    tokio::spawn(conn);
    let body = Bytes::from_static(event.body());
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut errors = 0;
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let mut request = Request::post(uri.clone())
            .body(Full::new(body.clone()))
            .expect("a request");
        *request.headers_mut() = headers.clone();
        let ok = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                match response.into_body().collect().await {
                    Ok(body) => event.accepts(status, &body.to_bytes()),
                    Err(_) => false,
                }
            }
            Err(error) => {
                eprintln!("event_load: request failed: {error}");
                return (latencies, errors + 1);
            }
        };
        if sent >= start {
            if ok {
                latencies.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            } else {
                errors += 1;
            }
        }
    }
    (latencies, errors)
}
