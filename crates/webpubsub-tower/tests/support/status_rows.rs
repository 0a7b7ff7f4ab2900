//! The layer's status map as one table: each row is a request the service would send (or a
//! handler outcome it provokes) and the answer it must get: status, `Rejection` kind, headers,
//! body, and whether the handler ran.
//!
//! `crates/webpubsub-tower/tests/status_map.rs` checks every row over loopback HTTP; the
//! workspace's `tests/tunnel_client.rs` includes this file by path (as it includes `layer.rs`)
//! and checks that every row reads the same through the tunnel as over HTTP. A file included by
//! path, rather than an export of the crate's `testing` feature, keeps test-only rows and an
//! unruly handler out of the published API.

use std::{
    fmt::Write as _,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use webpubsub_tower::{
    ConnectRequest, ConnectResponse, ConnectedRequest, DisconnectedRequest, EventError,
    EventHandler, GroupEventRequest, UserEventRequest, UserEventResponse, WebPubSubLayer,
};

use super::layer::{
    Answer, Event, ORIGIN, PRIMARY_KEY, REJECTION_HEADER, SECONDARY_KEY, app as layer_app,
    encode_state, sign, vector_layer,
};

/// The body limit of [`app`].
pub const BODY_LIMIT: usize = 64 * 1024;
/// The handler timeout of [`app`].
pub const HANDLER_TIMEOUT: Duration = Duration::from_millis(200);
/// What [`Outcomes`] panics with; no answer may show it.
pub const LEAK: &str = "a detail that must not leak";

/// The app every row is sent to: [`vector_layer`] around `handler`, a [`BODY_LIMIT`] body limit
/// and a [`HANDLER_TIMEOUT`] handler timeout, inside [`layer_app`]'s inner router and
/// `Rejection` header.
pub fn app(handler: Outcomes) -> axum::Router {
    layer_app(layer(handler))
}

/// The layer of [`app`].
pub fn layer(handler: Outcomes) -> WebPubSubLayer<Outcomes> {
    vector_layer(handler)
        .body_limit(BODY_LIMIT)
        .handler_timeout(HANDLER_TIMEOUT)
}

/// Every outcome of an event, chosen by the connect query or the user event's name: an error
/// status, a panic, a slow answer (past the timeout), an answer with a body, state or MQTT
/// properties. The non-blocking events fail, panic or time out, which must not change their
/// `200`.
/// Counts the calls it sees.
#[derive(Debug, Clone, Default)]
pub struct Outcomes {
    calls: Arc<AtomicUsize>,
}

impl Outcomes {
    /// How many events reached the handler so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn called(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

fn refused_with(code: &str, what: &str) -> EventError {
    let code: u16 = code.parse().expect("the row names a status");
    EventError::new(
        StatusCode::from_u16(code).expect("a status"),
        format!("{what} refused with {code}"),
    )
}

impl EventHandler for Outcomes {
    async fn on_connect(&self, req: ConnectRequest) -> Result<ConnectResponse, EventError> {
        self.called();
        let query = req.query();
        if query.contains_key("panic") {
            panic!("{LEAK}");
        }
        if query.contains_key("slow") {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        if let Some(code) = query.get("status").and_then(|v| v.first()) {
            return Err(refused_with(code, "connect"));
        }
        if query.contains_key("mqtt-error") {
            return Err(EventError::mqtt(4, "bad password").with_mqtt_user_property("k", "v"));
        }
        if query.contains_key("empty") {
            return Ok(ConnectResponse::new());
        }
        Ok(ConnectResponse::new()
            .user_id("renamed")
            .groups(["g1"])
            .subprotocol("json.webpubsub.azure.v1"))
    }

    async fn on_connected(&self, _req: ConnectedRequest) -> Result<(), EventError> {
        self.called();
        Err(EventError::internal("db down"))
    }

    async fn on_disconnected(&self, _req: DisconnectedRequest) -> Result<(), EventError> {
        self.called();
        panic!("{LEAK}");
    }

    async fn on_group_joined(&self, _req: GroupEventRequest) -> Result<(), EventError> {
        self.called();
        Err(EventError::unauthorized("group joined failed"))
    }

    async fn on_group_left(&self, _req: GroupEventRequest) -> Result<(), EventError> {
        self.called();
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    }

    async fn on_user_event(&self, req: UserEventRequest) -> Result<UserEventResponse, EventError> {
        self.called();
        match req.context().event_name() {
            "panic" => panic!("{LEAK}"),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(UserEventResponse::text("late"))
            }
            "binary" => Ok(UserEventResponse::binary(req.bytes().clone())),
            "json" => Ok(UserEventResponse::json(&json!({ "echo": req.text()? }))?),
            "describe" => Ok(UserEventResponse::text(format!(
                "{:?}:{}",
                req.data_type(),
                req.bytes().len()
            ))),
            "state" => Ok(UserEventResponse::text("kept").set_state("seen", json!({ "n": 2 }))),
            "remove" => Ok(UserEventResponse::empty().remove_state("before")),
            "clear" => Ok(UserEventResponse::empty().clear_states()),
            "count" => {
                let count: i64 = req
                    .context()
                    .states()
                    .get("count")
                    .transpose()?
                    .unwrap_or(0);
                Ok(UserEventResponse::text(count.to_string()).set_state("count", count + 1))
            }
            "empty" => Ok(UserEventResponse::empty()),
            "mqtt-properties" => Ok(UserEventResponse::text("ok")
                .mqtt_user_property("color", "red")
                .mqtt_user_property("color", "blue")),
            "bad-property" => {
                Ok(UserEventResponse::text("ok").mqtt_user_property("not a token", "v"))
            }
            name if name.parse::<u16>().is_ok() => Err(refused_with(name, "event")),
            _ => Ok(UserEventResponse::text(format!("fine {}", req.text()?))),
        }
    }
}

/// What a row's answer body must be.
#[derive(Debug, Clone)]
pub enum Body {
    /// Exactly these bytes.
    Is(Bytes),
    /// A reason in words that contains this text.
    Says(&'static str),
    /// This JSON value.
    Json(Value),
}

/// One row of the status map: a request and the answer it must get.
#[derive(Debug, Clone)]
pub struct Row {
    /// What the row is, as failures name it.
    pub name: String,
    /// The request.
    pub event: Event,
    /// The status.
    pub status: StatusCode,
    /// The `RejectionKind` (Debug form) the layer refuses with; `None`: no `Rejection`.
    pub refused: Option<&'static str>,
    /// Headers that must have this value (joined with `, ` when repeated), or be absent.
    pub headers: Vec<(&'static str, Option<String>)>,
    /// The decoded `ce-connectionState` the answer must set.
    pub states: Option<Value>,
    /// The body.
    pub body: Body,
    /// Whether the handler ran.
    pub handled: bool,
}

impl Row {
    /// A row the handler answers with `status` and an empty body.
    fn new(name: impl Into<String>, event: Event, status: u16) -> Self {
        Self {
            name: name.into(),
            event,
            status: StatusCode::from_u16(status).expect("a status"),
            refused: None,
            headers: Vec::new(),
            states: None,
            body: Body::Is(Bytes::new()),
            handled: true,
        }
    }

    /// A row the layer refuses with `status` and `kind`, before the handler, saying `reason`.
    fn refused(
        name: impl Into<String>,
        event: Event,
        status: u16,
        kind: &'static str,
        reason: &'static str,
    ) -> Self {
        Self {
            refused: Some(kind),
            body: Body::Says(reason),
            handled: false,
            ..Self::new(name, event, status)
        }
    }

    fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Body::Is(body.into());
        self
    }

    fn says(mut self, reason: &'static str) -> Self {
        self.body = Body::Says(reason);
        self
    }

    fn json(mut self, value: Value) -> Self {
        self.body = Body::Json(value);
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, Some(value.to_owned())));
        self
    }

    fn no_header(mut self, name: &'static str) -> Self {
        self.headers.push((name, None));
        self
    }

    fn states(mut self, states: Value) -> Self {
        self.states = Some(states);
        self
    }

    fn unhandled(mut self) -> Self {
        self.handled = false;
        self
    }

    /// For a refusal after the handler ran: its panic or its timeout.
    fn handled(mut self) -> Self {
        self.handled = true;
        self
    }

    /// Every way `answer` differs from the row, in words; empty when it matches.
    pub fn mismatches(&self, answer: &Answer) -> Vec<String> {
        let mut wrong = Vec::new();
        if answer.status != self.status {
            wrong.push(format!(
                "status {} instead of {}",
                answer.status, self.status
            ));
        }
        let refused = self
            .refused
            .map(|kind| format!("{kind} {}", self.status.as_u16()));
        if answer.header(REJECTION_HEADER) != refused {
            wrong.push(format!(
                "Rejection {:?} instead of {refused:?}",
                answer.header(REJECTION_HEADER)
            ));
        }
        for (name, value) in &self.headers {
            if answer.header(name) != *value {
                wrong.push(format!(
                    "{name}: {:?} instead of {value:?}",
                    answer.header(name)
                ));
            }
        }
        if let Some(states) = &self.states {
            let got = answer.states();
            if got.as_ref() != Some(states) {
                wrong.push(format!("states {got:?} instead of {states}"));
            }
        }
        let text = String::from_utf8_lossy(&answer.body);
        match &self.body {
            Body::Is(bytes) if answer.body != *bytes => {
                wrong.push(format!("body {:?} instead of {bytes:?}", answer.body));
            }
            Body::Says(reason)
                if !text.contains(reason) || !text.chars().any(char::is_alphabetic) =>
            {
                wrong.push(format!("body {text:?} does not say {reason:?}"));
            }
            Body::Json(value)
                if serde_json::from_slice::<Value>(&answer.body).ok().as_ref() != Some(value) =>
            {
                wrong.push(format!("body {text:?} instead of {value}"));
            }
            _ => {}
        }
        for secret in [PRIMARY_KEY, SECONDARY_KEY, LEAK] {
            if text.contains(secret) {
                wrong.push(format!("body {text:?} shows {secret:?}"));
            }
        }
        wrong
    }
}

/// Joins failing rows into one message, one row per line.
pub fn report(failures: &[(String, Vec<String>)], rows: usize) -> String {
    let mut message = format!("{} of {rows} rows failed:\n", failures.len());
    for (row, wrong) in failures {
        let _ = writeln!(message, "  {row}: {}", wrong.join("; "));
    }
    message
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// Every row of the status map.
pub fn rows() -> Vec<Row> {
    let mut rows = vec![
        // the abuse-protection handshake
        Row::new("preflight allowed", Event::preflight(Some(ORIGIN)), 200)
            .header("webhook-allowed-origin", ORIGIN)
            .header("allow", "POST")
            .unhandled(),
        Row::new(
            "preflight from an allowed origin in upper case",
            Event::preflight(Some(&ORIGIN.to_ascii_uppercase())),
            200,
        )
        .header("webhook-allowed-origin", &ORIGIN.to_ascii_uppercase())
        .unhandled(),
        Row::new(
            "preflight listing the allowed origin second",
            Event::preflight(Some(&format!("replica-1.webpubsub.azure.com, {ORIGIN}"))),
            200,
        )
        .header("webhook-allowed-origin", ORIGIN)
        .unhandled(),
        Row::new(
            "preflight listing origins without a space",
            Event::preflight(Some(&format!("replica-1.webpubsub.azure.com,{ORIGIN}"))),
            200,
        )
        .header("webhook-allowed-origin", ORIGIN)
        .unhandled(),
        Row::new(
            "preflight listing origins with a space only",
            Event::preflight(Some(&format!("replica-1.webpubsub.azure.com {ORIGIN}"))),
            200,
        )
        .header("webhook-allowed-origin", ORIGIN)
        .unhandled(),
        Row::new(
            "preflight with the allowed origin on a second line",
            Event::preflight(Some("replica-1.webpubsub.azure.com"))
                .append_header("WebHook-Request-Origin", ORIGIN),
            200,
        )
        .header("webhook-allowed-origin", ORIGIN)
        .unhandled(),
        Row::new(
            "preflight without ce-awpsversion",
            Event::preflight(Some(ORIGIN)).without("ce-awpsversion"),
            200,
        )
        .header("webhook-allowed-origin", ORIGIN)
        .unhandled(),
        Row::refused(
            "preflight without origin",
            Event::preflight(None),
            400,
            "MissingOrigin",
            "WebHook-Request-Origin",
        )
        .no_header("webhook-allowed-origin"),
        Row::refused(
            "preflight with an empty origin",
            Event::preflight(Some("")),
            400,
            "OriginNotAllowed",
            "origin \"\" is not allowed",
        )
        .no_header("webhook-allowed-origin"),
    ];
    for origin in [
        "evil.example.com",
        "demo.webpubsub.azure.com.attacker.tld",
        "attacker.tld, evil.example.com",
        "xdemo.webpubsub.azure.com",
    ] {
        rows.push(
            Row::refused(
                format!("preflight from {origin}"),
                Event::preflight(Some(origin)),
                400,
                "OriginNotAllowed",
                "not allowed",
            )
            .no_header("webhook-allowed-origin"),
        );
    }
    // methods
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        rows.push(
            Row::refused(
                format!("{method}"),
                Event::text("x").method(method),
                405,
                "MethodNotAllowed",
                "not allowed",
            )
            .header("allow", "OPTIONS, POST"),
        );
    }
    rows.push(
        Row::refused(
            "HEAD",
            Event::text("x").method(Method::HEAD),
            405,
            "MethodNotAllowed",
            "",
        )
        .header("allow", "OPTIONS, POST")
        .body(""),
    );
    // malformed CloudEvents heads
    for (name, event, kind, reason) in [
        (
            "no ce-type",
            Event::text("x").without("ce-type"),
            "MissingHeader",
            "missing ce-type header",
        ),
        (
            "no ce-hub",
            Event::text("x").without("ce-hub"),
            "MissingHeader",
            "ce-hub",
        ),
        (
            "empty ce-hub",
            Event::text("x").hub(""),
            "MalformedHeader",
            "ce-hub",
        ),
        (
            "no ce-connectionId",
            Event::text("x").without("ce-connectionId"),
            "MissingHeader",
            "ce-connectionId",
        ),
        (
            "empty ce-connectionId",
            Event::text("x").connection_id("", &[PRIMARY_KEY]),
            "MalformedHeader",
            "ce-connectionId",
        ),
        (
            "ce-type of another kind",
            Event::text("x").header("ce-type", "com.example.other"),
            "UnknownEventType",
            "com.example.other",
        ),
        (
            "user ce-type without a name",
            Event::text("x").header("ce-type", "azure.webpubsub.user."),
            "UnknownEventType",
            "azure.webpubsub.user.",
        ),
        (
            "an azure.webpubsub kind that does not exist",
            Event::connected().header("ce-type", "azure.webpubsub.other.x"),
            "UnknownEventType",
            "azure.webpubsub.other.x",
        ),
        (
            "non-UTF-8 ce-userId",
            {
                let mut event = Event::text("x");
                event.headers.insert(
                    "ce-userid",
                    http::HeaderValue::from_bytes(b"al\xffce").expect("opaque bytes"),
                );
                event
            },
            "MalformedHeader",
            "ce-userId",
        ),
    ] {
        rows.push(Row::refused(name, event, 400, kind, reason));
    }
    // state headers
    for (name, state) in [
        ("state not base64", "!!not base64!!".to_owned()),
        ("state of percent signs", "%%%".to_owned()),
        ("state base64 of non-JSON", "bm90IGpzb24=".to_owned()),
        ("state of a JSON array", encode_state(&json!([1, 2]))),
        ("state of a JSON string", encode_state(&json!("s"))),
    ] {
        rows.push(Row::refused(
            name,
            Event::text("x").header("ce-connectionState", &state),
            400,
            "InvalidState",
            "state",
        ));
    }
    rows.push(Row::refused(
        "two state headers",
        Event::text("x")
            .states(json!({ "a": 1 }))
            .append_header("ce-connectionState", &encode_state(&json!({ "b": 2 }))),
        400,
        "MalformedHeader",
        "ce-connectionState",
    ));
    // signatures
    let signed = sign(PRIMARY_KEY, "conn-7f3a");
    for (name, event, kind) in [
        (
            "no signature",
            Event::text("x").without("ce-signature"),
            "MissingSignature",
        ),
        (
            "empty signature",
            Event::text("x").header("ce-signature", ""),
            "InvalidSignature",
        ),
        (
            "signed with another key",
            Event::text("x").signed_with(&["some-other-key"]),
            "InvalidSignature",
        ),
        (
            "signature of another connection",
            Event::text("x").header("ce-signature", &sign(PRIMARY_KEY, "conn-other")),
            "InvalidSignature",
        ),
        (
            "signature hex without its prefix",
            Event::text("x").header("ce-signature", signed.trim_start_matches("sha256=")),
            "InvalidSignature",
        ),
        (
            "truncated signature",
            Event::text("x").header("ce-signature", &signed[..40]),
            "InvalidSignature",
        ),
        (
            "garbage signature",
            Event::text("x").header("ce-signature", "sha256=zz,,, ,sha1=00"),
            "InvalidSignature",
        ),
        (
            "unsigned, to a hub not served",
            Event::text("x").hub("other").without("ce-signature"),
            "MissingSignature",
        ),
        (
            "connect signed with another key",
            Event::connect(json!({})).signed_with(&["some-other-key"]),
            "InvalidSignature",
        ),
        (
            "connected signed with another key",
            Event::connected().signed_with(&["some-other-key"]),
            "InvalidSignature",
        ),
        (
            "disconnected signed with another key",
            Event::disconnected("bye").signed_with(&["some-other-key"]),
            "InvalidSignature",
        ),
        (
            "group joined signed with another key",
            Event::group_joined("g").signed_with(&["some-other-key"]),
            "InvalidSignature",
        ),
        (
            "group left signed with another key",
            Event::group_left("g").signed_with(&["some-other-key"]),
            "InvalidSignature",
        ),
    ] {
        rows.push(Row::refused(name, event, 401, kind, "signature"));
    }
    // The key is chosen by origin host: without an origin, or from another, no key applies.
    rows.extend([
        Row::refused(
            "origin without a key",
            Event::text("x").origin("other.webpubsub.azure.com"),
            401,
            "InvalidSignature",
            "no access key is configured for the origin",
        ),
        Row::refused(
            "no origin",
            Event::text("x").without("WebHook-Request-Origin"),
            401,
            "InvalidSignature",
            "missing WebHook-Request-Origin header",
        ),
        // CloudEvents requires it, but the service's events are read without it.
        Row::new(
            "no ce-specversion",
            Event::text("x").without("ce-specversion"),
            200,
        )
        .body("fine x"),
    ]);
    rows.push(
        Row::new(
            "one good signature among others",
            Event::text("x").signed_with(&["an-old-key", PRIMARY_KEY]),
            200,
        )
        .body("fine x"),
    );
    // hubs
    for hub in ["other", "chat2", "cha"] {
        rows.push(Row::refused(
            format!("hub {hub:?} not served"),
            Event::text("x").hub(hub),
            404,
            "HubNotServed",
            "not served",
        ));
    }
    // bodies
    rows.extend([
        Row::new(
            "body at the limit",
            Event::text(&"a".repeat(BODY_LIMIT)),
            200,
        )
        .body(format!("fine {}", "a".repeat(BODY_LIMIT))),
        Row::refused(
            "body over the limit",
            Event::text(&"a".repeat(BODY_LIMIT + 1)),
            413,
            "PayloadTooLarge",
            "limit",
        ),
        Row::refused(
            "connect over the limit",
            Event::connect(json!({ "claims": { "big": ["x".repeat(BODY_LIMIT)] } })),
            413,
            "PayloadTooLarge",
            "limit",
        ),
        Row::refused(
            "connect not JSON",
            Event::connect(json!({})).body("{not json"),
            400,
            "InvalidBody",
            "connect",
        ),
        Row::refused(
            "connect claims not a map",
            Event::connect(json!({ "claims": 5 })),
            400,
            "InvalidBody",
            "expected a map",
        ),
        Row::refused(
            "disconnected not JSON",
            Event::disconnected("x").body("nope"),
            400,
            "InvalidBody",
            "disconnected",
        ),
        Row::refused(
            "group joined not JSON",
            Event::group_joined("g").body("{\"group\":"),
            400,
            "InvalidBody",
            "group",
        ),
        Row::refused(
            "group joined without a group",
            Event::group_joined("g").body("{}"),
            400,
            "InvalidBody",
            "group",
        ),
        Row::refused(
            "text that is not UTF-8",
            Event::user("message", "text/plain", &b"\xff\xfe"[..]),
            400,
            "InvalidBody",
            "not utf-8",
        ),
        Row::refused(
            "JSON that does not parse",
            Event::user("message", "application/json", "{\"n\":"),
            400,
            "InvalidBody",
            "declared application/json but is not json",
        ),
        Row::refused(
            "JSON with a charset that does not parse",
            Event::user("message", "application/json; charset=utf-8", "nope"),
            400,
            "InvalidBody",
            "is not json",
        ),
    ]);
    // Regression (bad-input corpus): serde reads a struct from a JSON array too, so `[]` was
    // served as an empty connect.
    for body in ["[1, 2]", "[]", " [{}]", "\"connect\"", "5"] {
        rows.push(Row::refused(
            format!("connect body {body}"),
            Event::connect(json!({})).body(body),
            400,
            "InvalidBody",
            "connect",
        ));
    }
    for content_type in [
        "image/png",
        "application/xml",
        "text/html",
        "multipart/form-data; boundary=x",
    ] {
        rows.push(Row::refused(
            format!("user event of {content_type}"),
            Event::user("message", content_type, "x"),
            415,
            "UnsupportedContentType",
            "content type",
        ));
    }
    // other paths pass through to the inner service, untouched
    rows.extend([
        Row::new(
            "another path",
            Event::text("x").path("/echo").body(&b"\xff\x00\x80"[..]),
            201,
        )
        .header("x-inner", "echo")
        .body(&b"\xff\x00\x80"[..])
        .unhandled(),
        Row::new("no route", Event::text("x").path("/nowhere?q=1"), 418)
            .body("inner fallback")
            .unhandled(),
    ]);
    // what the handler answers
    rows.extend([
        Row::new(
            "connect",
            Event::connect(
                json!({ "claims": {}, "query": {}, "subprotocols": ["json.webpubsub.azure.v1"] }),
            ),
            200,
        )
        .header("content-type", JSON)
        .json(json!({ "userId": "renamed", "groups": ["g1"], "subprotocol": "json.webpubsub.azure.v1" })),
        Row::new(
            "connect with nothing to say",
            Event::connect(json!({ "query": { "empty": ["1"] } })),
            204,
        )
        .no_header("content-type"),
        Row::new(
            "connect with an empty body",
            Event::connect(json!({})).body(""),
            200,
        )
        .json(json!({ "userId": "renamed", "groups": ["g1"], "subprotocol": "json.webpubsub.azure.v1" })),
        Row::new(
            "MQTT connect refused",
            Event::connect(json!({ "query": { "status": ["403"] }, "mqtt": { "protocolVersion": 5 } })),
            403,
        )
        .header("content-type", JSON)
        .json(json!({ "mqtt": { "code": 0x8A, "reason": "connect refused with 403" } })),
        Row::new(
            "MQTT connect refused as built",
            Event::connect(json!({ "query": { "mqtt-error": ["1"] }, "mqtt": { "protocolVersion": 4 } })),
            401,
        )
        .json(json!({ "mqtt": { "code": 4, "reason": "bad password", "userProperties": [{ "name": "k", "value": "v" }] } })),
        Row::refused(
            "MQTT connect panics",
            Event::connect(json!({ "query": { "panic": ["1"] }, "mqtt": { "protocolVersion": 4 } })),
            500,
            "HandlerPanicked",
            "",
        )
        .handled()
        .header("content-type", JSON)
        .json(json!({ "mqtt": { "code": 3, "reason": "the event handler failed" } })),
        Row::refused(
            "connect panics",
            Event::connect(json!({ "query": { "panic": ["1"] } })),
            500,
            "HandlerPanicked",
            "handler",
        )
        .handled(),
        Row::refused(
            "connect too slow",
            Event::connect(json!({ "query": { "slow": ["1"] } })),
            504,
            "HandlerTimedOut",
            "did not answer within",
        )
        .handled(),
        Row::new("connected fails", Event::connected(), 200),
        Row::new("disconnected panics", Event::disconnected("bye"), 200),
        Row::new("group joined refused", Event::group_joined("g1"), 200),
        Row::new("group left too slow", Event::group_left("g1"), 200),
        Row::new("text", Event::text("hi"), 200)
            .header("content-type", TEXT)
            .body("fine hi")
            .no_header("ce-connectionstate"),
        Row::new(
            "binary",
            Event::user("binary", "application/octet-stream", &b"\x00\xff"[..]),
            200,
        )
        .header("content-type", "application/octet-stream")
        .body(&b"\x00\xff"[..]),
        Row::new(
            "json",
            Event::user("json", "application/json", "\"j\""),
            200,
        )
        .header("content-type", JSON)
        .body(r#"{"echo":"\"j\""}"#),
        Row::new(
            "protobuf",
            Event::user("describe", "application/x-protobuf", &[8u8, 1][..]),
            200,
        )
        .body("Protobuf:2"),
        Row::new(
            "binary that is not UTF-8",
            Event::user("describe", "application/octet-stream", &b"\xff"[..]),
            200,
        )
        .body("Binary:1"),
        Row::new(
            "JSON with spaces",
            Event::user("describe", "application/json", " [1, \"x\"] "),
            200,
        )
        .body("Json:10"),
        Row::new(
            "text beyond ASCII",
            Event::user("describe", "text/plain", "caf\u{e9}"),
            200,
        )
        .body("Text:5"),
        Row::new(
            "state set",
            Event::user("state", "text/plain", "s").states(json!({ "before": 1 })),
            200,
        )
        .body("kept")
        .states(json!({ "before": 1, "seen": { "n": 2 } })),
        Row::new(
            "state removed",
            Event::user("remove", "text/plain", "s").states(json!({ "before": 1 })),
            204,
        )
        .states(json!({})),
        Row::new(
            "states cleared",
            Event::user("clear", "text/plain", "s").states(json!({ "before": 1 })),
            204,
        )
        .header("ce-connectionstate", "e30="),
        // The .NET SDK's format: {"count":"NA=="} ("NA==" is base64 of the JSON 4).
        Row::new(
            "state in the .NET format",
            Event::user("count", "text/plain", "c")
                .header("ce-connectionState", "eyJjb3VudCI6Ik5BPT0ifQ=="),
            200,
        )
        .body("4")
        .states(json!({ "count": 5 })),
        Row::new("empty", Event::user("empty", "text/plain", "e"), 204)
            .no_header("content-type"),
        Row::new(
            "MQTT user properties",
            Event::user("mqtt-properties", "text/plain", "m"),
            200,
        )
        .header("mqtt-color", "red, blue")
        .body("ok"),
        Row::new(
            "an MQTT user property that is no header name",
            Event::user("bad-property", "text/plain", "m"),
            500,
        )
        .says("not a valid header name"),
        Row::refused(
            "user event panics",
            Event::user("panic", "text/plain", "x"),
            500,
            "HandlerPanicked",
            "handler",
        )
        .handled(),
        Row::refused(
            "user event too slow",
            Event::user("slow", "text/plain", "x"),
            504,
            "HandlerTimedOut",
            "did not answer within",
        )
        .handled(),
        Row::new("served after a panic and a timeout", Event::text("again"), 200)
            .body("fine again"),
    ]);
    for code in ["400", "401", "403", "404", "409", "429", "500", "503"] {
        let status: u16 = code.parse().expect("a status");
        rows.push(
            Row::new(
                format!("connect {code}"),
                Event::connect(json!({ "query": { "status": [code] } })),
                status,
            )
            .header("content-type", TEXT)
            .body(format!("connect refused with {code}")),
        );
        rows.push(
            Row::new(
                format!("user event {code}"),
                Event::user(code, "text/plain", "x"),
                status,
            )
            .header("content-type", TEXT)
            .no_header("ce-connectionstate")
            .body(format!("event refused with {code}")),
        );
    }
    rows
}
