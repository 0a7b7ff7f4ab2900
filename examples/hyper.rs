//! The event-handler layer over a bare hyper 1 service: no framework.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --example hyper
//! PORT=3000 WebPubSubConnectionString="Endpoint=...;AccessKey=...;" cargo run --example hyper
//! ```
//!
//! then set the hub's event handler URL template to the printed URL (for the local emulator:
//! `webpubsub-emulator --hub chat=http://127.0.0.1:8080/eventhandler`).

use std::{
    convert::Infallible,
    env,
    error::Error,
    net::{Ipv4Addr, SocketAddr},
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, server::conn::http1};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::{Layer as _, ServiceExt as _, service_fn};
use webpubsub::{
    ConnectionString,
    handler::{
        ConnectRequest, ConnectResponse, ConnectedRequest, EventError, EventHandler,
        UserEventRequest, UserEventResponse, WebPubSubLayer,
    },
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let port = env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let mut layer = WebPubSubLayer::new(Greeter)
        .path("/eventhandler")
        .hub("chat");
    match env::var("WebPubSubConnectionString") {
        Ok(cs) => layer = layer.connection_string(&cs.parse::<ConnectionString>()?),
        Err(_) => eprintln!("WebPubSubConnectionString is not set: signatures are NOT checked"),
    }
    // A tower service: the layer in front of the application.
    let service = layer.layer(service_fn(app));

    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let addr = listener.local_addr()?;
    println!("event handler for hub \"chat\": http://{addr}/eventhandler");
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
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
