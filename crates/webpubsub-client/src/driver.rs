//! The task that owns the connection: opens it, serves its socket, recovers it after a drop
//! (reliable subprotocols) or replaces it with a new one, and ends on `stop`.
//!
//! The lifecycle, as the client spec and `@azure/web-pubsub-client` have it:
//!
//! 1. **New connection**: fetch the URL, open the socket, read `connected`; emit
//!    [`ClientEvent::Connected`] (once per connection) and rejoin the groups joined before.
//! 2. **Serve**: deliver messages (a reliable connection puts them in sequence-id order and drops
//!    replays, so each reaches the application once and in order: see `sequence.rs`), answer acks and
//!    invocations, write queued frames, acknowledge sequence ids every second (at once when
//!    300 are unacknowledged), ping when idle and give up on a silent socket.
//! 3. **Drop**: invocations fail (they are not resent). A reliable connection is recovered by
//!    opening its URL with `awps_connection_id` and `awps_reconnection_token`, at once and then
//!    every `recovery_retry_delay` within `recovery_window`; frames awaiting their ack are
//!    written again with the same ack ids. A close with 1008, an expired window or a
//!    non-reliable subprotocol ends the connection: [`ClientEvent::Disconnected`], pending acks
//!    fail with [`Error::ConnectionLost`], and a new connection is opened after a backoff with
//!    jitter (step 1).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use webpubsub_protocol::frames::{ClientFrame, MessageSource, ServerFrame};

use crate::builder::Options;
use crate::client::{Inner, Outbound};
use crate::sequence::Sequencer;
use crate::socket::{self, Socket};
use crate::url::recovery_url;
use crate::{ClientEvent, Error};

/// The close code with which the service refuses a recovery.
const POLICY_VIOLATION: u16 = 1008;

/// Runs a started client until it stops; `started` hears how the first connection went.
pub(crate) async fn run(
    inner: Arc<Inner>,
    generation: u64,
    outbound: mpsc::Receiver<Outbound>,
    stop: watch::Receiver<bool>,
    started: oneshot::Sender<Result<(), Error>>,
) {
    let mut driver = Driver {
        inner,
        outbound,
        stop,
        connection: None,
        socket_generation: 0,
    };
    let mut started = Some(started);
    let outcome = driver.lifetime(&mut started).await;
    let inner = driver.inner;
    inner.driver_ended(generation);
    inner.pending().fail_all(|what| Error::Stopped { what });
    match outcome {
        Err(error) => {
            if let Some(started) = started.take() {
                let _ = started.send(Err(error));
            }
        }
        Ok(()) => inner.events.emit(ClientEvent::Stopped).await,
    }
}

/// What the driver knows about the current connection.
#[derive(Debug)]
struct Connection {
    id: String,
    /// The URL it was opened with: recovery reuses it.
    url: String,
    reconnection_token: Option<String>,
    /// Orders the numbered messages and drops replays.
    sequence: Sequencer,
    /// The largest sequence id acknowledged to the service on the current socket.
    acknowledged: Option<u64>,
    /// The service's last `disconnected` message.
    disconnected: Option<String>,
}

/// How a socket ended.
#[derive(Debug)]
enum SocketEnd {
    Stopped,
    Lost { code: Option<u16>, reason: String },
}

/// How a recovery ended.
enum Recovery {
    Recovered(Box<Socket>),
    Stopped,
    Failed(String),
}

struct Driver {
    inner: Arc<Inner>,
    outbound: mpsc::Receiver<Outbound>,
    stop: watch::Receiver<bool>,
    connection: Option<Connection>,
    /// Counts sockets, so that a pending frame is written once per socket.
    socket_generation: u64,
}

/// Resolves once `stop` says so (or every handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

impl Driver {
    fn options(&self) -> &Options {
        &self.inner.options
    }

    /// New connections, each served and recovered until it ends; `Err` only when the first
    /// connection fails.
    async fn lifetime(
        &mut self,
        started: &mut Option<oneshot::Sender<Result<(), Error>>>,
    ) -> Result<(), Error> {
        let mut failed_attempts = 0u32;
        loop {
            let opened = tokio::select! {
                biased;
                () = stopped(&mut self.stop) => return Ok(()),
                opened = open_new(&self.inner) => opened,
            };
            let opened = match opened {
                Ok(opened) => opened,
                Err(error) if started.is_some() => return Err(error),
                Err(error) => {
                    failed_attempts += 1;
                    if self
                        .options()
                        .max_reconnect_attempts
                        .is_some_and(|max| failed_attempts >= max)
                    {
                        tracing::warn!(%error, failed_attempts, "giving up reconnecting");
                        return Ok(());
                    }
                    let delay = reconnect_delay(self.options(), failed_attempts);
                    tracing::info!(%error, ?delay, "reconnect attempt failed");
                    tokio::select! {
                        biased;
                        () = stopped(&mut self.stop) => return Ok(()),
                        () = tokio::time::sleep(delay) => continue,
                    }
                }
            };
            failed_attempts = 0;
            let (mut socket, connection, user_id) = opened;
            // Before `start` returns: its caller may ask for the connection id at once.
            self.inner.set_connection(Some(connection.id.clone()));
            if let Some(started) = started.take() {
                let _ = started.send(Ok(()));
            }
            self.connected_anew(connection, user_id).await;
            loop {
                let (code, reason) = match self.serve(&mut socket).await {
                    SocketEnd::Stopped => {
                        // Fire-and-forget frames queued before the stop still go out (acked
                        // ones fail with `Stopped`: their waiters are answered below).
                        while let Ok(queued) = self.outbound.try_recv() {
                            if let Outbound::Frame(message) = queued
                                && socket::write(&mut socket, message).await.is_err()
                            {
                                break;
                            }
                        }
                        close(&mut socket).await;
                        self.connection_over(None).await;
                        return Ok(());
                    }
                    SocketEnd::Lost { code, reason } => (code, reason),
                };
                drop(socket);
                tracing::debug!(?code, reason, "socket lost");
                self.inner
                    .pending()
                    .fail_invocations(|what| Error::ConnectionLost { what });
                let reason = match self.recoverable(code) {
                    Some(url) => match self.recover(&url).await {
                        Recovery::Recovered(recovered) => {
                            socket = *recovered;
                            continue;
                        }
                        Recovery::Stopped => {
                            self.connection_over(None).await;
                            return Ok(());
                        }
                        Recovery::Failed(why) => why,
                    },
                    None => reason,
                };
                self.connection_over(Some(reason)).await;
                if !self.options().auto_reconnect {
                    return Ok(());
                }
                break;
            }
        }
    }

    /// A new connection is ready: say so, and rejoin the groups in the background (their acks
    /// come through this driver).
    async fn connected_anew(&mut self, connection: Connection, user_id: Option<String>) {
        tracing::debug!(connection_id = connection.id, "connected");
        let event = ClientEvent::Connected {
            connection_id: connection.id.clone(),
            user_id,
        };
        self.connection = Some(connection);
        let groups = self.inner.joined_groups();
        if self.options().auto_rejoin_groups && !groups.is_empty() {
            tokio::spawn(rejoin(self.inner.clone(), groups));
        }
        self.inner.events.emit(event).await;
    }

    /// The recovery URL, if the connection can be recovered after a close with `code`.
    fn recoverable(&self, code: Option<u16>) -> Option<String> {
        if !self.options().protocol.is_reliable() || code == Some(POLICY_VIOLATION) {
            return None;
        }
        let connection = self.connection.as_ref()?;
        let token = connection.reconnection_token.as_deref()?;
        Some(recovery_url(&connection.url, &connection.id, token))
    }

    /// Reopens the connection with its recovery URL: at once, then every retry delay, within
    /// the recovery window. A socket that opens is a recovery; if the service refuses it after
    /// all, it closes the socket with 1008, which `serve` reports.
    async fn recover(&mut self, url: &str) -> Recovery {
        let window = self.options().recovery_window;
        let retry_delay = self.options().recovery_retry_delay;
        let deadline = Instant::now() + window;
        loop {
            let attempt = tokio::time::timeout_at(deadline, socket::open(&self.inner.options, url));
            let error = tokio::select! {
                biased;
                () = stopped(&mut self.stop) => return Recovery::Stopped,
                attempt = attempt => match attempt {
                    Ok(Ok(socket)) => return Recovery::Recovered(Box::new(socket)),
                    Ok(Err(error)) => error,
                    Err(_) => return Recovery::Failed(format!("not recovered within {window:?}")),
                },
            };
            tracing::debug!(%error, "recovery attempt failed");
            if Instant::now() + retry_delay >= deadline {
                return Recovery::Failed(format!("not recovered within {window:?}: {error}"));
            }
            tokio::select! {
                biased;
                () = stopped(&mut self.stop) => return Recovery::Stopped,
                () = tokio::time::sleep(retry_delay) => {}
            }
        }
    }

    /// The connection is over (lost for good, or stopped): say so and fail what waits.
    async fn connection_over(&mut self, reason: Option<String>) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        self.inner.set_connection(None);
        self.inner
            .pending()
            .fail_all(|what| Error::ConnectionLost { what });
        let message = connection.disconnected.or(reason);
        tracing::debug!(connection_id = connection.id, ?message, "disconnected");
        self.inner
            .events
            .emit(ClientEvent::Disconnected {
                connection_id: Some(connection.id),
                message,
            })
            .await;
    }

    /// Serves one socket until it ends.
    async fn serve(&mut self, socket: &mut Socket) -> SocketEnd {
        self.socket_generation += 1;
        let generation = self.socket_generation;
        let Self {
            inner,
            outbound,
            stop,
            connection,
            ..
        } = self;
        let Some(connection) = connection.as_mut() else {
            return SocketEnd::Lost {
                code: None,
                reason: "no connection".into(),
            };
        };
        let options = &inner.options;
        let lost = |reason: String| SocketEnd::Lost { code: None, reason };
        // Frames written on an earlier socket and still unacknowledged go again, same ack ids.
        let resend: Vec<Message> = inner
            .pending()
            .acks
            .values_mut()
            .filter(|pending| pending.written.is_some())
            .map(|pending| {
                pending.written = Some(generation);
                pending.message.clone()
            })
            .collect();
        for message in resend {
            if let Err(reason) = socket::write(socket, message).await {
                return lost(reason);
            }
        }
        // Tell a recovered connection at once what arrived, so that it replays only the rest.
        connection.acknowledged = None;
        if let Err(reason) = acknowledge(options, connection, socket).await {
            return lost(reason);
        }
        let mut sequence_ticks = tokio::time::interval(options.sequence_ack_interval);
        sequence_ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let period = options.keep_alive_interval;
        let mut keep_alive = tokio::time::interval_at(Instant::now() + period, period);
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_received = Instant::now();
        let mut ready = Vec::new();
        loop {
            tokio::select! {
                biased;
                () = stopped(stop) => return SocketEnd::Stopped,
                message = socket.next() => {
                    let message = match message {
                        None => return lost("the connection closed".into()),
                        Some(Err(e)) => return lost(socket::describe(&e)),
                        Some(Ok(message)) => message,
                    };
                    last_received = Instant::now();
                    if let Message::Close(frame) = &message {
                        return SocketEnd::Lost {
                            code: frame.as_ref().map(|f| u16::from(f.code)),
                            reason: frame.as_ref().map_or_else(
                                || "the service closed the connection".to_owned(),
                                |f| format!("the service closed the connection with {}: {}", u16::from(f.code), f.reason),
                            ),
                        };
                    }
                    on_frame(inner, connection, message, &mut ready);
                    if connection.sequence.delivered().unwrap_or(0)
                        > connection.acknowledged.unwrap_or(0) + options.quick_sequence_ack_gap
                        && let Err(reason) = acknowledge(options, connection, socket).await
                    {
                        return lost(reason);
                    }
                    for event in ready.drain(..) {
                        tokio::select! {
                            biased;
                            () = stopped(stop) => return SocketEnd::Stopped,
                            () = inner.events.emit(event) => {}
                        }
                    }
                }
                Some(outbound) = outbound.recv() => {
                    let message = match outbound {
                        Outbound::Frame(message) => Some(message),
                        Outbound::Acked(ack_id) => inner
                            .pending()
                            .acks
                            .get_mut(&ack_id)
                            .filter(|pending| pending.written != Some(generation))
                            .map(|pending| {
                                pending.written = Some(generation);
                                pending.message.clone()
                            }),
                    };
                    if let Some(message) = message
                        && let Err(reason) = socket::write(socket, message).await
                    {
                        return lost(reason);
                    }
                }
                _ = sequence_ticks.tick() => {
                    if let Err(reason) = acknowledge(options, connection, socket).await {
                        return lost(reason);
                    }
                }
                _ = keep_alive.tick() => {
                    if last_received.elapsed() >= options.keep_alive_timeout {
                        return lost(format!("nothing received for {:?}", options.keep_alive_timeout));
                    }
                    let ping = match options.protocol.encode(&ClientFrame::Ping) {
                        Ok(ping) => ping,
                        Err(error) => return lost(error.to_string()),
                    };
                    if let Err(reason) = socket::write(socket, ping).await {
                        return lost(reason);
                    }
                }
            }
        }
    }
}

/// Opens a new connection and reads its `connected` frame.
async fn open_new(inner: &Inner) -> Result<(Socket, Connection, Option<String>), Error> {
    let url = inner.source.get().await?;
    let mut socket = socket::open(&inner.options, &url).await?;
    let connected = socket::read_connected(&inner.options, &url, &mut socket).await?;
    let connection = Connection {
        id: connected.connection_id,
        url,
        reconnection_token: connected.reconnection_token,
        sequence: Sequencer::default(),
        acknowledged: None,
        disconnected: None,
    };
    Ok((socket, connection, connected.user_id))
}

/// Handles one message from the service; pushes onto `ready` the events to deliver now.
fn on_frame(
    inner: &Inner,
    connection: &mut Connection,
    message: Message,
    ready: &mut Vec<ClientEvent>,
) {
    let frame = match inner.options.protocol.decode(&message) {
        Ok(Some(frame)) => frame,
        Ok(None) => return,
        Err(reason) => {
            // Forward compatible, as the official clients: what is not understood is skipped.
            tracing::debug!(reason, "skipping a frame the client does not understand");
            return;
        }
    };
    match frame {
        ServerFrame::Ack { ack_id, error } => inner.pending().ack(ack_id, error),
        ServerFrame::InvokeResponse {
            invocation_id,
            data,
            error,
        } => inner
            .pending()
            .invocation_answered(&invocation_id, data, error),
        ServerFrame::Message {
            from,
            data,
            sequence_id,
        } => {
            let event = match from {
                MessageSource::Server => ClientEvent::ServerMessage { data, sequence_id },
                MessageSource::Group {
                    group,
                    from_user_id,
                } => ClientEvent::GroupMessage {
                    group,
                    from_user_id,
                    data,
                    sequence_id,
                },
            };
            match sequence_id {
                Some(id) => connection.sequence.accept(id, event, ready),
                None => ready.push(event),
            }
        }
        ServerFrame::Connected {
            connection_id,
            reconnection_token,
            ..
        } => {
            // A recovered socket starts with `connected` again: the same connection, so no event.
            if connection_id != connection.id {
                tracing::warn!(
                    connection_id,
                    "a recovered socket names another connection; keeping the old one's state"
                );
            }
            if reconnection_token.is_some() {
                connection.reconnection_token = reconnection_token;
            }
        }
        ServerFrame::Disconnected { message } => connection.disconnected = Some(message),
        _ => {}
    }
}

/// Sends `sequenceAck` for the largest contiguous sequence id delivered, if the service has not heard it
/// on this socket yet.
async fn acknowledge(
    options: &Options,
    connection: &mut Connection,
    socket: &mut Socket,
) -> Result<(), String> {
    if !options.protocol.is_reliable() {
        return Ok(());
    }
    let Some(delivered) = connection.sequence.delivered() else {
        return Ok(());
    };
    if connection
        .acknowledged
        .is_some_and(|acked| acked >= delivered)
    {
        return Ok(());
    }
    let frame = ClientFrame::SequenceAck {
        sequence_id: delivered,
    };
    let message = options.protocol.encode(&frame).map_err(|e| e.to_string())?;
    socket::write(socket, message).await?;
    connection.acknowledged = Some(delivered);
    Ok(())
}

/// Closes the socket politely, without waiting long for the service's answer.
async fn close(socket: &mut Socket) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "the client stopped".into(),
    };
    let closing = async {
        let _ = socket.close(Some(frame)).await;
        // Read until the service's close arrives (bounded by the timeout below).
        while let Some(Ok(_)) = socket.next().await {}
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), closing).await;
}

/// Joins each group again on a new connection; a failure is reported as an event.
async fn rejoin(inner: Arc<Inner>, groups: Vec<String>) {
    for group in groups {
        if let Err(error) = inner.join(&group).await {
            tracing::info!(group, %error, "rejoining a group failed");
            inner
                .events
                .emit(ClientEvent::RejoinGroupFailed { group, error })
                .await;
        }
    }
}

/// The pause before reconnect attempt `attempt` (from 1): the first delay doubled per
/// attempt, at most the maximum, less a random jitter of up to half, so that many clients
/// dropped at once do not come back at once.
fn reconnect_delay(options: &Options, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(20);
    let delay = options
        .reconnect_delay
        .saturating_mul(1 << doublings)
        .min(options.max_reconnect_delay);
    delay.mul_f64(1.0 - fastrand::f64() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_double_up_to_the_maximum_with_jitter() {
        let options = Options {
            reconnect_delay: Duration::from_secs(1),
            max_reconnect_delay: Duration::from_secs(30),
            ..Options::default()
        };
        for _ in 0..100 {
            let first = reconnect_delay(&options, 1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let third = reconnect_delay(&options, 3);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
            let late = reconnect_delay(&options, 40);
            assert!(late >= Duration::from_secs(15) && late <= Duration::from_secs(30));
        }
    }
}
