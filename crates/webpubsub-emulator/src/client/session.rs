//! A connection's life after the upgrade: it reads the client's frames, delivers what the
//! registry queues for it, answers events, and, for reliable clients, outlives a dropped socket
//! for the recovery window.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket};
use futures_util::future::BoxFuture;
use tokio::time::{Instant, sleep_until};
use webpubsub_protocol::frames::{AckError, ClientFrame, FrameData, MessageSource, ServerFrame};

use super::commands::{self, AckLog, Effect};
use super::events::{EventQueue, Job, Outcome, Reply};
use super::protocol::{ClientKind, WireFormat};
use super::socket::{
    MAX_FRAME_BYTES, close_code, data_len, feed, flush, plain_frame, send_buffered, stalled,
    truncate, write,
};
use super::traced;
use crate::app::AppState;
use crate::registry::{
    ConnectionGuard, DataType, Delivery, Hub, Message, Origin, Outbound, Pressure,
};
use crate::trace::TraceKind;
use crate::upstream::EventSource;

/// The most queued messages written with one flush; then the session looks at the client's
/// frames and its other work again.
const MAX_BATCH: usize = 64;

/// Everything a connection is, handed over by the upgrade.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) app: AppState,
    pub(crate) hub: Hub,
    pub(crate) guard: ConnectionGuard,
    pub(crate) outbound: Outbound,
    pub(crate) source: Arc<EventSource>,
    pub(crate) kind: ClientKind,
    /// Reliable clients only: the token and where recovering sockets arrive.
    pub(crate) recovery: Option<super::recovery::Recoverable>,
}

/// Why a socket stopped being served.
enum SocketEnd {
    /// The socket broke or closed; a reliable connection may be recovered.
    Lost(String),
    /// The connection is over.
    Over(String),
    /// The connection is over; close the socket with this code.
    CloseWith(u16, String),
}

/// The running connection.
struct Connection {
    app: AppState,
    hub: Hub,
    guard: Option<ConnectionGuard>,
    outbound: Outbound,
    source: Arc<EventSource>,
    kind: ClientKind,
    recovery: Option<super::recovery::Recoverable>,
    sequence: super::sequence::SequenceBuffer,
    /// How long a write may make no progress.
    write_timeout: std::time::Duration,
    /// The recipients this client's group sends filled past their high-water mark: its socket
    /// is not read until they catch up (or are dropped), so a burst slows the sender down.
    paused: Pressure,
    /// While a recovered client is being sent its unacknowledged messages: the next sequence
    /// id to send. New messages wait in the buffer meanwhile, so the client sees ids in order.
    replay_next: Option<u64>,
    acks: AckLog,
    /// The events waiting for the upstream, sent in order by a task of their own, and their
    /// outcomes.
    events: EventQueue,
}

impl Session {
    /// Serves the connection until it ends, then sends `disconnected` upstream.
    ///
    /// Every connection's task keeps its future's largest state for its whole life, so this
    /// is not `async` itself: the returned future holds the running connection and the socket
    /// once each, not the `Session` beside them (which comes boxed, so that the upgrade's task
    /// holds a pointer to it, not a copy). Below it, nothing large is passed by value to an
    /// `async fn`, whose state would keep the argument and its moved copy both.
    pub(crate) fn run(self: Box<Self>, mut socket: WebSocket) -> impl Future<Output = ()> + Send {
        let Self {
            app,
            hub,
            guard,
            outbound,
            source,
            kind,
            recovery,
        } = *self;
        let events = EventQueue::new(app.upstream.clone(), source.clone(), &app.pending);
        let mut connection = Connection {
            write_timeout: app.config.write_timeout,
            app,
            hub,
            guard: Some(guard),
            outbound,
            source,
            kind,
            recovery,
            sequence: super::sequence::SequenceBuffer::new(),
            paused: Pressure::default(),
            replay_next: None,
            acks: AckLog::default(),
            events,
        };
        async move {
            let reason = connection.run(&mut socket).await;
            connection.finish(reason);
        }
    }
}

impl Connection {
    /// Serves the socket (and the sockets of recoveries) until the connection ends; returns
    /// why it ended.
    async fn run(&mut self, socket: &mut WebSocket) -> String {
        let trace = self.app.config.trace.clone();
        let started = Instant::now();
        trace.emit(TraceKind::Connection, &self.source.hub, || {
            traced::connected(&self.source, self.kind)
        });
        let reason = self.serve(socket).await;
        trace.emit(TraceKind::Connection, &self.source.hub, || {
            traced::disconnected(&self.source, &reason, started.elapsed())
        });
        reason
    }
}

impl Connection {
    // Every connection's task is as large as the largest state of this future, for its whole
    // life, and most connections sit idle: the large, rarely taken paths (a frame from the
    // client, an event's answer, greeting, a ping, a replay, a close, a recovering socket,
    // waiting for recovery) are boxed while they run, so an idle connection holds only what
    // delivering needs.
    async fn serve(&mut self, socket: &mut WebSocket) -> String {
        let mut connected_event_sent = false;
        loop {
            if let Err(reason) = Box::pin(self.greet(socket)).await {
                match Box::pin(self.wait_for_recovery(reason)).await {
                    Ok(next) => {
                        *socket = next;
                        continue;
                    }
                    Err(reason) => return reason,
                }
            }
            if !connected_event_sent {
                connected_event_sent = true;
                // Never refused: only user events are charged.
                let _ = self.events.push(Job::Connected);
            }
            let lost = match Box::pin(self.serve_socket(socket)).await {
                SocketEnd::Over(reason) | SocketEnd::CloseWith(_, reason) => return reason,
                SocketEnd::Lost(reason) => reason,
            };
            match Box::pin(self.wait_for_recovery(lost)).await {
                Ok(next) => *socket = next,
                Err(reason) => return reason,
            }
        }
    }

    /// Sends the `connected` frame and, after a recovery, starts the replay of every
    /// unacknowledged message (written by the serve loop, between reads, so that acks sent
    /// during a long replay count even if this socket breaks too).
    async fn greet(&mut self, socket: &mut WebSocket) -> Result<(), String> {
        let Some(wire) = self.kind.wire() else {
            return Ok(());
        };
        let connected = ServerFrame::Connected {
            connection_id: self.source.connection_id.clone(),
            user_id: self.source.user_id.clone(),
            reconnection_token: self
                .recovery
                .as_ref()
                .map(|(token, _)| token.as_str().to_owned()),
        };
        if let Some(frame) = wire.encode(&connected) {
            write(socket, self.write_timeout, frame).await?;
        }
        self.replay_next = self.sequence.first_unacked();
        Ok(())
    }

    /// Sends the next unacknowledged message of the replay, or ends the replay.
    async fn replay_step(&mut self, socket: &mut WebSocket) -> Result<(), SocketEnd> {
        let Some(next) = self.replay_next else {
            return Ok(());
        };
        match self.sequence.unacked_from(next) {
            Some((id, message)) => {
                self.replay_next = Some(id + 1);
                let frame = self.numbered_frame(&message, id);
                write(socket, self.write_timeout, frame)
                    .await
                    .map_err(SocketEnd::Lost)
            }
            None => {
                self.replay_next = None;
                Ok(())
            }
        }
    }

    async fn serve_socket(&mut self, socket: &mut WebSocket) -> SocketEnd {
        let mut shutdown = self.app.shutdown.clone();
        let mut idle = IdleWatch::new(self.app.config.client_idle_timeout);
        let check = tokio::time::sleep_until(idle.next_check());
        tokio::pin!(check);
        loop {
            let step = tokio::select! {
                () = stopped(&mut shutdown) => {
                    Err(self.close(socket, close_code::GOING_AWAY, "the emulator is shutting down").await)
                }
                frame = socket.recv(), if self.paused.is_empty() => {
                    idle.heard();
                    Box::pin(self.on_frame(socket, frame)).await
                }
                () = &mut check => {
                    // A connection not read while its recipients catch up: that silence is
                    // ours, not the client's.
                    if !self.paused.is_empty() {
                        idle.heard();
                    }
                    let step = Box::pin(self.keep_alive(socket, &mut idle)).await;
                    check.as_mut().reset(idle.next_check());
                    step
                }
                () = self.paused.relieved(), if !self.paused.is_empty() => Ok(()),
                () = std::future::ready(()), if self.replay_next.is_some() => Box::pin(self.replay_step(socket)).await,
                delivery = self.outbound.recv() => self.on_deliveries(socket, delivery).await,
                outcome = self.events.outcome() => Box::pin(self.on_outcome(Some(socket), outcome)).await,
                Some(next) = recv_attach(&mut self.recovery) => Box::pin(self.swap_socket(socket, next)).await,
            };
            match step {
                Ok(()) => {}
                Err(SocketEnd::CloseWith(code, reason)) => {
                    return self.close(socket, code, &reason).await;
                }
                Err(end) => return end,
            }
        }
    }

    /// Serves `next` instead of `socket`: the client recovered before the old socket was seen
    /// to break.
    async fn swap_socket(
        &mut self,
        socket: &mut WebSocket,
        next: WebSocket,
    ) -> Result<(), SocketEnd> {
        let _ = write(socket, self.write_timeout, WsMessage::Close(None)).await;
        *socket = next;
        match Box::pin(self.greet(socket)).await {
            Ok(()) => Ok(()),
            Err(reason) => Err(SocketEnd::Lost(reason)),
        }
    }

    /// Pings a socket that has been silent for a while; ends one silent for the idle timeout.
    async fn keep_alive(
        &mut self,
        socket: &mut WebSocket,
        idle: &mut IdleWatch,
    ) -> Result<(), SocketEnd> {
        match idle.state() {
            Silence::Recent => Ok(()),
            Silence::Long => {
                idle.pinged = true;
                write(
                    socket,
                    self.write_timeout,
                    WsMessage::Ping(Default::default()),
                )
                .await
                .map_err(SocketEnd::Lost)
            }
            Silence::Dead(timeout) => {
                let reason = format!("nothing heard from the client for {timeout:?}");
                let frame = CloseFrame {
                    code: close_code::GOING_AWAY,
                    reason: truncate(&reason, 123).into(),
                };
                let _ = write(socket, self.write_timeout, WsMessage::Close(Some(frame))).await;
                // The network may be what broke: a reliable client may still recover.
                Err(SocketEnd::Lost(reason))
            }
        }
    }

    /// Waits for a reliable client to come back, keeping its messages. `Err` ends the
    /// connection with a reason.
    async fn wait_for_recovery(&mut self, lost: String) -> Result<WebSocket, String> {
        if self.recovery.is_none() {
            return Err(lost);
        }
        tracing::debug!(
            connection_id = self.source.connection_id,
            reason = lost,
            "socket lost; waiting for recovery"
        );
        let window = self.app.config.recovery_window;
        let deadline = Instant::now() + window;
        let mut shutdown = self.app.shutdown.clone();
        loop {
            let step = tokio::select! {
                () = stopped(&mut shutdown) => return Err("the emulator is shutting down".into()),
                () = sleep_until(deadline) => return Err(format!("{lost}; the client did not recover within {window:?}")),
                Some(socket) = recv_attach(&mut self.recovery) => return Ok(socket),
                delivery = self.outbound.recv() => self.on_delivery(None, delivery).await,
                outcome = self.events.outcome() => self.on_outcome(None, outcome).await,
            };
            if let Err(
                SocketEnd::Over(reason) | SocketEnd::Lost(reason) | SocketEnd::CloseWith(_, reason),
            ) = step
            {
                return Err(reason);
            }
        }
    }

    async fn on_frame(
        &mut self,
        socket: &mut WebSocket,
        frame: Option<Result<WsMessage, axum::Error>>,
    ) -> Result<(), SocketEnd> {
        let message = match frame {
            None => {
                return Err(SocketEnd::Lost(
                    "the socket closed without a close frame".into(),
                ));
            }
            // Frames over the reader's own limit fail in the reader.
            Some(Err(error)) if error.to_string().contains("Space limit exceeded") => None,
            // The reader refuses a text frame that is not UTF-8; say so with a close frame, so a
            // reliable client does not wait out the recovery window for a socket that broke.
            Some(Err(error)) if error.to_string().contains("UTF-8") => {
                return Err(self
                    .close(
                        socket,
                        close_code::INVALID_DATA,
                        "a text frame is not valid UTF-8",
                    )
                    .await);
            }
            Some(Err(error)) => {
                return Err(SocketEnd::Lost(format!("the socket broke: {error}")));
            }
            Some(Ok(message)) if data_len(&message) > MAX_FRAME_BYTES => None,
            Some(Ok(message)) => Some(message),
        };
        let Some(message) = message else {
            return Err(self
                .close(
                    socket,
                    close_code::TOO_BIG,
                    "the frame is larger than 1 MiB",
                )
                .await);
        };
        match (self.kind, message) {
            (_, WsMessage::Close(frame)) => {
                let code = frame.as_ref().map(|f| f.code);
                let reason = format!(
                    "the client closed the connection (code {})",
                    code.map_or("none".to_owned(), |c| c.to_string())
                );
                // The WebSocket library queued the answering close frame: send it, so the
                // client's close handshake completes instead of timing out.
                let _ = flush(socket, self.write_timeout).await;
                // A normal close ends the connection; anything else may be a failure the
                // client will recover from.
                match code {
                    None | Some(close_code::NORMAL) | Some(close_code::GOING_AWAY) => {
                        Err(SocketEnd::Over(reason))
                    }
                    Some(_) => Err(SocketEnd::Lost(reason)),
                }
            }
            (_, WsMessage::Ping(_) | WsMessage::Pong(_)) => Ok(()),
            (ClientKind::Plain, message @ (WsMessage::Text(_) | WsMessage::Binary(_))) => {
                let (content_type, body) = match message {
                    WsMessage::Text(text) => ("text/plain; charset=utf-8", text.into()),
                    other => ("application/octet-stream", other.into_data()),
                };
                let data_type = if content_type.starts_with("text/") {
                    "text"
                } else {
                    "binary"
                };
                let (kind, record) = traced::plain_message(&self.source, data_type);
                self.app
                    .config
                    .trace
                    .emit(kind, &self.source.hub, || record);
                self.queue_event(
                    socket,
                    Job::User {
                        name: "message".into(),
                        content_type,
                        body,
                        reply: Reply::Message { ack_id: None },
                    },
                )
                .await
            }
            (kind, message) => match kind.wire().map(|wire| wire.decode(&message)) {
                // A plain client's frames are taken above.
                None => Ok(()),
                Some(Err(reason)) => {
                    Err(self.close(socket, close_code::PROTOCOL_ERROR, reason).await)
                }
                Some(Ok(Ok(frame))) => self.on_client_frame(socket, frame).await,
                Some(Ok(Err(error))) => {
                    let bad_request = Some(AckError::bad_request(error.reason()));
                    let answer = match (error.ack_id(), error.invocation_id()) {
                        (Some(ack_id), _) => ServerFrame::Ack {
                            ack_id,
                            error: bad_request,
                        },
                        (None, Some(invocation_id)) => ServerFrame::InvokeResponse {
                            invocation_id: invocation_id.to_owned(),
                            data: None,
                            error: bad_request,
                        },
                        (None, None) => {
                            return Err(self
                                .close(socket, close_code::PROTOCOL_ERROR, &error.to_string())
                                .await);
                        }
                    };
                    self.send(socket, &answer).await
                }
            },
        }
    }

    /// Writes `frame` in the connection's wire format; nothing for a plain client, or for a
    /// frame the format does not have.
    async fn send(&self, socket: &mut WebSocket, frame: &ServerFrame) -> Result<(), SocketEnd> {
        match self.kind.wire().and_then(|wire| wire.encode(frame)) {
            Some(message) => write(socket, self.write_timeout, message)
                .await
                .map_err(SocketEnd::Lost),
            None => Ok(()),
        }
    }

    async fn on_client_frame(
        &mut self,
        socket: &mut WebSocket,
        frame: ClientFrame,
    ) -> Result<(), SocketEnd> {
        let from = commands::Sender {
            hub: &self.hub,
            connection_id: &self.source.connection_id,
            user_id: self.source.user_id.as_deref(),
        };
        let traced = self
            .app
            .config
            .trace
            .is_watched()
            .then(|| traced::client_frame(&self.source, &frame))
            .flatten();
        let effect = commands::apply(frame, &from, &mut self.acks, &mut self.paused);
        if let Some((kind, record)) = traced {
            let record = traced::outcome(record, &effect);
            self.app
                .config
                .trace
                .emit(kind, &self.source.hub, || record);
        }
        match effect {
            Effect::None => Ok(()),
            Effect::Reply(frame) => self.send(socket, &frame).await,
            Effect::Event(job) => self.queue_event(socket, job).await,
            Effect::SequenceAck(id) => {
                self.sequence.ack(id);
                Ok(())
            }
        }
    }

    /// Delivers `first` and, behind it, what is queued or arrives meanwhile (at most
    /// [`MAX_BATCH`] messages, see [`Self::write_batch`]), with one flush: one write to the
    /// socket per batch instead of one per message. A close ends the batch and goes through
    /// [`Self::on_delivery`].
    async fn on_deliveries(
        &mut self,
        socket: &mut WebSocket,
        first: Option<Delivery>,
    ) -> Result<(), SocketEnd> {
        // One deadline for the whole batch: a timer per frame cost 6 % of the emulator's CPU
        // per delivered message (benches/emulator_fanout.sh, pinned, 4 publishers).
        let limit = self.write_timeout;
        let batch = tokio::time::timeout(limit, self.write_batch(socket, first))
            .await
            .unwrap_or_else(|_| Err(SocketEnd::Lost(stalled(limit))))?;
        match batch {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(end) => self.on_delivery(Some(socket), end).await,
        }
    }

    /// Writes `first` and what else is queued or arrives while it lets the other tasks run, up
    /// to [`MAX_BATCH`] messages, with one flush.
    /// Breaks with the queue's end (a close, or `None`) if the batch reached it, to be handled
    /// after the messages before it went out.
    async fn write_batch(
        &mut self,
        socket: &mut WebSocket,
        first: Option<Delivery>,
    ) -> Result<ControlFlow<Option<Delivery>>, SocketEnd> {
        let mut delivery = first;
        let mut fed = 0;
        let mut may_yield = true;
        let end = loop {
            let message = match delivery {
                Some(Delivery::Message(message)) => message,
                end => break ControlFlow::Break(end),
            };
            if let Some(frame) = self.delivery_frame(true, &message)? {
                feed(socket, frame).await.map_err(SocketEnd::Lost)?;
            }
            fed += 1;
            if fed == MAX_BATCH {
                break ControlFlow::Continue(());
            }
            let mut next = self.outbound.try_recv();
            // Before the flush, let the other tasks run: a send that arrives meanwhile joins
            // this write; while a yield brings more, yield again. Against one yield per batch
            // (benches/emulator_fanout.sh): the emulator's CPU per message -10 % pinned with 4
            // publishers, -34 % unpinned with one.
            if next.is_none() && may_yield {
                tokio::task::yield_now().await;
                next = self.outbound.try_recv();
                may_yield = next.is_some();
            }
            match next {
                Some(next) => delivery = Some(next),
                None => break ControlFlow::Continue(()),
            }
        };
        send_buffered(socket).await.map_err(SocketEnd::Lost)?;
        Ok(end)
    }

    /// The frame of a registry message for this client. The JSON encoding is made once per
    /// message and shared by every recipient; a reliable JSON client's frame is that encoding
    /// with its own sequence id added. Protobuf frames are encoded per recipient. `None` when
    /// there is no socket to write to.
    fn delivery_frame(
        &mut self,
        attached: bool,
        message: &Arc<Message>,
    ) -> Result<Option<WsMessage>, SocketEnd> {
        match self.kind {
            ClientKind::Plain => Ok(Some(plain_frame(message))),
            ClientKind::Json => Ok(attached.then(|| WsMessage::Text(json_frame(message)))),
            ClientKind::Protobuf => Ok(attached.then(|| protobuf_frame(message, None))),
            ClientKind::Reliable | ClientKind::ProtobufReliable => {
                self.sequenced(attached, message.clone())
            }
        }
    }

    /// A reliable client's frame of `message` with its sequence id.
    fn numbered_frame(&self, message: &Message, id: u64) -> WsMessage {
        match self.kind.wire() {
            Some(WireFormat::Protobuf) => protobuf_frame(message, Some(id)),
            _ => WsMessage::Text(with_sequence_id(&json_frame(message), id).into()),
        }
    }

    /// Delivers a queued message (or buffers it while no socket is attached).
    async fn on_delivery(
        &mut self,
        socket: Option<&mut WebSocket>,
        delivery: Option<Delivery>,
    ) -> Result<(), SocketEnd> {
        match delivery {
            None => Err(SocketEnd::Over("the connection was removed".into())),
            Some(Delivery::Close { reason }) => {
                let reason =
                    reason.unwrap_or_else(|| "the connection was closed by the server".into());
                match socket {
                    Some(socket) => Err(self.close(socket, close_code::NORMAL, &reason).await),
                    None => Err(SocketEnd::Over(reason)),
                }
            }
            Some(Delivery::Message(message)) => {
                let frame = self.delivery_frame(socket.is_some(), &message)?;
                match (socket, frame) {
                    (Some(socket), Some(frame)) => write(socket, self.write_timeout, frame)
                        .await
                        .map_err(SocketEnd::Lost),
                    _ => Ok(()),
                }
            }
        }
    }

    async fn on_outcome(
        &mut self,
        socket: Option<&mut WebSocket>,
        outcome: Outcome,
    ) -> Result<(), SocketEnd> {
        if self.kind == ClientKind::Plain {
            return match (outcome, socket) {
                (
                    Outcome::Answered {
                        data: Some(data), ..
                    },
                    Some(socket),
                ) => {
                    let frame = match data {
                        FrameData::Text(text) => WsMessage::Text(text.into()),
                        FrameData::Json(value) => WsMessage::Text(value.to_string().into()),
                        FrameData::Binary(bytes) | FrameData::Protobuf(bytes) => {
                            WsMessage::Binary(bytes.into())
                        }
                    };
                    write(socket, self.write_timeout, frame)
                        .await
                        .map_err(SocketEnd::Lost)
                }
                (Outcome::Answered { .. }, _) => Ok(()),
                // The service drops a plain client whose message the upstream did not take.
                (Outcome::Unhandled { name, .. }, Some(socket)) => Err(self
                    .close(
                        socket,
                        close_code::INTERNAL_ERROR,
                        &format!("no event handler takes the {name} event"),
                    )
                    .await),
                (Outcome::Failed { reason, .. }, Some(socket)) => Err(self
                    .close(socket, close_code::INTERNAL_ERROR, &reason)
                    .await),
                (Outcome::Unhandled { .. } | Outcome::Failed { .. }, None) => Ok(()),
            };
        }
        let (reply, data, error) = match outcome {
            Outcome::Answered { reply, data } => (reply, data, None),
            // Nobody listens: an event is accepted, like a send to an empty group, but an
            // invocation waits for an answer nobody gives.
            Outcome::Unhandled {
                reply: reply @ Reply::Invocation(_),
                name,
            } => (
                reply,
                None,
                Some(AckError::internal(format!(
                    "no event handler takes the {name} event"
                ))),
            ),
            Outcome::Unhandled { reply, name } => {
                tracing::debug!(event = name, "no event handler takes the event");
                (reply, None, None)
            }
            Outcome::Failed { reply, reason } => (reply, None, Some(AckError::internal(reason))),
        };
        let ack_id = match reply {
            Reply::Message { ack_id } => ack_id,
            Reply::Invocation(invocation_id) => {
                // Not a message: it is neither numbered nor kept for recovery.
                let answer = ServerFrame::InvokeResponse {
                    invocation_id,
                    data,
                    error,
                };
                return match socket {
                    Some(socket) => self.send(socket, &answer).await,
                    None => Ok(()),
                };
            }
        };
        let attached = socket.is_some();
        let message = match data {
            Some(data) => self.message_frame(attached, data)?,
            None => None,
        };
        if let Some(socket) = socket {
            if let Some(message) = message {
                write(socket, self.write_timeout, message)
                    .await
                    .map_err(SocketEnd::Lost)?;
            }
            if let Some(ack_id) = ack_id {
                self.send(socket, &ServerFrame::Ack { ack_id, error })
                    .await?;
            }
        }
        Ok(())
    }

    /// A `message` frame from the server (an upstream's answer); reliable clients' frames get a
    /// sequence id and are kept until acknowledged. `None` when there is no socket to write to
    /// now.
    fn message_frame(
        &mut self,
        attached: bool,
        data: FrameData,
    ) -> Result<Option<WsMessage>, SocketEnd> {
        let Some(wire) = self.kind.wire() else {
            return Ok(None);
        };
        if self.kind.is_reliable() {
            // Kept for replay like a registry message, and counted in the process's budget.
            let message = self.hub.charged(reply_message(data));
            return self.sequenced(attached, message);
        }
        Ok(attached.then(|| wire.message(MessageSource::Server, data, None)))
    }

    /// Numbers a reliable client's message and keeps it (shared, not copied) until
    /// acknowledged. Returns its frame, built from the message's shared encoding and the id;
    /// `None` when there is no socket to write to now.
    fn sequenced(
        &mut self,
        attached: bool,
        message: Arc<Message>,
    ) -> Result<Option<WsMessage>, SocketEnd> {
        // While the process is over its budget, a lagging client may keep no more than the
        // high-water mark.
        let max_bytes = if self.hub.over_budget() {
            self.hub.budget().high_water_bytes
        } else {
            super::sequence::MAX_UNACKED_BYTES
        };
        let id = self
            .sequence
            .push(message.clone(), max_bytes)
            .map_err(|overflow| {
                SocketEnd::CloseWith(close_code::POLICY_VIOLATION, overflow.reason())
            })?;
        // A client being replayed to gets this message from the replay, in order.
        let now = attached && self.replay_next.is_none();
        Ok(now.then(|| self.numbered_frame(&message, id)))
    }

    /// Queues a user event for the upstream, or answers it at once as failed when the
    /// connection's or the process's budget of pending events has no room for it.
    async fn queue_event(&mut self, socket: &mut WebSocket, job: Job) -> Result<(), SocketEnd> {
        match self.events.push(job) {
            Ok(()) => Ok(()),
            Err(refused) => {
                tracing::warn!(
                    connection_id = self.source.connection_id,
                    "refused an event: the budget of events waiting for the upstream is spent"
                );
                self.on_outcome(Some(socket), refused).await
            }
        }
    }

    /// Says goodbye (subprotocol clients get a `disconnected` frame) and closes the socket.
    ///
    /// Boxed: a close happens once, and its future (two frames to encode and write) would
    /// otherwise be part of every caller's, and so of every idle connection's task.
    fn close<'a>(
        &'a mut self,
        socket: &'a mut WebSocket,
        code: u16,
        reason: &'a str,
    ) -> BoxFuture<'a, SocketEnd> {
        Box::pin(async move {
            let bye = ServerFrame::Disconnected {
                message: reason.to_owned(),
            };
            let _ = self.send(socket, &bye).await;
            let frame = CloseFrame {
                code,
                reason: truncate(reason, 123).into(),
            };
            let _ = write(socket, self.write_timeout, WsMessage::Close(Some(frame))).await;
            SocketEnd::Over(reason.to_owned())
        })
    }

    /// Unregisters the connection and sends `disconnected` upstream, last.
    fn finish(mut self, reason: String) {
        tracing::debug!(
            connection_id = self.source.connection_id,
            reason,
            "connection ended"
        );
        if self.recovery.is_some() {
            self.app
                .recovery
                .remove(&self.source.hub, &self.source.connection_id);
        }
        drop(self.guard.take());
        self.events.finish(Some(reason));
    }
}

/// A registry message as a JSON client's `message` frame, encoded by its first recipient and
/// shared by the others.
fn json_frame(message: &Message) -> Utf8Bytes {
    message.encoded_or_init(|message| {
        ServerFrame::Message {
            from: message_source(message),
            data: commands::frame_data(message),
            sequence_id: None,
        }
        .to_json()
        .into()
    })
}

/// A registry message as a protobuf client's `DataMessage`.
fn protobuf_frame(message: &Message, sequence_id: Option<u64>) -> WsMessage {
    WireFormat::Protobuf.message(
        message_source(message),
        commands::frame_data(message),
        sequence_id,
    )
}

/// A `message` frame encoded without a sequence id, with `"sequenceId":id` added as its last
/// member: each reliable recipient's frame from the one shared encoding, in the same bytes as
/// `ServerFrame::to_json` with the id (the tests below hold the two together).
fn with_sequence_id(frame: &str, id: u64) -> String {
    let members = frame.strip_suffix('}').unwrap_or(frame);
    format!("{members},\"sequenceId\":{id}}}")
}

/// An upstream's answer to a reliable client's event, as a message kept until acknowledged.
fn reply_message(data: FrameData) -> Message {
    let (data_type, bytes) = match data {
        FrameData::Text(text) => (DataType::Text, bytes::Bytes::from(text)),
        FrameData::Json(value) => (DataType::Json, value.to_string().into()),
        FrameData::Binary(bytes) => (DataType::Binary, bytes.into()),
        FrameData::Protobuf(bytes) => (DataType::Protobuf, bytes.into()),
    };
    Message::new(bytes, data_type, Origin::Server)
}

/// The `from` of a `message` frame for a registry message.
fn message_source(message: &Message) -> MessageSource {
    match &message.origin {
        Origin::Server => MessageSource::Server,
        Origin::Group {
            group,
            from_user_id,
        } => MessageSource::Group {
            group: group.clone(),
            from_user_id: from_user_id.clone(),
        },
    }
}

/// When a client's socket was last heard from, and what its silence calls for.
struct IdleWatch {
    timeout: Duration,
    last_heard: Instant,
    pinged: bool,
}

/// How long a socket has been silent.
enum Silence {
    /// Not long: nothing to do.
    Recent,
    /// A sixth of the idle timeout: ping it (once).
    Long,
    /// The whole idle timeout: it is dead.
    Dead(Duration),
}

impl IdleWatch {
    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            last_heard: Instant::now(),
            pinged: false,
        }
    }

    fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.pinged = false;
    }

    fn ping_after(&self) -> Duration {
        self.timeout / 6
    }

    /// When to look at the silence next.
    fn next_check(&self) -> Instant {
        if self.pinged {
            self.last_heard + self.timeout
        } else {
            self.last_heard + self.ping_after()
        }
    }

    fn state(&self) -> Silence {
        let silent = self.last_heard.elapsed();
        if silent >= self.timeout {
            Silence::Dead(self.timeout)
        } else if silent >= self.ping_after() && !self.pinged {
            Silence::Long
        } else {
            Silence::Recent
        }
    }
}

/// Resolves once the emulator shuts down (or its handle is gone).
async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, before any other await.
    let _ = shutdown.wait_for(|stopped| *stopped).await.map(drop);
}

async fn recv_attach(recovery: &mut Option<super::recovery::Recoverable>) -> Option<WebSocket> {
    match recovery {
        Some((_, attach)) => attach.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_encoding_with_a_sequence_id_is_the_frame_with_that_id() {
        let group = Origin::Group {
            group: "room".into(),
            from_user_id: Some("ann".into()),
        };
        for (data, data_type, origin) in [
            (&b"hi \"there\""[..], DataType::Text, Origin::Server),
            (br#"{"a":[1,"}"]}"#, DataType::Json, group.clone()),
            (&[0, 159, 255], DataType::Binary, group),
        ] {
            let message = Message::new(data.to_vec(), data_type, origin);
            for id in [1, 42, u64::MAX] {
                let direct = ServerFrame::Message {
                    from: message_source(&message),
                    data: commands::frame_data(&message),
                    sequence_id: Some(id),
                }
                .to_json();
                assert_eq!(with_sequence_id(&json_frame(&message), id), direct);
            }
        }
    }
}
