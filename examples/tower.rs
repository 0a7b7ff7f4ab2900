//! The event-handler layer in a `tower::ServiceBuilder` stack, with tower-http's tracing and a
//! timeout around it, in front of an inner service that answers the other paths.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --example tower
//! PORT=3000 RUST_LOG=debug WebPubSubConnectionString="Endpoint=...;AccessKey=...;" cargo run --example tower
//! ```
//!
//! then set the hub's event handler URL template to the printed URL.

use std::{
    convert::Infallible,
    env,
    error::Error,
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, server::conn::http1};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt as _};
use tower_http::{timeout::TimeoutLayer, trace::TraceLayer};
use tracing_subscriber::EnvFilter;
use webpubsub::{
    ConnectionString,
    handler::{ConnectResponse, EventError, EventHandlers, UserEventResponse, WebPubSubLayer},
};

/// The rest of the application.
async fn app(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match request.uri().path() {
        "/health" => Response::new(Full::from("ok\n")),
        path => {
            let mut response = Response::new(Full::from(format!("no page at {path}\n")));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    };
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=debug")),
        )
        .init();
    let port = env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);

    // A handler made of closures: count each connection's messages in its connection state.
    let handler =
        EventHandlers::new()
            .on_connect(|request| async move {
                let user = request.context().connection_id().to_owned();
                Ok(ConnectResponse::new()
                    .user_id(user)
                    .set_state("messages", 0))
            })
            .on_user_event(|request| async move {
                let count: u64 = request
                    .context()
                    .states()
                    .get("messages")
                    .transpose()
                    .map_err(|_| EventError::bad_request("bad state"))?
                    .unwrap_or(0)
                    + 1;
                Ok(UserEventResponse::json(&json!({ "messages": count }))?
                    .set_state("messages", count))
            });
    let mut events = WebPubSubLayer::new(handler)
        .path("/eventhandler/{event}")
        .hub("chat")
        // Keep the layer's own timeout inside the outer one so slow handlers get its 504.
        .handler_timeout(Duration::from_secs(5));
    match env::var("WebPubSubConnectionString") {
        Ok(cs) => events = events.connection_string(&cs.parse::<ConnectionString>()?),
        Err(_) => {
            tracing::warn!("WebPubSubConnectionString is not set: signatures are NOT checked")
        }
    }

    let service = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(10),
        ))
        .layer(events)
        .service_fn(app);

    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let addr = listener.local_addr()?;
    println!("event handler for hub \"chat\": http://{addr}/eventhandler/{{event}}");
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let service = service.clone();
        tokio::spawn(async move {
            let hyper_service =
                hyper::service::service_fn(move |request| service.clone().oneshot(request));
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper_service)
                .await
            {
                tracing::warn!(%err, "connection error");
            }
        });
    }
}
