//! Faults in and around the handler, over a real loopback server: panics, hangs and stalled
//! request bodies, all at once. The service stays up, other requests are served meanwhile, the
//! answers hold no internals, and the futures of hung handlers are dropped (their resources are
//! freed) when the timeout fires.

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use http::StatusCode;
use support::{
    layer::{Event, TestServer, app, vector_layer},
    raw_http,
};
use webpubsub_tower::{EventError, EventHandler, UserEventRequest, UserEventResponse};

/// What the handler holds while it runs; counts the live ones.
#[derive(Debug)]
struct Held(Arc<AtomicUsize>);

impl Held {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Self(live.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Clone, Default)]
struct Faulty {
    live: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

impl EventHandler for Faulty {
    async fn on_user_event(
        &self,
        request: UserEventRequest,
    ) -> Result<UserEventResponse, EventError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let _held = Held::new(&self.live);
        match request.context().event_name() {
            "boom" => panic!("internal detail: the database password is hunter2"),
            "hang" => std::future::pending().await,
            _ => {
                tokio::task::yield_now().await;
                Ok(UserEventResponse::text("ok"))
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_hangs_and_stalled_bodies_leave_the_service_serving() {
    let handler = Faulty::default();
    let layer = vector_layer(handler.clone()).handler_timeout(Duration::from_millis(300));
    let server = Arc::new(TestServer::start(app(layer)).await);

    // 30 stalled uploads: headers and half the declared body, then nothing.
    let mut stalled = Vec::new();
    for _ in 0..30 {
        let event = Event::user("slow", "text/plain", "x".repeat(1000));
        let length = format!("content-length: {}", event.body.len());
        let mut sent = event.http_head(server.addr, &[&length]).into_bytes();
        sent.extend_from_slice(&event.body[..event.body.len() / 2]);
        let mut socket = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        tokio::io::AsyncWriteExt::write_all(&mut socket, &sent)
            .await
            .expect("write");
        stalled.push(socket);
    }

    // Meanwhile: panics, hangs and ordinary events, concurrently.
    let mut tasks = Vec::new();
    for i in 0..60 {
        let server = server.clone();
        let name = ["boom", "hang", "message"][i % 3];
        tasks.push(tokio::spawn(async move {
            let answer = Event::user(name, "text/plain", "hi").send(&server).await;
            (name, answer)
        }));
    }
    for task in tasks {
        let (name, answer) = tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("every request is answered")
            .expect("the task ends");
        match name {
            "boom" => {
                answer.assert_rejected(StatusCode::INTERNAL_SERVER_ERROR);
                assert!(!answer.text().contains("hunter2"), "{}", answer.text());
            }
            "hang" => {
                answer.assert_rejected(StatusCode::GATEWAY_TIMEOUT);
            }
            _ => {
                answer.assert_status(StatusCode::OK);
                assert_eq!(answer.text(), "ok");
            }
        }
    }
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        60,
        "stalled bodies reached the handler"
    );
    // Every hung or panicked handler's future was dropped: nothing it held is still alive.
    assert_eq!(handler.live.load(Ordering::SeqCst), 0);

    // The stalled clients leave; the service still serves.
    drop(stalled);
    let answer = Event::user("message", "text/plain", "again")
        .send(&server)
        .await;
    answer.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn a_body_cut_mid_upload_is_refused_or_dropped_without_the_handler() {
    let handler = Faulty::default();
    let server = TestServer::start(app(vector_layer(handler.clone()))).await;
    for cut in [1usize, 10, 100, 999] {
        let event = Event::user("message", "text/plain", "x");
        let head = event.http_head(server.addr, &["connection: close", "content-length: 1000"]);
        let body = vec![b'y'; cut];
        let response = raw_http::exchange(server.addr, head.as_bytes(), &body, true).await;
        assert!(
            matches!(response.status, None | Some(400)),
            "cut after {cut} bytes: {response:?}"
        );
    }
    assert_eq!(handler.calls.load(Ordering::SeqCst), 0);
}
