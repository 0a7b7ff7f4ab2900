//! Client access tokens, Entra ID credentials, the reverse proxy, and secrets kept out of logs.

#[path = "support/recorder.rs"]
mod recorder;

use std::{
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use recorder::{Recorder, Reply};
use serde_json::json;
use webpubsub_protocol::token::{ClientProtocol, ClientRole, ClientTokenClaims, Permission};
use webpubsub_rest::{
    AccessToken, ENTRA_SCOPE, TokenCredential, TokenFuture, WebPubSubServiceClient,
};

const KEY: &str = "client-token-key";

fn decode_client_token(token: &str, audience: &str) -> ClientTokenClaims {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<ClientTokenClaims>(
        token,
        &DecodingKey::from_secret(KEY.as_bytes()),
        &validation,
    )
    .expect("a valid client token")
    .claims
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn client_tokens_carry_the_claims_of_the_official_sdks() {
    let client = WebPubSubServiceClient::from_connection_string(
        &format!("Endpoint=https://demo.webpubsub.azure.com/;AccessKey={KEY};Version=1.0;"),
        "chat",
    )
    .unwrap();
    let before = now();
    let token = client
        .client_access_token()
        .user_id("alice")
        .roles([
            ClientRole::group(Permission::SendToGroup, "room1"),
            ClientRole::any_group(Permission::JoinLeaveGroup),
        ])
        .groups(["room1", "room2"])
        .expires_after(Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(
        token.base_url(),
        "wss://demo.webpubsub.azure.com/client/hubs/chat"
    );
    assert_eq!(
        token.url(),
        format!("{}?access_token={}", token.base_url(), token.token())
    );
    let claims = decode_client_token(
        token.token(),
        "https://demo.webpubsub.azure.com/client/hubs/chat",
    );
    assert_eq!(claims.sub.as_deref(), Some("alice"));
    assert_eq!(
        claims.role,
        ["webpubsub.sendToGroup.room1", "webpubsub.joinLeaveGroup"]
    );
    assert_eq!(claims.groups, ["room1", "room2"]);
    let iat = claims.iat.unwrap();
    assert!(iat >= before && iat <= now());
    assert_eq!(claims.exp - iat, 120);
    assert!(claims.extra.is_empty() && claims.nbf.is_none());

    // Defaults: no user, roles or groups, one hour.
    let bare = client.client_access_token().await.unwrap();
    let claims = decode_client_token(
        bare.token(),
        "https://demo.webpubsub.azure.com/client/hubs/chat",
    );
    assert_eq!(claims.exp - claims.iat.unwrap(), 3600);
    let json: serde_json::Value = serde_json::to_value(&claims).unwrap();
    assert_eq!(
        json.as_object().unwrap().len(),
        3,
        "only aud, exp and iat: {json}"
    );
}

#[tokio::test]
async fn each_client_protocol_has_its_path() {
    let client = WebPubSubServiceClient::builder("http://localhost:8080", "Hub_1")
        .access_key(KEY)
        .build()
        .unwrap();
    for (protocol, path) in [
        (ClientProtocol::Default, "client/hubs/Hub_1"),
        (ClientProtocol::Mqtt, "clients/mqtt/hubs/Hub_1"),
        (ClientProtocol::SocketIo, "clients/socketio/hubs/Hub_1"),
    ] {
        let token = client
            .client_access_token()
            .protocol(protocol)
            .await
            .unwrap();
        assert_eq!(token.base_url(), format!("ws://localhost:8080/{path}"));
        decode_client_token(token.token(), &format!("http://localhost:8080/{path}"));
    }
}

#[tokio::test]
async fn a_lifetime_under_a_minute_is_refused() {
    let client = WebPubSubServiceClient::builder("http://localhost", "chat")
        .access_key(KEY)
        .build()
        .unwrap();
    let error = client
        .client_access_token()
        .expires_after(Duration::from_secs(59))
        .await
        .unwrap_err();
    assert!(error.is_invalid_argument());
    assert_eq!(
        error.to_string(),
        "client_access_token: invalid argument: the client token lifetime 59s is shorter than one minute"
    );
    assert!(
        client
            .client_access_token()
            .expires_after(Duration::from_secs(60))
            .await
            .is_ok()
    );
}

/// A credential that hands out one token and counts its calls.
#[derive(Debug, Default)]
struct StaticCredential {
    calls: Mutex<u32>,
}

impl TokenCredential for StaticCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> TokenFuture<'a> {
        Box::pin(async move {
            assert_eq!(scopes, [ENTRA_SCOPE]);
            *self.calls.lock().unwrap() += 1;
            Ok(AccessToken::new(
                "entra-token",
                SystemTime::now() + Duration::from_secs(3600),
            ))
        })
    }
}

#[tokio::test]
async fn entra_clients_send_the_bearer_token_and_mint_client_tokens_on_the_service() {
    let rec = Recorder::start_with(None, None, Reply::status(200)).await;
    let client = WebPubSubServiceClient::builder(rec.endpoint(), "chat")
        .credential(StaticCredential::default())
        .build()
        .unwrap();
    client.add_user_to_group("g", "u").await.unwrap();
    rec.script([Reply::json(200, json!({"token": "minted.by.service"}))]);
    let token = client
        .client_access_token()
        .user_id("u 1")
        .roles(["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"])
        .groups(["g1", "g2"])
        .expires_after(Duration::from_secs(150))
        .protocol(ClientProtocol::Mqtt)
        .await
        .unwrap();
    assert_eq!(token.token(), "minted.by.service");
    let host = rec.endpoint().replacen("http://", "ws://", 1);
    assert_eq!(
        token.url(),
        format!("{host}/clients/mqtt/hubs/chat?access_token=minted.by.service")
    );

    let requests = rec.take();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.bearer() == Some("entra-token")));
    let generate = &requests[1];
    assert_eq!(
        (generate.method.as_str(), generate.path.as_str()),
        ("POST", "/api/hubs/chat/:generateToken")
    );
    let query: Vec<(String, String)> = generate.query();
    let expected = [
        ("api-version", "2024-12-01"),
        ("userId", "u 1"),
        ("role", "webpubsub.joinLeaveGroup"),
        ("role", "webpubsub.sendToGroup"),
        ("minutesToExpire", "2"),
        ("group", "g1"),
        ("group", "g2"),
        ("clientType", "mqtt"),
    ];
    assert_eq!(query, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
}

#[tokio::test]
async fn a_failing_credential_is_a_credential_error() {
    #[derive(Debug)]
    struct Broken;
    impl TokenCredential for Broken {
        fn get_token<'a>(&'a self, _: &'a [&'a str]) -> TokenFuture<'a> {
            Box::pin(async { Err("no identity available".into()) })
        }
    }
    let rec = Recorder::start_with(None, None, Reply::status(200)).await;
    let client = WebPubSubServiceClient::builder(rec.endpoint(), "chat")
        .credential(Broken)
        .build()
        .unwrap();
    let error = client.health_check().await.unwrap_err();
    assert!(error.is_credential(), "{error:?}");
    assert!(rec.take().is_empty());
}

#[tokio::test]
async fn through_a_reverse_proxy_tokens_are_signed_for_the_service_url() {
    let service = "https://demo.webpubsub.azure.com";
    let proxy = Recorder::start_with(
        Some(KEY.to_owned()),
        Some(service.to_owned()),
        Reply::status(202),
    )
    .await;
    let client = WebPubSubServiceClient::builder(service, "chat")
        .access_key(KEY)
        .reverse_proxy(proxy.endpoint())
        .build()
        .unwrap();
    client.send_to_user("u/1", "hi").await.unwrap();
    let request = &proxy.take()[0];
    assert_eq!(request.path, "/api/hubs/chat/users/u%2F1/:send");
    let claims = request.assert_signed();
    assert_eq!(
        claims.aud,
        format!("{service}/api/hubs/chat/users/u%2F1/:send?api-version=2024-12-01")
    );
}

/// The official Python SDK's tokens for the same inputs, recorded by
/// `tests/data/python_client_tokens.py`: same header, same claims (times aside), same URLs.
#[tokio::test]
async fn client_tokens_match_the_python_sdk() {
    const PYTHON_KEY: &str = "interop-access-key-0123456789ABCDEFGH";
    let python: serde_json::Value =
        serde_json::from_str(include_str!("data/python_client_tokens.json")).unwrap();
    let client = WebPubSubServiceClient::from_connection_string(
        &format!("Endpoint=https://demo.webpubsub.azure.com;AccessKey={PYTHON_KEY};Version=1.0;"),
        "chat",
    )
    .unwrap();
    let decode = |token: &str| {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(
            token,
            &DecodingKey::from_secret(PYTHON_KEY.as_bytes()),
            &validation,
        )
        .unwrap();
        (serde_json::to_value(&data.header).unwrap(), data.claims)
    };
    // Compares claims without the issue times, and the lifetimes.
    let same_claims = |ours: &serde_json::Value, theirs: &serde_json::Value, what: &str| {
        let lifetime =
            |v: &serde_json::Value| v["exp"].as_u64().unwrap() - v["iat"].as_u64().unwrap();
        assert_eq!(lifetime(ours), lifetime(theirs), "{what}");
        let strip = |v: &serde_json::Value| {
            let mut v = v.clone();
            let object = v.as_object_mut().unwrap();
            object.remove("exp");
            object.remove("iat");
            v
        };
        assert_eq!(strip(ours), strip(theirs), "{what}");
    };
    for (name, protocol) in [
        ("Default", ClientProtocol::Default),
        ("MQTT", ClientProtocol::Mqtt),
        ("SocketIO", ClientProtocol::SocketIo),
    ] {
        let theirs = &python[name];
        let ours = client
            .client_access_token()
            .user_id("alice")
            .roles(["webpubsub.sendToGroup.room1", "webpubsub.joinLeaveGroup"])
            .groups(["room1", "room2"])
            .expires_after(Duration::from_secs(5 * 60))
            .protocol(protocol)
            .await
            .unwrap();
        assert_eq!(ours.base_url(), theirs["baseUrl"], "{name}");
        assert!(
            ours.url()
                .starts_with(theirs["url_prefix"].as_str().unwrap()),
            "{name}"
        );
        let (header, claims) = decode(ours.token());
        // Header field order aside, the same header.
        assert_eq!(header["alg"], theirs["header"]["alg"], "{name}");
        assert_eq!(header["typ"], theirs["header"]["typ"], "{name}");
        same_claims(&claims, &theirs["claims"], name);
    }
    let (_, bare) = decode(client.client_access_token().await.unwrap().token());
    same_claims(&bare, &python["bare"], "bare");
}
