//! Helpers for the tests of `webpubsub-client`: an emulator whose hub has an event handler
//! (our layer behind axum), client access URLs, and waiting for events with a timeout.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt as _;
use webpubsub::client::{ClientEvent, Events};
use webpubsub::emulator::{Emulator, EmulatorBuilder, HubSettings};
use webpubsub::handler::{ClosureHandler, DataType, EventError, UserEventResponse, WebPubSubLayer};
use webpubsub_rest::WebPubSubServiceClient;

/// The tests' access key (not a secret).
pub const KEY: &str = "client-tests-key-not-a-secret";
/// The hub.
pub const HUB: &str = "chat";
/// How long a test waits for one event.
pub const WAIT: Duration = Duration::from_secs(10);

/// The event handler: `echo` answers the data with its own type, `type` answers the data type
/// the layer read (`text`, `json`, `binary`, `protobuf`), `fail` answers 500, anything else 204.
pub fn echo_handlers() -> ClosureHandler {
    ClosureHandler::new().user_event(|request| async move {
        match request.event_name() {
            "echo" => Ok(match request.data_type() {
                DataType::Text => UserEventResponse::text(request.text()?),
                DataType::Json => UserEventResponse::json(&request.json::<serde_json::Value>()?)
                    .map_err(|e| EventError::internal(e.to_string()))?,
                _ => UserEventResponse::binary(request.bytes().clone()),
            }),
            // The data type the layer read from the event's Content-Type.
            "type" => Ok(UserEventResponse::text(match request.data_type() {
                DataType::Text => "text",
                DataType::Json => "json",
                DataType::Binary => "binary",
                DataType::Protobuf => "protobuf",
                _ => "other",
            })),
            "fail" => Err(EventError::internal("the handler failed on purpose")),
            _ => Ok(UserEventResponse::empty()),
        }
    })
}

/// Serves `handlers` behind our layer on a loopback port.
pub async fn serve_handlers(handlers: ClosureHandler) -> SocketAddr {
    let layer = WebPubSubLayer::new(handlers)
        .path("/eventhandler/{event}")
        .access_key(KEY);
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// An emulator with hub `chat`, its event handler the echo handlers, configured by `configure`.
pub async fn emulator_with(
    configure: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder,
) -> (Emulator, WebPubSubServiceClient) {
    let upstream = serve_handlers(echo_handlers()).await;
    let builder = Emulator::builder()
        .key(KEY)
        .hub(HubSettings::new(HUB).upstream(format!("http://{upstream}/eventhandler/{{event}}")));
    let emulator = configure(builder)
        .start()
        .await
        .expect("the emulator starts");
    let rest = WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), HUB)
        .expect("the emulator's connection string");
    (emulator, rest)
}

/// [`emulator_with`] the defaults.
pub async fn emulator() -> (Emulator, WebPubSubServiceClient) {
    emulator_with(|builder| builder).await
}

/// A client access URL for `user`, allowed to join and send to every group.
pub async fn url(rest: &WebPubSubServiceClient, user: &str) -> String {
    rest.client_access_token()
        .user_id(user)
        .roles(["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"])
        .await
        .expect("a client token")
        .url()
        .to_owned()
}

/// `url` pointed at another address (a proxy) instead of the emulator.
pub fn via(url: &str, proxy: SocketAddr) -> String {
    let rest = url.split_once("://").expect("scheme").1;
    let path = &rest[rest.find('/').expect("path")..];
    format!("ws://{proxy}{path}")
}

/// The next event, within [`WAIT`].
pub async fn next(events: &mut Events) -> ClientEvent {
    tokio::time::timeout(WAIT, events.next())
        .await
        .expect("an event in time")
        .expect("the stream is open")
}

/// Events until one matches `want` (at most 1,000), which it returns; the others are returned
/// too, in order.
pub async fn until(
    events: &mut Events,
    want: impl Fn(&ClientEvent) -> bool,
) -> (ClientEvent, Vec<ClientEvent>) {
    let mut skipped = Vec::new();
    for _ in 0..1000 {
        let event = next(events).await;
        if want(&event) {
            return (event, skipped);
        }
        skipped.push(event);
    }
    panic!("no matching event among 1000: {skipped:?}")
}
