//! The emulator with upstreams that are down, hang, or answer garbage: a client's connect fails
//! with a server-side status and a reason, within the upstream timeout (plus the emulator's
//! bounded retries), while a hub with a healthy setup keeps connecting and delivering meanwhile.

mod support;

use std::{net::SocketAddr, time::Duration};

use support::ws_client::WsClient;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
};
use webpubsub::emulator::{Emulator, EventHandlerSettings, HubSettings, SystemEvent};
use webpubsub_protocol::frames::{FrameData, ServerFrame};
use webpubsub_rest::{Message, WebPubSubServiceClient};

const JSON: &str = "json.webpubsub.azure.v1";

/// A server that accepts connections and answers every request with `answer` (`None`: reads
/// forever and never answers).
async fn fake_upstream(answer: Option<&'static [u8]>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                loop {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {
                            if let Some(answer) = answer {
                                let _ = socket.write_all(answer).await;
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

fn hub(name: &str, upstream: SocketAddr) -> HubSettings {
    HubSettings::new(name).allow_anonymous(true).event_handler(
        EventHandlerSettings::new(format!("http://{upstream}/eventhandler"))
            .system_events([SystemEvent::Connect]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_upstreams_fail_connects_cleanly_and_other_hubs_carry_on() {
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let hanging = fake_upstream(None).await;
    let not_http = fake_upstream(Some(b"\x00\x01\x02 this is not http\r\n\r\n")).await;
    let bad_json = fake_upstream(Some(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{\"userId\"",
    ))
    .await;
    let starting = std::time::Instant::now();
    let emulator = Emulator::builder()
        .upstream_timeout(Duration::from_millis(300))
        .hub(hub("down", down))
        .hub(hub("hanging", hanging))
        .hub(hub("nothttp", not_http))
        .hub(hub("badjson", bad_json))
        .hub(HubSettings::new("healthy").allow_anonymous(true))
        .start()
        .await
        .expect("the emulator starts even when its upstreams are broken");
    // Regression: the start-up handshake used a fixed 10 s timeout, so a hanging upstream held
    // `start()` for 10 s whatever the upstream timeout. Not a performance assertion: 5 s is
    // more than ten times the configured 300 ms.
    assert!(
        starting.elapsed() < Duration::from_secs(5),
        "start() waited {:?} on a hanging upstream",
        starting.elapsed()
    );
    assert_eq!(
        emulator.handshakes().iter().filter(|h| h.is_ok()).count(),
        0
    );
    let ws = emulator.endpoint().replace("http://", "ws://");

    // The broken hubs' connects, all at once.
    let mut attempts = Vec::new();
    for name in ["down", "hanging", "nothttp", "badjson"] {
        let url = format!("{ws}/client/hubs/{name}");
        attempts.push((
            name,
            tokio::spawn(async move { WsClient::connect(&url, Some(JSON)).await.err() }),
        ));
    }

    // Meanwhile the healthy hub connects and receives.
    let mut client = WsClient::connect(&format!("{ws}/client/hubs/healthy"), Some(JSON))
        .await
        .expect("the healthy hub connects while the others wait on their upstreams");
    assert!(matches!(
        client.next_frame().await,
        ServerFrame::Connected { .. }
    ));
    let rest =
        WebPubSubServiceClient::from_connection_string(&emulator.connection_string(), "healthy")
            .expect("client");
    rest.send_to_all(Message::text("still delivering"))
        .await
        .expect("send");
    match client.next_frame().await {
        ServerFrame::Message {
            data: FrameData::Text(text),
            ..
        } => assert_eq!(text, "still delivering"),
        other => panic!("expected the message, got {other:?}"),
    }

    for (name, attempt) in attempts {
        // 300 ms per attempt, the emulator's two retries (0.5 s, 2 s): far below this bound.
        let refused = tokio::time::timeout(Duration::from_secs(15), attempt)
            .await
            .unwrap_or_else(|_| panic!("{name}: the connect hung"))
            .expect("task")
            .unwrap_or_else(|| panic!("{name}: a broken upstream let the client in"));
        assert!(
            refused.status >= 500,
            "{name}: {} {}",
            refused.status,
            refused.body
        );
        assert!(
            refused.body.chars().any(char::is_alphabetic),
            "{name}: no reason in words"
        );
    }
    // And nothing stuck: the healthy hub still takes new clients.
    WsClient::connect(&format!("{ws}/client/hubs/healthy"), Some(JSON))
        .await
        .expect("connects after the failures");
}
