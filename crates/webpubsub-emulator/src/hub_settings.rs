//! Per-hub settings: the upstream event handlers and whether anonymous clients may connect.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What a placeholder's value keeps unencoded: the unreserved characters of RFC 3986.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A system event an event handler can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SystemEvent {
    /// The blocking `connect` event, sent before the WebSocket upgrade is accepted.
    Connect,
    /// The `connected` event, sent after the client received its `connected` frame.
    Connected,
    /// The `disconnected` event, sent after a connected client went away.
    Disconnected,
}

impl SystemEvent {
    /// Every system event.
    pub const ALL: [Self; 3] = [Self::Connect, Self::Connected, Self::Disconnected];

    /// The event name as it appears in `ce-eventName` and in URL templates.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
        }
    }
}

impl fmt::Display for SystemEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The URL template that stands for the gRPC upstream (`--hub chat=grpc`).
const GRPC_TEMPLATE: &str = "grpc";

/// One event-handler setting of a hub: where events go and which events it takes.
///
/// A hub's settings are tried in order and the first one that matches an event handles it, as in
/// the service.
///
/// ```
/// use webpubsub_emulator::{EventHandlerSettings, SystemEvent};
///
/// let handler = EventHandlerSettings::new("http://127.0.0.1:3000/eventhandler/{hub}/{event}")
///     .user_events("message, chat")
///     .system_events([SystemEvent::Connect, SystemEvent::Disconnected]);
/// assert!(handler.matches_user_event("chat"));
/// assert!(!handler.matches_user_event("other"));
/// assert!(!handler.matches_system_event(SystemEvent::Connected));
/// assert_eq!(handler.url("Chat", "connect"), "http://127.0.0.1:3000/eventhandler/chat/connect");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EventHandlerSettings {
    url_template: String,
    user_event_pattern: String,
    system_events: Vec<SystemEvent>,
}

impl EventHandlerSettings {
    /// A handler at `url_template` (`{hub}` and `{event}` are replaced per event) that takes every
    /// user event and every system event.
    pub fn new(url_template: impl Into<String>) -> Self {
        Self {
            url_template: url_template.into(),
            user_event_pattern: "*".to_owned(),
            system_events: SystemEvent::ALL.to_vec(),
        }
    }

    /// Which user events go to this handler: `*` for all, or a comma-separated list of names.
    /// An empty pattern takes none.
    #[must_use]
    pub fn user_events(mut self, pattern: impl Into<String>) -> Self {
        self.user_event_pattern = pattern.into();
        self
    }

    /// Which system events go to this handler.
    #[must_use]
    pub fn system_events(mut self, events: impl IntoIterator<Item = SystemEvent>) -> Self {
        self.system_events = events.into_iter().collect();
        self
    }

    /// A handler that sends the hub's events to the apps registered over gRPC (CLI:
    /// `--hub NAME=grpc`) instead of an HTTP URL. It takes every event.
    ///
    /// ```
    /// use webpubsub_emulator::EventHandlerSettings;
    ///
    /// assert!(EventHandlerSettings::grpc().is_grpc());
    /// assert!(!EventHandlerSettings::new("http://127.0.0.1:3000").is_grpc());
    /// ```
    pub fn grpc() -> Self {
        Self::new(GRPC_TEMPLATE)
    }

    /// Whether events go to gRPC registrations rather than an HTTP URL.
    pub fn is_grpc(&self) -> bool {
        self.url_template.eq_ignore_ascii_case(GRPC_TEMPLATE)
    }

    /// The URL template.
    pub fn url_template(&self) -> &str {
        &self.url_template
    }

    /// Whether the user event `name` goes to this handler.
    pub fn matches_user_event(&self, name: &str) -> bool {
        self.user_event_pattern
            .split(',')
            .map(str::trim)
            .any(|entry| entry == "*" || entry.eq_ignore_ascii_case(name))
    }

    /// Whether the system event goes to this handler.
    pub fn matches_system_event(&self, event: SystemEvent) -> bool {
        self.system_events.contains(&event)
    }

    /// The URL for `event` on `hub`. The hub is lower-cased, as the service does in `ce-hub`.
    ///
    /// Each placeholder's value is percent-encoded as one path segment (everything but
    /// `A-Za-z0-9-._~`), so a value holding `/`, `?`, `#` or `&` cannot add path steps or
    /// change the template's query. `.` and `..` stay path steps even encoded, so callers pass
    /// only valid event names ([`is_valid_event_name`](webpubsub_protocol::is_valid_event_name)).
    ///
    /// ```
    /// use webpubsub_emulator::EventHandlerSettings;
    ///
    /// let handler = EventHandlerSettings::new("http://127.0.0.1:3000/hook/{event}?code=secret");
    /// assert_eq!(
    ///     handler.url("chat", "a/b?code=x#"),
    ///     "http://127.0.0.1:3000/hook/a%2Fb%3Fcode%3Dx%23?code=secret"
    /// );
    /// ```
    pub fn url(&self, hub: &str, event: &str) -> String {
        let hub = hub.to_ascii_lowercase();
        let mut url = String::with_capacity(self.url_template.len() + event.len());
        let mut rest = self.url_template.as_str();
        // One pass over the template: a value is never searched for placeholders itself.
        while let Some(start) = rest.find('{') {
            let (before, from_brace) = rest.split_at(start);
            url.push_str(before);
            let value = if from_brace.starts_with("{hub}") {
                Some((hub.as_str(), "{hub}".len()))
            } else if from_brace.starts_with("{event}") {
                Some((event, "{event}".len()))
            } else {
                None
            };
            match value {
                Some((value, length)) => {
                    url.extend(utf8_percent_encode(value, PATH_SEGMENT));
                    rest = &from_brace[length..];
                }
                None => {
                    url.push('{');
                    rest = &from_brace[1..];
                }
            }
        }
        url.push_str(rest);
        url
    }
}

impl EventHandlerSettings {
    /// Whether this handler's events go through the hub's tunnel connections: its URL template
    /// is `tunnel:///path`.
    pub fn is_tunnel(&self) -> bool {
        self.url_template
            .get(..TUNNEL_SCHEME.len())
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case(TUNNEL_SCHEME))
    }
}

/// The start of a tunnel handler's URL template: `tunnel://` with an empty host, then the path.
const TUNNEL_SCHEME: &str = "tunnel:///";

impl fmt::Debug for EventHandlerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let template = crate::upstream::without_query(&self.url_template);
        let query = if template.len() < self.url_template.len() {
            "<redacted>"
        } else {
            ""
        };
        f.debug_struct("EventHandlerSettings")
            .field("url_template", &template)
            .field("query", &query)
            .field("user_event_pattern", &self.user_event_pattern)
            .field("system_events", &self.system_events)
            .finish()
    }
}

/// The settings of one hub.
///
/// Hubs without settings still accept clients; they just have no upstream.
///
/// ```
/// use webpubsub_emulator::{EventHandlerSettings, HubSettings};
///
/// let hub = HubSettings::new("chat")
///     .event_handler(EventHandlerSettings::new("http://127.0.0.1:3000/eventhandler"))
///     .allow_anonymous(true);
/// assert_eq!(hub.name(), "chat");
/// assert_eq!(hub.event_handlers().len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSettings {
    name: String,
    event_handlers: Vec<EventHandlerSettings>,
    allow_anonymous: Option<bool>,
}

impl HubSettings {
    /// Settings for the hub `name` (matched case-insensitively) with no event handler.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            event_handlers: Vec::new(),
            allow_anonymous: None,
        }
    }

    /// Adds an event handler after the ones already set.
    #[must_use]
    pub fn event_handler(mut self, handler: EventHandlerSettings) -> Self {
        self.event_handlers.push(handler);
        self
    }

    /// Shorthand for an event handler at `url_template` that takes every event.
    #[must_use]
    pub fn upstream(self, url_template: impl Into<String>) -> Self {
        self.event_handler(EventHandlerSettings::new(url_template))
    }

    /// Whether clients may connect without an access token. Unset, the emulator-wide default
    /// ([`EmulatorBuilder::allow_anonymous`](crate::EmulatorBuilder::allow_anonymous)) applies.
    #[must_use]
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.allow_anonymous = Some(allow);
        self
    }

    /// The hub name as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The event handlers, in the order they are tried.
    pub fn event_handlers(&self) -> &[EventHandlerSettings] {
        &self.event_handlers
    }

    /// The first handler that takes the user event `name`.
    pub fn handler_for_user_event(&self, name: &str) -> Option<&EventHandlerSettings> {
        self.event_handlers
            .iter()
            .find(|h| h.matches_user_event(name))
    }

    /// The first handler that takes the system event.
    pub fn handler_for_system_event(&self, event: SystemEvent) -> Option<&EventHandlerSettings> {
        self.event_handlers
            .iter()
            .find(|h| h.matches_system_event(event))
    }

    pub(crate) fn anonymous_setting(&self) -> Option<bool> {
        self.allow_anonymous
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_tunnel_template_is_the_tunnel_scheme_with_no_host() {
        let handler = EventHandlerSettings::new("Tunnel:///eventhandler/{event}?code=x");
        assert!(handler.is_tunnel());
        assert_eq!(
            handler.url("chat", "connect"),
            "Tunnel:///eventhandler/connect?code=x"
        );
        assert!(!EventHandlerSettings::new("http://127.0.0.1/tunnel:///").is_tunnel());
        assert!(!EventHandlerSettings::new("tunnel://host/path").is_tunnel());
    }

    #[test]
    fn first_matching_handler_wins() {
        let hub = HubSettings::new("h")
            .event_handler(EventHandlerSettings::new("http://a/{event}").user_events("chat"))
            .event_handler(EventHandlerSettings::new("http://b/{event}"));
        assert_eq!(
            hub.handler_for_user_event("chat").unwrap().url("h", "chat"),
            "http://a/chat"
        );
        assert_eq!(
            hub.handler_for_user_event("x").unwrap().url("h", "x"),
            "http://b/x"
        );
        assert_eq!(
            hub.handler_for_system_event(SystemEvent::Connect)
                .unwrap()
                .url_template(),
            "http://a/{event}"
        );
    }

    #[test]
    fn placeholder_values_cannot_reshape_the_url() {
        let h = EventHandlerSettings::new("http://127.0.0.1:3000/eventhandler/{event}?code=SECRET");
        for (event, path) in [
            ("../../admin/reset", "/eventhandler/..%2F..%2Fadmin%2Freset"),
            (
                "%2e%2e/%2e%2e/admin",
                "/eventhandler/%252e%252e%2F%252e%252e%2Fadmin",
            ),
            ("x#", "/eventhandler/x%23"),
            ("x?code=ATTACKER&", "/eventhandler/x%3Fcode%3DATTACKER%26"),
            ("{hub}", "/eventhandler/%7Bhub%7D"),
        ] {
            let url = reqwest::Url::parse(&h.url("chat", event)).unwrap();
            assert_eq!(
                (url.path(), url.query(), url.fragment()),
                (path, Some("code=SECRET"), None),
                "{event:?}"
            );
        }
        assert_eq!(
            EventHandlerSettings::new("http://a/{hub}/{event}/{other}").url("Chat", "m"),
            "http://a/chat/m/{other}"
        );
    }

    proptest! {
        #[test]
        fn a_valid_event_name_is_one_path_segment_and_the_query_stays(
            event in "\\PC{1,40}",
            in_query in any::<bool>(),
        ) {
            prop_assume!(webpubsub_protocol::is_valid_event_name(&event));
            let template = if in_query {
                "http://127.0.0.1:3000/hook?event={event}&code=S%26T"
            } else {
                "http://127.0.0.1:3000/hook/{hub}/{event}?code=S%26T"
            };
            let url = reqwest::Url::parse(&EventHandlerSettings::new(template).url("Chat", &event))
                .unwrap();
            prop_assert_eq!(url.fragment(), None);
            let decoded = |text: &str| {
                percent_encoding::percent_decode_str(text).decode_utf8().unwrap().into_owned()
            };
            if in_query {
                prop_assert_eq!(url.path(), "/hook");
                let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
                prop_assert_eq!(
                    pairs,
                    vec![("event".to_owned(), event.clone()), ("code".to_owned(), "S&T".to_owned())]
                );
            } else {
                let segments: Vec<&str> = url.path_segments().unwrap().collect();
                prop_assert_eq!(segments.len(), 3);
                prop_assert_eq!(segments[1], "chat");
                prop_assert_eq!(decoded(segments[2]), event);
                prop_assert_eq!(url.query(), Some("code=S%26T"));
            }
        }
    }

    #[test]
    fn debug_hides_the_query() {
        let h = EventHandlerSettings::new("http://a/{event}?code=secret");
        let text = format!("{h:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("http://a/{event}"), "{text}");
    }

    #[test]
    fn empty_pattern_takes_no_user_event() {
        let h = EventHandlerSettings::new("http://a").user_events("");
        assert!(!h.matches_user_event("message"));
        assert!(
            EventHandlerSettings::new("http://a")
                .user_events(" a , B ")
                .matches_user_event("b")
        );
    }
}
