//! Who may call the layer, over loopback HTTP: signatures with primary and secondary keys, the
//! key chosen by the `WebHook-Request-Origin` host among several connection strings, access keys
//! for any origin, no keys (no check), multi-origin handshakes with look-alike hosts, hub matching
//! (one, several, any; case-insensitive) and the event path (default prefix, custom, `{hub}`,
//! `{event}`).

mod support;

use http::StatusCode;
use support::layer::{Event, PRIMARY_KEY, ReferenceHandler, SECONDARY_KEY, TestServer, app};
use webpubsub_protocol::AccessKey;
use webpubsub_tower::WebPubSubLayer;

const WEST: &str = "west.webpubsub.azure.com";
const EAST: &str = "east.webpubsub.azure.com";
const WEST_KEY: &str = "west-key-not-a-secret";
const EAST_KEY: &str = "east-key-not-a-secret";

fn cs(host: &str, key: &str) -> String {
    format!("Endpoint=https://{host};AccessKey={key};Version=1.0;")
}

/// Sends `event`; returns its status and whether the handler ran.
async fn status_and_called(
    server: &TestServer,
    handler: &ReferenceHandler,
    event: Event,
) -> (StatusCode, bool) {
    let answer = event.send(server).await;
    (answer.status, !handler.take_calls().is_empty())
}

#[tokio::test]
async fn primary_and_secondary_key_signatures_are_accepted() {
    let handler = ReferenceHandler::default();
    let layer = WebPubSubLayer::new(handler.clone())
        .connection_string(&cs(WEST, PRIMARY_KEY))
        .and_then(|layer| layer.connection_string(&cs(WEST, SECONDARY_KEY)))
        .expect("connection strings");
    let server = TestServer::start(app(layer)).await;
    let ok = |keys: &[&str]| Event::text("x").origin(WEST).signed_with(keys);
    let upper = support::layer::sign(SECONDARY_KEY, support::layer::CONNECTION_ID)
        .to_ascii_uppercase()
        .replace("SHA256=", "sha256=");
    let cases = [
        ("primary only", ok(&[PRIMARY_KEY])),
        ("secondary only", ok(&[SECONDARY_KEY])),
        ("both", ok(&[PRIMARY_KEY, SECONDARY_KEY])),
        ("a stale entry first", ok(&["rotated-away", SECONDARY_KEY])),
        (
            "upper-case hex",
            Event::text("x").origin(WEST).header("ce-signature", &upper),
        ),
        (
            "two header lines",
            Event::text("x")
                .origin(WEST)
                .signed_with(&["rotated-away"])
                .append_header(
                    "ce-signature",
                    &support::layer::sign(PRIMARY_KEY, support::layer::CONNECTION_ID),
                ),
        ),
        (
            "comma and space",
            Event::text("x").origin(WEST).header(
                "ce-signature",
                &format!(
                    "{}, {}",
                    support::layer::sign("rotated-away", support::layer::CONNECTION_ID),
                    support::layer::sign(PRIMARY_KEY, support::layer::CONNECTION_ID)
                ),
            ),
        ),
    ];
    for (case, event) in cases {
        assert_eq!(
            status_and_called(&server, &handler, event).await,
            (StatusCode::OK, true),
            "{case}"
        );
    }
    let other_connection = Event::text("x")
        .origin(WEST)
        .connection_id("conn-2", &[SECONDARY_KEY]);
    assert_eq!(
        status_and_called(&server, &handler, other_connection).await,
        (StatusCode::OK, true)
    );
    let wrong = Event::text("x").origin(WEST).signed_with(&["rotated-away"]);
    assert_eq!(
        status_and_called(&server, &handler, wrong).await,
        (StatusCode::UNAUTHORIZED, false)
    );
}

#[tokio::test]
async fn the_key_is_chosen_by_the_origin_host() {
    let handler = ReferenceHandler::default();
    let layer = WebPubSubLayer::new(handler.clone())
        .connection_string(&cs(WEST, WEST_KEY))
        .and_then(|layer| layer.connection_string(&cs(EAST, EAST_KEY)))
        .expect("connection strings");
    let server = TestServer::start(app(layer)).await;
    let cases = [
        (WEST, WEST_KEY, StatusCode::OK),
        (EAST, EAST_KEY, StatusCode::OK),
        ("WEST.webpubsub.azure.com", WEST_KEY, StatusCode::OK),
        // a valid key of another endpoint does not open this one
        (WEST, EAST_KEY, StatusCode::UNAUTHORIZED),
        (EAST, WEST_KEY, StatusCode::UNAUTHORIZED),
        // look-alike hosts and unknown hosts have no key
        (
            "west.webpubsub.azure.com.attacker.tld",
            WEST_KEY,
            StatusCode::UNAUTHORIZED,
        ),
        ("attacker.tld", WEST_KEY, StatusCode::UNAUTHORIZED),
    ];
    for (origin, key, status) in cases {
        let event = Event::text("x").origin(origin).signed_with(&[key]);
        assert_eq!(
            status_and_called(&server, &handler, event).await,
            (status, status == StatusCode::OK),
            "origin {origin} signed with {key}"
        );
    }
}

#[tokio::test]
async fn access_keys_are_accepted_from_any_origin() {
    let handler = ReferenceHandler::default();
    let layer = WebPubSubLayer::new(handler.clone())
        .connection_string(&cs(WEST, WEST_KEY))
        .expect("connection string")
        .access_key(AccessKey::new(PRIMARY_KEY));
    let server = TestServer::start(app(layer)).await;
    for origin in [WEST, EAST, "anything.example.com"] {
        let event = Event::text("x").origin(origin).signed_with(&[PRIMARY_KEY]);
        assert_eq!(
            status_and_called(&server, &handler, event).await,
            (StatusCode::OK, true),
            "{origin}"
        );
    }
    let event = Event::text("x").origin(EAST).signed_with(&[WEST_KEY]);
    assert_eq!(
        status_and_called(&server, &handler, event).await,
        (StatusCode::UNAUTHORIZED, false)
    );
}

#[tokio::test]
async fn without_keys_signatures_are_not_checked() {
    let handler = ReferenceHandler::default();
    let server = TestServer::start(app(WebPubSubLayer::new(handler.clone()))).await;
    for event in [
        Event::text("x").without("ce-signature"),
        Event::text("x").signed_with(&["whatever"]),
        Event::text("x").origin("anywhere.example.com"),
    ] {
        assert_eq!(
            status_and_called(&server, &handler, event).await,
            (StatusCode::OK, true)
        );
    }
}

#[tokio::test]
async fn several_allowed_origins_for_the_handshake() {
    let handler = ReferenceHandler::default();
    let layer =
        WebPubSubLayer::new(handler.clone()).allowed_origins([WEST, EAST, "custom.example.com"]);
    let server = TestServer::start(app(layer)).await;
    let cases = [
        (WEST.to_owned(), Some(WEST)),
        (EAST.to_owned(), Some(EAST)),
        (format!("{WEST}, {EAST}"), None), // either may be echoed
        (format!("replica.webpubsub.azure.com, {EAST}"), Some(EAST)),
        ("CUSTOM.example.com".to_owned(), None),
        (format!("{WEST}.attacker.tld"), Some("")),
        (format!("x{EAST}"), Some("")),
        ("example.com".to_owned(), Some("")),
    ];
    for (origin, echoed) in cases {
        let answer = Event::preflight(Some(&origin)).send(&server).await;
        match echoed {
            Some("") => {
                answer.assert_rejected(StatusCode::BAD_REQUEST);
                assert!(
                    answer.header("webhook-allowed-origin").is_none(),
                    "{origin}"
                );
            }
            Some(host) => {
                answer.assert_status(StatusCode::OK);
                assert_eq!(
                    answer.header("webhook-allowed-origin").as_deref(),
                    Some(host),
                    "{origin}"
                );
            }
            None => {
                answer.assert_status(StatusCode::OK);
                let got = answer
                    .header("webhook-allowed-origin")
                    .expect("an allowed origin")
                    .to_ascii_lowercase();
                assert!(
                    origin
                        .to_ascii_lowercase()
                        .split([',', ' '])
                        .any(|o| o == got),
                    "{origin} -> {got}"
                );
            }
        }
    }
    assert!(handler.take_calls().is_empty());
}

#[tokio::test]
async fn hub_matching_one_several_any() {
    let handler = ReferenceHandler::default();
    let one = TestServer::start(app(WebPubSubLayer::new(handler.clone()).hub("Chat"))).await;
    let several = TestServer::start(app(
        WebPubSubLayer::new(handler.clone()).hubs(["chat", "news"])
    ))
    .await;
    let any = TestServer::start(app(WebPubSubLayer::new(handler.clone()).any_hub())).await;
    let default = TestServer::start(app(WebPubSubLayer::new(handler.clone()))).await;

    // the default path is the JS SDK's `/api/webpubsub/hubs/{hub}/` prefix, so the path follows the hub
    let to = |hub: &str| {
        Event::text("x").hub(hub).path(&format!(
            "/api/webpubsub/hubs/{}/",
            hub.to_ascii_lowercase()
        ))
    };
    let cases = [
        (&one, "chat", StatusCode::OK),
        (&one, "CHAT", StatusCode::OK),
        (&one, "news", StatusCode::NOT_FOUND),
        (&several, "chat", StatusCode::OK),
        (&several, "News", StatusCode::OK),
        (&several, "sports", StatusCode::NOT_FOUND),
        (&any, "sports", StatusCode::OK),
        (&any, "x1", StatusCode::OK),
        (&default, "anything", StatusCode::OK),
    ];
    for (server, hub, status) in cases {
        assert_eq!(
            status_and_called(server, &handler, to(hub)).await,
            (status, status == StatusCode::OK),
            "hub {hub}"
        );
    }
}

#[tokio::test]
async fn the_path_follows_the_configuration() {
    let handler = ReferenceHandler::default();
    let exact = TestServer::start(app(
        WebPubSubLayer::new(handler.clone()).path("/eventhandler")
    ))
    .await;
    let by_event = TestServer::start(app(
        WebPubSubLayer::new(handler.clone()).path("/hooks/{hub}/{event}")
    ))
    .await;
    let default = TestServer::start(app(WebPubSubLayer::new(handler.clone()).hub("chat"))).await;

    let inner = support::layer::INNER_FALLBACK;
    let cases = [
        (&exact, "/eventhandler", StatusCode::OK),
        (&exact, "/eventhandler/", StatusCode::OK),
        (&exact, "/eventhandler2", inner),
        (&exact, "/other", inner),
        (&by_event, "/hooks/chat/message", StatusCode::OK),
        (&default, "/api/webpubsub/hubs/chat/", StatusCode::OK),
        (&default, "/api/webpubsub/hubs/chat", StatusCode::OK),
        (&default, "/api/webpubsub/hubs/chat/message", StatusCode::OK),
        (&default, "/api/webpubsub/other", inner),
    ];
    for (server, path, status) in cases {
        assert_eq!(
            status_and_called(server, &handler, Event::text("x").path(path)).await,
            (status, status == StatusCode::OK),
            "{path}"
        );
    }
    // a path naming one hub and a ce-hub naming another is refused, not served
    let mismatch = Event::text("x")
        .hub("chat")
        .path("/api/webpubsub/hubs/news/");
    let any = TestServer::start(app(WebPubSubLayer::new(handler.clone()).any_hub())).await;
    let (status, called) = status_and_called(&any, &handler, mismatch).await;
    assert!(status.is_client_error() && !called, "{status}");

    // `{event}` resolves to `validate` for the handshake
    let answer = Event::preflight(Some("a.webpubsub.azure.com"))
        .path("/hooks/chat/validate")
        .send(&by_event)
        .await;
    answer.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn repeated_identity_headers_are_refused() {
    // The signature covers the connection id only. If a second `ce-connectionId` line could be
    // what the handler sees while the first one is what was verified, a captured signature would
    // speak for any connection; the layer refuses such requests outright, and the same for the
    // hub and the event type.
    let (server, handler) = support::layer::reference_server().await;
    let signed = support::layer::CONNECTION_ID;
    let cases = [
        ("ce-connectionId", signed, "victim"),
        ("ce-connectionId", "victim", signed),
        ("ce-hub", "other", "chat"),
        ("ce-hub", "chat", "chat"),
        (
            "ce-type",
            "azure.webpubsub.user.message",
            "azure.webpubsub.sys.connect",
        ),
    ];
    for (name, first, second) in cases {
        let event = Event::text("x")
            .header(name, first)
            .append_header(name, second)
            .header("ce-signature", &support::layer::sign(PRIMARY_KEY, signed));
        let answer = event.send(&server).await;
        answer.assert_rejected(StatusCode::BAD_REQUEST);
        assert!(
            answer.text().contains(&name.to_ascii_lowercase()) || answer.text().contains(name),
            "{answer:?}"
        );
        assert!(
            handler.take_calls().is_empty(),
            "{name}: {first} / {second}"
        );
    }
}
