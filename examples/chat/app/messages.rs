//! What the page and the event handler say to each other, inside `json.webpubsub.azure.v1` frames.
//!
//! The page sends `{"type":"event","event":<name>,"dataType":"json","data":{...}}`; [`Command::parse`]
//! turns the event name and data into a command. The handler answers with [`ServerMessage`]s, either
//! as the event's response (to the sender only) or through the REST API (to a room or to everyone).

use serde::{Deserialize, Serialize};

/// The longest accepted user or room name, in characters.
pub(crate) const MAX_NAME_LEN: usize = 32;
/// The longest accepted chat message, in characters.
pub(crate) const MAX_TEXT_LEN: usize = 2000;

/// Why a name, a command or a message was refused; the text goes back to the page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum InputError {
    /// A user name with characters other than ASCII letters, digits, `-`, `_`, or of a bad length.
    #[error("invalid user name {0:?}: use 1 to 32 letters, digits, '-' or '_'")]
    UserName(String),
    /// A room name with characters other than lowercase ASCII letters, digits, `-`, `_`, or of a bad length.
    #[error("invalid room name {0:?}: use 1 to 32 lowercase letters, digits, '-' or '_'")]
    RoomName(String),
    /// An event the chat does not know.
    #[error("unknown event {0:?}: expected join, message or typing")]
    UnknownEvent(String),
    /// Event data that is not the JSON object the event needs.
    #[error("bad data for event {event:?}: {reason}")]
    BadData {
        /// The event name.
        event: String,
        /// What was wrong, as serde said it.
        reason: String,
    },
    /// An empty (or all-whitespace) message.
    #[error("empty message")]
    EmptyText,
    /// A message over [`MAX_TEXT_LEN`] characters.
    #[error("message too long: {0} characters, at most 2000")]
    TextTooLong(usize),
}

fn is_name(value: &str, allowed: impl Fn(char) -> bool) -> bool {
    (1..=MAX_NAME_LEN).contains(&value.chars().count()) && value.chars().all(allowed)
}

/// A user name: 1 to 32 ASCII letters, digits, `-` or `_` (it is also the Web PubSub user id).
pub(crate) fn user_name(value: &str) -> Result<String, InputError> {
    if is_name(value, |c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(value.to_owned())
    } else {
        Err(InputError::UserName(truncated(value)))
    }
}

/// A room name: 1 to 32 lowercase ASCII letters, digits, `-` or `_` (it is also the group name).
pub(crate) fn room_name(value: &str) -> Result<String, InputError> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if is_name(value, allowed) {
        Ok(value.to_owned())
    } else {
        Err(InputError::RoomName(truncated(value)))
    }
}

/// Keeps error messages short when someone sends a huge name.
fn truncated(value: &str) -> String {
    value.chars().take(MAX_NAME_LEN + 8).collect()
}

/// A request from the page, parsed from a user event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Join a room (creating it if needed) and make it the current one; also used to switch rooms.
    Join {
        /// The room.
        room: String,
    },
    /// Post a message to a room the user has joined.
    Message {
        /// The room.
        room: String,
        /// The text, trimmed.
        text: String,
    },
    /// Tell the room the user is typing.
    Typing {
        /// The room.
        room: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomData {
    room: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageData {
    room: String,
    text: String,
}

impl Command {
    /// Parses the user event `event` with JSON `data`.
    pub(crate) fn parse(event: &str, data: serde_json::Value) -> Result<Self, InputError> {
        let bad = |e: serde_json::Error| InputError::BadData {
            event: event.to_owned(),
            reason: e.to_string(),
        };
        match event {
            "join" => {
                let RoomData { room } = serde_json::from_value(data).map_err(bad)?;
                Ok(Self::Join {
                    room: room_name(&room)?,
                })
            }
            "typing" => {
                let RoomData { room } = serde_json::from_value(data).map_err(bad)?;
                Ok(Self::Typing {
                    room: room_name(&room)?,
                })
            }
            "message" => {
                let MessageData { room, text } = serde_json::from_value(data).map_err(bad)?;
                let text = text.trim();
                let len = text.chars().count();
                if len == 0 {
                    return Err(InputError::EmptyText);
                }
                if len > MAX_TEXT_LEN {
                    return Err(InputError::TextTooLong(len));
                }
                Ok(Self::Message {
                    room: room_name(&room)?,
                    text: text.to_owned(),
                })
            }
            other => Err(InputError::UnknownEvent(truncated(other))),
        }
    }
}

/// A chat message as stored in a room's history and shown on the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChatMessage {
    /// Unique within this run of the app (the page drops duplicates by it).
    pub(crate) id: u64,
    /// The room.
    pub(crate) room: String,
    /// The sender's user name.
    pub(crate) from: String,
    /// The text.
    pub(crate) text: String,
    /// When the app received it, in milliseconds since the Unix epoch.
    pub(crate) time: u64,
}

/// Who is online and which room they are looking at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserPresence {
    /// The user name.
    pub(crate) user: String,
    /// The room of the user's latest switch, if any.
    pub(crate) room: Option<String>,
}

/// A change in who is online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PresenceEvent {
    /// The user's first connection opened.
    Online,
    /// The user's last connection closed.
    Offline,
    /// The user switched rooms.
    Moved,
}

/// What the app sends to pages (the `data` of a `message` frame, `dataType` json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
pub(crate) enum ServerMessage {
    /// The answer to `join`: the room's history and everything the page needs to draw itself.
    Joined {
        /// The room joined, now the current one.
        room: String,
        /// Every room that exists.
        rooms: Vec<String>,
        /// The rooms this user has joined.
        my_rooms: Vec<String>,
        /// Who is online.
        users: Vec<UserPresence>,
        /// The latest messages of the room, oldest first.
        history: Vec<ChatMessage>,
    },
    /// A new message in a room (sent to the room's group).
    Message(ChatMessage),
    /// Someone is typing in a room (sent to the room's group, except the typist's connection).
    Typing {
        /// The room.
        room: String,
        /// The typist.
        user: String,
    },
    /// Who is online changed (sent to everyone).
    Presence {
        /// What happened.
        event: PresenceEvent,
        /// To whom.
        user: String,
        /// Who is online now.
        users: Vec<UserPresence>,
    },
    /// A room was created (sent to everyone).
    Rooms {
        /// Every room that exists.
        rooms: Vec<String>,
    },
    /// A refused command, answered to its sender only.
    Error {
        /// Why, in words.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn parses_each_command() {
        assert_eq!(
            Command::parse("join", json!({"room": "general"})),
            Ok(Command::Join {
                room: "general".into()
            })
        );
        assert_eq!(
            Command::parse("typing", json!({"room": "dev-2"})),
            Ok(Command::Typing {
                room: "dev-2".into()
            })
        );
        assert_eq!(
            Command::parse(
                "message",
                json!({"room": "general", "text": "  hi there \n"})
            ),
            Ok(Command::Message {
                room: "general".into(),
                text: "hi there".into()
            })
        );
    }

    #[test]
    fn refuses_bad_commands_with_reasons() {
        let err = Command::parse("shout", json!({})).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown event "shout": expected join, message or typing"#
        );
        let err = Command::parse("join", json!({"room": "General"})).unwrap_err();
        assert!(
            matches!(err, InputError::RoomName(ref r) if r == "General"),
            "{err}"
        );
        let err = Command::parse("join", json!("general")).unwrap_err();
        assert!(
            err.to_string().starts_with("bad data for event \"join\": "),
            "{err}"
        );
        let err = Command::parse("join", json!({"room": "a", "extra": 1})).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = Command::parse("message", json!({"room": "a", "text": " \t"})).unwrap_err();
        assert_eq!(err, InputError::EmptyText);
        let long = "x".repeat(MAX_TEXT_LEN + 1);
        let err = Command::parse("message", json!({"room": "a", "text": long})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "message too long: 2001 characters, at most 2000"
        );
    }

    #[test]
    fn names() {
        assert_eq!(user_name("Alice_2-b"), Ok("Alice_2-b".into()));
        assert!(user_name("").is_err());
        assert!(user_name("a b").is_err());
        assert!(user_name(&"a".repeat(33)).is_err());
        assert!(user_name("élise").is_err());
        assert_eq!(room_name("random"), Ok("random".into()));
        assert!(room_name("Random").is_err());
        let long = "x".repeat(1000);
        let err = user_name(&long).unwrap_err().to_string();
        assert!(err.len() < 120, "the error quotes a truncated name: {err}");
    }

    #[test]
    fn server_messages_have_the_shape_the_page_reads() {
        let joined = ServerMessage::Joined {
            room: "general".into(),
            rooms: vec!["general".into()],
            my_rooms: vec!["general".into()],
            users: vec![UserPresence {
                user: "alice".into(),
                room: Some("general".into()),
            }],
            history: vec![],
        };
        assert_eq!(
            serde_json::to_value(&joined).unwrap(),
            json!({"type": "joined", "room": "general", "rooms": ["general"], "myRooms": ["general"],
                   "users": [{"user": "alice", "room": "general"}], "history": []})
        );
        let message = ServerMessage::Message(ChatMessage {
            id: 7,
            room: "general".into(),
            from: "bob".into(),
            text: "hi".into(),
            time: 1,
        });
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            json!({"type": "message", "id": 7, "room": "general", "from": "bob", "text": "hi", "time": 1})
        );
        let presence = ServerMessage::Presence {
            event: PresenceEvent::Online,
            user: "bob".into(),
            users: vec![],
        };
        assert_eq!(
            serde_json::to_value(&presence).unwrap(),
            json!({"type": "presence", "event": "online", "user": "bob", "users": []})
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(event in ".{0,12}", room in ".{0,40}", text in ".{0,50}") {
            for name in [event.as_str(), "join", "message", "typing"] {
                let _ = Command::parse(name, json!({"room": room, "text": text}));
                let _ = Command::parse(name, json!({"room": room}));
                let _ = Command::parse(name, json!(text));
            }
        }

        #[test]
        fn accepted_names_are_valid_group_and_user_ids(value in ".{0,40}") {
            if let Ok(room) = room_name(&value) {
                prop_assert!(room.len() <= MAX_NAME_LEN && room.bytes().all(|b| b.is_ascii_graphic()));
            }
            if let Ok(user) = user_name(&value) {
                prop_assert!(user.len() <= MAX_NAME_LEN && user.bytes().all(|b| b.is_ascii_graphic()));
            }
        }
    }
}
