//! What the in-process benches share: the keys, the event requests the service sends and the
//! token claims they sign. Each bench uses a part of it.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use webpubsub::protocol::{
    AccessKey, signature,
    token::{ClientTokenClaims, client_audience},
};

/// The access keys the layer is given and the events are signed with (not secrets).
pub const PRIMARY: &str = "bench-primary-key-not-a-secret";
pub const SECONDARY: &str = "bench-secondary-key-not-a-secret";
pub const CONNECTION_ID: &str = "conn-7f3a";

/// The `ce-signature` the service sends: one entry per key, primary and secondary.
pub fn service_signature() -> String {
    signature::sign_all(
        [&AccessKey::new(PRIMARY), &AccessKey::new(SECONDARY)],
        CONNECTION_ID,
    )
}

/// An event as the service posts it to the default path: every `ce-*` header it sends, the
/// given type, body, signature and connection state (base64 JSON).
pub fn event_request(
    ce_type: &str,
    content_type: &str,
    body: &'static [u8],
    signature: &str,
    state: &str,
) -> Request<Full<Bytes>> {
    let event_name = ce_type.rsplit('.').next().unwrap_or_default();
    Request::post("/api/webpubsub/hubs/chat/")
        .header("content-type", content_type)
        .header("ce-specversion", "1.0")
        .header("ce-type", ce_type)
        .header("ce-source", "/hubs/chat/client/conn-7f3a")
        .header("ce-id", "1")
        .header("ce-time", "2026-11-21T09:00:00Z")
        .header("ce-awpsversion", "1.0")
        .header("ce-hub", "chat")
        .header("ce-connectionId", CONNECTION_ID)
        .header("ce-userId", "alice")
        .header("ce-eventName", event_name)
        .header("ce-connectionState", state)
        .header("ce-signature", signature)
        .header("WebHook-Request-Origin", "demo.webpubsub.azure.com")
        .body(Full::new(Bytes::from_static(body)))
        .expect("a valid request")
}

/// A request on another path, which the layer passes to the inner service.
pub fn other_path() -> Request<Full<Bytes>> {
    Request::post("/api/messages")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"text":"hello world"}"#)))
        .expect("a valid request")
}

/// The claims of a client token with a user, two roles and a group, as the JWT baselines sign
/// them.
pub fn client_claims(user: &str) -> ClientTokenClaims {
    let audience = client_audience(
        "https://demo.webpubsub.azure.com",
        Default::default(),
        "chat",
    );
    ClientTokenClaims::new(audience, 1_700_000_000, 3600)
        .with_user(user)
        .with_roles(["webpubsub.sendToGroup.room1", "webpubsub.joinLeaveGroup"])
        .with_groups(["room1"])
}
