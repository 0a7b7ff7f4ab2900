//! The official `@azure/web-pubsub` 1.2.0 JavaScript SDK and this crate's client run the same
//! operations against the same loopback recorder; every request must match in method, path,
//! query parameters, content type and body, and both must carry REST tokens the recorder
//! verifies (signature, `aud` equal to the URL as received, expiry). Client access tokens minted
//! by both for the same inputs must decode to the same claims, and the SDK's `odata` filter
//! helper must agree with `webpubsub_protocol::filter`. Behind a reverse proxy, both must sign
//! for the service URL while sending to the proxy. With an Entra ID credential, both send the
//! bearer token and mint client tokens through the same `:generateToken` request.

#[path = "../crates/webpubsub-rest/tests/support/recorder.rs"]
mod recorder;
mod support;

use std::{future::IntoFuture, time::Duration};

use futures_util::TryStreamExt;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use recorder::{Recorded, Recorder, Reply};
use serde_json::{Value, json};
use webpubsub_protocol::{
    filter::Filter,
    token::{ClientProtocol, ClientTokenClaims},
};
use webpubsub_rest::{Error, Message, Permission, WebPubSubServiceClient};

const KEY: &str = "interop-access-key-0123456789ABCDEFGH";

async fn recorder() -> Recorder {
    Recorder::start_with(Some(KEY.to_owned()), None, Reply::Service).await
}

fn connection_string(recorder: &Recorder) -> String {
    format!(
        "Endpoint={};AccessKey={KEY};Version=1.0;",
        recorder.endpoint()
    )
}

async fn ok<T>(operation: impl IntoFuture<Output = Result<T, Error>>) -> T {
    tokio::time::timeout(Duration::from_secs(10), operation.into_future())
        .await
        .expect("the operation finished")
        .expect("the operation succeeded")
}

/// The same operations, in the same order, as `tests/interop/rest_operations.mjs`.
async fn run_rust_operations(client: &WebPubSubServiceClient) -> (Vec<bool>, bool, Vec<Value>) {
    let filter = "userId eq 'o''neil'";
    ok(client
        .send_to_all(Message::json(&json!({"a": [1, "x"]})).unwrap())
        .excluded(["c1", "c2"])
        .filter(filter)
        .message_ttl_seconds(15))
    .await;
    ok(client.send_to_all(Message::text("hello"))).await;
    ok(client.send_to_all(Message::binary(vec![0_u8, 1, 255]))).await;
    ok(client
        .send_to_group("room 1/a", Message::text("hello"))
        .excluded(["c3"])
        .filter("'vip' in groups")
        .message_ttl_seconds(30))
    .await;
    ok(client
        .send_to_user("user/1", Message::binary(vec![0_u8, 1, 255]))
        .filter("connectionId ne 'c1'")
        .message_ttl_seconds(300))
    .await;
    ok(client.send_to_connection("conn#1", Message::json("just a string").unwrap())).await;
    ok(client
        .close_all_connections()
        .excluded(["c1", "c2"])
        .reason("maintenance & more"))
    .await;
    ok(client
        .close_group_connections("g")
        .excluded(["c1"])
        .reason("r"))
    .await;
    ok(client
        .close_user_connections("u ü")
        .excluded(["c9"])
        .reason("bye"))
    .await;
    ok(client.close_connection("c1").reason("kicked")).await;
    let exists = vec![
        ok(client.group_exists("g/1")).await,
        ok(client.user_exists("u/1")).await,
        ok(client.connection_exists("c/1")).await,
    ];
    ok(client.add_connection_to_group("g/x", "c1")).await;
    ok(client.remove_connection_from_group("g/x", "c1")).await;
    ok(client.remove_connection_from_all_groups("c1")).await;
    ok(client.add_user_to_group("g/x", "a/b")).await;
    ok(client.remove_user_from_group("g/x", "a/b")).await;
    ok(client.remove_user_from_all_groups("a/b")).await;
    ok(client.add_connections_to_groups(["g1", "g2"], "userId in ('a', 'b')")).await;
    ok(client.remove_connections_from_groups(["g1", "g2"], "userId in ('a', 'b')")).await;
    ok(client
        .grant_permission(Permission::SendToGroup, "c/1")
        .target_name("room 1"))
    .await;
    ok(client.revoke_permission(Permission::JoinLeaveGroup, "c1")).await;
    let has_permission = ok(client
        .check_permission(Permission::JoinLeaveGroup, "c1")
        .target_name("g"))
    .await;
    let members: Vec<Value> = ok(client
        .list_connections_in_group("g/1")
        .max_page_size(2)
        .top(3)
        .into_stream()
        .try_collect::<Vec<_>>())
    .await
    .into_iter()
    .map(|m| match m.user_id {
        Some(user) => json!({"connectionId": m.connection_id, "userId": user}),
        None => json!({"connectionId": m.connection_id}),
    })
    .collect();
    (exists, has_permission, members)
}

/// Runs the interop `script` with `envs` and returns what it printed (trimmed), as `T`; on
/// failure, shows its output and the requests `recorder` got.
async fn run_script<T: std::str::FromStr>(
    script: &str,
    envs: &[(&str, &str)],
    recorder: &Recorder,
) -> T {
    let output = support::node::run_node(script, &[], envs, Duration::from_secs(60)).await;
    assert!(
        output.success,
        "node {script} failed:\n{}\n{}\nafter {:?}",
        output.stdout,
        output.stderr,
        recorder
            .take()
            .iter()
            .map(|r| format!("{} {}", r.method, r.url))
            .collect::<Vec<_>>()
    );
    let printed = output.stdout.trim();
    printed
        .parse()
        .unwrap_or_else(|_| panic!("node {script} printed {printed:?}"))
}

fn media_type(request: &Recorded) -> Option<String> {
    request
        .content_type()
        .map(|ct| ct.split(';').next().unwrap().trim().to_ascii_lowercase())
}

fn sorted_query(request: &Recorded) -> Vec<(String, String)> {
    let mut query = request.query();
    query.sort();
    query
}

fn decode_client_token(token: &str) -> (jsonwebtoken::Header, ClientTokenClaims) {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<ClientTokenClaims>(
        token,
        &DecodingKey::from_secret(KEY.as_bytes()),
        &validation,
    )
    .expect("a client token signed with the key");
    (data.header, data.claims)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_the_official_js_sdk_send_the_same_requests() {
    // The official SDK first.
    let js_recorder = recorder().await;
    let js: Value = run_script(
        "rest_operations.mjs",
        &[(
            "WEBPUBSUB_CONNECTION_STRING",
            &connection_string(&js_recorder),
        )],
        &js_recorder,
    )
    .await;
    let js_requests = js_recorder.take();

    // Then this crate, against a recorder of its own.
    let rust_recorder = recorder().await;
    let client =
        WebPubSubServiceClient::from_connection_string(&connection_string(&rust_recorder), "chat")
            .unwrap();
    let (exists, has_permission, members) = run_rust_operations(&client).await;
    let rust_requests = rust_recorder.take();

    assert_eq!(js["exists"], json!(exists));
    assert_eq!(js["hasPermission"], json!(has_permission));
    assert_eq!(js["members"], json!(members));

    assert_eq!(
        js_requests.len(),
        rust_requests.len(),
        "js sent {:?}\nrust sent {:?}",
        js_requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>(),
        rust_requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>(),
    );
    let last = js_requests.len() - 1;
    for (i, (js, rust)) in js_requests.iter().zip(&rust_requests).enumerate() {
        let what = format!(
            "request {i}: js {} {} / rust {} {}",
            js.method, js.url, rust.method, rust.url
        );
        assert_eq!(js.method, rust.method, "{what}");
        assert_eq!(js.path, rust.path, "{what}");
        let (mut js_query, rust_query) = (sorted_query(js), sorted_query(rust));
        if i == last {
            // The next page: the JS SDK follows `nextLink` verbatim, which here has no
            // api-version; this client always adds its own (the service requires one).
            assert!(!js_query.iter().any(|(k, _)| k == "api-version"), "{what}");
            js_query.push(("api-version".into(), "2024-12-01".into()));
            js_query.sort();
        }
        assert_eq!(js_query, rust_query, "{what}");
        assert_eq!(media_type(js), media_type(rust), "{what}");
        assert_eq!(js.body, rust.body, "{what}");
        // Both tokens verify against the URL each request was received at.
        js.assert_signed();
        rust.assert_signed();
    }

    // Client access tokens for the same inputs.
    for (name, protocol) in [
        ("default", ClientProtocol::Default),
        ("mqtt", ClientProtocol::Mqtt),
        ("socketio", ClientProtocol::SocketIo),
    ] {
        let js_token = &js["tokens"][name];
        let ours = ok(client
            .client_access_token()
            .user_id("alice")
            .roles(["webpubsub.sendToGroup.room1", "webpubsub.joinLeaveGroup"])
            .groups(["room1", "room2"])
            .expires_after(Duration::from_secs(5 * 60))
            .protocol(protocol))
        .await;
        let js_base = js_token["baseUrl"].as_str().unwrap();
        // The hosts differ (two recorders); the paths and schemes must not.
        let rust_base = ours
            .base_url()
            .replace(&rust_recorder.endpoint()[7..], &js_recorder.endpoint()[7..]);
        assert_eq!(js_base, rust_base, "{name}");
        let js_jwt = js_token["token"].as_str().unwrap();
        assert_eq!(
            js_token["url"],
            format!("{js_base}?access_token={js_jwt}"),
            "{name}"
        );
        assert_eq!(
            ours.url(),
            format!("{}?access_token={}", ours.base_url(), ours.token())
        );
        let (js_header, js_claims) = decode_client_token(js_jwt);
        let (rust_header, rust_claims) = decode_client_token(ours.token());
        assert_eq!(js_header.alg, rust_header.alg);
        assert_claims_match(&js_claims, &rust_claims, &js_recorder, &rust_recorder, name);
    }
    let (_, js_bare) = decode_client_token(js["tokens"]["bare"]["token"].as_str().unwrap());
    let (_, rust_bare) = decode_client_token(ok(client.client_access_token()).await.token());
    assert_claims_match(&js_bare, &rust_bare, &js_recorder, &rust_recorder, "bare");

    // The SDK's `odata` helper and our filter builder escape alike.
    assert_eq!(js["filters"]["eq"], Filter::user_id().eq("o'neil").as_str());
    assert_eq!(
        js["filters"]["null"],
        Filter::user_id().eq(None::<&str>).as_str()
    );
    assert_eq!(js["filters"]["group"], Filter::in_group("g'1").as_str());
}

fn assert_claims_match(
    js: &ClientTokenClaims,
    rust: &ClientTokenClaims,
    js_recorder: &Recorder,
    rust_recorder: &Recorder,
    name: &str,
) {
    // Every claim the same, except the issue times and the recorder's port in `aud`.
    let mut js = serde_json::to_value(js).unwrap();
    let mut rust = serde_json::to_value(rust).unwrap();
    let lifetime = |v: &Value| v["exp"].as_u64().unwrap() - v["iat"].as_u64().unwrap();
    assert_eq!(lifetime(&js), lifetime(&rust), "{name}: lifetime");
    for claims in [&mut js, &mut rust] {
        let object = claims.as_object_mut().unwrap();
        object.remove("exp");
        object.remove("iat");
    }
    let rust_aud = rust["aud"]
        .as_str()
        .unwrap()
        .replace(&rust_recorder.endpoint(), &js_recorder.endpoint());
    rust["aud"] = Value::String(rust_aud);
    assert_eq!(js, rust, "{name}: claims");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_reverse_proxy_both_sign_for_the_service_url() {
    // The proxy is the recorder; tokens must be signed for the service's URL, not the proxy's.
    let service = "http://svc.example.com";
    let js_proxy = Recorder::start_with(
        Some(KEY.to_owned()),
        Some(service.to_owned()),
        Reply::Service,
    )
    .await;
    let done: String = run_script(
        "rest_reverse_proxy.mjs",
        &[
            ("SERVICE_ENDPOINT", service),
            ("KEY", KEY),
            ("REVERSE_PROXY", &js_proxy.endpoint()),
        ],
        &js_proxy,
    )
    .await;
    assert_eq!(done, "done");

    let rust_proxy = Recorder::start_with(
        Some(KEY.to_owned()),
        Some(service.to_owned()),
        Reply::Service,
    )
    .await;
    let client = WebPubSubServiceClient::builder(service, "chat")
        .access_key(KEY)
        .reverse_proxy(rust_proxy.endpoint())
        .build()
        .unwrap();
    ok(client.send_to_group("room 1", Message::text("hello"))).await;
    ok(client.remove_user_from_all_groups("a/b")).await;

    let (js_requests, rust_requests) = (js_proxy.take(), rust_proxy.take());
    assert_eq!(js_requests.len(), 2);
    assert_eq!(rust_requests.len(), 2);
    for (js, rust) in js_requests.iter().zip(&rust_requests) {
        assert_eq!((&js.method, &js.path), (&rust.method, &rust.path));
        assert_eq!(sorted_query(js), sorted_query(rust));
        let (js_aud, rust_aud) = (&js.assert_signed().aud, &rust.assert_signed().aud);
        assert!(js_aud.starts_with(service), "{js_aud}");
        assert_eq!(js_aud, rust_aud);
    }
}

/// A credential that hands out one fixed token.
#[derive(Debug)]
struct FixedEntraToken;

impl webpubsub_rest::TokenCredential for FixedEntraToken {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> webpubsub_rest::TokenFuture<'a> {
        Box::pin(async move {
            assert_eq!(scopes, [webpubsub_rest::ENTRA_SCOPE]);
            Ok(webpubsub_rest::AccessToken::new(
                "entra-token",
                std::time::SystemTime::now() + Duration::from_secs(3600),
            ))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_entra_id_both_send_the_bearer_token_and_ask_the_service_for_client_tokens() {
    let js_recorder = Recorder::start_with(None, None, Reply::Service).await;
    let js_urls: Value = run_script(
        "rest_entra.mjs",
        &[("RECORDER", &js_recorder.endpoint())],
        &js_recorder,
    )
    .await;

    let rust_recorder = Recorder::start_with(None, None, Reply::Service).await;
    let client = WebPubSubServiceClient::builder(rust_recorder.endpoint(), "chat")
        .credential(FixedEntraToken)
        .build()
        .unwrap();
    ok(client.send_to_all(Message::text("hello"))).await;
    let mqtt = ok(client
        .client_access_token()
        .user_id("u 1")
        .roles(["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"])
        .groups(["g1", "g2"])
        .expires_after(Duration::from_secs(2 * 60))
        .protocol(ClientProtocol::Mqtt))
    .await;
    let default = ok(client.client_access_token()).await;

    let (js_requests, rust_requests) = (js_recorder.take(), rust_recorder.take());
    assert_eq!(js_requests.len(), 3);
    assert_eq!(rust_requests.len(), 3);
    for (js, rust) in js_requests.iter().zip(&rust_requests) {
        let what = format!(
            "js {} {} / rust {} {}",
            js.method, js.url, rust.method, rust.url
        );
        assert_eq!((&js.method, &js.path), (&rust.method, &rust.path), "{what}");
        assert_eq!(sorted_query(js), sorted_query(rust), "{what}");
        assert_eq!(media_type(js), media_type(rust), "{what}");
        assert_eq!(js.bearer(), Some("entra-token"), "{what}");
        assert_eq!(rust.bearer(), Some("entra-token"), "{what}");
    }
    // The service's token ends up in the client URL; only the scheme differs (the JS SDK was
    // given an https endpoint, see the script).
    let path_of = |url: &str| url.split_once("/client").map(|(_, rest)| rest.to_owned());
    for (js_url, ours) in [(&js_urls["mqtt"], &mqtt), (&js_urls["default"], &default)] {
        assert!(ours.url().ends_with("?access_token=generated.by.service"));
        assert_eq!(path_of(js_url.as_str().unwrap()), path_of(ours.url()));
    }
}
