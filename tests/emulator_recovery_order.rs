//! The emulator's sequence ids around recoveries, seen on the wire: a raw
//! `json.reliable.webpubsub.azure.v1` client (no client library to hide a fault by reordering or
//! holding messages) sits behind a seeded proxy that cuts its socket at random times (every
//! `ORDER_MEAN_CUT_MS` on average, mid-frame, mid-replay, mid-handshake) while another client
//! pushes numbered messages through its group as fast as the window allows. Half of the cuts
//! are silent (the proxy stops relaying but keeps both sockets open): the client gives up on a
//! socket that says nothing for `SILENCE` and recovers on a new one while the emulator still
//! holds the old one, so the emulator switches sockets mid-stream.
//!
//! On every socket the ids must rise strictly; a new id (one the client has not had) must be
//! the next after the largest it has had without a gap, never beyond it; a replayed id must
//! carry the message it carried before; every socket after the first must be the same
//! connection; and in the end the client has every message, ids 1..=N carrying messages
//! 0..N in order.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use support::chaos_proxy::{ChaosProxy, Fault};
use support::pace::{Pace, push_numbered, setting};
use tokio_tungstenite::tungstenite::{Message as WsMessage, client::IntoClientRequest as _};
use webpubsub::client::{Protocol, WebPubSubClient};
use webpubsub_protocol::frames::{FrameData, ServerFrame};
use webpubsub_protocol::token::{ClientRole, Permission};

const KEY: &str = "recovery-order-key-not-a-secret";
const HUB: &str = "chat";
const GROUP: &str = "firehose";
const RELIABLE: &str = "json.reliable.webpubsub.azure.v1";
/// The plan's seed; `ORDER_SEED=n` explores others.
const SEED: u64 = 0x005e_91d5;
/// The receiver acknowledges after this many new messages (and at the start of each socket).
const ACK_EVERY: u64 = 50;
/// A socket quiet for this long, while messages are due, counts as dead (a keep-alive would
/// find that out later in a real client).
const SILENCE: Duration = Duration::from_millis(100);
/// How far the sender may run ahead of what the receiver has: with `ACK_EVERY` this stays far
/// below the 1,000 unacknowledged messages a reliable connection may hold.
const WINDOW: u64 = 300;

/// What the receiver has seen.
#[derive(Debug, Default)]
struct Receiver {
    /// The connection id and reconnection token, after the first `connected`.
    connection: Option<(String, String)>,
    /// Payload by sequence id.
    received: BTreeMap<u64, String>,
    /// The largest id such that it and every id before it arrived.
    contiguous: u64,
    /// Sockets that reached `connected`.
    sockets: u64,
    /// Ids that came again (replays of what the client had not acknowledged yet).
    replayed: u64,
    failures: Vec<String>,
}

impl Receiver {
    /// Takes message `id` on socket number `socket`, whose previous id was `previous`.
    fn on_message(&mut self, socket: u64, previous: &mut Option<u64>, id: u64, text: String) {
        if let Some(previous) = *previous
            && id <= previous
        {
            self.failures
                .push(format!("socket {socket}: id {id} after {previous}"));
        }
        *previous = Some(id);
        if id <= self.contiguous {
            self.replayed += 1;
            if self.received.get(&id) != Some(&text) {
                self.failures.push(format!(
                    "socket {socket}: id {id} replayed as {text:?}, was {:?}",
                    self.received.get(&id)
                ));
            }
        } else if id == self.contiguous + 1 {
            self.received.insert(id, text);
            self.contiguous = id;
        } else {
            self.failures.push(format!(
                "socket {socket}: id {id} after {} (a gap: ids out of order or lost)",
                self.contiguous
            ));
        }
    }
}

/// One socket: connect (or recover), acknowledge what arrived before, then read and acknowledge
/// until the socket is cut or `total` messages are in.
async fn one_socket(state: &mut Receiver, base_url: &str, total: u64, pace: &Pace) {
    let url = match &state.connection {
        Some((id, token)) => {
            format!("{base_url}&awps_connection_id={id}&awps_reconnection_token={token}")
        }
        None => base_url.to_owned(),
    };
    let mut request = url.into_client_request().expect("url");
    request
        .headers_mut()
        .insert("sec-websocket-protocol", RELIABLE.parse().expect("header"));
    let connect = tokio_tungstenite::connect_async(request);
    let Ok(Ok((mut socket, _))) = tokio::time::timeout(Duration::from_secs(5), connect).await
    else {
        // Cut during the handshake: the caller tries again.
        return;
    };
    let ack =
        |id: u64| WsMessage::text(json!({"type": "sequenceAck", "sequenceId": id}).to_string());
    if state.contiguous > 0 && socket.send(ack(state.contiguous)).await.is_err() {
        return;
    }
    let mut previous = None;
    let mut acked = state.contiguous;
    let mut greeted = false;
    while state.contiguous < total && state.failures.is_empty() {
        let Ok(Some(Ok(message))) = tokio::time::timeout(SILENCE, socket.next()).await else {
            return;
        };
        let text = match message {
            WsMessage::Text(text) => text,
            WsMessage::Close(frame) => {
                if let Some(frame) = frame {
                    state
                        .failures
                        .push(format!("closed with {}: {}", frame.code, frame.reason));
                }
                return;
            }
            _ => continue,
        };
        match ServerFrame::parse(&text) {
            Ok(ServerFrame::Connected {
                connection_id,
                reconnection_token,
                ..
            }) => {
                greeted = true;
                state.sockets += 1;
                match &state.connection {
                    None => {
                        let token = reconnection_token.expect("a reliable connection has a token");
                        state.connection = Some((connection_id, token));
                    }
                    Some((id, _)) if *id != connection_id => state
                        .failures
                        .push(format!("recovered into {connection_id}, not {id}")),
                    Some(_) => {}
                }
                pace.connect();
            }
            Ok(ServerFrame::Message {
                data: FrameData::Text(data),
                sequence_id: Some(id),
                ..
            }) if greeted => {
                state.on_message(state.sockets, &mut previous, id, data);
                pace.advance(state.contiguous);
                if state.contiguous >= acked + ACK_EVERY {
                    acked = state.contiguous;
                    if socket.send(ack(acked)).await.is_err() {
                        return;
                    }
                }
            }
            other => state
                .failures
                .push(format!("unexpected {other:?} (greeted: {greeted})")),
        }
    }
    let _ = socket.send(ack(state.contiguous)).await;
    let _ = socket.close(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_ids_stay_in_order_and_contiguous_through_cuts_mid_traffic() {
    let total = setting("ORDER_MESSAGES", 10_000);
    let mean_cut = Duration::from_millis(setting("ORDER_MEAN_CUT_MS", 25));
    let seed = setting("ORDER_SEED", SEED);
    let (emulator, rest) = support::emulator::start(KEY, HUB).await;
    let mut rng = fastrand::Rng::with_seed(seed);
    let proxy = ChaosProxy::start(
        emulator.local_addr(),
        Box::new(move |_| {
            // Exponential gaps: cuts at any point of a frame, a replay or a handshake.
            let gap = -mean_cut.as_secs_f64() * (1.0 - rng.f64()).ln();
            let at = Duration::from_secs_f64(gap.max(0.001));
            if rng.bool() {
                Fault::CutAt(at)
            } else {
                Fault::StallAt(at)
            }
        }),
    )
    .await;
    let base_url = rest
        .client_access_token()
        .user_id("receiver")
        .groups([GROUP])
        .await
        .expect("a token")
        .url()
        .replace(&emulator.local_addr().to_string(), &proxy.addr.to_string());

    let pace = Arc::new(Pace::default());
    let deadline = Instant::now() + Duration::from_secs(setting("ORDER_TIME_LIMIT_S", 90));
    let receiver = {
        let pace = pace.clone();
        tokio::spawn(async move {
            let mut state = Receiver::default();
            // Bounded: every socket lives at least a millisecond, and the deadline holds.
            while state.contiguous < total && state.failures.is_empty() && Instant::now() < deadline
            {
                one_socket(&mut state, &base_url, total, &pace).await;
            }
            state
        })
    };
    // Sends only once the receiver has its connection (in the group by its token): a socket cut
    // before its `connected` frame leaves a connection the receiver cannot recover.
    let connected = |pace: &Pace| pace.connected.load(Ordering::Acquire);
    let gave_up = || receiver.is_finished();
    pace.wait("connecting", deadline, connected, gave_up).await;
    let sender_url = rest
        .client_access_token()
        .user_id("sender")
        .roles([ClientRole::Permission {
            permission: Permission::SendToGroup,
            group: None,
        }])
        .await
        .expect("a token")
        .url()
        .to_owned();
    let (sender, _events) = WebPubSubClient::builder(sender_url)
        .protocol(Protocol::Json)
        .build();
    sender.start().await.expect("the sender starts");
    // The receiver ends early only on a failure, which its state says below.
    push_numbered(&sender, GROUP, total, WINDOW, &pace, deadline, gave_up).await;
    let state = receiver.await.expect("the receiver");
    let stalled = proxy
        .faults()
        .iter()
        .filter(|f| matches!(f, Fault::StallAt(_)))
        .count();
    println!(
        "recovery order (seed {seed:#x}): {total} messages, {} sockets ({} connections through the proxy, {stalled} of them stalled), {} replayed",
        state.sockets,
        proxy.connections(),
        state.replayed
    );
    assert!(state.failures.is_empty(), "{:#?}", state.failures);
    assert_eq!(state.contiguous, total, "out of time: {state:?}");
    let payloads: Vec<String> = state.received.into_values().collect();
    let expected: Vec<String> = (0..total).map(|n| n.to_string()).collect();
    assert!(
        payloads == expected,
        "the messages are not 0..{total} in order"
    );
    assert!(
        state.sockets >= 10,
        "too few cuts to mean anything: {}",
        state.sockets
    );
    sender.stop().await;
}
