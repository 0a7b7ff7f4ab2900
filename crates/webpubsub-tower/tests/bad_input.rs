//! The bad-input corpus of `tests/data/bad/layer/*.json`: malformed and hostile requests sent
//! byte for byte over a real loopback socket to `WebPubSubLayer` (the configuration of
//! `tests/data/events/`), each with its expected status (and `Rejection` kind when the layer
//! itself refuses), a reason in words, and a handler that was never called.
//!
//! A case (one object of a file's array):
//! - `base`: the valid event it starts from (`connect`, `user`, `connected`, `disconnected`,
//!   `joined`, `preflight`); `method`, `path` replace the base's;
//! - `set` (replace every line), `append` (one more line), `remove` (header names); a value is a
//!   string, `{"base64"}` for raw bytes, or `{"repeat", "count"}`; `many`: that many extra headers;
//! - `sign`: after the edits the event is re-signed with the primary key for its connection id
//!   unless `sign` is `"none"` or says otherwise (`keys`, `connectionId`, `value`, `truncate`,
//!   `prefix`);
//! - `body`: `{"text"}`, `{"json"}`, `{"base64"}`, `{"repeat", "count"}`, `{"nest"}` (arrays);
//! - `framing`: `"chunked"`, or `{"contentLength", "extraContentLength", "truncated", "rawChunked"}`;
//! - `expect`: `{"status", "kind", "noBody"}` or `{"statusOneOf": [400, null]}` (`null`: closed
//!   without an answer).

mod support;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use serde_json::{Value, json};
use support::{
    layer::{
        CONNECTION_ID, Event, ORIGIN, PRIMARY_KEY, REJECTION_HEADER, TestServer, app, json_files,
        sign, vector_layer,
    },
    raw_http::{self, RawResponse},
};
use webpubsub_tower::{
    ConnectRequest, ConnectResponse, ConnectedRequest, DisconnectedRequest, EventError,
    EventHandler, GroupEventRequest, UserEventRequest, UserEventResponse,
};

/// Counts every call; never fails, so a request that slips through shows as a call, not a 500.
#[derive(Debug, Clone, Default)]
struct Calls(Arc<AtomicUsize>);

impl Calls {
    fn take(&self) -> usize {
        self.0.swap(0, Ordering::SeqCst)
    }

    fn hit(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl EventHandler for Calls {
    async fn on_connect(&self, _: ConnectRequest) -> Result<ConnectResponse, EventError> {
        self.hit();
        Ok(ConnectResponse::new())
    }
    async fn on_connected(&self, _: ConnectedRequest) -> Result<(), EventError> {
        self.hit();
        Ok(())
    }
    async fn on_user_event(&self, _: UserEventRequest) -> Result<UserEventResponse, EventError> {
        self.hit();
        Ok(UserEventResponse::empty())
    }
    async fn on_disconnected(&self, _: DisconnectedRequest) -> Result<(), EventError> {
        self.hit();
        Ok(())
    }
    async fn on_group_joined(&self, _: GroupEventRequest) -> Result<(), EventError> {
        self.hit();
        Ok(())
    }
    async fn on_group_left(&self, _: GroupEventRequest) -> Result<(), EventError> {
        self.hit();
        Ok(())
    }
}

/// A request as lines of bytes, so that it can hold what `http::HeaderMap` refuses.
#[derive(Debug)]
struct RawRequest {
    method: String,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl RawRequest {
    fn from_event(event: &Event) -> Self {
        Self {
            method: event.method.to_string(),
            path: event.path.clone(),
            headers: event
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                .collect(),
            body: event.body.to_vec(),
        }
    }

    fn remove(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    fn first(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

fn base(name: &str) -> Event {
    match name {
        "connect" => Event::connect(json!({})),
        "user" => Event::text("hi"),
        "connected" => Event::connected(),
        "disconnected" => Event::disconnected("bye"),
        "joined" => Event::group_joined("g"),
        "preflight" => Event::preflight(Some(ORIGIN)),
        other => panic!("unknown base {other}"),
    }
}

fn value_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(o) if o.contains_key("base64") => BASE64
            .decode(o["base64"].as_str().expect("base64 text"))
            .expect("valid base64 in the case"),
        Value::Object(o) if o.contains_key("repeat") => o["repeat"]
            .as_str()
            .expect("repeat text")
            .repeat(usize::try_from(o["count"].as_u64().expect("count")).expect("count"))
            .into_bytes(),
        other => panic!("unknown value form {other}"),
    }
}

fn body_bytes(form: &Value) -> Vec<u8> {
    if let Some(text) = form.get("text").and_then(Value::as_str) {
        return text.as_bytes().to_vec();
    }
    if let Some(json) = form.get("json") {
        return json.to_string().into_bytes();
    }
    if let Some(depth) = form.get("nest").and_then(Value::as_u64) {
        let depth = usize::try_from(depth).expect("depth");
        return ["[".repeat(depth), "]".repeat(depth)].concat().into_bytes();
    }
    value_bytes(form)
}

/// Applies a case's edits to its base event.
fn build(case: &Value) -> RawRequest {
    let mut request = RawRequest::from_event(&base(case["base"].as_str().expect("base")));
    if let Some(method) = case["method"].as_str() {
        method.clone_into(&mut request.method);
    }
    if let Some(path) = case["path"].as_str() {
        path.clone_into(&mut request.path);
    }
    for name in case["remove"].as_array().into_iter().flatten() {
        request.remove(name.as_str().expect("header name"));
    }
    for (name, value) in case["set"].as_object().into_iter().flatten() {
        request.remove(name);
        request.headers.push((name.clone(), value_bytes(value)));
    }
    for pair in case["append"].as_array().into_iter().flatten() {
        let name = pair[0].as_str().expect("header name").to_owned();
        request.headers.push((name, value_bytes(&pair[1])));
    }
    for i in 0..case["many"].as_u64().unwrap_or(0) {
        request
            .headers
            .push((format!("x-extra-{i}"), b"value".to_vec()));
    }
    if let Some(body) = case.get("body") {
        request.body = body_bytes(body);
    }
    apply_signature(&mut request, case.get("sign"));
    request
}

fn apply_signature(request: &mut RawRequest, sign_spec: Option<&Value>) {
    if request.method == "OPTIONS" {
        return;
    }
    let id = request
        .first("ce-connectionId")
        .map_or(CONNECTION_ID.to_owned(), |v| {
            String::from_utf8_lossy(v).into_owned()
        });
    let spec = sign_spec.cloned().unwrap_or(json!({}));
    request.remove("ce-signature");
    if spec == "none" {
        return;
    }
    let value = if let Some(value) = spec["value"].as_str() {
        value.to_owned()
    } else {
        let id = spec["connectionId"].as_str().unwrap_or(&id).to_owned();
        let keys: Vec<&str> = spec["keys"].as_array().map_or(vec![PRIMARY_KEY], |keys| {
            keys.iter().map(|k| k.as_str().expect("key")).collect()
        });
        let mut value = keys
            .iter()
            .map(|k| sign(k, &id))
            .collect::<Vec<_>>()
            .join(",");
        if let Some(n) = spec["truncate"].as_u64() {
            value.truncate(value.len() - usize::try_from(n).expect("n"));
        }
        if let Some(prefix) = spec["prefix"].as_str() {
            value = value.replacen("sha256=", prefix, 1);
        }
        value
    };
    request
        .headers
        .push(("ce-signature".to_owned(), value.into_bytes()));
}

/// The bytes on the wire, and whether to half-close after them.
fn wire(request: &RawRequest, port: u16, framing: Option<&Value>) -> (Vec<u8>, Vec<u8>, bool) {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n",
        request.method, request.path
    )
    .into_bytes();
    for (name, value) in &request.headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    let mut line = |name: &str, value: &str| {
        head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    };
    let framing = framing.cloned().unwrap_or(Value::Null);
    let (body, half_close) = if framing == "chunked" {
        line("transfer-encoding", "chunked");
        (raw_http::chunked(&request.body, 64 * 1024), false)
    } else if let Some(raw) = framing["rawChunked"].as_str() {
        line("transfer-encoding", "chunked");
        if let Some(length) = framing["contentLength"].as_str() {
            line("content-length", length);
        }
        (raw.as_bytes().to_vec(), true)
    } else if let Some(extra) = framing["truncated"].as_u64() {
        let declared = request.body.len() + usize::try_from(extra).expect("extra");
        line("content-length", &declared.to_string());
        (request.body.clone(), true)
    } else {
        let length = framing["contentLength"]
            .as_str()
            .map_or_else(|| request.body.len().to_string(), str::to_owned);
        line("content-length", &length);
        if let Some(extra) = framing["extraContentLength"].as_str() {
            line("content-length", extra);
        }
        (request.body.clone(), false)
    };
    head.extend_from_slice(b"\r\n");
    (head, body, half_close)
}

/// The mismatches between an answer and a case's expectation, in words.
fn check(expect: &Value, response: &RawResponse) -> Vec<String> {
    let mut wrong = Vec::new();
    let status = response.status.map(u64::from);
    if let Some(allowed) = expect["statusOneOf"].as_array() {
        if !allowed.iter().any(|s| s.as_u64() == status) {
            wrong.push(format!("status {status:?}, expected one of {allowed:?}"));
        }
    } else if status != expect["status"].as_u64() {
        wrong.push(format!("status {status:?}, expected {}", expect["status"]));
    }
    if let Some(kind) = expect["kind"].as_str() {
        let shown = response.header(REJECTION_HEADER).unwrap_or_default();
        if shown.split(' ').next() != Some(kind) {
            wrong.push(format!("rejection {shown:?}, expected {kind}"));
        }
        let words = response.text();
        if expect["noBody"] != true && !words.chars().any(char::is_alphabetic) {
            wrong.push(format!("no reason in words: {words:?}"));
        }
    }
    wrong
}

fn cases() -> Vec<(String, Value)> {
    let mut cases = Vec::new();
    for (stem, list) in json_files("bad/layer") {
        for case in list.as_array().expect("a case file holds an array") {
            let name = format!("{stem}: {}", case["name"].as_str().expect("name"));
            cases.push((name, case.clone()));
        }
    }
    cases
}

#[tokio::test]
async fn every_bad_request_is_refused_with_its_status_and_never_reaches_the_handler() {
    let calls = Calls::default();
    let server = TestServer::start(app(vector_layer(calls.clone()))).await;
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (name, case) in &cases {
        let request = build(case);
        let (head, body, half_close) = wire(&request, server.addr.port(), case.get("framing"));
        let response = raw_http::exchange(server.addr, &head, &body, half_close).await;
        let mut wrong = check(&case["expect"], &response);
        let handled = calls.take();
        if handled != 0 {
            wrong.push(format!("the handler was called {handled} time(s)"));
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{name}: {} (answer {:?} {:?})",
                wrong.join("; "),
                response.status,
                response.text().chars().take(200).collect::<String>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // The control: the same server, the same path, a valid event does reach the handler (so the
    // "never called" checks above could have failed).
    for base_name in ["connect", "user", "connected"] {
        let request = build(&json!({ "base": base_name }));
        let (head, body, _) = wire(&request, server.addr.port(), None);
        let response = raw_http::exchange(server.addr, &head, &body, false).await;
        assert!(
            response.status.is_some_and(|s| (200..300).contains(&s)),
            "{base_name}: {response:?}"
        );
        assert_eq!(calls.take(), 1, "{base_name} reached the handler once");
    }
}
