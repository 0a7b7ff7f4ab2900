//! The chat's memory: rooms and their recent history, who joined which room, who is online.
//!
//! Web PubSub itself keeps the groups and connections; this keeps what the service does not
//! (history, the room list, presence for the user list). Every collection is bounded, so a client
//! cannot grow the app's memory without limit.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::messages::{ChatMessage, UserPresence};

/// Rooms that always exist, and the one every new user starts in.
pub(crate) const DEFAULT_ROOMS: [&str; 2] = ["general", "random"];
/// Messages kept per room for users who join later.
pub(crate) const HISTORY_LEN: usize = 100;
/// Rooms that may exist at once.
pub(crate) const MAX_ROOMS: usize = 100;
/// How long a page's claim on a name holds before its connection comes online.
const CLAIM_HOLD: Duration = Duration::from_secs(30);
/// Claims kept before the stale ones (offline, older than [`CLAIM_HOLD`]) are dropped.
const MAX_CLAIMS: usize = 1000;

/// Why the store refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum StoreError {
    /// Posting to a room the user has not joined.
    #[error("user {user:?} has not joined room {room:?}")]
    NotMember {
        /// The user.
        user: String,
        /// The room.
        room: String,
    },
    /// Creating a room past [`MAX_ROOMS`].
    #[error("cannot create room {0:?}: there are already 100 rooms")]
    TooManyRooms(String),
    /// Signing in with a name another page uses.
    #[error("the name {0:?} is in use in another page: pick another one")]
    NameInUse(String),
}

/// What joining a room produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Joined {
    /// Whether the room did not exist before.
    pub(crate) created: bool,
    /// Every room that exists.
    pub(crate) rooms: Vec<String>,
    /// The rooms the user has joined.
    pub(crate) my_rooms: Vec<String>,
    /// Who is online.
    pub(crate) users: Vec<UserPresence>,
    /// The room's recent messages, oldest first.
    pub(crate) history: Vec<ChatMessage>,
}

/// The chat's shared memory; cheap to share behind an `Arc`.
#[derive(Debug)]
pub(crate) struct ChatStore {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Room name -> its latest messages.
    rooms: BTreeMap<String, VecDeque<ChatMessage>>,
    /// User -> rooms joined; kept after the user leaves so a returning user gets its rooms back.
    members: HashMap<String, BTreeSet<String>>,
    /// Online user -> its open connections and the room it last switched to.
    online: HashMap<String, Online>,
    /// User -> the page (its session id) that signed in with the name, and when.
    claims: HashMap<String, (String, Instant)>,
    next_id: u64,
}

#[derive(Debug, Default)]
struct Online {
    connections: HashSet<String>,
    room: Option<String>,
}

impl Default for ChatStore {
    fn default() -> Self {
        Self::new()
    }
}

impl ChatStore {
    /// A store with the [`DEFAULT_ROOMS`].
    pub(crate) fn new() -> Self {
        let rooms = DEFAULT_ROOMS
            .iter()
            .map(|r| ((*r).to_owned(), VecDeque::new()))
            .collect();
        Self {
            inner: Mutex::new(Inner {
                rooms,
                members: HashMap::new(),
                online: HashMap::new(),
                claims: HashMap::new(),
                next_id: 1,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The data stays consistent even if a holder panicked: every change is a single insert/remove.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Signs the page `session` in as `user`: refused while another page holds the name (it is
    /// online, or signed in less than [`CLAIM_HOLD`] ago); the same page may sign in again (a
    /// reload, a reconnection). A demo's courtesy against taking a name by accident, not
    /// authentication: anyone may send any session id.
    pub(crate) fn claim(&self, user: &str, session: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let Inner { claims, online, .. } = &mut *inner;
        if let Some((owner, at)) = claims.get(user)
            && owner != session
            && (online.contains_key(user) || at.elapsed() < CLAIM_HOLD)
        {
            return Err(StoreError::NameInUse(user.to_owned()));
        }
        if claims.len() >= MAX_CLAIMS {
            claims.retain(|user, (_, at)| online.contains_key(user) || at.elapsed() < CLAIM_HOLD);
            if claims.len() >= MAX_CLAIMS {
                return Err(StoreError::NameInUse(user.to_owned()));
            }
        }
        claims.insert(user.to_owned(), (session.to_owned(), Instant::now()));
        Ok(())
    }

    /// The rooms `user` has joined; a new user joins the first default room.
    pub(crate) fn user_rooms(&self, user: &str) -> Vec<String> {
        self.lock()
            .members
            .entry(user.to_owned())
            .or_insert_with(|| BTreeSet::from([DEFAULT_ROOMS[0].to_owned()]))
            .iter()
            .cloned()
            .collect()
    }

    /// Records an open connection looking at `room` (from its connection state); true when it
    /// is the user's first (the user came online).
    pub(crate) fn connect(&self, user: &str, connection_id: &str, room: Option<String>) -> bool {
        let mut inner = self.lock();
        let online = inner.online.entry(user.to_owned()).or_default();
        online.connections.insert(connection_id.to_owned());
        if online.room.is_none() {
            online.room = room;
        }
        online.connections.len() == 1
    }

    /// Forgets a closed connection; true when it was the user's last (the user went offline).
    pub(crate) fn disconnect(&self, user: &str, connection_id: &str) -> bool {
        let mut inner = self.lock();
        let Some(online) = inner.online.get_mut(user) else {
            return false;
        };
        if !online.connections.remove(connection_id) {
            return false;
        }
        if online.connections.is_empty() {
            inner.online.remove(user);
            true
        } else {
            false
        }
    }

    /// Joins `user` to `room` (creating it) and makes it the user's current room.
    pub(crate) fn join(&self, user: &str, room: &str) -> Result<Joined, StoreError> {
        let mut inner = self.lock();
        let created = !inner.rooms.contains_key(room);
        if created {
            if inner.rooms.len() >= MAX_ROOMS {
                return Err(StoreError::TooManyRooms(room.to_owned()));
            }
            inner.rooms.insert(room.to_owned(), VecDeque::new());
        }
        inner
            .members
            .entry(user.to_owned())
            .or_default()
            .insert(room.to_owned());
        if let Some(online) = inner.online.get_mut(user) {
            online.room = Some(room.to_owned());
        }
        Ok(Joined {
            created,
            rooms: inner.rooms.keys().cloned().collect(),
            my_rooms: inner.members[user].iter().cloned().collect(),
            users: users(&inner),
            history: inner.rooms[room].iter().cloned().collect(),
        })
    }

    /// Whether `user` has joined `room`.
    pub(crate) fn is_member(&self, user: &str, room: &str) -> bool {
        self.lock()
            .members
            .get(user)
            .is_some_and(|rooms| rooms.contains(room))
    }

    /// Appends a message to a room the user has joined; `time` is in Unix milliseconds.
    pub(crate) fn post(
        &self,
        user: &str,
        room: &str,
        text: &str,
        time: u64,
    ) -> Result<ChatMessage, StoreError> {
        let mut inner = self.lock();
        let joined = inner
            .members
            .get(user)
            .is_some_and(|rooms| rooms.contains(room));
        if !joined || !inner.rooms.contains_key(room) {
            return Err(StoreError::NotMember {
                user: user.to_owned(),
                room: room.to_owned(),
            });
        }
        let message = ChatMessage {
            id: inner.next_id,
            room: room.to_owned(),
            from: user.to_owned(),
            text: text.to_owned(),
            time,
        };
        inner.next_id += 1;
        let history = inner.rooms.get_mut(room).expect("checked above");
        if history.len() == HISTORY_LEN {
            history.pop_front();
        }
        history.push_back(message.clone());
        Ok(message)
    }

    /// Who is online, sorted by name.
    pub(crate) fn users(&self) -> Vec<UserPresence> {
        users(&self.lock())
    }
}

fn users(inner: &Inner) -> Vec<UserPresence> {
    let mut users: Vec<_> = inner
        .online
        .iter()
        .map(|(user, online)| UserPresence {
            user: user.clone(),
            room: online.room.clone(),
        })
        .collect();
    users.sort_by(|a, b| a.user.cmp(&b.user));
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_users_start_in_general_and_keep_their_rooms() {
        let store = ChatStore::new();
        assert_eq!(store.user_rooms("alice"), ["general"]);
        let joined = store.join("alice", "dev").unwrap();
        assert_eq!(joined.rooms, ["dev", "general", "random"]);
        assert_eq!(store.user_rooms("alice"), ["dev", "general"]);
    }

    #[test]
    fn a_name_in_use_is_refused_to_other_pages() {
        let store = ChatStore::new();
        store.claim("alice", "tab-1").unwrap();
        assert_eq!(
            store.claim("alice", "tab-2"),
            Err(StoreError::NameInUse("alice".into())),
            "just claimed"
        );
        store.connect("alice", "c1", None);
        assert!(store.claim("alice", "tab-2").is_err(), "online");
        store.claim("alice", "tab-1").unwrap();
        store.claim("bob", "tab-2").unwrap();
        store.disconnect("alice", "c1");
        // Offline, but the claim is fresh: a reload of tab-1 keeps it, tab-2 waits.
        assert!(store.claim("alice", "tab-2").is_err());
        store.lock().claims.get_mut("alice").unwrap().1 -= CLAIM_HOLD;
        store.claim("alice", "tab-2").unwrap();
    }

    #[test]
    fn claims_are_bounded() {
        let store = ChatStore::new();
        for i in 0..MAX_CLAIMS {
            store.claim(&format!("u{i}"), "s").unwrap();
        }
        assert!(store.claim("one-more", "s").is_err(), "all fresh: refused");
        for (_, at) in store.lock().claims.values_mut() {
            *at -= CLAIM_HOLD;
        }
        store.claim("one-more", "s").unwrap();
        assert_eq!(store.lock().claims.len(), 1);
    }

    #[test]
    fn presence_counts_connections() {
        let store = ChatStore::new();
        assert!(store.connect("alice", "c1", None));
        assert!(
            !store.connect("alice", "c2", Some("general".into())),
            "second tab: already online"
        );
        assert_eq!(store.users()[0].room.as_deref(), Some("general"));
        store.join("alice", "random").unwrap();
        assert_eq!(
            store.users(),
            [UserPresence {
                user: "alice".into(),
                room: Some("random".into())
            }]
        );
        assert!(!store.disconnect("alice", "c1"));
        assert!(!store.disconnect("alice", "c1"), "unknown connection");
        assert!(store.disconnect("alice", "c2"), "last tab closed");
        assert!(store.users().is_empty());
        assert!(!store.disconnect("bob", "c3"));
    }

    #[test]
    fn posting_needs_membership_and_history_is_bounded() {
        let store = ChatStore::new();
        let err = store.post("bob", "general", "hi", 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"user "bob" has not joined room "general""#
        );
        store.join("bob", "general").unwrap();
        for i in 0..HISTORY_LEN + 5 {
            store.post("bob", "general", &format!("m{i}"), 1).unwrap();
        }
        let joined = store.join("alice", "general").unwrap();
        assert!(!joined.created);
        assert_eq!(joined.history.len(), HISTORY_LEN);
        assert_eq!(joined.history[0].text, "m5");
        assert_eq!(joined.history[HISTORY_LEN - 1].id, (HISTORY_LEN + 5) as u64);
    }

    #[test]
    fn room_count_is_bounded() {
        let store = ChatStore::new();
        for i in DEFAULT_ROOMS.len()..MAX_ROOMS {
            assert!(store.join("alice", &format!("r{i}")).unwrap().created);
        }
        let err = store.join("alice", "one-more").unwrap_err();
        assert_eq!(err, StoreError::TooManyRooms("one-more".into()));
        assert!(
            store.join("alice", "r5").is_ok(),
            "existing rooms still work"
        );
    }
}
