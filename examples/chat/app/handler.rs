//! Events in: the chat's [`EventHandler`], served by `WebPubSubLayer` on the app's router.
//!
//! - `connect`: the user id comes from the token `/negotiate` minted; the connection joins the
//!   groups of the user's rooms and its state starts in the first of them.
//! - `connected` / `disconnected`: presence, announced to everyone through the REST API.
//! - user events `join`, `message`, `typing`: see [`Command`]. A refused command is answered with
//!   an `error` message rather than an error status, because the service drops a connection whose
//!   user event fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use webpubsub::handler::{
    ConnectRequest, ConnectResponse, ConnectedRequest, DisconnectedRequest, EventError,
    EventHandler, UserEventRequest, UserEventResponse,
};

use super::hub::Hub;
use super::messages::{Command, PresenceEvent, ServerMessage, user_name};
use super::store::ChatStore;

/// The connection-state key that records the room the connection is looking at.
pub(crate) const ROOM_STATE: &str = "room";

/// The chat's event handler.
#[derive(Debug, Clone)]
pub(crate) struct ChatHandler {
    store: Arc<ChatStore>,
    hub: Hub,
    closing: Arc<AtomicBool>,
}

impl ChatHandler {
    /// `hub` reaches the service; `closing` is set when the app shuts down.
    pub(crate) fn new(store: Arc<ChatStore>, hub: Hub, closing: Arc<AtomicBool>) -> Self {
        Self {
            store,
            hub,
            closing,
        }
    }

    async fn announce(&self, event: PresenceEvent, user: &str) {
        // While shutting down every client is being closed: nobody is left to tell, and the
        // service (the emulator) may already be gone.
        if self.closing.load(Ordering::Relaxed) {
            return;
        }
        let message = ServerMessage::Presence {
            event,
            user: user.to_owned(),
            users: self.store.users(),
        };
        if let Err(e) = self.hub.broadcast(&message).await {
            tracing::warn!(%user, ?event, "cannot announce presence: {e}");
        }
    }

    async fn command(
        &self,
        user: &str,
        connection_id: &str,
        command: Command,
    ) -> Result<Answer, String> {
        let hub = &self.hub;
        match command {
            Command::Join { room } => {
                // Group first, snapshot second: a message posted in between reaches the page
                // both ways, and the page drops the duplicate by id; none is missed.
                hub.add_user_to_room(user, &room)
                    .await
                    .map_err(|e| format!("cannot join room {room:?}: {e}"))?;
                let joined = match self.store.join(user, &room) {
                    Ok(joined) => joined,
                    Err(refused) => {
                        // Undo the group join, so the group and the store agree.
                        if let Err(e) = hub.remove_user_from_room(user, &room).await {
                            tracing::warn!(%user, %room, "cannot undo the group join: {e}");
                        }
                        return Err(refused.to_string());
                    }
                };
                if joined.created {
                    let rooms = ServerMessage::Rooms {
                        rooms: joined.rooms.clone(),
                    };
                    if let Err(e) = hub.broadcast(&rooms).await {
                        tracing::warn!(%room, "cannot announce the new room: {e}");
                    }
                }
                self.announce(PresenceEvent::Moved, user).await;
                let answer = ServerMessage::Joined {
                    room: room.clone(),
                    rooms: joined.rooms,
                    my_rooms: joined.my_rooms,
                    users: self.store.users(),
                    history: joined.history,
                };
                Ok(Answer::Switched { answer, room })
            }
            Command::Message { room, text } => {
                let message = self
                    .store
                    .post(user, &room, &text, now_millis())
                    .map_err(|e| e.to_string())?;
                hub.send_to_room(&room, &ServerMessage::Message(message), None)
                    .await
                    .map_err(|e| format!("message not delivered: {e}"))?;
                Ok(Answer::Nothing)
            }
            Command::Typing { room } => {
                if !self.store.is_member(user, &room) {
                    return Err(format!("you have not joined room {room:?}"));
                }
                let typing = ServerMessage::Typing {
                    room: room.clone(),
                    user: user.to_owned(),
                };
                hub.send_to_room(&room, &typing, Some(connection_id))
                    .await
                    .map_err(|e| format!("typing notice not delivered: {e}"))?;
                Ok(Answer::Nothing)
            }
        }
    }
}

/// What a command answers its sender.
enum Answer {
    /// Nothing: the effect reaches the sender through its groups.
    Nothing,
    /// The sender switched to `room`; `answer` is the `joined` message.
    Switched { answer: ServerMessage, room: String },
}

fn json_response(message: &ServerMessage) -> Result<UserEventResponse, EventError> {
    UserEventResponse::json(message)
        .map_err(|e| EventError::internal(format!("cannot encode the answer: {e}")))
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl EventHandler for ChatHandler {
    async fn on_connect(&self, request: ConnectRequest) -> Result<ConnectResponse, EventError> {
        // `/negotiate` put the user name in the token; anything else did not come from this app.
        let user = request
            .context()
            .user_id()
            .ok_or_else(|| EventError::unauthorized("the access token names no user"))?;
        let user = user_name(user).map_err(|e| EventError::unauthorized(e.to_string()))?;
        let rooms = self.store.user_rooms(&user);
        let first = rooms.first().cloned();
        let mut response = ConnectResponse::new().user_id(user).groups(rooms);
        if let Some(room) = first {
            response = response.set_state(ROOM_STATE, json!(room));
        }
        Ok(response)
    }

    async fn on_connected(&self, request: ConnectedRequest) -> Result<(), EventError> {
        let context = request.context();
        let Some(user) = context.user_id() else {
            return Ok(());
        };
        let room = context.states().get(ROOM_STATE).and_then(Result::ok);
        if self.store.connect(user, context.connection_id(), room) {
            self.announce(PresenceEvent::Online, user).await;
        }
        Ok(())
    }

    async fn on_user_event(
        &self,
        request: UserEventRequest,
    ) -> Result<UserEventResponse, EventError> {
        let context = request.context();
        let Some(user) = context.user_id() else {
            return error_response("sign in first: this connection has no user");
        };
        let data = match request.json::<serde_json::Value>() {
            Ok(data) => data,
            Err(e) => return error_response(format!("event data must be JSON: {e}")),
        };
        let command = match Command::parse(context.event_name(), data) {
            Ok(command) => command,
            Err(e) => return error_response(e.to_string()),
        };
        match self.command(user, context.connection_id(), command).await {
            Ok(Answer::Nothing) => Ok(UserEventResponse::empty()),
            // The connection state records the room the user is looking at.
            Ok(Answer::Switched { answer, room }) => {
                json_response(&answer).map(|r| r.set_state(ROOM_STATE, json!(room)))
            }
            Err(message) => error_response(message),
        }
    }

    async fn on_disconnected(&self, request: DisconnectedRequest) -> Result<(), EventError> {
        let context = request.context();
        let Some(user) = context.user_id() else {
            return Ok(());
        };
        if self.store.disconnect(user, context.connection_id()) {
            self.announce(PresenceEvent::Offline, user).await;
        }
        Ok(())
    }
}

fn error_response(message: impl Into<String>) -> Result<UserEventResponse, EventError> {
    json_response(&ServerMessage::Error {
        message: message.into(),
    })
}
