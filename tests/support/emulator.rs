//! Helpers for tests that drive the in-process emulator with WebSocket clients.

use webpubsub::emulator::{Emulator, HubSettings};
use webpubsub_protocol::{frames::ServerFrame, token::ClientRole};
use webpubsub_rest::WebPubSubServiceClient;

use super::ws_client::WsClient;

/// The JSON subprotocol.
pub const JSON: &str = "json.webpubsub.azure.v1";

/// An emulator with `key` and one token-only hub, and a REST client for that hub.
pub async fn start(key: &str, hub: &str) -> (Emulator, WebPubSubServiceClient) {
    let emulator = Emulator::builder()
        .key(key)
        .hub(HubSettings::new(hub))
        .start()
        .await
        .expect("the emulator starts");
    let rest = WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), hub)
        .expect("the emulator's connection string");
    (emulator, rest)
}

/// An emulator with `key` whose hub `chat` sends its events to `template` (a `tunnel:///path`
/// template: through the tunnel connections), with a 5 s upstream timeout, and a REST client
/// for `chat`.
pub async fn start_tunnel_hub(key: &str, template: &str) -> (Emulator, WebPubSubServiceClient) {
    let emulator = Emulator::builder()
        .key(key)
        .hub(HubSettings::new("chat").upstream(template))
        .upstream_timeout(std::time::Duration::from_secs(5))
        .start()
        .await
        .expect("the emulator starts");
    let rest =
        WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), "chat")
            .expect("the emulator's connection string");
    (emulator, rest)
}

/// A client access URL for `user`, its token minted by `rest`.
pub async fn client_url(rest: &WebPubSubServiceClient, user: &str) -> String {
    rest.client_access_token()
        .user_id(user)
        .await
        .expect("a client token")
        .url()
        .to_owned()
}

/// A `json.webpubsub.azure.v1` client for `user`, in `groups`, with `roles`, its token minted by
/// `rest`; its `connected` frame is already read.
pub async fn json_client(
    rest: &WebPubSubServiceClient,
    user: &str,
    groups: &[&str],
    roles: &[ClientRole],
) -> WsClient {
    let url = rest
        .client_access_token()
        .user_id(user)
        .groups(groups.iter().copied())
        .roles(roles.iter().cloned())
        .await
        .expect("a client token")
        .url()
        .to_owned();
    let mut client = WsClient::connect(&url, Some(JSON))
        .await
        .unwrap_or_else(|refused| panic!("{user} cannot connect: {refused:?}"));
    match client.next_frame().await {
        ServerFrame::Connected { .. } => client,
        other => panic!("expected connected, got {other:?}"),
    }
}
