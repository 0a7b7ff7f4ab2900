//! Every row of the status map (docs/architecture.md, the webpubsub-tower crate docs), over loopback HTTP: an axum server with the layer on
//! 127.0.0.1:0 and a reqwest client. Each rejection is checked for its status, a reason in words,
//! the `Rejection` extension, and that the handler was not called.

mod support;

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;
use support::layer::{
    Answer, Event, ORIGIN, PRIMARY_KEY, REJECTION_HEADER, ReferenceHandler, TestServer, app,
    reference_server, vector_layer,
};
use webpubsub_tower::{
    ConnectRequest, ConnectResponse, EventError, EventHandler, UserEventRequest, UserEventResponse,
};

/// Asserts a rejection with `status`, a reason, the `Rejection` extension and no handler call.
#[track_caller]
fn assert_rejected_untouched(answer: &Answer, status: StatusCode, handler: &ReferenceHandler) {
    answer.assert_rejected(status);
    let rejection = answer.header(REJECTION_HEADER);
    assert!(
        rejection
            .as_deref()
            .is_some_and(|r| r.ends_with(&format!(" {}", status.as_u16()))),
        "a {status} rejection carries a Rejection extension of that status: {answer:?}"
    );
    let calls = handler.take_calls();
    assert!(
        calls.is_empty(),
        "the handler must not see a rejected request, saw {calls:?}"
    );
}

#[tokio::test]
async fn options_with_an_allowed_origin_echoes_it_and_allows_post() {
    let (server, handler) = reference_server().await;
    for origin in [
        ORIGIN.to_owned(),
        ORIGIN.to_ascii_uppercase(),
        format!("replica-1.webpubsub.azure.com, {ORIGIN}"),
        format!("replica-1.webpubsub.azure.com,{ORIGIN}"),
        format!("replica-1.webpubsub.azure.com {ORIGIN}"),
    ] {
        let answer = Event::preflight(Some(&origin)).send(&server).await;
        answer.assert_status(StatusCode::OK);
        assert_eq!(
            answer
                .header("webhook-allowed-origin")
                .map(|o| o.to_ascii_lowercase()),
            Some(ORIGIN.to_owned()),
            "origin {origin:?}"
        );
        assert_eq!(
            answer.header("allow").as_deref(),
            Some("POST"),
            "origin {origin:?}"
        );
        assert!(answer.header(REJECTION_HEADER).is_none());
    }
    assert!(
        handler.take_calls().is_empty(),
        "the handshake never reaches the handler"
    );
}

#[tokio::test]
async fn options_from_several_header_lines_finds_the_allowed_origin() {
    let (server, _handler) = reference_server().await;
    let answer = Event::preflight(Some("replica-1.webpubsub.azure.com"))
        .append_header("WebHook-Request-Origin", ORIGIN)
        .send(&server)
        .await;
    answer.assert_allows_origin(ORIGIN);
}

#[tokio::test]
async fn the_handshake_does_not_need_ce_awpsversion() {
    let (server, _handler) = reference_server().await;
    Event::preflight(Some(ORIGIN))
        .without("ce-awpsversion")
        .send(&server)
        .await
        .assert_allows_origin(ORIGIN);
}

#[tokio::test]
async fn options_without_an_allow_list_answers_star() {
    let handler = ReferenceHandler::default();
    let server =
        TestServer::start(app(webpubsub_tower::WebPubSubLayer::new(handler.clone()))).await;
    let answer = Event::preflight(Some("anything.webpubsub.azure.com"))
        .send(&server)
        .await;
    answer.assert_allows_origin("*");
    assert_eq!(answer.header("allow").as_deref(), Some("POST"));
}

#[tokio::test]
async fn options_with_a_missing_or_disallowed_origin_is_400() {
    let (server, handler) = reference_server().await;
    for origin in [
        None,
        Some(""),
        Some("evil.example.com"),
        Some("demo.webpubsub.azure.com.attacker.tld"),
        Some("attacker.tld, evil.example.com"),
        Some("xdemo.webpubsub.azure.com"),
    ] {
        let answer = Event::preflight(origin).send(&server).await;
        assert_rejected_untouched(&answer, StatusCode::BAD_REQUEST, &handler);
        assert!(
            answer.header("webhook-allowed-origin").is_none(),
            "origin {origin:?}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let (server, handler) = reference_server().await;
    for method in [
        Method::GET,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
    ] {
        let answer = Event::text("x").method(method.clone()).send(&server).await;
        answer.assert_status(StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            answer.header("allow").as_deref(),
            Some("OPTIONS, POST"),
            "{method}"
        );
        if method != Method::HEAD {
            answer.assert_rejected(StatusCode::METHOD_NOT_ALLOWED);
        }
        assert!(answer.header(REJECTION_HEADER).is_some(), "{method}");
        assert!(handler.take_calls().is_empty(), "{method}");
    }
}

#[tokio::test]
async fn missing_or_malformed_ce_headers_are_400() {
    let (server, handler) = reference_server().await;
    let cases = [
        ("no ce-type", Event::text("x").without("ce-type")),
        ("no ce-hub", Event::text("x").without("ce-hub")),
        ("empty ce-hub", Event::text("x").hub("")),
        (
            "no ce-connectionId",
            Event::text("x").without("ce-connectionId"),
        ),
        (
            "empty ce-connectionId",
            Event::text("x").connection_id("", &[PRIMARY_KEY]),
        ),
        (
            "ce-type of another kind",
            Event::text("x").header("ce-type", "com.example.other"),
        ),
        (
            "user ce-type without a name",
            Event::text("x").header("ce-type", "azure.webpubsub.user."),
        ),
        (
            "an azure.webpubsub kind that does not exist",
            Event::connected().header("ce-type", "azure.webpubsub.other.x"),
        ),
        ("non-UTF-8 ce-userId", {
            let mut event = Event::text("x");
            event.headers.insert(
                "ce-userid",
                http::HeaderValue::from_bytes(b"al\xffce").expect("opaque bytes"),
            );
            event
        }),
    ];
    for (case, event) in cases {
        let answer = event.send(&server).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{case}: {answer:?}");
        assert_rejected_untouched(&answer, StatusCode::BAD_REQUEST, &handler);
    }
}

#[tokio::test]
async fn bad_json_bodies_are_400() {
    let (server, handler) = reference_server().await;
    let cases = [
        (
            "connect not JSON",
            Event::connect(json!({})).body("{not json"),
        ),
        (
            "connect claims not a map",
            Event::connect(json!({ "claims": 5 })),
        ),
        ("connect an array", Event::connect(json!([1, 2]))),
        (
            "disconnected not JSON",
            Event::disconnected("x").body("nope"),
        ),
        (
            "group joined not JSON",
            Event::group_joined("g").body("{\"group\":"),
        ),
    ];
    for (case, event) in cases {
        let answer = event.send(&server).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{case}: {answer:?}");
        assert_rejected_untouched(&answer, StatusCode::BAD_REQUEST, &handler);
    }
}

#[tokio::test]
async fn bad_state_headers_are_400() {
    let (server, handler) = reference_server().await;
    let cases = [
        ("not base64", "!!not base64!!".to_owned()),
        ("base64 of non-JSON", "bm90IGpzb24=".to_owned()),
        (
            "base64 of a JSON array",
            support::layer::encode_state(&json!([1, 2])),
        ),
        (
            "base64 of a JSON string",
            support::layer::encode_state(&json!("s")),
        ),
    ];
    for (case, state) in cases {
        let answer = Event::text("x")
            .header("ce-connectionState", &state)
            .send(&server)
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{case}: {answer:?}");
        assert_rejected_untouched(&answer, StatusCode::BAD_REQUEST, &handler);
    }
}

#[tokio::test]
async fn two_state_headers_are_400() {
    let (server, handler) = reference_server().await;
    let answer = Event::text("x")
        .states(json!({ "a": 1 }))
        .append_header(
            "ce-connectionState",
            &support::layer::encode_state(&json!({ "b": 2 })),
        )
        .send(&server)
        .await;
    assert_rejected_untouched(&answer, StatusCode::BAD_REQUEST, &handler);
}

#[tokio::test]
async fn missing_or_wrong_signatures_are_401() {
    let (server, handler) = reference_server().await;
    let cases = [
        ("no signature", Event::text("x").without("ce-signature")),
        (
            "empty signature",
            Event::text("x").header("ce-signature", ""),
        ),
        (
            "another key",
            Event::text("x").signed_with(&["some-other-key"]),
        ),
        (
            "signature of another connection",
            Event::text("x").header(
                "ce-signature",
                &support::layer::sign(PRIMARY_KEY, "conn-other"),
            ),
        ),
        (
            "hex without prefix",
            Event::text("x").header(
                "ce-signature",
                support::layer::sign(PRIMARY_KEY, "conn-7f3a").trim_start_matches("sha256="),
            ),
        ),
        (
            "truncated hex",
            Event::text("x").header(
                "ce-signature",
                &support::layer::sign(PRIMARY_KEY, "conn-7f3a")[..40],
            ),
        ),
        (
            "garbage",
            Event::text("x").header("ce-signature", "sha256=zz,,, ,sha1=00"),
        ),
        (
            "origin without a key",
            Event::text("x").origin("other.webpubsub.azure.com"),
        ),
    ];
    for (case, event) in cases {
        let answer = event.send(&server).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {answer:?}"
        );
        assert_rejected_untouched(&answer, StatusCode::UNAUTHORIZED, &handler);
        assert!(
            !answer.text().contains(PRIMARY_KEY),
            "{case}: the reason must not show the key: {}",
            answer.text()
        );
    }
    // every event kind is checked, not only user events
    for event in [
        Event::connect(json!({})),
        Event::connected(),
        Event::disconnected("bye"),
        Event::group_joined("g"),
        Event::group_left("g"),
    ] {
        let answer = event.signed_with(&["some-other-key"]).send(&server).await;
        assert_rejected_untouched(&answer, StatusCode::UNAUTHORIZED, &handler);
    }
}

#[tokio::test]
async fn an_event_without_origin_is_refused_when_keys_are_configured() {
    // The key is chosen by origin host, so without an origin no key applies. Whether that reads as
    // a malformed request (400) or an unverifiable signature (401), it must not reach the handler.
    let (server, handler) = reference_server().await;
    let answer = Event::text("x")
        .without("WebHook-Request-Origin")
        .send(&server)
        .await;
    assert!(
        matches!(
            answer.status,
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED
        ),
        "{answer:?}"
    );
    assert_rejected_untouched(&answer, answer.status, &handler);
}

#[tokio::test]
async fn hubs_not_served_are_404() {
    let (server, handler) = reference_server().await;
    for hub in ["other", "chat2", "cha"] {
        let answer = Event::text("x").hub(hub).send(&server).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "hub {hub:?}: {answer:?}"
        );
        assert_rejected_untouched(&answer, StatusCode::NOT_FOUND, &handler);
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let handler = ReferenceHandler::default();
    let server = TestServer::start(app(vector_layer(handler.clone()).body_limit(1024))).await;

    let at_limit = Event::text(&"a".repeat(1024)).send(&server).await;
    at_limit.assert_status(StatusCode::OK);
    assert_eq!(handler.take_calls().len(), 1);

    for event in [
        Event::text(&"a".repeat(1025)),
        Event::connect(json!({ "claims": { "big": ["x".repeat(2000)] } })),
    ] {
        let answer = event.send(&server).await;
        assert_rejected_untouched(&answer, StatusCode::PAYLOAD_TOO_LARGE, &handler);
    }
}

#[tokio::test]
async fn unsupported_user_event_content_types_are_415() {
    let (server, handler) = reference_server().await;
    for content_type in [
        "image/png",
        "application/xml",
        "text/html",
        "multipart/form-data; boundary=x",
    ] {
        let answer = Event::user("message", content_type, "x")
            .send(&server)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}: {answer:?}"
        );
        assert_rejected_untouched(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE, &handler);
    }
}

/// Answers every blocking event with the error its event name or query names.
#[derive(Debug, Clone)]
struct Failing;

impl EventHandler for Failing {
    async fn on_connect(&self, req: ConnectRequest) -> Result<ConnectResponse, EventError> {
        let code: u16 = req
            .query()
            .get("status")
            .and_then(|v| v.first())
            .and_then(|s| s.parse().ok())
            .unwrap_or(403);
        Err(EventError::new(
            StatusCode::from_u16(code).expect("status"),
            format!("connect refused with {code}"),
        ))
    }

    async fn on_user_event(&self, req: UserEventRequest) -> Result<UserEventResponse, EventError> {
        let code: u16 = req
            .context()
            .event_name()
            .parse()
            .expect("the event name is a status");
        Err(EventError::new(
            StatusCode::from_u16(code).expect("status"),
            format!("event refused with {code}"),
        ))
    }
}

#[tokio::test]
async fn handler_errors_keep_their_status_and_message() {
    let server = TestServer::start(app(vector_layer(Failing))).await;
    for code in [400u16, 401, 403, 404, 409, 429, 500, 503] {
        let answer = Event::connect(json!({ "query": { "status": [code.to_string()] } }))
            .send(&server)
            .await;
        assert_eq!(answer.status.as_u16(), code, "{answer:?}");
        assert_eq!(answer.text(), format!("connect refused with {code}"));
        assert_eq!(answer.content_type().as_deref(), Some("text/plain"));

        let answer = Event::user(&code.to_string(), "text/plain", "x")
            .send(&server)
            .await;
        assert_eq!(answer.status.as_u16(), code, "{answer:?}");
        assert_eq!(answer.text(), format!("event refused with {code}"));
        assert!(
            answer.header("ce-connectionstate").is_none(),
            "an error sets no state"
        );
    }
}

/// Panics or sleeps on demand, so the layer's 500 and 504 can be seen.
#[derive(Debug, Clone)]
struct Unruly;

const PANIC_MESSAGE: &str = "internal detail that must not leak";

impl EventHandler for Unruly {
    async fn on_connect(&self, req: ConnectRequest) -> Result<ConnectResponse, EventError> {
        if req.query().contains_key("panic") {
            panic!("{PANIC_MESSAGE}");
        }
        if req.query().contains_key("slow") {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Ok(ConnectResponse::new().user_id("ok"))
    }

    async fn on_user_event(&self, req: UserEventRequest) -> Result<UserEventResponse, EventError> {
        match req.context().event_name() {
            "panic" => panic!("{PANIC_MESSAGE}"),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(UserEventResponse::text("late"))
            }
            _ => Ok(UserEventResponse::text("fine")),
        }
    }
}

#[tokio::test]
async fn panicking_handlers_are_500_and_the_server_keeps_serving() {
    let server = TestServer::start(app(vector_layer(Unruly))).await;
    for round in 0..3 {
        for event in [
            Event::user("panic", "text/plain", "x"),
            Event::connect(json!({ "query": { "panic": ["1"] } })),
        ] {
            let answer = event.send(&server).await;
            answer.assert_rejected(StatusCode::INTERNAL_SERVER_ERROR);
            assert!(
                !answer.text().contains(PANIC_MESSAGE),
                "round {round}: the panic message leaked: {answer:?}"
            );
            assert!(answer.header(REJECTION_HEADER).is_some());
        }
        let fine = Event::text("x").send(&server).await;
        fine.assert_status(StatusCode::OK);
        assert_eq!(fine.text(), "fine");
    }
}

#[tokio::test]
async fn slow_handlers_are_504_and_the_server_keeps_serving() {
    let layer = vector_layer(Unruly).handler_timeout(Duration::from_millis(200));
    let server = TestServer::start(app(layer)).await;
    let (slow_event, slow_connect, fine_event) = (
        Event::user("slow", "text/plain", "x"),
        Event::connect(json!({ "query": { "slow": ["1"] } })),
        Event::text("x"),
    );
    let (slow_event, slow_connect, fine) = tokio::join!(
        slow_event.send(&server),
        slow_connect.send(&server),
        fine_event.send(&server),
    );
    for answer in [slow_event, slow_connect] {
        answer.assert_rejected(StatusCode::GATEWAY_TIMEOUT);
        assert!(answer.header(REJECTION_HEADER).is_some());
    }
    fine.assert_status(StatusCode::OK);
    Event::text("again")
        .send(&server)
        .await
        .assert_status(StatusCode::OK);
}
