//! Client receive throughput (issue 16), run by `benches/client_load.sh` against the
//! `webpubsub-emulator` binary in its own process:
//!
//! ```text
//! client_load url CONNECTION_STRING USER            prints a client access URL for USER
//! client_load receive URL COUNT [json|reliable]     the Rust receiver (webpubsub-client)
//! client_load push CONNECTION_STRING COUNT WINDOW   the sender
//! ```
//!
//! The receiver (on `json.webpubsub.azure.v1`, or `json.reliable.webpubsub.azure.v1` with
//! `reliable`) joins group `bench`, prints `ready`, and counts text messages until COUNT; every
//! 500th it tells the sender how far it is (fire-and-forget to group `progress`), so that the
//! sender stays at most WINDOW messages ahead. It prints one JSON line: messages/s from the first
//! message to the last, and this process's CPU time per message.
//! `benches/load/client_receive.mjs` is the same receiver on `@azure/web-pubsub-client` 1.1.0.
//!
//! The sender pushes COUNT messages (`"0"`, `"1"`, …) fire-and-forget on one
//! `json.webpubsub.azure.v1` connection.

use std::time::{Duration, Instant};

use webpubsub::client::{ClientEvent, FrameData, Protocol, SendOptions, WebPubSubClient};
use webpubsub::rest::WebPubSubServiceClient;

mod support;

const HUB: &str = "bench";
const PROGRESS_EVERY: u64 = 500;
const WAIT: Duration = Duration::from_secs(60);

fn main() {
    let args = support::args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["url", cs, user] => println!("{}", runtime.block_on(url(cs, user))),
        ["receive", url, count] | ["receive", url, count, "json"] => {
            runtime.block_on(receive(url, count.parse().expect("COUNT"), Protocol::Json));
        }
        ["receive", url, count, "reliable"] => runtime.block_on(receive(
            url,
            count.parse().expect("COUNT"),
            Protocol::JsonReliable,
        )),
        ["push", cs, count, window] => runtime.block_on(push(
            cs,
            count.parse().expect("COUNT"),
            window.parse().expect("WINDOW"),
        )),
        _ => eprintln!("client_load: run benches/client_load.sh (usage in benches/client_load.rs)"),
    }
}

async fn url(connection_string: &str, user: &str) -> String {
    let rest = WebPubSubServiceClient::from_connection_string(connection_string, HUB).expect("cs");
    rest.client_access_token()
        .user_id(user)
        .roles(["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"])
        .await
        .expect("a token")
        .url()
        .to_owned()
}

async fn receive(url: &str, count: u64, protocol: Protocol) {
    let (client, mut events) = WebPubSubClient::builder(url).protocol(protocol).build();
    client.start().await.expect("the receiver connects");
    client.join_group("bench").await.expect("joins");
    println!("ready");
    let mut received = 0u64;
    let (mut first, mut cpu_first) = (None, 0);
    while received < count {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("a message within a minute")
            .expect("the client runs");
        let ClientEvent::GroupMessage {
            data: FrameData::Text(_),
            ..
        } = event
        else {
            continue;
        };
        if first.is_none() {
            first = Some(Instant::now());
            cpu_first = support::cpu_ticks("self");
        }
        received += 1;
        if received.is_multiple_of(PROGRESS_EVERY) {
            let options = SendOptions::new().fire_and_forget(true);
            let _ = client
                .send_to_group("progress", received.to_string(), options)
                .await;
        }
    }
    let seconds = first.expect("messages came").elapsed().as_secs_f64();
    let cpu = (support::cpu_ticks("self") - cpu_first) as f64 / support::TICKS_PER_SECOND;
    println!(
        "{{\"mode\":\"rust\",\"messages\":{count},\"messages_per_s\":{:.0},\"cpu_us_per_message\":{:.2}}}",
        (count - 1) as f64 / seconds,
        cpu * 1e6 / count as f64
    );
    client.stop().await;
}

async fn push(connection_string: &str, count: u64, window: u64) {
    let (client, mut events) = WebPubSubClient::builder(url(connection_string, "pusher").await)
        .protocol(Protocol::Json)
        .build();
    client.start().await.expect("the sender connects");
    client.join_group("progress").await.expect("joins");
    let mut acknowledged = 0u64;
    let options = SendOptions::new().fire_and_forget(true);
    for n in 0..count {
        while n >= acknowledged + window {
            let event = tokio::time::timeout(WAIT, events.recv())
                .await
                .expect("progress within a minute")
                .expect("the client runs");
            if let ClientEvent::GroupMessage {
                data: FrameData::Text(text),
                ..
            } = event
            {
                acknowledged = acknowledged.max(text.parse().expect("a count"));
            }
        }
        client
            .send_to_group("bench", n.to_string(), options)
            .await
            .expect("sent");
    }
    client.stop().await;
}
