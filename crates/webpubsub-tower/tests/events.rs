//! Every event type through the layer over loopback HTTP: what the handler sees (context and
//! payload), what goes back on the wire (status, content type, body), and the connection state's
//! set / merge / remove / clear round trips, where the state an answer sets is fed into the next
//! request as the service does. How each request and handler outcome maps to a status is the
//! table of `status_map.rs`.

mod support;

use std::sync::{Arc, Mutex};

use http::StatusCode;
use serde_json::{Value, json};
use support::layer::{
    CONNECTION_ID, Event, ORIGIN, PRIMARY_KEY, SECONDARY_KEY, TestServer, app, decode_state,
    reference_server, vector_layer,
};
use webpubsub_tower::{
    ConnectRequest, ConnectResponse, EventError, EventHandler, UserEventRequest, UserEventResponse,
};

#[tokio::test]
async fn connect_with_everything_answers_200_json() {
    let (server, handler) = reference_server().await;
    let answer = Event::connect(json!({
        "claims": { "sub": ["alice"], "custom": ["a", "b"] },
        "query": { "userId": ["alice"], "groups": ["g1", "g2"], "roles": ["webpubsub.joinLeaveGroup.g1"] },
        "headers": { "Connection": ["Upgrade"] },
        "subprotocols": ["json.webpubsub.azure.v1", "json.reliable.webpubsub.azure.v1"],
        "clientCertificates": [{ "thumbprint": "abc", "content": "-----BEGIN CERTIFICATE-----" }],
    }))
    .send(&server)
    .await;
    answer.assert_status(StatusCode::OK);
    assert_eq!(answer.content_type().as_deref(), Some("application/json"));
    assert_eq!(
        answer.json(),
        json!({
            "userId": "alice",
            "groups": ["g1", "g2"],
            "roles": ["webpubsub.joinLeaveGroup.g1"],
            "subprotocol": "json.webpubsub.azure.v1",
        })
    );
    assert!(
        answer.header("ce-connectionstate").is_none(),
        "no state was set"
    );
    let calls = handler.take_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0]["claims"],
        json!({ "sub": ["alice"], "custom": ["a", "b"] })
    );
    assert_eq!(calls[0]["userId"], Value::Null, "connect has no user yet");
}

#[tokio::test]
async fn connect_accepting_with_nothing_is_204_and_an_empty_body_is_accepted() {
    let (server, handler) = reference_server().await;
    for event in [
        Event::connect(json!({})),
        Event::connect(json!({})).body(""),
    ] {
        let answer = event.send(&server).await;
        answer.assert_status(StatusCode::NO_CONTENT);
        assert!(answer.body.is_empty());
        let calls = handler.take_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["query"], json!({}));
        assert_eq!(calls[0]["subprotocols"], json!([]));
    }
}

#[tokio::test]
async fn connect_rejections_and_mqtt_errors() {
    let (server, _handler) = reference_server().await;
    let answer = Event::connect(json!({ "query": { "reject": ["eve"] } }))
        .send(&server)
        .await;
    answer.assert_status(StatusCode::UNAUTHORIZED);
    assert_eq!(answer.text(), "rejected: eve");

    let answer = Event::connect(json!({
        "subprotocols": ["mqtt"],
        "mqtt": { "protocolVersion": 5, "username": "banned", "password": "c2VjcmV0" },
    }))
    .header("ce-subprotocol", "mqtt")
    .header("ce-physicalConnectionId", "phys-1")
    .send(&server)
    .await;
    answer.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(answer.content_type().as_deref(), Some("application/json"));
    assert_eq!(
        answer.json(),
        json!({ "mqtt": { "code": 138, "reason": "banned by server" } })
    );
}

#[tokio::test]
async fn user_events_of_each_content_type() {
    let (server, handler) = reference_server().await;
    /// Request content type and body, answer content type and body, the handler's data type.
    type Case = (
        &'static str,
        &'static [u8],
        &'static str,
        &'static [u8],
        &'static str,
    );
    let cases: [Case; 5] = [
        (
            "text/plain; charset=utf-8",
            b"world",
            "text/plain",
            b"Hey world",
            "text",
        ),
        (
            "application/json",
            br#"{"a":[1,2]}"#,
            "application/json",
            br#"{"reply":"Hey","data":{"a":[1,2]}}"#,
            "json",
        ),
        (
            "application/json; charset=utf-8",
            b"true",
            "application/json",
            br#"{"reply":"Hey","data":true}"#,
            "json",
        ),
        (
            "application/octet-stream",
            &[0, 255, 1],
            "application/octet-stream",
            b"Hey \x00\xff\x01",
            "binary",
        ),
        (
            "application/x-protobuf",
            &[10, 2, 104, 105],
            "application/octet-stream",
            b"Hey \x0a\x02hi",
            "protobuf",
        ),
    ];
    for (content_type, body, answer_type, answer_body, data_type) in cases {
        let answer = Event::user("message", content_type, body.to_vec())
            .send(&server)
            .await;
        answer.assert_status(StatusCode::OK);
        assert_eq!(
            answer.content_type().as_deref(),
            Some(answer_type),
            "{content_type}"
        );
        if answer_type == "application/json" {
            let expected: Value = serde_json::from_slice(answer_body).expect("json");
            assert_eq!(answer.json(), expected, "{content_type}");
        } else {
            assert_eq!(answer.body.as_ref(), answer_body, "{content_type}");
        }
        assert_eq!(
            answer.states(),
            Some(json!({ "count": 1 })),
            "{content_type}"
        );
        let calls = handler.take_calls();
        assert_eq!(calls.len(), 1, "{content_type}");
        assert_eq!(calls[0]["dataType"], data_type, "{content_type}");
        assert_eq!(calls[0]["userId"], "alice");
        assert_eq!(calls[0]["connectionId"], CONNECTION_ID);
    }
}

#[tokio::test]
async fn an_empty_text_answer_is_still_text() {
    // An explicit empty text answer is not "no answer": the client gets an empty text message.
    #[derive(Debug, Clone)]
    struct EmptyText;
    impl EventHandler for EmptyText {
        async fn on_user_event(
            &self,
            _req: UserEventRequest,
        ) -> Result<UserEventResponse, EventError> {
            Ok(UserEventResponse::text(""))
        }
    }
    let server = TestServer::start(app(vector_layer(EmptyText))).await;
    let answer = Event::text("x").send(&server).await;
    assert!(answer.status.is_success(), "{answer:?}");
    if answer.status == StatusCode::OK {
        assert_eq!(answer.content_type().as_deref(), Some("text/plain"));
    }
}

/// Sends `event`, then returns the state the answer set (or `current` if it set none), as the
/// service does: the next event carries the last state set.
async fn round(server: &TestServer, event: Event, current: &Value) -> Value {
    let event = if current.as_object().is_some_and(|m| m.is_empty()) {
        event
    } else {
        event.states(current.clone())
    };
    let answer = event.send(server).await;
    assert!(answer.status.is_success(), "{answer:?}");
    answer.states().unwrap_or_else(|| current.clone())
}

#[tokio::test]
async fn state_set_merge_remove_clear_round_trips() {
    let (server, handler) = reference_server().await;
    let mut state = json!({});

    state = round(
        &server,
        Event::connect(json!({ "query": { "userId": ["u"], "greeting": ["hello"] } })),
        &state,
    )
    .await;
    assert_eq!(state, json!({ "greeting": "hello" }));

    state = round(&server, Event::text("one"), &state).await;
    assert_eq!(state, json!({ "greeting": "hello", "count": 1 }));
    state = round(&server, Event::text("two"), &state).await;
    assert_eq!(state, json!({ "greeting": "hello", "count": 2 }));

    state = round(
        &server,
        Event::user(
            "setstate",
            "application/json",
            r#"{"room":"a","nested":{"x":[1]}}"#,
        ),
        &state,
    )
    .await;
    assert_eq!(
        state,
        json!({ "greeting": "hello", "count": 2, "room": "a", "nested": { "x": [1] } })
    );

    state = round(
        &server,
        Event::user("setstate", "application/json", r#"{"room":"b"}"#),
        &state,
    )
    .await;
    assert_eq!(
        state,
        json!({ "greeting": "hello", "count": 2, "room": "b", "nested": { "x": [1] } })
    );

    state = round(
        &server,
        Event::user(
            "removestate",
            "application/json",
            r#"["greeting","absent"]"#,
        ),
        &state,
    )
    .await;
    assert_eq!(
        state,
        json!({ "count": 2, "room": "b", "nested": { "x": [1] } })
    );

    // an answer that sets nothing sends no header: the state stays as it was
    let unchanged = Event::user("noop", "text/plain", "x")
        .states(state.clone())
        .send(&server)
        .await;
    assert!(
        unchanged.header("ce-connectionstate").is_none(),
        "{unchanged:?}"
    );

    let cleared = Event::user("clearstate", "text/plain", "")
        .states(state.clone())
        .send(&server)
        .await;
    let header = cleared
        .header("ce-connectionstate")
        .expect("clearing sends a state header, or the old state would persist");
    assert_eq!(decode_state(&header), json!({}));

    // the handler saw each state as the service sent it
    let calls = handler.take_calls();
    assert_eq!(calls.len(), 8);
    assert_eq!(
        calls[2]["states"],
        json!({ "greeting": "hello", "count": 1 })
    );
    assert_eq!(
        calls[7]["states"],
        json!({ "count": 2, "room": "b", "nested": { "x": [1] } })
    );
}

#[tokio::test]
async fn dotnet_formatted_state_is_read() {
    // The .NET SDK writes each value as base64 of its JSON bytes.
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let dotnet = b64(&json!({ "count": b64("41"), "room": b64("\"lobby\"") }).to_string());
    let (server, handler) = reference_server().await;
    let answer = Event::text("x")
        .header("ce-connectionState", &dotnet)
        .send(&server)
        .await;
    answer.assert_status(StatusCode::OK);
    assert_eq!(
        handler.take_calls()[0]["states"],
        json!({ "count": 41, "room": "lobby" })
    );
    // the answer re-encodes the whole state in the one format this crate writes
    assert_eq!(
        answer.states(),
        Some(json!({ "count": 42, "room": "lobby" }))
    );
}

#[tokio::test]
async fn connected_disconnected_and_group_events_reach_the_handler() {
    let (server, handler) = reference_server().await;
    let cases = [
        (
            Event::connected(),
            json!({ "event": "connected", "eventName": "connected" }),
        ),
        (
            Event::disconnected("closed by client"),
            json!({ "event": "disconnected", "reason": "closed by client" }),
        ),
        (
            Event::group_joined("lobby"),
            json!({ "event": "groupJoined", "eventName": "joined", "group": "lobby" }),
        ),
        (
            Event::group_left("lobby"),
            json!({ "event": "groupLeft", "eventName": "left", "group": "lobby" }),
        ),
    ];
    for (event, expected) in cases {
        let answer = event.states(json!({ "count": 3 })).send(&server).await;
        answer.assert_status(StatusCode::OK);
        assert!(
            answer.header("ce-connectionstate").is_none(),
            "non-blocking events set no state"
        );
        let calls = handler.wait_calls(1).await;
        assert_eq!(calls.len(), 1, "{expected}");
        for (key, value) in expected.as_object().expect("object") {
            assert_eq!(&calls[0][key], value, "{key} of {expected}");
        }
        assert_eq!(calls[0]["userId"], "alice");
        assert_eq!(calls[0]["states"], json!({ "count": 3 }));
    }
    // a disconnected event without a reason is a normal close
    let answer = Event::disconnected("x").body("{}").send(&server).await;
    answer.assert_status(StatusCode::OK);
    assert_eq!(handler.wait_calls(1).await[0]["reason"], Value::Null);
}

/// Default methods only: connect accepted (204), user events 204, the rest 200.
#[derive(Debug, Clone)]
struct Defaults;
impl EventHandler for Defaults {}

#[tokio::test]
async fn default_handler_methods() {
    let server = TestServer::start(app(vector_layer(Defaults))).await;
    Event::connect(json!({ "query": { "userId": ["x"] } }))
        .send(&server)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    Event::text("x")
        .send(&server)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    for event in [
        Event::connected(),
        Event::disconnected("x"),
        Event::group_joined("g"),
        Event::group_left("g"),
    ] {
        event.send(&server).await.assert_status(StatusCode::OK);
    }
}

/// Records the whole context of every request it sees.
#[derive(Debug, Clone, Default)]
struct ContextProbe(Arc<Mutex<Vec<String>>>);

impl EventHandler for ContextProbe {
    async fn on_connect(&self, req: ConnectRequest) -> Result<ConnectResponse, EventError> {
        let c = req.context();
        let seen = format!(
            "hub={} id={} event={} origin={:?} ce-id={:?} ce-time={:?} subprotocol={:?} sig={} header={:?} certs={} mqtt={}",
            c.hub(),
            c.connection_id(),
            c.event_name(),
            c.origin(),
            c.id(),
            c.time(),
            c.subprotocol(),
            c.signature().is_some(),
            c.headers().get("x-extra").and_then(|v| v.to_str().ok()),
            req.client_certificates().len(),
            req.mqtt().is_some(),
        );
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(seen);
        Ok(ConnectResponse::new())
    }
}

#[tokio::test]
async fn the_handler_sees_the_whole_context() {
    let probe = ContextProbe::default();
    let server = TestServer::start(app(vector_layer(probe.clone()))).await;
    Event::connect(json!({ "clientCertificates": [{ "thumbprint": "t", "content": "pem" }] }))
        .header("ce-id", "42")
        .header("ce-subprotocol", "json.webpubsub.azure.v1")
        .header("x-extra", "kept")
        .hub("Chat")
        .send(&server)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let seen = probe.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    for part in [
        "hub=Chat",
        &format!("id={CONNECTION_ID}"),
        "event=connect",
        ORIGIN,
        "ce-id=",
        "42",
        "2026-11-21T09:00:00Z",
        "json.webpubsub.azure.v1",
        "sig=true",
        "header=Some(\"kept\")",
        "certs=1",
        "mqtt=false",
    ] {
        assert!(seen.contains(part), "{part:?} missing from {seen}");
    }
    assert!(!seen.contains(PRIMARY_KEY) && !seen.contains(SECONDARY_KEY));
}

#[tokio::test]
async fn content_types_are_matched_by_essence_case_insensitively() {
    let (server, handler) = reference_server().await;
    for (content_type, data_type) in [
        ("Text/Plain", "text"),
        ("TEXT/PLAIN; charset=UTF-8", "text"),
        ("application/json;charset=utf-8", "json"),
        ("Application/JSON", "json"),
        ("application/octet-stream ; foo=bar", "binary"),
        ("APPLICATION/X-PROTOBUF", "protobuf"),
    ] {
        let body = if data_type == "json" { "\"hi\"" } else { "hi" };
        let answer = Event::user("message", content_type, body)
            .send(&server)
            .await;
        answer.assert_status(StatusCode::OK);
        let calls = handler.take_calls();
        assert_eq!(calls.len(), 1, "{content_type}");
        assert_eq!(calls[0]["dataType"], data_type, "{content_type}");
    }
}

#[tokio::test]
async fn connect_bodies_from_newer_services_are_tolerated() {
    // Fields the service may add later must not break the handshake.
    let (server, handler) = reference_server().await;
    let answer = Event::connect(json!({
        "claims": { "sub": ["a"] },
        "query": { "userId": ["a"] },
        "someFutureField": { "x": 1 },
        "headers": {},
        "subprotocols": [],
        "clientCertificates": [{ "thumbprint": "t", "content": "pem", "future": true }],
    }))
    .send(&server)
    .await;
    answer.assert_status(StatusCode::OK);
    assert_eq!(answer.json(), json!({ "userId": "a" }));
    assert_eq!(handler.take_calls().len(), 1);
}

#[tokio::test]
async fn a_query_string_on_the_event_url_is_fine() {
    // Upstream URLs may carry `?code=...` (Functions-style keys) or other parameters.
    let (server, handler) = reference_server().await;
    let answer = Event::text("q")
        .path("/api/webpubsub/hubs/chat/?code=abc&x=1")
        .send(&server)
        .await;
    answer.assert_status(StatusCode::OK);
    assert_eq!(answer.text(), "Hey q");
    assert_eq!(handler.take_calls().len(), 1);
    let answer = Event::preflight(Some(ORIGIN))
        .path("/api/webpubsub/hubs/chat/?code=abc")
        .send(&server)
        .await;
    answer.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn closure_handlers_over_http() {
    let handlers =
        webpubsub_tower::ClosureHandler::new()
            .connect(|req: ConnectRequest| async move {
                Ok(ConnectResponse::new()
                    .user_id(format!("user-of-{}", req.context().connection_id())))
            })
            .user_event(|req: UserEventRequest| async move {
                let text = req
                    .text()
                    .map_err(|e| EventError::bad_request(e.to_string()))?
                    .to_owned();
                Ok(UserEventResponse::text(text.to_uppercase()))
            });
    let server = TestServer::start(app(vector_layer(handlers))).await;
    let answer = Event::connect(json!({})).send(&server).await;
    answer.assert_status(StatusCode::OK);
    assert_eq!(
        answer.json(),
        json!({ "userId": format!("user-of-{CONNECTION_ID}") })
    );
    let answer = Event::text("shout").send(&server).await;
    answer.assert_status(StatusCode::OK);
    assert_eq!(answer.text(), "SHOUT");
    // events without a closure get the defaults
    Event::connected()
        .send(&server)
        .await
        .assert_status(StatusCode::OK);
    Event::group_left("g")
        .send(&server)
        .await
        .assert_status(StatusCode::OK);
}
