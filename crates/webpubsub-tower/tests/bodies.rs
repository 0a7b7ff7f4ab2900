//! Bodies through the layer, over loopback HTTP: requests on other paths reach the inner service
//! untouched and streaming (the layer never reads them, whatever their size or headers), the
//! inner service's status and headers come back as they were, and on the event path the body
//! limit holds for bodies with a `Content-Length` and for chunked bodies.

mod support;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::Frame;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::json;
use support::layer::{
    Event, INNER_FALLBACK, ReferenceHandler, TIMEOUT, TestServer, app, client, reference_server,
    vector_layer,
};
use tokio::sync::mpsc;

type ChunkSender = mpsc::Sender<Result<Frame<Bytes>, Infallible>>;

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

#[tokio::test]
async fn other_paths_pass_through_with_their_bodies_untouched() {
    let (server, handler) = reference_server().await;
    // 2 MiB: over the layer's default 1 MiB limit, which must not apply off its path
    let body = random_bytes(2 << 20, 1);
    let answer = client()
        .post(server.url("/echo"))
        .header("content-type", "application/x-custom")
        .body(body.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), StatusCode::CREATED);
    assert_eq!(answer.headers()["x-inner"], "echo");
    assert_eq!(answer.headers()["content-type"], "application/x-custom");
    let echoed = answer.bytes().await.expect("body");
    assert!(
        echoed.as_ref() == body.as_slice(),
        "the echo differs from what was sent"
    );

    // a request that looks like an event, on another path, is the inner service's business
    let mut lookalike = Event::text("not for the layer").path("/echo");
    lookalike.body = Bytes::from(body.clone());
    let answer = lookalike.send(&server).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert!(answer.body.as_ref() == body.as_slice());
    assert!(answer.header(support::layer::REJECTION_HEADER).is_none());

    // every method and no route at all: the inner fallback answers
    for method in [
        http::Method::GET,
        http::Method::OPTIONS,
        http::Method::DELETE,
    ] {
        let answer = Event::preflight(Some("x.webpubsub.azure.com"))
            .method(method.clone())
            .path("/elsewhere")
            .send(&server)
            .await;
        assert_eq!(answer.status, INNER_FALLBACK, "{method}");
        assert_eq!(answer.text(), "inner fallback");
        assert!(answer.header("webhook-allowed-origin").is_none());
    }
    assert!(
        handler.take_calls().is_empty(),
        "the handler never sees other paths"
    );
}

/// A hyper client on plain HTTP; it sends bodies of unknown length chunked.
fn hyper_client<B>() -> Client<hyper_util::client::legacy::connect::HttpConnector, B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    Client::builder(TokioExecutor::new()).build_http()
}

fn channel_body() -> (ChunkSender, StreamBody<ChannelStream>) {
    let (tx, rx) = mpsc::channel(4);
    (tx, StreamBody::new(ChannelStream(rx)))
}

/// An mpsc receiver as a `Stream` (tokio-stream is not a dependency; this is all it would add).
struct ChannelStream(mpsc::Receiver<Result<Frame<Bytes>, Infallible>>);

impl futures_util::Stream for ChannelStream {
    type Item = Result<Frame<Bytes>, Infallible>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[tokio::test]
async fn a_streamed_body_is_echoed_while_it_is_still_being_sent() {
    let (server, _handler) = reference_server().await;
    let (tx, body) = channel_body();
    let request = Request::post(server.url("/echo"))
        .header("content-type", "application/octet-stream")
        .body(body)
        .expect("request");
    let client = hyper_client();
    let response = tokio::time::timeout(TIMEOUT, async {
        let pending = tokio::spawn(client.request(request));
        let first = random_bytes(64 << 10, 2);
        tx.send(Ok(Frame::data(Bytes::from(first.clone()))))
            .await
            .expect("send first chunk");
        let response = pending.await.expect("join").expect("response head");
        (response, first)
    })
    .await
    .expect("the inner service answered before the body ended: nothing buffered it");
    let (response, first) = response;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        response.headers().get("content-length").is_none(),
        "the echo streams"
    );
    let mut body = response.into_body();
    let mut received = Vec::new();
    let mut sent = first.clone();
    // read the first chunk back before sending the rest: proves the layer did not buffer
    tokio::time::timeout(TIMEOUT, async {
        while received.len() < first.len() {
            let frame = body.frame().await.expect("more echo").expect("echo frame");
            if let Ok(data) = frame.into_data() {
                received.extend_from_slice(&data);
            }
        }
    })
    .await
    .expect("the first chunk came back while the request was still open");
    for seed in 3..40 {
        let chunk = random_bytes(32 << 10, seed);
        sent.extend_from_slice(&chunk);
        tx.send(Ok(Frame::data(Bytes::from(chunk))))
            .await
            .expect("send chunk");
    }
    drop(tx);
    let rest = tokio::time::timeout(TIMEOUT, body.collect())
        .await
        .expect("the echo ends")
        .expect("echo");
    received.extend_from_slice(&rest.to_bytes());
    assert_eq!(received.len(), sent.len());
    assert!(received == sent, "the echo differs from what was sent");
}

/// Sends `chunks` as a chunked body (no `Content-Length`) to the event path.
async fn send_chunked(
    server: &TestServer,
    event: Event,
    chunks: Vec<Bytes>,
) -> (StatusCode, Bytes) {
    let (tx, body) = channel_body();
    let mut builder = Request::builder()
        .method(event.method.clone())
        .uri(server.url(&event.path));
    for (name, value) in &event.headers {
        builder = builder.header(name, value);
    }
    let request = builder.body(body).expect("request");
    tokio::spawn(async move {
        for chunk in chunks {
            // the server may answer 413 and stop reading before the end
            if tx.send(Ok(Frame::data(chunk))).await.is_err() {
                break;
            }
        }
    });
    let response = tokio::time::timeout(TIMEOUT, hyper_client().request(request))
        .await
        .expect("an answer in time")
        .expect("an answer");
    let status = response.status();
    let body = tokio::time::timeout(TIMEOUT, response.into_body().collect())
        .await
        .expect("the body in time")
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn the_body_limit_holds_for_chunked_bodies() {
    let handler = ReferenceHandler::default();
    let server = TestServer::start(app(vector_layer(handler.clone()).body_limit(1024))).await;

    let under = vec![Bytes::from("a".repeat(500)), Bytes::from("b".repeat(524))];
    let (status, body) = send_chunked(&server, Event::text(""), under).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(
        body,
        Bytes::from(format!("Hey {}{}", "a".repeat(500), "b".repeat(524)))
    );
    assert_eq!(handler.take_calls().len(), 1);

    let over = (0..8).map(|_| Bytes::from("c".repeat(200))).collect();
    let (status, body) = send_chunked(&server, Event::text(""), over).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body:?}");
    assert!(!body.is_empty(), "413 says why");
    assert!(handler.take_calls().is_empty());

    // a connect event, chunked, over the limit
    let connect = Event::connect(json!({}));
    let big = vec![Bytes::from(format!(
        "{{\"claims\":{{\"x\":[\"{}\"]}}}}",
        "d".repeat(2000)
    ))];
    let (status, _) = send_chunked(&server, connect, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(handler.take_calls().is_empty());

    // the server keeps serving afterwards
    Event::text("fine")
        .send(&server)
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn the_default_body_limit_is_one_mebibyte() {
    let (server, handler) = reference_server().await;
    let at = Event::user("noop", "application/octet-stream", vec![7u8; 1 << 20])
        .send(&server)
        .await;
    at.assert_status(StatusCode::NO_CONTENT);
    assert_eq!(handler.take_calls().len(), 1);
    let over = Event::user("noop", "application/octet-stream", vec![7u8; (1 << 20) + 1])
        .send(&server)
        .await;
    over.assert_rejected(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(handler.take_calls().is_empty());
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_refused_before_the_body_is_read() {
    // The layer can refuse on the header alone: the client gets 413 even though it never sends
    // the body it announced. (Bounded by TIMEOUT: a layer that waited for the body would hang.)
    let handler = ReferenceHandler::default();
    let server = TestServer::start(app(vector_layer(handler.clone()).body_limit(1024))).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let head = Event::text("").http_head(server.addr, &["content-length: 100000"]);
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream.write_all(head.as_bytes()).await.expect("write head");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(TIMEOUT, stream.read(&mut answer))
        .await
        .expect("413 without waiting for the body")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(handler.take_calls().is_empty());
}

/// The inner service of the bare-hyper server: echoes the request body as it streams in.
async fn hyper_echo(
    request: Request<hyper::body::Incoming>,
) -> Result<http::Response<hyper::body::Incoming>, Infallible> {
    let mut response = http::Response::new(request.into_body());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
        .headers_mut()
        .insert("x-inner", http::HeaderValue::from_static("hyper"));
    Ok(response)
}

#[tokio::test]
async fn over_a_bare_hyper_server_with_incoming_bodies() {
    use tower::{Layer as _, ServiceExt as _};
    let handler = ReferenceHandler::default();
    let service = vector_layer(handler.clone()).layer(tower::service_fn(hyper_echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| service.clone().oneshot(req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let url = |path: &str| format!("http://{addr}{path}");

    let answer = client()
        .post(url(support::layer::PATH))
        .headers(Event::text("bare").headers)
        .body("bare")
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.text().await.expect("text"), "Hey bare");
    assert_eq!(handler.take_calls().len(), 1);

    let body = random_bytes(300 << 10, 99);
    let answer = client()
        .post(url("/anything"))
        .body(body.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    assert_eq!(answer.headers()["x-inner"], "hyper");
    assert!(answer.bytes().await.expect("echo").as_ref() == body.as_slice());
    assert!(handler.take_calls().is_empty());
    server.abort();
}
