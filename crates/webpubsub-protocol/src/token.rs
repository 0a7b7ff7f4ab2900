//! The claims of the two HS256 tokens the service accepts, the client paths they are minted for,
//! and the role strings that grant client permissions.
//!
//! * A **REST token** authorizes one data-plane request: `aud` is the exact request URL, query
//!   included, plus `exp`, `iat` and `nbf` ([`RestTokenClaims`]).
//! * A **client access token** lets a WebSocket client connect: `aud` is the client endpoint of
//!   a hub ([`client_audience`]), `sub` the user id, `role` the permissions, `webpubsub.group` the
//!   groups joined at connect ([`ClientTokenClaims`]).
//!
//! Both are signed with the UTF-8 bytes of the access key. This module only models the claims;
//! signing and verification live with the crates that do I/O (`webpubsub-rest`, the emulator).
//!
//! ```
//! use webpubsub_protocol::token::{ClientProtocol, ClientRole, ClientTokenClaims, Permission, client_audience};
//!
//! let aud = client_audience("https://demo.webpubsub.azure.com", ClientProtocol::Mqtt, "chat");
//! assert_eq!(aud, "https://demo.webpubsub.azure.com/clients/mqtt/hubs/chat");
//!
//! let claims = ClientTokenClaims::new(aud, 1_700_000_000, 3600)
//!     .with_user("alice")
//!     .with_roles([ClientRole::group(Permission::SendToGroup, "room1").to_string()])
//!     .with_groups(["room1"]);
//! let json = serde_json::to_value(&claims)?;
//! assert_eq!(json["sub"], "alice");
//! assert_eq!(json["role"][0], "webpubsub.sendToGroup.room1");
//! assert_eq!(json["webpubsub.group"][0], "room1");
//! assert_eq!(json["exp"], 1_700_003_600);
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::{borrow::Cow, fmt, str::FromStr};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::{Deserialize, Deserializer, Serialize};

/// The characters escaped in one URL path segment: everything but RFC 3986 `pchar`s, so a
/// segment never splits (`/`), never ends the path (`?`, `#`) and never decodes differently (`%`).
pub const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Percent-encodes `segment` for use as one URL path segment (a user id with `/` stays one
/// segment: `a/b` becomes `a%2Fb`).
///
/// `.` and `..` cannot be made safe this way: URL parsers resolve them (even as `%2E`), so
/// callers must refuse them as names.
pub fn encode_path_segment(segment: &str) -> String {
    Cow::from(utf8_percent_encode(segment, PATH_SEGMENT)).into_owned()
}

/// The kind of client a client access token is for; each has its own endpoint path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ClientProtocol {
    /// WebSocket clients (raw or with a `*.webpubsub.azure.v1` subprotocol): `client/hubs/{hub}`.
    #[default]
    Default,
    /// MQTT over WebSocket clients: `clients/mqtt/hubs/{hub}`.
    Mqtt,
    /// Web PubSub for Socket.IO clients: `clients/socketio/hubs/{hub}`.
    SocketIo,
}

impl ClientProtocol {
    /// The path prefix before the hub name, without leading or trailing slash.
    pub fn path_prefix(self) -> &'static str {
        match self {
            Self::Default => "client/hubs",
            Self::Mqtt => "clients/mqtt/hubs",
            Self::SocketIo => "clients/socketio/hubs",
        }
    }

    /// The client path of `hub`, without a leading slash: `client/hubs/chat`. The hub name is
    /// percent-encoded as a path segment.
    pub fn path(self, hub: &str) -> String {
        format!("{}/{}", self.path_prefix(), encode_path_segment(hub))
    }

    /// The `clientType` value of the `:generateToken` REST operation (case-insensitive on the
    /// service; these are the spellings of the official JavaScript SDK).
    pub fn client_type(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Mqtt => "mqtt",
            Self::SocketIo => "socketio",
        }
    }

    /// Splits a request path such as `/client/hubs/chat` into its protocol and (still
    /// percent-encoded) hub name. Returns `None` for any other path.
    ///
    /// ```
    /// use webpubsub_protocol::token::ClientProtocol;
    ///
    /// assert_eq!(ClientProtocol::from_path("/clients/mqtt/hubs/chat"), Some((ClientProtocol::Mqtt, "chat")));
    /// assert_eq!(ClientProtocol::from_path("/client/hubs/"), None);
    /// ```
    pub fn from_path(path: &str) -> Option<(Self, &str)> {
        let path = path.strip_prefix('/').unwrap_or(path);
        [Self::Default, Self::Mqtt, Self::SocketIo]
            .into_iter()
            .find_map(|protocol| {
                let hub = path
                    .strip_prefix(protocol.path_prefix())?
                    .strip_prefix('/')?;
                (!hub.is_empty() && !hub.contains('/')).then_some((protocol, hub))
            })
    }
}

/// The `aud` of a client access token: `{endpoint}/{protocol path}/{hub}`, where `endpoint` is
/// the service's `http`/`https` endpoint (a trailing slash is ignored).
pub fn client_audience(endpoint: &str, protocol: ClientProtocol, hub: &str) -> String {
    format!("{}/{}", endpoint.trim_end_matches('/'), protocol.path(hub))
}

/// The URL a client connects to: the client audience with `http` turned into `ws` and `https`
/// into `wss`, plus `?access_token=<token>`.
pub fn client_url(endpoint: &str, protocol: ClientProtocol, hub: &str, token: &str) -> String {
    let base = client_audience(endpoint, protocol, hub);
    let base = websocket_scheme(&base);
    format!(
        "{base}?access_token={}",
        utf8_percent_encode(token, QUERY_VALUE)
    )
}

/// A JWT is base64url plus dots, so it is usually left as is; anything else is escaped.
const QUERY_VALUE: &AsciiSet = &PATH_SEGMENT.add(b'&').add(b'=').add(b'+');

/// `http://…` → `ws://…`, `https://…` → `wss://…`; other URLs are returned unchanged.
pub fn websocket_scheme(url: &str) -> String {
    for (from, to) in [("https://", "wss://"), ("http://", "ws://")] {
        if url
            .get(..from.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(from))
        {
            return format!("{to}{}", &url[from.len()..]);
        }
    }
    url.to_owned()
}

/// Whether two audiences name the same URL once the scheme is ignored, as the service does
/// (`http`, `https`, `ws` and `wss` audiences are all accepted for one endpoint). Host and
/// scheme compare case-insensitively; path and query exactly; one trailing slash is ignored.
///
/// ```
/// use webpubsub_protocol::token::same_audience;
///
/// assert!(same_audience("wss://Demo.example/client/hubs/chat", "https://demo.example/client/hubs/chat/"));
/// assert!(!same_audience("https://demo.example/client/hubs/chat", "https://demo.example/client/hubs/Chat2"));
/// ```
pub fn same_audience(a: &str, b: &str) -> bool {
    fn split(url: &str) -> (String, &str) {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let (authority, path) = rest
            .find(['/', '?'])
            .map_or((rest, ""), |at| rest.split_at(at));
        let path = path.strip_suffix('/').unwrap_or(path);
        (authority.to_ascii_lowercase(), path)
    }
    split(a) == split(b)
}

/// The claims of a REST token: the JWT that authorizes one data-plane request.
///
/// Official SDKs differ in what they add to `aud` and `exp` (.NET adds `iat` and `nbf`, Java and
/// Go add neither), so `iat` and `nbf` are optional when reading; [`RestTokenClaims::new`] sets
/// all four.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RestTokenClaims {
    /// The exact request URL, query included.
    pub aud: String,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not-before time, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

impl RestTokenClaims {
    /// Claims for the request to `url`, issued at `now` (Unix seconds) and valid for
    /// `lifetime_secs`; `nbf` equals `iat`.
    pub fn new(url: impl Into<String>, now: u64, lifetime_secs: u64) -> Self {
        Self {
            aud: url.into(),
            exp: now.saturating_add(lifetime_secs),
            iat: Some(now),
            nbf: Some(now),
        }
    }
}

/// The claims of a client access token.
///
/// `role` and `webpubsub.group` are arrays; when reading, a single string is accepted too (the
/// .NET token handler writes one-element claims as strings). Claims this type does not know are
/// kept in [`extra`](Self::extra) (the service passes them to the `connect` event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientTokenClaims {
    /// The user id, if the connection belongs to a user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The roles of the connection (see [`ClientRole`]).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub role: Vec<String>,
    /// The groups the connection joins when it connects.
    #[serde(
        rename = "webpubsub.group",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub groups: Vec<String>,
    /// The client endpoint of the hub ([`client_audience`]).
    pub aud: String,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not-before time, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Any other claims.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ClientTokenClaims {
    /// Claims for `audience`, issued at `now` (Unix seconds) and valid for `lifetime_secs`,
    /// without user, roles or groups. Like the JavaScript and Python SDKs, no `nbf` is set.
    pub fn new(audience: impl Into<String>, now: u64, lifetime_secs: u64) -> Self {
        Self {
            sub: None,
            role: Vec::new(),
            groups: Vec::new(),
            aud: audience.into(),
            exp: now.saturating_add(lifetime_secs),
            iat: Some(now),
            nbf: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Sets the user id (`sub`).
    #[must_use]
    pub fn with_user(mut self, user_id: impl Into<String>) -> Self {
        self.sub = Some(user_id.into());
        self
    }

    /// Sets the roles (`role`).
    #[must_use]
    pub fn with_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.role = strings(roles);
        self
    }

    /// Sets the groups joined at connect (`webpubsub.group`).
    #[must_use]
    pub fn with_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = strings(groups);
        self
    }

    /// The roles parsed into [`ClientRole`]s.
    pub fn roles(&self) -> impl Iterator<Item = ClientRole> + '_ {
        self.role.iter().map(|role| ClientRole::parse(role))
    }
}

fn strings<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

fn one_or_many<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
        Null(()),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
        OneOrMany::Null(()) => Vec::new(),
    })
}

/// A permission a connection can hold on a group: the `permission` path parameter of the
/// grant, revoke and check REST operations, and the core of a [`ClientRole`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Permission {
    /// Send messages to a group (`sendToGroup`).
    SendToGroup,
    /// Join and leave a group (`joinLeaveGroup`).
    JoinLeaveGroup,
}

impl Permission {
    /// The REST spelling: `sendToGroup` or `joinLeaveGroup`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendToGroup => "sendToGroup",
            Self::JoinLeaveGroup => "joinLeaveGroup",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Permission`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?}, expected sendToGroup or joinLeaveGroup")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    /// Parses `sendToGroup` or `joinLeaveGroup`, case-insensitively as the service does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("sendToGroup") {
            Ok(Self::SendToGroup)
        } else if s.eq_ignore_ascii_case("joinLeaveGroup") {
            Ok(Self::JoinLeaveGroup)
        } else {
            Err(UnknownPermission(s.to_owned()))
        }
    }
}

/// The prefix of every built-in role.
pub const ROLE_PREFIX: &str = "webpubsub.";

/// A role string of a client access token.
///
/// `webpubsub.sendToGroup` and `webpubsub.joinLeaveGroup` grant a permission on every group;
/// `webpubsub.sendToGroup.<group>` and `webpubsub.joinLeaveGroup.<group>` on one group (the
/// group name may itself contain dots). Any other string is kept as [`ClientRole::Other`]
/// (for example the wildcard roles `webpubsub.sendToGroups.<pattern>`).
///
/// ```
/// use webpubsub_protocol::token::{ClientRole, Permission};
///
/// let role = ClientRole::parse("webpubsub.joinLeaveGroup.room.1");
/// assert_eq!(role, ClientRole::group(Permission::JoinLeaveGroup, "room.1"));
/// assert_eq!(role.to_string(), "webpubsub.joinLeaveGroup.room.1");
/// assert_eq!(ClientRole::any_group(Permission::SendToGroup).to_string(), "webpubsub.sendToGroup");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientRole {
    /// A built-in permission, on one group or (with `None`) on all groups.
    Permission {
        /// What is permitted.
        permission: Permission,
        /// The group it is permitted on; `None` for all groups.
        group: Option<String>,
    },
    /// Any other role string, kept verbatim.
    Other(String),
}

impl ClientRole {
    /// `permission` on every group: `webpubsub.<permission>`.
    pub fn any_group(permission: Permission) -> Self {
        Self::Permission {
            permission,
            group: None,
        }
    }

    /// `permission` on `group`: `webpubsub.<permission>.<group>`.
    pub fn group(permission: Permission, group: impl Into<String>) -> Self {
        Self::Permission {
            permission,
            group: Some(group.into()),
        }
    }

    /// Parses a role string; never fails (unknown roles become [`ClientRole::Other`]).
    pub fn parse(role: &str) -> Self {
        let built_in = role.strip_prefix(ROLE_PREFIX).and_then(|rest| {
            [Permission::SendToGroup, Permission::JoinLeaveGroup]
                .into_iter()
                .find_map(|permission| {
                    let after = rest.strip_prefix(permission.as_str())?;
                    match after {
                        "" => Some(Self::any_group(permission)),
                        _ => after
                            .strip_prefix('.')
                            .filter(|group| !group.is_empty())
                            .map(|group| Self::group(permission, group)),
                    }
                })
        });
        built_in.unwrap_or_else(|| Self::Other(role.to_owned()))
    }

    /// Whether this role grants `permission` on `group`.
    pub fn grants(&self, permission: Permission, group: &str) -> bool {
        match self {
            Self::Permission {
                permission: granted,
                group: scope,
            } => *granted == permission && scope.as_deref().is_none_or(|scope| scope == group),
            Self::Other(_) => false,
        }
    }
}

impl fmt::Display for ClientRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Permission {
                permission,
                group: None,
            } => write!(f, "{ROLE_PREFIX}{permission}"),
            Self::Permission {
                permission,
                group: Some(group),
            } => write!(f, "{ROLE_PREFIX}{permission}.{group}"),
            Self::Other(role) => f.write_str(role),
        }
    }
}

impl From<ClientRole> for String {
    fn from(role: ClientRole) -> Self {
        role.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn client_paths_match_the_official_sdks() {
        let endpoint = "https://demo.webpubsub.azure.com/";
        assert_eq!(
            client_audience(endpoint, ClientProtocol::Default, "chat"),
            "https://demo.webpubsub.azure.com/client/hubs/chat"
        );
        assert_eq!(
            client_audience(endpoint, ClientProtocol::Mqtt, "chat"),
            "https://demo.webpubsub.azure.com/clients/mqtt/hubs/chat"
        );
        assert_eq!(
            client_audience(endpoint, ClientProtocol::SocketIo, "chat"),
            "https://demo.webpubsub.azure.com/clients/socketio/hubs/chat"
        );
    }

    #[test]
    fn client_urls_use_websocket_schemes() {
        assert_eq!(
            client_url(
                "http://localhost:8080",
                ClientProtocol::Default,
                "h",
                "a.b.c"
            ),
            "ws://localhost:8080/client/hubs/h?access_token=a.b.c"
        );
        assert_eq!(
            client_url("HTTPS://x.example", ClientProtocol::SocketIo, "h", "t"),
            "wss://x.example/clients/socketio/hubs/h?access_token=t"
        );
        assert_eq!(websocket_scheme("ftp://x"), "ftp://x");
    }

    #[test]
    fn path_segments_keep_slashes_inside() {
        assert_eq!(encode_path_segment("a/b c?d#%"), "a%2Fb%20c%3Fd%23%25");
        assert_eq!(encode_path_segment("user@x.com:1"), "user@x.com:1");
        assert_eq!(encode_path_segment("é"), "%C3%A9");
    }

    #[test]
    fn from_path_recognises_each_client_path() {
        for protocol in [
            ClientProtocol::Default,
            ClientProtocol::Mqtt,
            ClientProtocol::SocketIo,
        ] {
            let path = format!("/{}", protocol.path("hub1"));
            assert_eq!(ClientProtocol::from_path(&path), Some((protocol, "hub1")));
        }
        assert_eq!(ClientProtocol::from_path("/api/hubs/x"), None);
        assert_eq!(ClientProtocol::from_path("/client/hubs/a/b"), None);
    }

    #[test]
    fn rest_claims_have_all_four_times() {
        let claims = RestTokenClaims::new("http://h/api/health?api-version=2024-12-01", 100, 300);
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "aud": "http://h/api/health?api-version=2024-12-01",
                "exp": 400, "iat": 100, "nbf": 100
            })
        );
        // Java and Go send only aud and exp.
        let minimal: RestTokenClaims =
            serde_json::from_str(r#"{"aud":"http://h/","exp":5}"#).unwrap();
        assert_eq!((minimal.iat, minimal.nbf), (None, None));
    }

    #[test]
    fn client_claims_read_every_sdk_shape() {
        // .NET writes one-element claims as strings; JS writes arrays; custom claims are kept.
        let claims: ClientTokenClaims = serde_json::from_str(
            r#"{"sub":"u","role":"webpubsub.sendToGroup","webpubsub.group":["g1","g2"],
                "aud":"https://h/client/hubs/x","exp":10,"iat":1,"nbf":1,"custom":"c"}"#,
        )
        .unwrap();
        assert_eq!(claims.role, ["webpubsub.sendToGroup"]);
        assert_eq!(claims.groups, ["g1", "g2"]);
        assert_eq!(claims.extra["custom"], "c");
        let bare: ClientTokenClaims =
            serde_json::from_str(r#"{"aud":"a","exp":1,"role":null}"#).unwrap();
        assert!(bare.sub.is_none() && bare.role.is_empty() && bare.groups.is_empty());
        // Without a user, roles or groups those claims are left out, as the JS SDK does.
        let json = serde_json::to_value(ClientTokenClaims::new("a", 0, 60)).unwrap();
        assert_eq!(json, serde_json::json!({"aud": "a", "exp": 60, "iat": 0}));
    }

    #[test]
    fn roles_parse_and_grant() {
        let any = ClientRole::parse("webpubsub.sendToGroup");
        assert!(any.grants(Permission::SendToGroup, "whatever"));
        assert!(!any.grants(Permission::JoinLeaveGroup, "whatever"));
        let one = ClientRole::parse("webpubsub.joinLeaveGroup.g.1");
        assert!(one.grants(Permission::JoinLeaveGroup, "g.1"));
        assert!(!one.grants(Permission::JoinLeaveGroup, "g"));
        for other in [
            "webpubsub.sendToGroups.a*",
            "webpubsub.sendToGroup.",
            "webpubsub.sendToGroupX",
            "admin",
        ] {
            assert_eq!(ClientRole::parse(other), ClientRole::Other(other.into()));
        }
    }

    #[test]
    fn permissions_parse_case_insensitively_and_name_bad_values() {
        assert_eq!(
            "SENDTOGROUP".parse::<Permission>(),
            Ok(Permission::SendToGroup)
        );
        let err = "kick".parse::<Permission>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown permission \"kick\", expected sendToGroup or joinLeaveGroup"
        );
    }

    proptest! {
        #[test]
        fn roles_round_trip(role in "\\PC*") {
            prop_assert_eq!(ClientRole::parse(&role).to_string(), role);
        }

        #[test]
        fn encoded_segments_never_contain_separators(segment in "\\PC*") {
            let encoded = encode_path_segment(&segment);
            prop_assert!(!encoded.contains(['/', '?', '#']));
            let decoded = percent_encoding::percent_decode_str(&encoded).decode_utf8().unwrap();
            prop_assert_eq!(decoded, segment);
        }

        #[test]
        fn from_path_never_panics(path in "\\PC*") {
            let _ = ClientProtocol::from_path(&path);
            let _ = same_audience(&path, "https://h/client/hubs/x");
        }
    }
}
