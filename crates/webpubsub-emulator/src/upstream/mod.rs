//! Calls to the hubs' event handlers: the abuse-protection handshake and the signed CloudEvents
//! requests, with bounded timeouts and retries.

mod call;
mod event;
mod grpc;
mod handshake;
mod time;
mod tunnel;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use webpubsub_protocol::cloudevents::EventType;

pub(crate) use call::{MAX_RESPONSE_BYTES, UpstreamError, UpstreamReply};
pub(crate) use event::EventSource;
pub(crate) use grpc::{check_connect_ack, check_message_ack};
pub use handshake::{HandshakeError, HandshakeReport};

use crate::trace::{TraceKind, TraceRecord};
use crate::{
    EventHandlerSettings, StartError, SystemEvent, config::EmulatorConfig, grpc::Registrations,
    tunnel::Tunnels,
};

/// The upstream caller of a running emulator. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    client: reqwest::Client,
    config: Arc<EmulatorConfig>,
    /// The time an event may take, every attempt and transport included.
    timeout: Duration,
    /// What the emulator sends in `WebHook-Request-Origin`: its host name, as the service does.
    origin: Arc<str>,
    /// The apps registered over gRPC, for hubs in gRPC mode.
    grpc: Registrations,
    /// The open tunnel connections, which take the events of `tunnel:///path` handlers.
    tunnels: Tunnels,
}

impl Upstream {
    pub(crate) fn new(config: Arc<EmulatorConfig>, timeout: Duration) -> Result<Self, StartError> {
        let client = http_client().map_err(|e| StartError::HttpClient(describe(e)))?;
        let origin = config
            .authority()
            .rsplit_once(':')
            .map_or(config.authority(), |(host, _port)| host)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .into();
        Ok(Self {
            client,
            config,
            timeout,
            origin,
            grpc: Registrations::default(),
            tunnels: Tunnels::default(),
        })
    }

    /// The gRPC registrations that hubs in gRPC mode send their events to.
    pub(crate) fn registrations(&self) -> &Registrations {
        &self.grpc
    }

    /// The open tunnel connections.
    pub(crate) fn tunnels(&self) -> &Tunnels {
        &self.tunnels
    }

    /// Whether some handler of `hub` takes `event`.
    pub(crate) fn handles(&self, hub: &str, event: &EventType) -> bool {
        self.handler(hub, event).is_some()
    }

    fn handler(&self, hub: &str, event: &EventType) -> Option<&EventHandlerSettings> {
        let hub = self.config.hub(hub)?;
        match event {
            EventType::Connect => hub.handler_for_system_event(SystemEvent::Connect),
            EventType::Connected => hub.handler_for_system_event(SystemEvent::Connected),
            EventType::Disconnected => hub.handler_for_system_event(SystemEvent::Disconnected),
            EventType::User(name) => hub.handler_for_user_event(name),
            _ => None,
        }
    }

    /// Sends `event` about `source` to the handler that takes it; `None` when no handler does.
    /// A 2xx answer to a blocking event may set the connection state.
    pub(crate) async fn send(
        &self,
        source: &EventSource,
        event: EventType,
        content_type: &'static str,
        body: Bytes,
    ) -> Option<Result<UpstreamReply, UpstreamError>> {
        let handler = self.handler(&source.hub, &event)?;
        let name = event.event_name().unwrap_or_default();
        // Client frames are checked where they are read; this keeps any other way in from
        // turning a name into a path step.
        if !webpubsub_protocol::is_valid_event_name(name) {
            return Some(Err(UpstreamError::InvalidEventName(
                name.chars().take(64).collect(),
            )));
        }
        // The trace shows the gRPC transport as the URL `grpc:<hub>`.
        let url = if handler.is_grpc() {
            format!("grpc:{}", source.hub)
        } else {
            handler.url(&source.hub, name)
        };
        let started = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let transport = async {
            if handler.is_grpc() {
                return grpc::send(&self.grpc, source, &event, content_type, body, self.timeout)
                    .await;
            }
            let headers = source.headers(&event, content_type, &self.config.keys, &self.origin);
            if handler.is_tunnel() {
                tunnel::post(
                    &self.tunnels,
                    &source.hub,
                    &url,
                    &headers,
                    body,
                    self.timeout,
                    &call::RETRY_DELAYS,
                )
                .await
            } else {
                call::post(
                    &self.client,
                    &url,
                    headers,
                    body,
                    deadline,
                    &call::RETRY_DELAYS,
                )
                .await
            }
        };
        // One deadline for the event, whatever the transport: the client gets its answer
        // within it.
        let result = match tokio::time::timeout_at(deadline, transport).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Unreachable {
                url: without_query(&url).to_owned(),
                attempts: 1,
                reason: format!("no answer within {:?}", self.timeout),
            }),
        };
        self.config
            .trace
            .emit(TraceKind::Upstream, &source.hub, || {
                traced_call(source, &event, &url, &result).latency(started.elapsed())
            });
        match &result {
            Ok(reply) if event.is_blocking() => {
                let state = reply
                    .headers
                    .get(webpubsub_protocol::cloudevents::headers::CE_CONNECTION_STATE);
                match state.map(|v| v.to_str()) {
                    Some(Ok(state)) => source.set_state(state),
                    Some(Err(_)) => tracing::warn!(
                        connection_id = source.connection_id,
                        "ignored a ce-connectionState that is not visible ASCII"
                    ),
                    None => {}
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(hub = source.hub, connection_id = source.connection_id, event = %event, %error, "upstream event failed")
            }
        }
        Some(result)
    }

    /// Runs the handshake with every upstream of every hub, concurrently.
    pub(crate) async fn validate_all(&self) -> Vec<HandshakeReport> {
        let checks = self.config.hubs().flat_map(|hub| {
            // gRPC upstreams and tunnels dial in; there is no URL to check.
            hub.event_handlers()
                .iter()
                .filter(|handler| !handler.is_grpc() && !handler.is_tunnel())
                .map(move |handler| {
                    handshake::run(
                        &self.client,
                        hub.name(),
                        handler.url(hub.name(), "validate"),
                        &self.origin,
                        self.timeout,
                    )
                })
        });
        futures_util::future::join_all(checks).await
    }
}

/// What the live trace says about one event call: the event, the connection, the URL without
/// its query, and the status or the failure.
fn traced_call(
    source: &EventSource,
    event: &EventType,
    url: &str,
    result: &Result<UpstreamReply, UpstreamError>,
) -> TraceRecord {
    let record = TraceRecord::new(event.ce_type())
        .detail("connection_id", &source.connection_id)
        .detail("url", without_query(url));
    match result {
        Ok(reply) => record.detail("status", reply.status.as_u16()),
        Err(UpstreamError::Status { status, .. }) => record.detail("status", status.as_u16()),
        // The error names the URL without its query too.
        Err(error) => record.detail("error", error),
    }
}

/// `url` as logs, errors and reports show it: without the query, which may hold a `code=`
/// secret for the upstream.
pub(crate) fn without_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(path, _)| path)
}

/// The HTTP client of upstream calls: redirects are not followed (the service does not either).
fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    install_ring_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// reqwest is built without a default TLS crypto provider (`rustls-no-provider`) so the build
/// stays pure Rust; choose ring, unless the application installed a provider already.
fn install_ring_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may win the race; its provider is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A reqwest error in words, with its causes, and without the URL's query (it may hold a code).
fn describe(error: reqwest::Error) -> String {
    use std::error::Error as _;
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
