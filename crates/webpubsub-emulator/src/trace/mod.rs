//! The live trace: what happens in a running emulator (connections, messages, group changes,
//! REST calls, upstream calls), as one INFO log line each and as a feed that the live trace
//! page (`/trace`) and [`Emulator::subscribe_trace`](crate::Emulator::subscribe_trace) watch.
//!
//! Every part of the emulator reports through one [`Trace`] (in the shared configuration):
//!
//! ```ignore
//! config.trace.emit(TraceKind::Message, hub, || TraceRecord::new("sendToGroup")
//!     .detail("connection_id", connection_id)
//!     .detail("group", group));
//! ```
//!
//! The closure runs only when someone looks (INFO logs are on for `webpubsub_emulator::trace`,
//! or a viewer is subscribed), so an unwatched emulator pays one atomic load per event. The feed
//! is a bounded broadcast channel: a viewer that falls behind loses the oldest events (and is
//! told how many), it never slows the emulator. Values are cut to [`MAX_VALUE_CHARS`]
//! characters, so the feed's memory is bounded too. Nothing secret goes in: no access tokens,
//! no URL queries (an upstream's `code=`), no keys, no message contents.

mod page;
mod rest_calls;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

pub(crate) use page::{TRACE_PATH, routes};
pub(crate) use rest_calls::trace_rest_calls;

/// The `tracing` target of the INFO traffic lines: `RUST_LOG=webpubsub_emulator::trace=info`
/// shows them alone.
pub const TRACE_TARGET: &str = "webpubsub_emulator::trace";

/// How many events the feed keeps for a viewer that is behind; older ones are dropped for it.
const FEED_CAPACITY: usize = 512;

/// The longest value (in characters) an event carries; longer client-chosen values are cut.
pub const MAX_VALUE_CHARS: usize = 200;

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceKind {
    /// A client connected or disconnected.
    Connection,
    /// A client sent a message or an event.
    Message,
    /// A connection joined or left a group.
    Group,
    /// A call of the REST API.
    Rest,
    /// A call of a hub's event handler.
    Upstream,
}

impl TraceKind {
    /// The kind's name: `connection`, `message`, `group`, `rest` or `upstream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Message => "message",
            Self::Group => "group",
            Self::Rest => "rest",
            Self::Upstream => "upstream",
        }
    }
}

impl fmt::Display for TraceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event says, before the feed stamps its time, kind and hub: a title (`connected`,
/// `POST /api/hubs/chat/:send`) and details in order (`connection_id=…`, `status=202`).
#[derive(Debug, Clone, Default)]
pub(crate) struct TraceRecord {
    title: String,
    details: Vec<(&'static str, String)>,
}

impl TraceRecord {
    pub(crate) fn new(title: impl Into<String>) -> Self {
        Self {
            title: cut(title.into()),
            details: Vec::new(),
        }
    }

    /// Adds `name=value` (cut to [`MAX_VALUE_CHARS`]).
    pub(crate) fn detail(mut self, name: &'static str, value: impl ToString) -> Self {
        self.details.push((name, cut(value.to_string())));
        self
    }

    /// Adds `name=value` when there is a value.
    pub(crate) fn detail_opt(self, name: &'static str, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.detail(name, value),
            None => self,
        }
    }

    /// Adds `latency_ms=…`.
    pub(crate) fn latency(self, elapsed: Duration) -> Self {
        self.detail("latency_ms", elapsed.as_millis())
    }
}

/// One thing that happened in the emulator, as the live trace shows it.
#[derive(Debug, Clone)]
pub struct TraceEvent {
    time: SystemTime,
    kind: TraceKind,
    hub: Option<String>,
    record: TraceRecord,
}

impl TraceEvent {
    /// When it happened.
    pub fn time(&self) -> SystemTime {
        self.time
    }

    /// What it is about.
    pub fn kind(&self) -> TraceKind {
        self.kind
    }

    /// The hub, when the event belongs to one.
    pub fn hub(&self) -> Option<&str> {
        self.hub.as_deref()
    }

    /// A short title: `connected`, `disconnected`, `sendToGroup`, `joinGroup`,
    /// `POST /api/hubs/chat/:send`, `connect event`, ….
    pub fn title(&self) -> &str {
        &self.record.title
    }

    /// The details, in order: `connection_id`, `user_id`, `status`, `latency_ms`, ….
    pub fn details(&self) -> impl Iterator<Item = (&str, &str)> {
        self.record
            .details
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
    }

    /// The value of detail `name`.
    pub fn detail(&self, name: &str) -> Option<&str> {
        self.details().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The event as the page's JSON: `{"time":ms,"kind":…,"hub":…,"title":…,"details":[[k,v],…]}`.
    pub(crate) fn to_json(&self) -> String {
        let millis = self
            .time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        serde_json::json!({
            "time": millis as u64,
            "kind": self.kind.as_str(),
            "hub": self.hub,
            "title": self.record.title,
            "details": self.record.details,
        })
        .to_string()
    }
}

/// `connection hub=chat connected connection_id=… user_id=…`: the INFO line.
impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(hub) = &self.hub {
            write!(f, " hub={}", Quoted(hub))?;
        }
        write!(f, " {}", self.record.title)?;
        for (name, value) in &self.record.details {
            write!(f, " {name}={}", Quoted(value))?;
        }
        Ok(())
    }
}

/// A value as a log line shows it: bare when it is one plain word, else quoted and escaped,
/// so a client-chosen value cannot forge the rest of the line.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = !self.0.is_empty()
            && self
                .0
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\');
        if plain {
            f.write_str(self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

/// The feed every part of a running emulator reports to. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Trace {
    sender: broadcast::Sender<Arc<TraceEvent>>,
}

impl Default for Trace {
    fn default() -> Self {
        Self {
            sender: broadcast::Sender::new(FEED_CAPACITY),
        }
    }
}

impl Trace {
    /// Whether anyone looks (INFO logs of [`TRACE_TARGET`] are on, or a viewer is subscribed):
    /// a caller that must prepare a record before it knows the outcome asks first.
    pub(crate) fn is_watched(&self) -> bool {
        tracing::enabled!(target: TRACE_TARGET, tracing::Level::INFO)
            || self.sender.receiver_count() > 0
    }

    /// Reports an event of `kind` in `hub` (empty: none); `record` runs only when someone looks.
    pub(crate) fn emit(&self, kind: TraceKind, hub: &str, record: impl FnOnce() -> TraceRecord) {
        let log = tracing::enabled!(target: TRACE_TARGET, tracing::Level::INFO);
        let watched = self.sender.receiver_count() > 0;
        if !log && !watched {
            return;
        }
        let event = TraceEvent {
            time: SystemTime::now(),
            kind,
            hub: (!hub.is_empty()).then(|| cut(hub.to_owned())),
            record: record(),
        };
        if log {
            tracing::info!(target: TRACE_TARGET, "{event}");
        }
        if watched {
            // An error means the last viewer left meanwhile: nobody to tell.
            let _ = self.sender.send(Arc::new(event));
        }
    }

    /// A new viewer of the feed, from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<TraceEvent>> {
        self.sender.subscribe()
    }

    /// How many viewers watch the feed.
    pub(crate) fn viewers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// `value`, cut to [`MAX_VALUE_CHARS`] characters with `…` at the end when it was longer.
fn cut(value: String) -> String {
    match value.char_indices().nth(MAX_VALUE_CHARS) {
        None => value,
        Some((end, _)) => format!("{}…", &value[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> TraceRecord {
        TraceRecord::new("connected")
            .detail("connection_id", "c1")
            .detail_opt("user_id", Some("alice smith"))
            .detail_opt("absent", None::<&str>)
    }

    #[test]
    fn a_line_quotes_values_that_are_not_one_plain_word() {
        let trace = Trace::default();
        let mut viewer = trace.subscribe();
        trace.emit(TraceKind::Connection, "chat", record);
        let event = viewer.try_recv().unwrap();
        assert_eq!(
            event.to_string(),
            r#"connection hub=chat connected connection_id=c1 user_id="alice smith""#
        );
        assert_eq!(event.detail("user_id"), Some("alice smith"));
        assert_eq!(event.detail("absent"), None);
        let forged = TraceRecord::new("t").detail("user_id", "x status=200\nconnection hub=y");
        let line = TraceEvent {
            time: SystemTime::now(),
            kind: TraceKind::Message,
            hub: None,
            record: forged,
        }
        .to_string();
        assert_eq!(
            line,
            r#"message t user_id="x status=200\nconnection hub=y""#
        );
    }

    #[test]
    fn json_keeps_the_details_in_order() {
        let trace = Trace::default();
        let mut viewer = trace.subscribe();
        trace.emit(TraceKind::Rest, "", record);
        let json: serde_json::Value =
            serde_json::from_str(&viewer.try_recv().unwrap().to_json()).unwrap();
        assert_eq!(json["kind"], "rest");
        assert_eq!(json["hub"], serde_json::Value::Null);
        assert_eq!(
            json["details"],
            serde_json::json!([["connection_id", "c1"], ["user_id", "alice smith"]])
        );
    }

    #[test]
    fn nothing_is_built_when_nobody_looks() {
        let trace = Trace::default();
        // No subscriber and no tracing subscriber in this test: the closure never runs.
        trace.emit(TraceKind::Message, "chat", || unreachable!("built"));
    }

    #[test]
    fn a_slow_viewer_loses_the_oldest_events_and_never_blocks() {
        let trace = Trace::default();
        let mut slow = trace.subscribe();
        for i in 0..FEED_CAPACITY + 10 {
            trace.emit(TraceKind::Message, "chat", || {
                TraceRecord::new("event").detail("i", i)
            });
        }
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
        assert_eq!(slow.try_recv().unwrap().detail("i"), Some("10"));
    }

    #[test]
    fn long_values_are_cut() {
        let long = "é".repeat(MAX_VALUE_CHARS + 5);
        let record = TraceRecord::new(long.clone()).detail("group", &long);
        assert_eq!(record.title.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(record.details[0].1.ends_with('…'));
        assert_eq!(cut("short".into()), "short");
    }
}
