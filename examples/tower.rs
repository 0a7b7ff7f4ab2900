//! The event-handler layer in a `tower::ServiceBuilder` stack, with tower-http's tracing and a
//! timeout around it, in front of an inner service that answers the other paths.
//!
//! Run with
//!
//! ```not_rust
//! webpubsub-emulator --hub 'chat=http://127.0.0.1:3000/eventhandler/{event}'   # on port 8080
//! RUST_LOG=debug WEBPUBSUB_CONNECTION_STRING="$(the emulator's first line)" cargo run --example tower
//! ```
//!
//! The example listens on `PORT` (default 3000); on Azure, set the hub's event handler URL
//! template to the printed URL.

#[path = "support/accept.rs"]
mod accept;

use std::{
    convert::Infallible,
    env,
    net::{Ipv4Addr, SocketAddr},
    process::ExitCode,
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
use webpubsub::handler::{
    ClosureHandler, ConnectResponse, EventError, UserEventResponse, WebPubSubLayer,
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

/// The default port: not the emulator's (8080).
const DEFAULT_PORT: u16 = 3000;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tower example: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `PORT`, or 3000 when unset (the emulator's default is 8080, so both can run at once).
fn port() -> Result<u16, String> {
    match env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|e| format!("invalid PORT {port:?}: {e} (expected a port number)")),
        Err(_) => Ok(DEFAULT_PORT),
    }
}

/// Serves until Ctrl-C; an error says what failed, with which value (never the key).
async fn run() -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=debug")),
        )
        .init();
    let port = port()?;

    // A handler made of closures: count each connection's messages in its connection state.
    let handler =
        ClosureHandler::new()
            .connect(|request| async move {
                let user = request.context().connection_id().to_owned();
                Ok(ConnectResponse::new()
                    .user_id(user)
                    .set_state("messages", 0))
            })
            .user_event(|request| async move {
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
    match env::var("WEBPUBSUB_CONNECTION_STRING") {
        Ok(cs) => {
            events = events
                .connection_string(&cs)
                .map_err(|e| format!("invalid WEBPUBSUB_CONNECTION_STRING: {e}"))?
        }
        Err(_) => {
            tracing::warn!("WEBPUBSUB_CONNECTION_STRING is not set: signatures are NOT checked")
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

    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address} (set PORT to another port): {e}"))?;
    println!("event handler for hub \"chat\": http://{address}/eventhandler/{{event}}");
    loop {
        // Out of descriptors, `accept` pauses and tries again: the server never exits on it.
        let (stream, _) = tokio::select! {
            accepted = accept::accept(&listener) => accepted,
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
