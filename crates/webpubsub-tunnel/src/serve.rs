//! One request over the tunnel: the frame becomes an `http::Request` for the app's service, and
//! the service's answer goes back as `HttpResponse` frames, in parts when it is large.

use std::future::Future;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tower::{Service, ServiceExt as _};
use tracing::Instrument as _;
use webpubsub_protocol::tunnel::{
    HttpRequestMessage, HttpResponseMessage, TunnelHeaders, TunnelMessage,
};

use crate::connection::TunnelService;

/// The largest content of one answer frame; a larger answer streams in parts of this size, each
/// sent as soon as the service has produced it.
const ANSWER_PART: usize = 256 * 1024;

/// A service's answer, its body boxed.
pub(crate) type Answer =
    Pin<Box<dyn Future<Output = Result<Response<UnsyncBoxBody<Bytes, String>>, String>> + Send>>;

/// Calls `service` with `request`.
pub(crate) fn call<S, B>(service: S, request: Request<Full<Bytes>>) -> Answer
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display + Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    Box::pin(async move {
        match service.oneshot(request).await {
            Ok(response) => Ok(response.map(|body| body.map_err(|e| e.to_string()).boxed_unsync())),
            Err(error) => Err(error.to_string()),
        }
    })
}

/// Serves `request` with the tunnel's service and sends the answer on `outbound`.
pub(crate) async fn answer<S: TunnelService + ?Sized>(
    service: &S,
    request: HttpRequestMessage,
    outbound: &mpsc::Sender<Message>,
) {
    let path = request.url.split('?').next().unwrap_or_default().to_owned();
    let span = tracing::info_span!(
        "tunnel_request",
        ack_id = request.ack_id,
        method = request.method,
        path,
        status = tracing::field::Empty,
    );
    let reply = Reply {
        ack_id: request.ack_id,
        channel_name: request.channel_name.clone(),
        outbound,
    };
    async move {
        let http_request = match to_http(request) {
            Ok(http_request) => http_request,
            Err(reason) => {
                tracing::warn!(reason, "refused a tunnel request");
                return reply.plain(StatusCode::BAD_REQUEST, &reason).await;
            }
        };
        match service.serve_request(http_request).await {
            Ok(response) => reply.stream(response).await,
            Err(error) => {
                tracing::error!(%error, "the service failed");
                reply
                    .plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the app's service failed",
                    )
                    .await;
            }
        }
    }
    .instrument(span)
    .await;
}

/// The path and query of a frame's `Url`: the service sends the handler's absolute URL
/// (`tunnel:///eventhandler?…`), and the app serves its path and query.
fn path_and_query(url: &str) -> Option<&str> {
    match url.split_once("://") {
        Some((_scheme, rest)) => Some(rest.find('/').map_or("/", |at| &rest[at..])),
        None => url.starts_with('/').then_some(url),
    }
}

fn to_http(request: HttpRequestMessage) -> Result<Request<Full<Bytes>>, String> {
    let method = Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("invalid method {:?}", request.method))?;
    let path = path_and_query(&request.url)
        .ok_or_else(|| "the request URL is neither absolute nor a path".to_owned())?;
    let uri: Uri = path
        .parse()
        .map_err(|_| "the request URL is not a valid path and query".to_owned())?;
    let headers = request.headers.to_header_map().map_err(|e| e.to_string())?;
    let mut http_request = Request::new(Full::new(request.content));
    *http_request.method_mut() = method;
    *http_request.uri_mut() = uri;
    *http_request.headers_mut() = headers;
    Ok(http_request)
}

/// Where the answer to one request goes.
struct Reply<'a> {
    ack_id: u64,
    channel_name: String,
    outbound: &'a mpsc::Sender<Message>,
}

impl Reply<'_> {
    async fn send(
        &self,
        status: StatusCode,
        headers: TunnelHeaders,
        content: Bytes,
        more: bool,
    ) -> bool {
        let message = TunnelMessage::HttpResponse(HttpResponseMessage {
            tracing_id: None,
            ack_id: self.ack_id,
            local_routing: false,
            status_code: status.as_u16(),
            channel_name: self.channel_name.clone(),
            not_completed: more,
            headers,
            content,
        });
        match message.encode() {
            Ok(frame) => self
                .outbound
                .send(Message::Binary(frame.into()))
                .await
                .is_ok(),
            Err(error) => {
                tracing::error!(%error, "cannot frame the answer");
                false
            }
        }
    }

    async fn plain(&self, status: StatusCode, text: &str) {
        tracing::Span::current().record("status", status.as_u16());
        let headers = TunnelHeaders::from_iter([("Content-Type", "text/plain; charset=utf-8")]);
        self.send(
            status,
            headers,
            Bytes::copy_from_slice(text.as_bytes()),
            false,
        )
        .await;
    }

    /// Sends the response: status and headers with the first part, then each part as the body
    /// yields it; every part but the last says more follow.
    async fn stream(&self, response: Response<UnsyncBoxBody<Bytes, String>>) {
        let (parts, mut body) = response.into_parts();
        let headers = match headers_of(&parts.headers) {
            Ok(headers) => headers,
            Err(reason) => {
                tracing::error!(reason, "the service's answer cannot cross the tunnel");
                return self.plain(StatusCode::INTERNAL_SERVER_ERROR, &reason).await;
            }
        };
        tracing::Span::current().record("status", parts.status.as_u16());
        let mut headers = Some(headers);
        let mut buffer = BytesMut::new();
        loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(error)) => {
                    // The status is already chosen: end the answer with what there is.
                    tracing::error!(%error, "the service's answer body failed");
                    break;
                }
                None => break,
            }
            while buffer.len() >= ANSWER_PART {
                let part = buffer.split_to(ANSWER_PART).freeze();
                let headers = headers.take().unwrap_or_default();
                if !self.send(parts.status, headers, part, true).await {
                    return;
                }
            }
        }
        let headers = headers.take().unwrap_or_default();
        self.send(parts.status, headers, buffer.freeze(), false)
            .await;
    }
}

fn headers_of(headers: &HeaderMap) -> Result<TunnelHeaders, String> {
    TunnelHeaders::from_header_map(headers).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, url: &str, headers: TunnelHeaders) -> HttpRequestMessage {
        HttpRequestMessage {
            method: method.into(),
            url: url.into(),
            headers,
            content: Bytes::from_static(b"body"),
            ..HttpRequestMessage::default()
        }
    }

    #[test]
    fn a_frame_becomes_the_same_request_with_its_query() {
        let headers = TunnelHeaders::from_iter([("ce-type", "t"), ("x", "1"), ("x", "2")]);
        for url in [
            "tunnel:///eventhandler?a=1&b=%2F",
            "/eventhandler?a=1&b=%2F",
        ] {
            let http = to_http(request("POST", url, headers.clone())).unwrap();
            assert_eq!(http.method(), Method::POST);
            assert_eq!(http.uri().path(), "/eventhandler");
            assert_eq!(http.uri().query(), Some("a=1&b=%2F"));
            assert_eq!(http.headers().get_all("x").iter().count(), 2);
        }
        let root = to_http(request("GET", "https://host.example", TunnelHeaders::new())).unwrap();
        assert_eq!(root.uri().path(), "/");
    }

    #[test]
    fn what_is_not_a_request_is_refused_with_words() {
        let none = TunnelHeaders::new;
        let cases = [
            (request("GE T", "/", none()), "invalid method"),
            (
                request("GET", "no-slash", none()),
                "neither absolute nor a path",
            ),
            (request("GET", "/a b", none()), "not a valid path"),
            (
                request("GET", "/", TunnelHeaders::from_iter([("bad name", "v")])),
                "not a valid HTTP header name",
            ),
        ];
        for (request, words) in cases {
            let error = to_http(request).unwrap_err();
            assert!(error.contains(words), "{error}");
        }
    }
}
