//! REST over the tunnel (`LocalRouting`): the app's REST calls travel as `HttpRequest` frames on
//! its open tunnel connections, and the service answers each with `HttpResponse` frames that
//! echo its `AckId`, so an app behind a firewall needs no other outbound connection.
//!
//! [`Links`] keeps the open connections that can carry a call; each [`Link`] holds the calls
//! waiting for their answers on it, so that when it closes every one of them fails at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Response, StatusCode};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use webpubsub_protocol::tunnel::{
    HttpRequestMessage, HttpResponseMessage, TunnelHeaders, TunnelMessage,
};
use webpubsub_rest::{Transport, TransportError, TransportFuture};

/// How long a call waits for its whole answer unless [`TunnelTransport::timeout`] says otherwise.
pub const DEFAULT_REST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer a call takes unless [`TunnelTransport::max_answer_bytes`] says otherwise:
/// REST answers are small JSON, a page of a group's connections the largest.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 4 << 20;

/// The tunnel's open connections that carry REST calls. Shared by the connections (which open
/// and close links) and the transports (which pick one per call).
#[derive(Debug, Default)]
pub(crate) struct Links {
    state: Mutex<LinksState>,
    /// Which link the next call takes (round robin).
    turn: AtomicUsize,
    /// The `AckId` of the next call, unique over the tunnel's life.
    next_ack: AtomicU64,
}

#[derive(Debug, Default)]
struct LinksState {
    open: Vec<Arc<Link>>,
    ended: bool,
}

/// One open connection, as a carrier of calls.
#[derive(Debug)]
pub(crate) struct Link {
    outbound: mpsc::Sender<Message>,
    waiting: Mutex<HashMap<u64, Waiting>>,
}

/// A call waiting for its answer, with the parts of a streamed answer so far.
#[derive(Debug)]
struct Waiting {
    reply: oneshot::Sender<Result<Response<Bytes>, String>>,
    budget: usize,
    partial: Option<(StatusCode, TunnelHeaders, BytesMut)>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Links {
    /// A connection that got `ConnectionConnected` starts carrying calls.
    pub(crate) fn open(&self, outbound: mpsc::Sender<Message>) -> Arc<Link> {
        let link = Arc::new(Link {
            outbound,
            waiting: Mutex::new(HashMap::new()),
        });
        lock(&self.state).open.push(link.clone());
        link
    }

    /// The connection closed: no new call takes it, and the calls waiting on it fail now (the
    /// service drops what it was answering on a closed connection).
    pub(crate) fn close(&self, link: &Arc<Link>) {
        lock(&self.state)
            .open
            .retain(|open| !Arc::ptr_eq(open, link));
        lock(&link.waiting).clear();
    }

    /// The tunnel has ended: calls fail with that reason.
    pub(crate) fn end(&self) {
        lock(&self.state).ended = true;
    }

    fn pick(&self) -> Result<Arc<Link>, &'static str> {
        let state = lock(&self.state);
        if state.open.is_empty() {
            return Err(if state.ended {
                "the tunnel has stopped"
            } else {
                "no tunnel connection is open (the tunnel is down or still connecting)"
            });
        }
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        Ok(state.open[turn % state.open.len()].clone())
    }
}

impl Link {
    /// Takes an answer frame for one of the calls waiting on this link; frames for no such
    /// call (it timed out, or overflowed its budget) are dropped.
    pub(crate) fn answer(&self, part: HttpResponseMessage) {
        let mut waiting = lock(&self.waiting);
        let Some(call) = waiting.get_mut(&part.ack_id) else {
            tracing::debug!(ack_id = part.ack_id, "dropped an answer no call waits for");
            return;
        };
        let (status, headers, body) = call.partial.get_or_insert_with(|| {
            let status = StatusCode::from_u16(part.status_code).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, part.headers, BytesMut::new())
        });
        if body.len() + part.content.len() > call.budget {
            let budget = call.budget;
            if let Some(call) = waiting.remove(&part.ack_id) {
                let _ = call.reply.send(Err(format!(
                    "the answer is larger than the budget of {budget} bytes"
                )));
            }
            return;
        }
        body.extend_from_slice(&part.content);
        if part.not_completed {
            return;
        }
        let (status, headers, body) = (*status, std::mem::take(headers), body.split().freeze());
        let Some(call) = waiting.remove(&part.ack_id) else {
            return;
        };
        let answer = headers
            .to_header_map()
            .map_err(|e| format!("the answer's headers are not HTTP: {e}"))
            .map(|headers| {
                let mut response = Response::new(body);
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                response
            });
        let _ = call.reply.send(answer);
    }
}

/// Takes a call off its link when it ends, answered or not (timed out, dropped by the client).
struct Registered<'a> {
    link: &'a Link,
    ack_id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        lock(&self.link.waiting).remove(&self.ack_id);
    }
}

/// A [`Transport`] for [`webpubsub_rest`] that carries each REST call over the tunnel's open
/// connections (`LocalRouting`), from [`Tunnel::rest_transport`](crate::Tunnel::rest_transport).
///
/// Each call goes on the next open connection in turn as an `HttpRequest` frame with its own
/// `AckId` and waits for the `HttpResponse` frames that echo it, at most
/// [`timeout`](Self::timeout) and [`max_answer_bytes`](Self::max_answer_bytes). With no
/// connection open the call fails at once as not sent ([`webpubsub_rest::Error::is_connect`]);
/// when its connection closes before the answer, as lost in flight
/// ([`webpubsub_rest::Error::is_transport`]).
#[derive(Debug, Clone)]
pub struct TunnelTransport {
    links: Arc<Links>,
    timeout: Duration,
    max_answer_bytes: usize,
}

impl TunnelTransport {
    pub(crate) fn new(links: Arc<Links>) -> Self {
        Self {
            links,
            timeout: DEFAULT_REST_TIMEOUT,
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
        }
    }

    /// How long a call waits for its whole answer ([`DEFAULT_REST_TIMEOUT`] by default).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest answer a call takes, over all its parts ([`DEFAULT_MAX_ANSWER_BYTES`] by
    /// default); a larger one fails the call.
    #[must_use]
    pub fn max_answer_bytes(mut self, max: usize) -> Self {
        self.max_answer_bytes = max;
        self
    }

    async fn call(&self, request: http::Request<Bytes>) -> Result<Response<Bytes>, TransportError> {
        let (parts, content) = request.into_parts();
        let headers = TunnelHeaders::from_header_map(&parts.headers)
            .map_err(|e| TransportError::invalid(format!("the request's headers: {e}")))?;
        let ack_id = self.links.next_ack.fetch_add(1, Ordering::Relaxed) + 1;
        let frame = TunnelMessage::HttpRequest(HttpRequestMessage {
            tracing_id: None,
            ack_id,
            local_routing: true,
            channel_name: String::new(),
            method: parts.method.as_str().to_owned(),
            url: parts.uri.to_string(),
            headers,
            content,
        })
        .encode()
        .map_err(|e| {
            TransportError::invalid(format!("the request cannot cross the tunnel: {e}"))
        })?;
        let link = self.links.pick().map_err(TransportError::connect)?;
        let (reply, answer) = oneshot::channel();
        lock(&link.waiting).insert(
            ack_id,
            Waiting {
                reply,
                budget: self.max_answer_bytes,
                partial: None,
            },
        );
        let _registered = Registered {
            link: &link,
            ack_id,
        };
        if link
            .outbound
            .send(Message::Binary(frame.into()))
            .await
            .is_err()
        {
            return Err(TransportError::connect(
                "the tunnel connection closed before the request was sent",
            ));
        }
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(reason))) => Err(TransportError::broken(reason)),
            Ok(Err(_closed)) => Err(TransportError::broken(
                "the tunnel connection closed before the answer came",
            )),
            Err(_elapsed) => Err(TransportError::timeout(format!(
                "no answer over the tunnel within {:?}",
                self.timeout
            ))),
        }
    }
}

impl Transport for TunnelTransport {
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
        Box::pin(self.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transport over one link whose frames land in the returned receiver.
    fn one_link() -> (
        TunnelTransport,
        Arc<Links>,
        Arc<Link>,
        mpsc::Receiver<Message>,
    ) {
        let links = Arc::new(Links::default());
        let (outbound, frames) = mpsc::channel(8);
        let link = links.open(outbound);
        (TunnelTransport::new(links.clone()), links, link, frames)
    }

    fn request(body: &'static [u8]) -> http::Request<Bytes> {
        http::Request::builder()
            .method("POST")
            .uri("http://host/api/hubs/chat/:send?api-version=2024-12-01")
            .header("content-type", "text/plain")
            .body(Bytes::from_static(body))
            .unwrap()
    }

    /// The request frame the link carried.
    async fn sent(frames: &mut mpsc::Receiver<Message>) -> HttpRequestMessage {
        let Some(Message::Binary(frame)) = frames.recv().await else {
            panic!("no frame");
        };
        match TunnelMessage::decode(&frame).unwrap() {
            TunnelMessage::HttpRequest(request) => request,
            other => panic!("{other:?}"),
        }
    }

    fn part(ack_id: u64, status: u16, content: &'static [u8], more: bool) -> HttpResponseMessage {
        HttpResponseMessage {
            ack_id,
            local_routing: true,
            status_code: status,
            not_completed: more,
            headers: TunnelHeaders::from_iter([("x-ms-error-code", "E")]),
            content: Bytes::from_static(content),
            ..HttpResponseMessage::default()
        }
    }

    #[tokio::test]
    async fn a_call_is_a_local_routing_request_and_its_parts_make_one_answer() {
        let (transport, _links, link, mut frames) = one_link();
        let call = tokio::spawn(async move { transport.send(request(b"hi")).await });
        let request = sent(&mut frames).await;
        assert!(request.local_routing);
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.url,
            "http://host/api/hubs/chat/:send?api-version=2024-12-01"
        );
        assert_eq!(&request.content[..], b"hi");
        // A part for another call changes nothing; this call's parts are joined in order.
        link.answer(part(request.ack_id + 100, 200, b"other", false));
        link.answer(part(request.ack_id, 404, b"ab", true));
        link.answer(part(request.ack_id, 200, b"cd", false));
        let answer = call.await.unwrap().unwrap();
        assert_eq!(answer.status(), 404);
        assert_eq!(answer.headers()["x-ms-error-code"], "E");
        assert_eq!(&answer.body()[..], b"abcd");
        assert!(lock(&link.waiting).is_empty());
    }

    #[tokio::test]
    async fn an_answer_over_the_budget_fails_the_call() {
        let (transport, _links, link, mut frames) = one_link();
        let transport = transport.max_answer_bytes(3);
        let call = tokio::spawn(async move { transport.send(request(b"")).await });
        let ack_id = sent(&mut frames).await.ack_id;
        link.answer(part(ack_id, 200, b"ab", true));
        link.answer(part(ack_id, 200, b"cd", false));
        let error = call.await.unwrap().unwrap_err().to_string();
        assert!(
            error.contains("larger than the budget of 3 bytes"),
            "{error}"
        );
        assert!(lock(&link.waiting).is_empty());
    }

    #[tokio::test]
    async fn a_closed_link_fails_its_calls_and_takes_no_more() {
        let (transport, links, link, mut frames) = one_link();
        let waiting = transport.clone();
        let call = tokio::spawn(async move { waiting.send(request(b"")).await });
        sent(&mut frames).await;
        links.close(&link);
        let error = call.await.unwrap().unwrap_err().to_string();
        assert!(error.contains("closed before the answer"), "{error}");
        let error = transport.send(request(b"")).await.unwrap_err().to_string();
        assert!(error.contains("no tunnel connection is open"), "{error}");
        links.end();
        let error = transport.send(request(b"")).await.unwrap_err().to_string();
        assert!(error.contains("the tunnel has stopped"), "{error}");
    }

    #[tokio::test]
    async fn a_call_times_out_and_a_late_answer_finds_no_one() {
        let (transport, _links, link, mut frames) = one_link();
        let transport = transport.timeout(Duration::from_millis(20));
        let call = tokio::spawn(async move { transport.send(request(b"")).await });
        let ack_id = sent(&mut frames).await.ack_id;
        let error = call.await.unwrap().unwrap_err().to_string();
        assert!(
            error.contains("no answer over the tunnel within"),
            "{error}"
        );
        assert!(lock(&link.waiting).is_empty());
        link.answer(part(ack_id, 200, b"late", false));
        assert!(lock(&link.waiting).is_empty());
    }

    #[tokio::test]
    async fn a_request_too_large_for_a_frame_is_refused_unsent() {
        let (transport, _links, _link, mut frames) = one_link();
        let body = Bytes::from(vec![b'x'; webpubsub_protocol::tunnel::MAX_FRAME_LEN]);
        let mut large = request(b"");
        *large.body_mut() = body;
        let error = transport.send(large).await.unwrap_err().to_string();
        assert!(error.contains("cannot cross the tunnel"), "{error}");
        assert!(frames.try_recv().is_err());
    }
}
