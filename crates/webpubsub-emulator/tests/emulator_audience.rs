//! Token audiences are checked against the emulator's own endpoints: the address it serves
//! (`localhost` too, on loopback) and a configured public endpoint. A token minted for another
//! endpoint that shares the key is refused, whatever `Host` header the client sends.

mod support;

use support::token::{http_client, sign};
use support::ws_client::WsClient;
use webpubsub_emulator::{Emulator, HubSettings};
use webpubsub_protocol::token::{
    ClientProtocol, ClientTokenClaims, RestTokenClaims, client_audience,
};

const KEY: &str = "audience-test-key-not-a-secret";
const HUB: &str = "chat";
const OTHER: &str = "other.example:9999";
const PUBLIC: &str = "https://chat.example.com";

fn client_token(endpoint: &str) -> String {
    let aud = client_audience(endpoint, ClientProtocol::Default, HUB);
    sign(
        KEY,
        &ClientTokenClaims::new(aud, jsonwebtoken::get_current_timestamp(), 300),
    )
}

async fn emulator() -> Emulator {
    Emulator::builder()
        .key(KEY)
        .hub(HubSettings::new(HUB))
        .public_endpoint(PUBLIC)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn client_tokens_name_one_of_the_emulators_own_endpoints() {
    let emulator = emulator().await;
    let ws = format!(
        "{}/client/hubs/{HUB}",
        emulator.endpoint().replacen("http", "ws", 1)
    );
    let port = emulator.local_addr().port();
    let connect = |token: String, host: Option<&'static str>| {
        let url = format!("{ws}?access_token={token}");
        async move {
            let headers: Vec<(&'static str, &str)> =
                host.map(|h| ("host", h)).into_iter().collect();
            WsClient::connect_with(&url, None, &headers).await
        }
    };
    let refused = connect(client_token(&format!("http://{OTHER}")), Some(OTHER))
        .await
        .err()
        .expect("a token for another endpoint is refused, even with its Host");
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("audience"), "{}", refused.body);

    for endpoint in [
        emulator.endpoint().to_owned(),
        format!("http://localhost:{port}"),
        PUBLIC.to_owned(),
    ] {
        connect(client_token(&endpoint), None)
            .await
            .unwrap_or_else(|e| panic!("{endpoint}: {e:?}"));
    }
}

#[tokio::test]
async fn rest_tokens_name_one_of_the_emulators_own_endpoints() {
    let emulator = emulator().await;
    let path = format!("/api/hubs/{HUB}/:send?api-version=2024-12-01");
    let url = format!("{}{path}", emulator.endpoint());
    let http = http_client();
    let send = |aud: String, host: Option<&'static str>| {
        let mut request = http
            .post(&url)
            .bearer_auth(sign(
                KEY,
                &RestTokenClaims::new(&aud, jsonwebtoken::get_current_timestamp(), 300),
            ))
            .header("content-type", "text/plain")
            .body("x");
        if let Some(host) = host {
            request = request.header("host", host);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        send(format!("http://{OTHER}{path}"), Some(OTHER)).await,
        401
    );
    assert_eq!(send(format!("{PUBLIC}{path}"), None).await, 202);
    assert_eq!(send(url.clone(), Some(OTHER)).await, 202);
}
