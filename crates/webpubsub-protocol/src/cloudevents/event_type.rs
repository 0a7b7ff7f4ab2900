//! The event type model: `ce-type` parsed into what happened.

use std::{borrow::Cow, convert::Infallible, fmt, str::FromStr};

/// The prefix of every Web PubSub `ce-type`.
pub const TYPE_PREFIX: &str = "azure.webpubsub.";

/// What an upstream request is about, parsed from its `ce-type`.
///
/// Parsing never fails: a type this crate does not know is kept whole in [`EventType::Unknown`],
/// so a newer service's events can be told apart from malformed ones. The prefix and the system
/// and group names are matched case-insensitively (as the .NET SDK does); user event names are
/// kept as sent.
///
/// ```
/// use webpubsub_protocol::cloudevents::EventType;
///
/// let ty = EventType::parse("azure.webpubsub.user.message");
/// assert_eq!(ty, EventType::User("message".into()));
/// assert_eq!(ty.to_string(), "azure.webpubsub.user.message");
/// assert!(ty.is_blocking());
///
/// assert_eq!(EventType::parse("azure.webpubsub.sys.connected"), EventType::Connected);
/// assert!(!EventType::Connected.is_blocking());
/// assert_eq!(
///     EventType::parse("com.example.other"),
///     EventType::Unknown("com.example.other".into())
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventType {
    /// `azure.webpubsub.sys.connect`: a client asks to connect (blocking).
    Connect,
    /// `azure.webpubsub.sys.connected`: a client connected (non-blocking).
    Connected,
    /// `azure.webpubsub.sys.disconnected`: a client disconnected (non-blocking).
    Disconnected,
    /// `azure.webpubsub.user.<name>`: a client sent an event named `<name>` (blocking).
    User(String),
    /// `azure.webpubsub.gp.joined`: a connection joined a group (non-blocking).
    GroupJoined,
    /// `azure.webpubsub.gp.left`: a connection left a group (non-blocking).
    GroupLeft,
    /// Any other `ce-type`, kept whole.
    Unknown(String),
}

impl EventType {
    /// Parses a `ce-type` value.
    pub fn parse(ce_type: &str) -> Self {
        let Some(rest) = strip_prefix_ignore_case(ce_type, TYPE_PREFIX) else {
            return Self::Unknown(ce_type.to_owned());
        };
        if let Some(name) = strip_prefix_ignore_case(rest, "user.") {
            if !name.is_empty() {
                return Self::User(name.to_owned());
            }
        } else if let Some(name) = strip_prefix_ignore_case(rest, "sys.") {
            for (known, ty) in [
                ("connect", Self::Connect),
                ("connected", Self::Connected),
                ("disconnected", Self::Disconnected),
            ] {
                if name.eq_ignore_ascii_case(known) {
                    return ty;
                }
            }
        } else if let Some(name) = strip_prefix_ignore_case(rest, "gp.") {
            if name.eq_ignore_ascii_case("joined") {
                return Self::GroupJoined;
            }
            if name.eq_ignore_ascii_case("left") {
                return Self::GroupLeft;
            }
        }
        Self::Unknown(ce_type.to_owned())
    }

    /// The full `ce-type`, for example `azure.webpubsub.sys.connect`.
    pub fn ce_type(&self) -> Cow<'static, str> {
        match self {
            Self::Connect => "azure.webpubsub.sys.connect".into(),
            Self::Connected => "azure.webpubsub.sys.connected".into(),
            Self::Disconnected => "azure.webpubsub.sys.disconnected".into(),
            Self::GroupJoined => "azure.webpubsub.gp.joined".into(),
            Self::GroupLeft => "azure.webpubsub.gp.left".into(),
            Self::User(name) => format!("{TYPE_PREFIX}user.{name}").into(),
            Self::Unknown(ty) => ty.clone().into(),
        }
    }

    /// The `ce-eventName` the service sends with this type (`None` for unknown types).
    pub fn event_name(&self) -> Option<&str> {
        Some(match self {
            Self::Connect => "connect",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::GroupJoined => "joined",
            Self::GroupLeft => "left",
            Self::User(name) => name,
            Self::Unknown(_) => return None,
        })
    }

    /// Whether the service waits for the answer (`connect` and user events), which is also
    /// whether the answer may set the connection state.
    pub fn is_blocking(&self) -> bool {
        matches!(self, Self::Connect | Self::User(_))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ce_type())
    }
}

impl FromStr for EventType {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_known_type() {
        for ty in [
            EventType::Connect,
            EventType::Connected,
            EventType::Disconnected,
            EventType::GroupJoined,
            EventType::GroupLeft,
            EventType::User("message".into()),
            EventType::User("a.b.c".into()),
        ] {
            assert_eq!(EventType::parse(&ty.ce_type()), ty);
        }
    }

    #[test]
    fn matches_prefix_and_system_names_case_insensitively() {
        assert_eq!(
            EventType::parse("Azure.WebPubSub.SYS.Connect"),
            EventType::Connect
        );
        assert_eq!(
            EventType::parse("AZURE.webpubsub.User.Chat"),
            EventType::User("Chat".into())
        );
    }

    #[test]
    fn keeps_unknown_types_whole() {
        for raw in [
            "",
            "azure.webpubsub.",
            "azure.webpubsub.user.",
            "azure.webpubsub.sys.connecting",
            "azure.webpubsub.gp.renamed",
            "azure.webpubsub.other.x",
            "com.example",
        ] {
            assert_eq!(EventType::parse(raw), EventType::Unknown(raw.into()));
            assert_eq!(EventType::parse(raw).to_string(), raw);
        }
    }

    #[test]
    fn event_names_match_the_service() {
        assert_eq!(EventType::Connect.event_name(), Some("connect"));
        assert_eq!(EventType::GroupLeft.event_name(), Some("left"));
        assert_eq!(EventType::User("x".into()).event_name(), Some("x"));
        assert_eq!(EventType::Unknown("x".into()).event_name(), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(raw in ".*") {
            let ty = EventType::parse(&raw);
            prop_assert_eq!(EventType::parse(&ty.to_string()), ty);
        }
    }
}
