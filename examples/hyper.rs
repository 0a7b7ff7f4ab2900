//! The event-handler layer over a bare hyper 1 service: no framework.
//!
//! Run with
//!
//! ```not_rust
//! webpubsub-emulator --hub chat=http://127.0.0.1:3000/eventhandler     # on port 8080
//! WEBPUBSUB_CONNECTION_STRING="$(the emulator's first line)" cargo run --example hyper
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
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, server::conn::http1};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::{Layer as _, ServiceExt as _, service_fn};
use webpubsub::handler::{
    ConnectRequest, ConnectResponse, ConnectedRequest, EventError, EventHandler, UserEventRequest,
    UserEventResponse, WebPubSubLayer,
};

/// Greets every client and echoes what it sends.
struct Greeter;

impl EventHandler for Greeter {
    async fn on_connect(&self, request: ConnectRequest) -> Result<ConnectResponse, EventError> {
        // Anonymous clients get their connection id as user id.
        let user = request
            .context()
            .user_id()
            .unwrap_or(request.context().connection_id())
            .to_owned();
        Ok(ConnectResponse::new().user_id(user))
    }

    async fn on_connected(&self, request: ConnectedRequest) -> Result<(), EventError> {
        println!("{} connected", request.context().connection_id());
        Ok(())
    }

    async fn on_user_event(
        &self,
        request: UserEventRequest,
    ) -> Result<UserEventResponse, EventError> {
        let text = request
            .text()
            .map_err(|_| EventError::bad_request("send text"))?;
        Ok(UserEventResponse::text(format!("you said: {text}")))
    }
}

/// The rest of the application: every request outside the event-handler path.
async fn app(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::from(format!("no page at {}\n", request.uri().path())));
    *response.status_mut() = StatusCode::NOT_FOUND;
    Ok(response)
}

/// The default port: not the emulator's (8080).
const DEFAULT_PORT: u16 = 3000;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hyper example: {message}");
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
    let port = port()?;
    let mut layer = WebPubSubLayer::new(Greeter)
        .path("/eventhandler")
        .hub("chat");
    match env::var("WEBPUBSUB_CONNECTION_STRING") {
        Ok(cs) => {
            layer = layer
                .connection_string(&cs)
                .map_err(|e| format!("invalid WEBPUBSUB_CONNECTION_STRING: {e}"))?
        }
        Err(_) => eprintln!("WEBPUBSUB_CONNECTION_STRING is not set: signatures are NOT checked"),
    }
    // A tower service: the layer in front of the application.
    let service = layer.layer(service_fn(app));

    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address} (set PORT to another port): {e}"))?;
    println!("event handler for hub \"chat\": http://{address}/eventhandler");
    loop {
        // Out of descriptors, `accept` pauses and tries again: the server never exits on it.
        let (stream, _) = tokio::select! {
            accepted = accept::accept(&listener) => accepted,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let service = service.clone();
        tokio::spawn(async move {
            // hyper's `Service` takes `&self` while tower's takes `&mut self`: clone the tower
            // service per request, which is cheap (it shares the configuration and handler).
            let hyper_service =
                hyper::service::service_fn(move |request| service.clone().oneshot(request));
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper_service)
                .await
            {
                eprintln!("connection error: {err}");
            }
        });
    }
}
