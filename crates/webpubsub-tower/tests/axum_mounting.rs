//! The ways to mount `WebPubSubLayer` in an axum app (docs/axum.md), each over loopback: the
//! event reaches the handler, the app's own routes are untouched, and the two ways that do not
//! work (a `route_layer` or a `nest` without a route at the event path) are shown to 404.

mod support;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use serde_json::json;
use tower::Layer as _;
use webpubsub_tower::{ClosureHandler, ConnectResponse, WebPubSubLayer};

use support::layer::{Event, PRIMARY_KEY, TestServer, client};

/// A layer at `path` whose `connect` answers with the user id `mounted`.
fn events(path: &str) -> WebPubSubLayer<ClosureHandler> {
    WebPubSubLayer::new(
        ClosureHandler::new().connect(|_| async { Ok(ConnectResponse::new().user_id("mounted")) }),
    )
    .path(path)
    .access_key(PRIMARY_KEY)
}

/// The app's own route, which every mounting must leave alone.
fn app_routes() -> Router {
    Router::new().route("/hello", get(|| async { "the app's own route" }))
}

/// Whatever answers on the event path when the layer is not in front of it.
async fn placeholder() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "the placeholder answered")
}

/// Sends `connect` to `path` and says whether the handler answered it.
async fn handled(server: &TestServer, path: &str) -> bool {
    let answer =
        Event::connect(json!({"claims": {}, "query": {}, "headers": {}, "subprotocols": []}))
            .path(path)
            .send(server)
            .await;
    match answer.status {
        StatusCode::OK => {
            assert_eq!(answer.json()["userId"], "mounted", "{answer:?}");
            true
        }
        StatusCode::NOT_FOUND => false,
        other => panic!("unexpected {other}: {answer:?}"),
    }
}

async fn app_route_works(server: &TestServer) {
    let text = client()
        .get(server.url("/hello"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "the app's own route");
}

#[tokio::test]
async fn router_layer_needs_no_route_at_the_event_path() {
    let server = TestServer::start(app_routes().layer(events("/eventhandler"))).await;
    assert!(handled(&server, "/eventhandler").await);
    app_route_works(&server).await;
    // Other unknown paths still get the router's own 404.
    assert!(!handled(&server, "/elsewhere").await);
}

#[tokio::test]
async fn route_service_mounts_the_layer_on_one_path() {
    let service = events("/eventhandler").layer(tower::service_fn(|_| async {
        Ok::<_, std::convert::Infallible>(placeholder().await.into_response())
    }));
    let server = TestServer::start(app_routes().route_service("/eventhandler", service)).await;
    assert!(handled(&server, "/eventhandler").await);
    app_route_works(&server).await;
}

#[tokio::test]
async fn route_layer_sees_only_matched_routes() {
    // Without a route at the event path, the router answers 404 before the layer runs.
    let server = TestServer::start(app_routes().route_layer(events("/eventhandler"))).await;
    assert!(!handled(&server, "/eventhandler").await);
    app_route_works(&server).await;

    // With one, the layer answers on it.
    let app = app_routes()
        .route("/eventhandler", any(placeholder))
        .route_layer(events("/eventhandler"));
    let server = TestServer::start(app).await;
    assert!(handled(&server, "/eventhandler").await);
    app_route_works(&server).await;
}

#[tokio::test]
async fn nest_service_hands_the_layer_the_path_without_the_prefix() {
    let events_router = Router::new().layer(events("/eventhandler"));
    let server = TestServer::start(app_routes().nest_service("/api", events_router)).await;
    assert!(handled(&server, "/api/eventhandler").await);
    assert!(!handled(&server, "/eventhandler").await);
    app_route_works(&server).await;
}

#[tokio::test]
async fn nest_needs_a_route_at_the_event_path() {
    // A nested router's layer wraps its routes only: without a route, 404.
    let server =
        TestServer::start(app_routes().nest("/api", Router::new().layer(events("/eventhandler"))))
            .await;
    assert!(!handled(&server, "/api/eventhandler").await);

    // With a route, the layer sees the path without the prefix.
    let nested = Router::new()
        .route("/eventhandler", any(placeholder))
        .layer(events("/eventhandler"));
    let server = TestServer::start(app_routes().nest("/api", nested)).await;
    assert!(handled(&server, "/api/eventhandler").await);
    app_route_works(&server).await;
}
