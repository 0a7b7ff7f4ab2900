//! Helpers for the loopback tests of `WebPubSubLayer`: a server on 127.0.0.1:0, a builder for
//! signed CloudEvents requests, the request vectors of `tests/data/events/`, and the reference
//! handler those vectors describe (`tests/data/events/README.md`).
//!
//! State headers are encoded and decoded here by hand (base64 + JSON) rather than with the
//! protocol crate's codec, so that a bug in the codec cannot hide itself in the tests.

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex, Once},
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};
use webpubsub_protocol::{AccessKey, signature};
use webpubsub_tower::{
    ConnectRequest, ConnectResponse, ConnectedRequest, ConnectionContext, DataType,
    DisconnectedRequest, EventError, EventHandler, GroupEventRequest, Rejection, UserEventRequest,
    UserEventResponse, WebPubSubLayer,
};

/// The primary key of the test configuration (not a secret).
pub const PRIMARY_KEY: &str = "vectors-primary-key-not-a-secret";
/// The secondary key of the test configuration (not a secret).
pub const SECONDARY_KEY: &str = "vectors-secondary-key-not-a-secret";
/// The service host of the test configuration.
pub const ORIGIN: &str = "demo.webpubsub.azure.com";
/// The event path of the test configuration (the JS SDK's default for hub `chat`).
pub const PATH: &str = "/api/webpubsub/hubs/chat/";
/// The connection id the built events carry unless told otherwise.
pub const CONNECTION_ID: &str = "conn-7f3a";
/// Every wait in these tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The connection string of the test configuration (primary key).
pub fn connection_string() -> String {
    format!("Endpoint=https://{ORIGIN};AccessKey={PRIMARY_KEY};Version=1.0;")
}

/// reqwest is built without a default TLS provider (see Cargo.toml); plain-HTTP clients still
/// need one installed before they are built.
pub fn client() -> reqwest::Client {
    static RING: Once = Once::new();
    RING.call_once(|| {
        // Err means another test binary part installed one already, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("a plain reqwest client builds")
}

/// An axum app served on 127.0.0.1:0 until dropped.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Serves `app` on a fresh loopback port.
    pub async fn start(app: axum::Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("axum serves");
        });
        Self { addr, task }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `sha256=<hex>` for one key.
pub fn sign(key: &str, connection_id: &str) -> String {
    signature::sign(&AccessKey::new(key), connection_id)
}

/// Base64 of the JSON text of `value` (the JS SDK's state format).
pub fn encode_state(value: &Value) -> String {
    BASE64.encode(value.to_string())
}

/// Decodes a `ce-connectionState` value written in the JS format.
pub fn decode_state(header: &str) -> Value {
    let bytes = BASE64
        .decode(header)
        .unwrap_or_else(|e| panic!("ce-connectionState {header:?} is not base64: {e}"));
    let value: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("ce-connectionState {header:?} is not JSON: {e}"));
    assert!(
        value.is_object(),
        "ce-connectionState {header:?} is not a JSON object"
    );
    value
}

/// One CloudEvents request as the service sends it; every setter replaces what was there.
#[derive(Debug, Clone)]
pub struct Event {
    /// The HTTP method.
    pub method: Method,
    /// The path (and query).
    pub path: String,
    /// The headers, in the service's spelling.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Event {
    fn system(ce_type: &str, event_name: &str, body: Value) -> Self {
        Self::base(ce_type, event_name)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
    }

    fn base(ce_type: &str, event_name: &str) -> Self {
        let event = Self {
            method: Method::POST,
            path: PATH.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        };
        event
            .header("ce-specversion", "1.0")
            .header("ce-type", ce_type)
            .header("ce-source", &format!("/hubs/chat/client/{CONNECTION_ID}"))
            .header("ce-id", "1")
            .header("ce-time", "2026-11-21T09:00:00Z")
            .header("ce-awpsversion", "1.0")
            .header("ce-hub", "chat")
            .header("ce-connectionId", CONNECTION_ID)
            .header("ce-eventName", event_name)
            .header("WebHook-Request-Origin", ORIGIN)
            .signed_with(&[PRIMARY_KEY, SECONDARY_KEY])
    }

    /// `sys.connect` with this JSON body.
    pub fn connect(body: Value) -> Self {
        Self::system("azure.webpubsub.sys.connect", "connect", body)
    }

    /// `sys.connected`.
    pub fn connected() -> Self {
        Self::system("azure.webpubsub.sys.connected", "connected", json!({})).user_id("alice")
    }

    /// `sys.disconnected` with a reason.
    pub fn disconnected(reason: &str) -> Self {
        Self::system(
            "azure.webpubsub.sys.disconnected",
            "disconnected",
            json!({ "reason": reason }),
        )
        .user_id("alice")
    }

    /// `gp.joined` for a group.
    pub fn group_joined(group: &str) -> Self {
        Self::system(
            "azure.webpubsub.gp.joined",
            "joined",
            json!({ "group": group }),
        )
        .user_id("alice")
    }

    /// `gp.left` for a group.
    pub fn group_left(group: &str) -> Self {
        Self::system("azure.webpubsub.gp.left", "left", json!({ "group": group })).user_id("alice")
    }

    /// `user.<name>` with a text body.
    pub fn user(name: &str, content_type: &str, body: impl Into<Bytes>) -> Self {
        Self::base(&format!("azure.webpubsub.user.{name}"), name)
            .user_id("alice")
            .header("content-type", content_type)
            .body(body)
    }

    /// `user.message` with `text/plain`.
    pub fn text(text: &str) -> Self {
        Self::user("message", "text/plain; charset=utf-8", text.to_owned())
    }

    /// An `OPTIONS` handshake from these origins (`None`: no origin header).
    pub fn preflight(origin: Option<&str>) -> Self {
        let mut event = Self {
            method: Method::OPTIONS,
            path: PATH.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
        .header("ce-awpsversion", "1.0");
        if let Some(origin) = origin {
            event = event.header("WebHook-Request-Origin", origin);
        }
        event
    }

    /// Sets a header, replacing earlier values.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::try_from(name).expect("valid header name");
        self.headers.insert(
            name,
            HeaderValue::from_str(value).expect("valid header value"),
        );
        self
    }

    /// Adds one more line of a header.
    pub fn append_header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::try_from(name).expect("valid header name");
        self.headers.append(
            name,
            HeaderValue::from_str(value).expect("valid header value"),
        );
        self
    }

    /// Removes a header.
    pub fn without(mut self, name: &str) -> Self {
        self.headers.remove(name);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Sets the path.
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.to_owned();
        self
    }

    /// Sets `ce-hub`.
    pub fn hub(self, hub: &str) -> Self {
        self.header("ce-hub", hub)
    }

    /// Sets `ce-userId`.
    pub fn user_id(self, user: &str) -> Self {
        self.header("ce-userId", user)
    }

    /// Sets `WebHook-Request-Origin`.
    pub fn origin(self, origin: &str) -> Self {
        self.header("WebHook-Request-Origin", origin)
    }

    /// Sets `ce-connectionState` to the JS encoding of `states`.
    pub fn states(self, states: Value) -> Self {
        self.header("ce-connectionState", &encode_state(&states))
    }

    /// Sets `ce-connectionId` and re-signs with `keys`.
    pub fn connection_id(self, id: &str, keys: &[&str]) -> Self {
        let event = self.header("ce-connectionId", id);
        event.signed_with(keys)
    }

    /// Replaces `ce-signature` with one entry per key, comma-separated, over the current connection id.
    pub fn signed_with(self, keys: &[&str]) -> Self {
        let id = self
            .headers
            .get("ce-connectionid")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(CONNECTION_ID)
            .to_owned();
        let value = keys
            .iter()
            .map(|k| sign(k, &id))
            .collect::<Vec<_>>()
            .join(",");
        if value.is_empty() {
            self.without("ce-signature")
        } else {
            self.header("ce-signature", &value)
        }
    }

    /// The request line and headers as HTTP/1.1 text for `host`: `extra` lines (e.g.
    /// `"content-length: 1000"`) first, then the event's headers and the blank line that ends the
    /// head. For tests that write to a socket by hand what no HTTP client would send.
    pub fn http_head(&self, host: SocketAddr, extra: &[&str]) -> String {
        let mut head = format!("{} {} HTTP/1.1\r\nhost: {host}\r\n", self.method, self.path);
        for line in extra {
            head.push_str(line);
            head.push_str("\r\n");
        }
        for (name, value) in &self.headers {
            let value = value.to_str().expect("header value is text");
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head
    }

    /// Sends the event to `server` and reads the whole answer.
    pub async fn send(&self, server: &TestServer) -> Answer {
        let mut request = client()
            .request(self.method.clone(), server.url(&self.path))
            .headers(self.headers.clone());
        if !self.body.is_empty() || self.method == Method::POST {
            request = request.body(self.body.clone());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("the answer body arrives");
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// A whole HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// A header as text (`None` if absent); repeated lines are joined with `, `.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<_> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("header value is text").to_owned())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    /// The media type of `Content-Type`, lower-cased, without parameters.
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// The body as UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("the body is UTF-8")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("the body {:?} is not JSON: {e}", self.text()))
    }

    /// The decoded `ce-connectionState` (`None` if the header is absent).
    pub fn states(&self) -> Option<Value> {
        self.header("ce-connectionstate").map(|h| decode_state(&h))
    }

    /// Panics with the whole answer unless the status is `expected`.
    #[track_caller]
    pub fn assert_status(&self, expected: StatusCode) -> &Self {
        assert_eq!(
            self.status,
            expected,
            "unexpected answer: {} {:?} {:?}",
            self.status,
            self.headers,
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// Asserts an accepted handshake: `200` with `origin` echoed in `WebHook-Allowed-Origin`.
    #[track_caller]
    pub fn assert_allows_origin(&self, origin: &str) -> &Self {
        self.assert_status(StatusCode::OK);
        assert_eq!(
            self.header("webhook-allowed-origin").as_deref(),
            Some(origin),
            "the handshake answer echoes {origin:?}: {self:?}"
        );
        self
    }

    /// Asserts a rejection: `expected` status and a reason in words (non-empty text).
    #[track_caller]
    pub fn assert_rejected(&self, expected: StatusCode) -> &Self {
        self.assert_status(expected);
        let reason = String::from_utf8_lossy(&self.body);
        assert!(
            reason.chars().any(char::is_alphabetic),
            "a {expected} rejection should say why in words, got {reason:?}"
        );
        self
    }
}

/// The request vectors of `tests/data/events/`.
pub fn vectors() -> Vec<Value> {
    json_files("events").into_iter().map(|(_, v)| v).collect()
}

/// Every `*.json` file of `tests/data/<folder>/`, sorted by name, with its file stem and parsed
/// content; panics naming the file that cannot be read or parsed, or if there is none.
pub fn json_files(folder: &str) -> Vec<(String, Value)> {
    // The data lives in the workspace's tests/data, shared with the cross-crate tests; this file
    // is compiled from both the layer crate and the workspace root.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("tests/data").join(folder))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "no tests/data/{folder} above {}",
                env!("CARGO_MANIFEST_DIR")
            )
        });
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no JSON files in {}", dir.display());
    files
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let stem = p.file_stem().expect("a file name").to_string_lossy();
            (stem.into_owned(), value)
        })
        .collect()
}

/// The bytes of a vector body form (`{"text"}`, `{"json"}`, `{"base64"}` or `null`).
pub fn body_bytes(form: &Value) -> Bytes {
    if form.is_null() {
        return Bytes::new();
    }
    if let Some(text) = form.get("text").and_then(Value::as_str) {
        return Bytes::from(text.to_owned());
    }
    if let Some(value) = form.get("json") {
        return Bytes::from(value.to_string());
    }
    if let Some(b64) = form.get("base64").and_then(Value::as_str) {
        return Bytes::from(BASE64.decode(b64).expect("vector base64 body"));
    }
    panic!("unknown body form {form}")
}

/// The request of a vector as an [`Event`].
pub fn vector_event(vector: &Value) -> Event {
    let request = &vector["request"];
    let mut event = Event {
        method: Method::from_bytes(request["method"].as_str().expect("method").as_bytes())
            .expect("method"),
        path: request["path"].as_str().expect("path").to_owned(),
        headers: HeaderMap::new(),
        body: body_bytes(&request["body"]),
    };
    for pair in request["headers"].as_array().expect("headers") {
        event = event.append_header(
            pair[0].as_str().expect("name"),
            pair[1].as_str().expect("value"),
        );
    }
    event
}

/// Checks `answer` (plus the recorded `calls`) against an expectation object of the vector
/// format; returns the mismatches in words.
pub fn check_expectation(
    expect: &Map<String, Value>,
    answer: &Answer,
    calls: &[Value],
) -> Vec<String> {
    let mut wrong = Vec::new();
    if let Some(status) = expect.get("status").and_then(Value::as_u64)
        && u64::from(answer.status.as_u16()) != status
    {
        wrong.push(format!(
            "status {} instead of {status}",
            answer.status.as_u16()
        ));
    }
    if let Some(ct) = expect.get("contentType") {
        let got = answer.content_type();
        if got.as_deref() != ct.as_str() {
            wrong.push(format!("content type {got:?} instead of {ct}"));
        }
    }
    if let Some(headers) = expect.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            let got = answer.header(name);
            if got.as_deref() != value.as_str() {
                wrong.push(format!("header {name} = {got:?} instead of {value}"));
            }
        }
    }
    if let Some(body) = expect.get("body")
        && let Err(why) = body_matches(body, &answer.body)
    {
        wrong.push(why);
    }
    if let Some(states) = expect.get("states") {
        let got = answer.header("ce-connectionstate");
        match (states.is_null(), got) {
            (true, None) => {}
            (true, Some(h)) => wrong.push(format!("unexpected ce-connectionState {h:?}")),
            (false, None) => wrong.push(format!("no ce-connectionState, expected {states}")),
            (false, Some(h)) => {
                let decoded = decode_state(&h);
                if &decoded != states {
                    wrong.push(format!("states {decoded} instead of {states}"));
                }
            }
        }
    }
    if let Some(handler) = expect.get("handler").and_then(Value::as_array)
        && handler.as_slice() != calls
    {
        wrong.push(format!("handler calls {calls:?} instead of {handler:?}"));
    }
    wrong
}

fn body_matches(form: &Value, body: &[u8]) -> Result<(), String> {
    let shown = String::from_utf8_lossy(body);
    if form.get("empty").is_some() {
        return if body.is_empty() {
            Ok(())
        } else {
            Err(format!("body {shown:?} instead of none"))
        };
    }
    if form.get("anyText").is_some() {
        return match std::str::from_utf8(body) {
            Ok(t) if !t.trim().is_empty() => Ok(()),
            _ => Err(format!("body {shown:?} is not a reason in words")),
        };
    }
    if let Some(expected) = form.get("json") {
        return match serde_json::from_slice::<Value>(body) {
            Ok(v) if &v == expected => Ok(()),
            _ => Err(format!("body {shown:?} instead of JSON {expected}")),
        };
    }
    let expected = body_bytes(form);
    if body == expected.as_ref() {
        Ok(())
    } else {
        Err(format!(
            "body {shown:?} instead of {:?}",
            String::from_utf8_lossy(&expected)
        ))
    }
}

/// Polls `done` until it holds or 2 s pass: the layer may run non-blocking handlers after it
/// answered, so what they record can come a little later. Callers then assert on what they
/// waited for.
pub async fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !done() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The reference handler of `tests/data/events/README.md`; records every call as JSON.
#[derive(Debug, Clone, Default)]
pub struct ReferenceHandler {
    calls: Arc<Mutex<Vec<Value>>>,
}

impl ReferenceHandler {
    /// Takes the calls recorded so far.
    pub fn take_calls(&self) -> Vec<Value> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits (at most 2 s) until at least `count` calls are recorded, then takes them: the layer
    /// may run non-blocking handlers after it answered.
    pub async fn wait_calls(&self, count: usize) -> Vec<Value> {
        wait_until(|| self.calls.lock().unwrap_or_else(|e| e.into_inner()).len() >= count).await;
        self.take_calls()
    }

    fn record(&self, event: &str, context: &ConnectionContext, fields: Value) {
        let mut call = json!({
            "event": event,
            "hub": context.hub(),
            "connectionId": context.connection_id(),
            "userId": context.user_id(),
            "eventName": context.event_name(),
            "states": Value::Object(context.states().as_map().clone()),
        });
        if let (Value::Object(call), Value::Object(fields)) = (&mut call, fields) {
            call.extend(fields);
        }
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call);
    }
}

fn first<'a>(
    map: &'a std::collections::BTreeMap<String, Vec<String>>,
    key: &str,
) -> Option<&'a str> {
    map.get(key).and_then(|v| v.first()).map(String::as_str)
}

impl EventHandler for ReferenceHandler {
    async fn on_connect(&self, req: ConnectRequest) -> Result<ConnectResponse, EventError> {
        let mut fields = json!({
            "claims": req.claims(),
            "query": req.query(),
            "subprotocols": req.subprotocols(),
        });
        if let Some(mqtt) = req.mqtt() {
            fields["mqttUsername"] = json!(mqtt.username);
        }
        self.record("connect", req.context(), fields);
        if req
            .mqtt()
            .is_some_and(|m| m.username.as_deref() == Some("banned"))
        {
            return Err(EventError::mqtt(138, "banned by server"));
        }
        let query = req.query();
        if let Some(who) = first(query, "reject") {
            return Err(EventError::unauthorized(format!("rejected: {who}")));
        }
        let mut answer = ConnectResponse::new();
        if let Some(user) = first(query, "userId") {
            answer = answer.user_id(user);
        }
        if let Some(groups) = query.get("groups") {
            answer = answer.groups(groups.clone());
        }
        if let Some(roles) = query.get("roles") {
            answer = answer.roles(roles.clone());
        }
        if let Some(sub) = req.subprotocols().first() {
            answer = answer.subprotocol(sub.clone());
        }
        if let Some(greeting) = first(query, "greeting") {
            answer = answer.set_state("greeting", json!(greeting));
        }
        Ok(answer)
    }

    async fn on_connected(&self, req: ConnectedRequest) -> Result<(), EventError> {
        self.record("connected", req.context(), json!({}));
        Ok(())
    }

    async fn on_user_event(&self, req: UserEventRequest) -> Result<UserEventResponse, EventError> {
        let data_type = req.data_type();
        // Bad data is refused (400), not a panic; the call is recorded either way.
        let (type_name, data) = match data_type {
            DataType::Text => (
                "text",
                req.text()
                    .map(|t| json!(t))
                    .map_err(|e| EventError::bad_request(format!("the text is not UTF-8: {e}"))),
            ),
            DataType::Json => (
                "json",
                req.json::<Value>()
                    .map_err(|e| EventError::bad_request(format!("the data is not JSON: {e}"))),
            ),
            DataType::Binary => ("binary", Ok(json!(BASE64.encode(req.bytes())))),
            DataType::Protobuf => ("protobuf", Ok(json!(BASE64.encode(req.bytes())))),
            other => panic!("unexpected data type {other:?}"),
        };
        let shown = data.as_ref().map_or(Value::Null, Clone::clone);
        self.record(
            "user",
            req.context(),
            json!({ "dataType": type_name, "data": shown }),
        );
        let data = data?;
        let ok = || UserEventResponse::text("ok");
        match req.context().event_name() {
            "noop" => Ok(UserEventResponse::empty()),
            "fail" => Err(EventError::bad_request("refused by handler")),
            "setstate" => {
                let mut answer = ok();
                for (k, v) in data.as_object().expect("setstate takes an object") {
                    answer = answer.set_state(k.clone(), v.clone());
                }
                Ok(answer)
            }
            "removestate" => {
                let mut answer = ok();
                for k in data.as_array().expect("removestate takes an array") {
                    answer = answer.remove_state(k.as_str().expect("key"));
                }
                Ok(answer)
            }
            "clearstate" => Ok(ok().clear_states()),
            _ => {
                let count = req
                    .context()
                    .states()
                    .get::<u64>("count")
                    .transpose()
                    .map_err(|e| EventError::bad_request(format!("count is not a number: {e}")))?
                    .unwrap_or(0);
                let answer = match data_type {
                    DataType::Text => UserEventResponse::text(format!(
                        "Hey {}",
                        data.as_str().unwrap_or_default()
                    )),
                    DataType::Json => {
                        UserEventResponse::json(&json!({ "reply": "Hey", "data": data }))
                            .map_err(|e| EventError::bad_request(e.to_string()))?
                    }
                    _ => {
                        let mut bytes = b"Hey ".to_vec();
                        bytes.extend_from_slice(req.bytes());
                        UserEventResponse::binary(bytes)
                    }
                };
                Ok(answer.set_state("count", json!(count + 1)))
            }
        }
    }

    async fn on_disconnected(&self, req: DisconnectedRequest) -> Result<(), EventError> {
        self.record(
            "disconnected",
            req.context(),
            json!({ "reason": req.reason() }),
        );
        Ok(())
    }

    async fn on_group_joined(&self, req: GroupEventRequest) -> Result<(), EventError> {
        self.record(
            "groupJoined",
            req.context(),
            json!({ "group": req.group() }),
        );
        Ok(())
    }

    async fn on_group_left(&self, req: GroupEventRequest) -> Result<(), EventError> {
        self.record("groupLeft", req.context(), json!({ "group": req.group() }));
        Ok(())
    }
}

/// The response header through which [`app`] exposes the `Rejection` extension of an answer:
/// `<kind in Debug form> <status code>`, e.g. `InvalidSignature 401`.
pub const REJECTION_HEADER: &str = "x-test-rejection";
/// The status the inner service of [`app`] answers on paths it has no route for.
pub const INNER_FALLBACK: StatusCode = StatusCode::IM_A_TEAPOT;

/// The app most tests serve: `layer` around an inner router that echoes `POST /echo` as a
/// stream (status 201, header `x-inner: echo`, the request's content type) and answers
/// [`INNER_FALLBACK`] elsewhere; outermost, a middleware that copies the layer's `Rejection`
/// extension (Debug form) into [`REJECTION_HEADER`] so tests over HTTP can see it.
pub fn app<H: EventHandler>(layer: WebPubSubLayer<H>) -> axum::Router {
    axum::Router::new()
        .route("/echo", axum::routing::post(echo))
        .fallback(|| async { (INNER_FALLBACK, "inner fallback") })
        .layer(layer)
        .layer(axum::middleware::map_response(expose_rejection))
}

async fn echo(request: axum::extract::Request) -> axum::response::Response {
    let content_type = request.headers().get("content-type").cloned();
    let body = axum::body::Body::from_stream(request.into_body().into_data_stream());
    let mut response = axum::response::Response::new(body);
    *response.status_mut() = StatusCode::CREATED;
    response
        .headers_mut()
        .insert("x-inner", HeaderValue::from_static("echo"));
    if let Some(ct) = content_type {
        response.headers_mut().insert("content-type", ct);
    }
    response
}

async fn expose_rejection(mut response: axum::response::Response) -> axum::response::Response {
    if let Some(rejection) = response.extensions().get::<Rejection>() {
        let shown = format!("{:?} {}", rejection.kind(), rejection.status().as_u16());
        let value = HeaderValue::from_str(&shown).expect("a kind and a status make a header value");
        response.headers_mut().insert(REJECTION_HEADER, value);
    }
    response
}

/// [`app`] with [`vector_layer`] around a fresh [`ReferenceHandler`], served on loopback.
pub async fn reference_server() -> (TestServer, ReferenceHandler) {
    let handler = ReferenceHandler::default();
    let server = TestServer::start(app(vector_layer(handler.clone()))).await;
    (server, handler)
}

/// The layer of the vectors' configuration (README.md "Configuration") around `handler`.
pub fn vector_layer<H: EventHandler>(handler: H) -> WebPubSubLayer<H> {
    WebPubSubLayer::new(handler)
        .hub("chat")
        .allowed_origins([ORIGIN])
        .connection_string(&connection_string())
        .expect("connection string")
}
