//! REST over the tunnel (`LocalRouting`): a `WebPubSubServiceClient` from
//! `Tunnel::rest_client` runs every operation family against the emulator through the tunnel's
//! WebSocket alone — its HTTP endpoint points at a port nothing listens on, so an answer can
//! only have come through the tunnel — and fails clearly when the tunnel is down.

mod support;

use std::time::Duration;

use futures_util::TryStreamExt as _;
use support::emulator::{JSON, client_url, start};
use support::ws_client::WsClient;
use webpubsub::emulator::Emulator;
use webpubsub::rest::{Permission, RetryPolicy, WebPubSubServiceClient};
use webpubsub::tunnel::{Tunnel, WebPubSubTunnelClient};
use webpubsub_protocol::frames::ServerFrame;

const KEY: &str = "tunnel-rest-test-key-0123";

/// The emulator (hub `chat` takes no events: the tunnel only carries REST here), a REST client
/// over HTTP to mint client tokens, and a tunnel to it.
async fn setup() -> (Emulator, WebPubSubServiceClient, Tunnel) {
    let (emulator, http) = start(KEY, "chat").await;
    let tunnel =
        WebPubSubTunnelClient::from_connection_string(&emulator.connection_string(), "chat")
            .unwrap()
            .reconnect_delays(Duration::from_millis(20), Duration::from_millis(200))
            .serve(axum::Router::new());
    tokio::time::timeout(Duration::from_secs(10), tunnel.connected())
        .await
        .expect("connected in time")
        .expect("connected");
    (emulator, http, tunnel)
}

/// A REST client whose calls can only travel over `tunnel`: its endpoint is a closed port.
fn over_tunnel(tunnel: &Tunnel) -> WebPubSubServiceClient {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    WebPubSubServiceClient::builder(endpoint, "chat")
        .access_key(KEY)
        .retry_policy(RetryPolicy::none())
        .transport(tunnel.rest_transport())
        .build()
        .unwrap()
}

/// A JSON client for `user` and its connection id.
async fn client(http: &WebPubSubServiceClient, user: &str) -> (WsClient, String) {
    let mut client = WsClient::connect(&client_url(http, user).await, Some(JSON))
        .await
        .unwrap_or_else(|refused| panic!("{user} refused: {refused:?}"));
    match client.next_frame().await {
        ServerFrame::Connected { connection_id, .. } => (client, connection_id),
        other => panic!("{other:?}"),
    }
}

async fn receives(client: &mut WsClient, text: &str) {
    match client.next_frame().await {
        frame @ ServerFrame::Message { .. } => {
            assert!(format!("{frame:?}").contains(text), "{frame:?}");
        }
        other => panic!("expected {text:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn every_operation_family_runs_over_the_tunnel() {
    let (_emulator, http, tunnel) = setup().await;
    let rest = over_tunnel(&tunnel);
    let (mut alice, alice_id) = client(&http, "alice").await;
    let (mut bob, bob_id) = client(&http, "bob").await;

    // The hub.
    rest.health_check().await.unwrap();
    rest.send_to_all("to everyone").await.unwrap();
    receives(&mut alice, "to everyone").await;
    receives(&mut bob, "to everyone").await;

    // Connections and groups.
    assert!(rest.connection_exists(&alice_id).await.unwrap());
    assert!(!rest.connection_exists("no-such-connection").await.unwrap());
    rest.send_to_connection(&alice_id, "to alice")
        .await
        .unwrap();
    receives(&mut alice, "to alice").await;
    rest.add_connection_to_group("room", &alice_id)
        .await
        .unwrap();
    assert!(rest.group_exists("room").await.unwrap());
    rest.send_to_group("room", "to the room").await.unwrap();
    receives(&mut alice, "to the room").await;
    let members: Vec<_> = rest
        .list_connections_in_group("room")
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].connection_id, alice_id);
    rest.remove_connection_from_group("room", &alice_id)
        .await
        .unwrap();
    assert!(!rest.group_exists("room").await.unwrap());

    // Users.
    assert!(rest.user_exists("bob").await.unwrap());
    rest.send_to_user("bob", "to bob").await.unwrap();
    receives(&mut bob, "to bob").await;
    rest.add_user_to_group("team", "bob").await.unwrap();
    assert!(rest.group_exists("team").await.unwrap());
    rest.remove_user_from_group("team", "bob").await.unwrap();
    rest.add_user_to_group("team", "bob").await.unwrap();
    rest.remove_user_from_all_groups("bob").await.unwrap();
    assert!(!rest.group_exists("team").await.unwrap());

    // Filters across groups.
    rest.add_connections_to_groups(["g1", "g2"], "userId eq 'alice'")
        .await
        .unwrap();
    assert!(rest.group_exists("g2").await.unwrap());
    rest.remove_connections_from_groups(["g1"], "userId eq 'alice'")
        .await
        .unwrap();
    assert!(!rest.group_exists("g1").await.unwrap());
    rest.remove_connection_from_all_groups(&alice_id)
        .await
        .unwrap();
    assert!(!rest.group_exists("g2").await.unwrap());

    // Permissions.
    rest.grant_permission(Permission::SendToGroup, &bob_id)
        .target_name("room")
        .await
        .unwrap();
    assert!(
        rest.check_permission(Permission::SendToGroup, &bob_id)
            .target_name("room")
            .await
            .unwrap()
    );
    rest.revoke_permission(Permission::SendToGroup, &bob_id)
        .target_name("room")
        .await
        .unwrap();
    assert!(
        !rest
            .check_permission(Permission::SendToGroup, &bob_id)
            .target_name("room")
            .await
            .unwrap()
    );

    // The service's errors come back as over HTTP: status, code, detail.
    let error = rest
        .add_connection_to_group("room", "no-such-connection")
        .await
        .unwrap_err();
    let over_http = http
        .add_connection_to_group("room", "no-such-connection")
        .await
        .unwrap_err();
    assert!(error.is_status(), "{error:?}");
    assert_eq!(error.status(), over_http.status());
    assert_eq!(error.error_code(), over_http.error_code());
    assert_eq!(error.to_string(), over_http.to_string());

    // Closes.
    rest.close_connection(&alice_id)
        .reason("bye alice")
        .await
        .unwrap();
    let (_, reason, _) = alice.closed().await;
    assert!(
        reason.contains("bye alice") || reason.is_empty(),
        "{reason}"
    );
    rest.close_user_connections("bob").await.unwrap();
    bob.closed().await;
    let (mut carol, _) = client(&http, "carol").await;
    rest.close_all_connections().await.unwrap();
    carol.closed().await;
    assert!(!rest.user_exists("carol").await.unwrap());

    tunnel.shutdown().await;
}

#[tokio::test]
async fn the_tunnel_s_own_rest_client_works_and_fails_clearly_once_the_tunnel_is_down() {
    let (emulator, http, tunnel) = setup().await;
    let (mut dave, _) = client(&http, "dave").await;
    let rest = tunnel.rest_client().unwrap();
    rest.send_to_user("dave", "over the tunnel").await.unwrap();
    receives(&mut dave, "over the tunnel").await;

    let closed_port = over_tunnel(&tunnel);
    tunnel.shutdown().await;
    // Not sent, so a send may be retried; it never went over HTTP instead.
    let error = closed_port.send_to_all("lost?").await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert!(source.contains("the tunnel has stopped"), "{source}");
    assert!(!format!("{error:?}{error}").contains(KEY));
    assert!(dave.is_quiet(Duration::from_millis(200)).await);

    // A tunnel that never connected: calls fail at once, saying why.
    let never = WebPubSubTunnelClient::from_connection_string(
        "Endpoint=http://127.0.0.1:1;AccessKey=k;Version=1.0;",
        "chat",
    )
    .unwrap()
    .serve(axum::Router::new());
    let error = over_tunnel(&never).group_exists("room").await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert!(source.contains("no tunnel connection is open"), "{source}");
    drop(never);
    drop(emulator);
}
