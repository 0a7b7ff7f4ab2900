//! Reading an event's head: the `ce-*` headers become a [`ConnectionContext`], checked in the
//! order of the status map (malformed 400, signature 401, hub 404, state 400, size 413, content
//! type 415), all before the body is read.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue, header, header::Entry};
use webpubsub_protocol::{
    cloudevents::{
        EventType,
        headers::{CE_SIGNATURE, MQTT_SUBPROTOCOL, WEBHOOK_REQUEST_ORIGIN},
    },
    state::ConnectionStates,
};

use crate::{
    ConnectionContext, DataType, MqttContext, Rejection, RejectionKind,
    config::{Config, SignatureFailure},
    context::ContextFields,
    field::Field,
};

/// An event whose head passed every check; the body is still unread.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) context: ConnectionContext,
    /// How a user event's body is typed (`None` for other events).
    pub(crate) data_type: Option<DataType>,
    /// The request's state header, kept to merge the answer's state changes into. A clone of a
    /// `HeaderValue` shares its bytes.
    pub(crate) state_header: Option<HeaderValue>,
}

/// Checks the head of a `POST` on the layer's path. `path_hub` is the path's `{hub}`, if any.
pub(crate) fn read_head(
    config: &Config,
    path_hub: Option<&str>,
    mut headers: HeaderMap,
) -> Result<Inbound, Rejection> {
    let found = EventHeaders::scan(&headers);
    let ce_type = found.ce_type.required("ce-type")?;
    let event_type = EventType::parse(ce_type);
    let Some(type_event_name) = event_type.event_name() else {
        return Err(Rejection::new(
            RejectionKind::UnknownEventType,
            format!("ce-type {ce_type:?} is not a web pubsub event type this layer handles"),
        ));
    };
    let hub = found.hub.required("ce-hub")?;
    let connection_id = found.connection_id.required("ce-connectionId")?;

    let signatures = found.signature.lines(&headers, &CE_SIGNATURE);
    if let Err(failure) = config.check_signature(&headers, signatures, connection_id) {
        let (kind, message) = match failure {
            SignatureFailure::Missing => (
                RejectionKind::MissingSignature,
                "missing ce-signature header".to_owned(),
            ),
            SignatureFailure::NoKeyForOrigin => (
                RejectionKind::InvalidSignature,
                match joined(
                    &headers,
                    found.origin,
                    &WEBHOOK_REQUEST_ORIGIN,
                    "WebHook-Request-Origin",
                )? {
                    Some(origin) => {
                        format!("no access key is configured for the origin {origin:?}")
                    }
                    None => "missing WebHook-Request-Origin header, which selects the access key"
                        .to_owned(),
                },
            ),
            SignatureFailure::Mismatch => (
                RejectionKind::InvalidSignature,
                format!(
                    "ce-signature matches no configured access key for connection {connection_id:?}"
                ),
            ),
        };
        return Err(Rejection::new(kind, message));
    }

    if !config.serves_hub(hub) {
        return Err(Rejection::new(
            RejectionKind::HubNotServed,
            format!("hub {hub:?} is not served here"),
        ));
    }
    if let Some(path_hub) = path_hub
        && !path_hub.eq_ignore_ascii_case(hub)
    {
        return Err(Rejection::new(
            RejectionKind::HubNotServed,
            format!("ce-hub {hub:?} is not the hub {path_hub:?} of the path"),
        ));
    }

    let state_header = match found.connection_state {
        Slot::Absent => None,
        Slot::Once(value) => Some(value.clone()),
        Slot::Repeated => return Err(repeated("ce-connectionState")),
    };
    let states = match &state_header {
        Some(value) => ConnectionStates::decode_bytes(value.as_bytes())
            .map_err(|err| Rejection::new(RejectionKind::InvalidState, err.to_string()))?,
        None => ConnectionStates::new(),
    };

    if let Slot::Once(length) = found.content_length
        && let Some(length) = std::str::from_utf8(length.as_bytes())
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        && length > config.limits.body as u64
    {
        return Err(too_large(config.limits.body));
    }

    let data_type = match event_type {
        // As `HeaderMap::get` would: the first line.
        EventType::User(_) => Some(user_data_type(
            found
                .content_type
                .lines(&headers, &header::CONTENT_TYPE)
                .next(),
        )?),
        _ => None,
    };

    let event_name = match found.event_name.text("ce-eventName")? {
        Some(name) if !name.is_empty() => Field::InHeaders,
        // The service always sends the name; this fallback is for other senders.
        _ => Field::from(type_event_name.to_owned()),
    };
    let subprotocol = found.subprotocol.text("ce-subprotocol")?;
    let physical_connection_id = found
        .physical_connection_id
        .text("ce-physicalConnectionId")?;
    let mqtt = match (&subprotocol, physical_connection_id) {
        (Some(subprotocol), Some(physical))
            if subprotocol.eq_ignore_ascii_case(MQTT_SUBPROTOCOL) =>
        {
            Some(MqttContext {
                physical_connection_id: physical.to_owned(),
                session_id: found.session_id.text("ce-sessionId")?.map(str::to_owned),
            })
        }
        _ => None,
    };
    let user_id = found.user_id.checked("ce-userId")?;
    let origin = joined_field(
        &headers,
        found.origin,
        &WEBHOOK_REQUEST_ORIGIN,
        "WebHook-Request-Origin",
    )?;
    let id = found.id.checked("ce-id")?;
    let time = found.time.checked("ce-time")?;
    let source = found.source.checked("ce-source")?;
    let signature = joined_field(&headers, found.signature, &CE_SIGNATURE, "ce-signature")?;
    let subprotocol = Field::in_headers(subprotocol);
    let signed = !matches!(found.signature, Slot::Absent);
    let authorized = !matches!(found.authorization, Slot::Absent);
    // Handlers may log the context; keep replayable credentials out of `Debug`.
    for (present, name) in [(signed, CE_SIGNATURE), (authorized, header::AUTHORIZATION)] {
        if present && let Entry::Occupied(mut lines) = headers.entry(name) {
            for value in lines.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
    let fields = ContextFields {
        hub: Field::InHeaders,
        connection_id: Field::InHeaders,
        event_name,
        user_id,
        subprotocol,
        states,
        origin,
        id,
        time,
        source,
        signature,
        mqtt,
        event_type,
        headers,
    };
    let context = ConnectionContext {
        fields: Box::new(fields),
    };
    Ok(Inbound {
        context,
        data_type,
        state_header,
    })
}

/// The headers an event is read from, found in one pass over the request's header map rather
/// than one hashed lookup each.
#[derive(Default)]
struct EventHeaders<'h> {
    ce_type: Slot<'h>,
    hub: Slot<'h>,
    connection_id: Slot<'h>,
    event_name: Slot<'h>,
    user_id: Slot<'h>,
    subprotocol: Slot<'h>,
    physical_connection_id: Slot<'h>,
    session_id: Slot<'h>,
    id: Slot<'h>,
    time: Slot<'h>,
    source: Slot<'h>,
    connection_state: Slot<'h>,
    content_length: Slot<'h>,
    content_type: Slot<'h>,
    // These two may come as several lines.
    origin: Slot<'h>,
    signature: Slot<'h>,
    /// Only whether it is there, to mark it sensitive.
    authorization: Slot<'h>,
}

impl<'h> EventHeaders<'h> {
    fn scan(headers: &'h HeaderMap) -> Self {
        let mut found = Self::default();
        for (name, value) in headers {
            let slot = match name.as_str() {
                "ce-type" => &mut found.ce_type,
                "ce-hub" => &mut found.hub,
                "ce-connectionid" => &mut found.connection_id,
                "ce-eventname" => &mut found.event_name,
                "ce-userid" => &mut found.user_id,
                "ce-subprotocol" => &mut found.subprotocol,
                "ce-physicalconnectionid" => &mut found.physical_connection_id,
                "ce-sessionid" => &mut found.session_id,
                "ce-id" => &mut found.id,
                "ce-time" => &mut found.time,
                "ce-source" => &mut found.source,
                "ce-connectionstate" => &mut found.connection_state,
                "content-length" => &mut found.content_length,
                "content-type" => &mut found.content_type,
                "webhook-request-origin" => &mut found.origin,
                "ce-signature" => &mut found.signature,
                "authorization" => &mut found.authorization,
                _ => continue,
            };
            slot.push(value);
        }
        found
    }
}

/// What the scan found of one header.
#[derive(Debug, Default, Clone, Copy)]
enum Slot<'h> {
    #[default]
    Absent,
    Once(&'h HeaderValue),
    Repeated,
}

impl<'h> Slot<'h> {
    fn push(&mut self, value: &'h HeaderValue) {
        *self = match self {
            Self::Absent => Self::Once(value),
            _ => Self::Repeated,
        };
    }

    /// The value of a single-valued header as UTF-8. Values are taken as sent: neither the
    /// service nor the official SDKs percent-encode them, so decoding would corrupt ids that
    /// contain `%`. The service sends each `ce-*` header once; a second line is refused rather
    /// than ignored, so that no proxy in front of the layer can act on one value (say, route by
    /// the last `ce-hub`) while the layer acts on another.
    fn text(self, spelled: &str) -> Result<Option<&'h str>, Rejection> {
        match self {
            Self::Absent => Ok(None),
            Self::Once(value) => utf8(value, spelled).map(Some),
            Self::Repeated => Err(repeated(spelled)),
        }
    }

    /// A single-valued header the layer does not read itself, checked to be UTF-8 like
    /// [`text`](Self::text) and left in the headers for the context to read when asked.
    fn checked(self, spelled: &str) -> Result<Field, Rejection> {
        match self {
            Self::Absent => Ok(Field::Absent),
            Self::Once(value) => check_utf8(value, spelled).map(|()| Field::InHeaders),
            Self::Repeated => Err(repeated(spelled)),
        }
    }

    /// Every line of the header `name` of `headers`, the map the scan read: the one line it
    /// holds, looked up again only when there are several.
    fn lines(
        self,
        headers: &'h HeaderMap,
        name: &HeaderName,
    ) -> impl Iterator<Item = &'h HeaderValue> + use<'h> {
        let (once, repeated) = match self {
            Self::Absent => (None, None),
            Self::Once(value) => (Some(value), None),
            Self::Repeated => (None, Some(headers.get_all(name).iter())),
        };
        once.into_iter().chain(repeated.into_iter().flatten())
    }

    fn required(self, spelled: &str) -> Result<&'h str, Rejection> {
        match self.text(spelled)? {
            Some(value) if !value.chars().all(char::is_whitespace) => Ok(value),
            Some(_) => Err(Rejection::new(
                RejectionKind::MalformedHeader,
                format!("header {spelled} is empty"),
            )),
            None => Err(Rejection::new(
                RejectionKind::MissingHeader,
                format!("missing {spelled} header"),
            )),
        }
    }
}

pub(crate) fn too_large(limit: usize) -> Rejection {
    Rejection::new(
        RejectionKind::PayloadTooLarge,
        format!("the body is larger than the limit of {limit} bytes"),
    )
}

/// A user event's data type. No `Content-Type` means binary data (RFC 9110 §8.3 lets a
/// recipient assume `application/octet-stream`; MQTT 3.1.1 publishes carry no type).
fn user_data_type(content_type: Option<&HeaderValue>) -> Result<DataType, Rejection> {
    let Some(value) = content_type else {
        return Ok(DataType::Binary);
    };
    if let Some(data_type) = std::str::from_utf8(value.as_bytes())
        .ok()
        .and_then(DataType::from_content_type)
    {
        return Ok(data_type);
    }
    let value = String::from_utf8_lossy(value.as_bytes());
    Err(Rejection::new(
        RejectionKind::UnsupportedContentType,
        format!(
            "content type {value:?} is not supported: use text/plain, application/json, application/octet-stream or application/x-protobuf"
        ),
    ))
}

/// A header value as UTF-8, or the 400 that says which header is not.
fn utf8<'h>(value: &'h HeaderValue, spelled: &str) -> Result<&'h str, Rejection> {
    std::str::from_utf8(value.as_bytes()).map_err(|_| not_utf8(spelled))
}

/// [`utf8`] for a value the layer keeps but does not read. The service sends ASCII, which the
/// inlined word-wise `is_ascii` confirms at a fraction of a `from_utf8` call per header.
fn check_utf8(value: &HeaderValue, spelled: &str) -> Result<(), Rejection> {
    if value.as_bytes().is_ascii() {
        return Ok(());
    }
    utf8(value, spelled).map(drop)
}

fn not_utf8(spelled: &str) -> Rejection {
    Rejection::new(
        RejectionKind::MalformedHeader,
        format!("header {spelled} is not valid utf-8"),
    )
}

/// The service sends each `ce-*` header once; see [`Slot::text`].
fn repeated(spelled: &str) -> Rejection {
    Rejection::new(
        RejectionKind::MalformedHeader,
        format!("more than one {spelled} header"),
    )
}

/// [`joined`] as a context field: a single line is only checked and stays in the headers.
fn joined_field<'h>(
    headers: &'h HeaderMap,
    slot: Slot<'h>,
    name: &HeaderName,
    spelled: &str,
) -> Result<Field, Rejection> {
    match slot {
        Slot::Absent => Ok(Field::Absent),
        Slot::Once(_) => slot.checked(spelled),
        Slot::Repeated => joined_lines(headers, slot, name, spelled).map(Field::from),
    }
}

/// A header that may come as several lines (`slot`, from the scan), every line joined with
/// `, `.
fn joined<'h>(
    headers: &'h HeaderMap,
    slot: Slot<'h>,
    name: &HeaderName,
    spelled: &str,
) -> Result<Option<Cow<'h, str>>, Rejection> {
    match slot {
        Slot::Absent => Ok(None),
        Slot::Once(value) => Ok(Some(Cow::Borrowed(utf8(value, spelled)?))),
        Slot::Repeated => joined_lines(headers, slot, name, spelled).map(|text| Some(text.into())),
    }
}

/// Every line of `slot` joined with `, `.
fn joined_lines<'h>(
    headers: &'h HeaderMap,
    slot: Slot<'h>,
    name: &HeaderName,
    spelled: &str,
) -> Result<String, Rejection> {
    let mut out = String::new();
    for line in slot.lines(headers, name) {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(utf8(line, spelled)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use webpubsub_protocol::{
        AccessKey,
        cloudevents::headers::{
            CE_CONNECTION_ID, CE_CONNECTION_STATE, CE_EVENT_NAME, CE_HUB, CE_ID,
            CE_PHYSICAL_CONNECTION_ID, CE_SESSION_ID, CE_SOURCE, CE_SUBPROTOCOL, CE_TIME, CE_TYPE,
            CE_USER_ID,
        },
        signature::{self, SigningKey},
    };

    use crate::config::{ConfiguredKey, Limits};

    fn base() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            CE_TYPE,
            HeaderValue::from_static("azure.webpubsub.user.message"),
        );
        headers.insert(CE_HUB, HeaderValue::from_static("chat"));
        headers.insert(CE_CONNECTION_ID, HeaderValue::from_static("c1"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers
    }

    fn kind(config: &Config, headers: HeaderMap) -> RejectionKind {
        read_head(config, None, headers).unwrap_err().kind()
    }

    /// The headers the layer keeps for the context without reading them are checked as
    /// strictly as the ones it reads: UTF-8 beyond ASCII passes, anything else is a 400 that
    /// names the header.
    #[test]
    fn kept_headers_are_utf8() {
        let kept = [
            (CE_USER_ID, "ce-userId"),
            (CE_ID, "ce-id"),
            (CE_TIME, "ce-time"),
            (CE_SOURCE, "ce-source"),
            (WEBHOOK_REQUEST_ORIGIN, "WebHook-Request-Origin"),
            (CE_SIGNATURE, "ce-signature"),
        ];
        for (name, spelled) in kept {
            let mut headers = base();
            headers.insert(
                &name,
                HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap(),
            );
            let context = read_head(&Config::default(), None, headers)
                .unwrap()
                .context;
            let read = match spelled {
                "ce-userId" => context.user_id(),
                "ce-id" => context.id(),
                "ce-time" => context.time(),
                "ce-source" => context.source(),
                "WebHook-Request-Origin" => context.origin(),
                _ => context.signature(),
            };
            assert_eq!(read, Some("caf\u{e9}"), "{spelled}");

            let mut headers = base();
            headers.insert(&name, HeaderValue::from_bytes(b"caf\xe9").unwrap());
            let rejection = read_head(&Config::default(), None, headers).unwrap_err();
            assert_eq!(
                rejection.kind(),
                RejectionKind::MalformedHeader,
                "{spelled}"
            );
            assert_eq!(
                rejection.message(),
                format!("header {spelled} is not valid utf-8")
            );
        }
    }

    #[test]
    fn reads_a_full_head() {
        let mut headers = base();
        for (name, value) in [
            ("ce-userid", "alice"),
            ("ce-eventname", "message"),
            ("ce-subprotocol", "mqtt"),
            ("ce-physicalconnectionid", "p1"),
            ("ce-sessionid", "s1"),
            ("ce-id", "7"),
            ("ce-time", "2021-01-01T00:00:00Z"),
            ("ce-source", "/hubs/chat/client/c1"),
            ("webhook-request-origin", "a.com"),
            ("ce-signature", "sha256=00"),
            ("ce-connectionstate", "eyJhIjoxfQ=="),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        let inbound = read_head(&Config::default(), Some("Chat"), headers).unwrap();
        let context = &inbound.context;
        assert_eq!(context.hub(), "chat");
        assert_eq!(context.user_id(), Some("alice"));
        assert_eq!(context.id(), Some("7"));
        assert_eq!(context.mqtt().unwrap().session_id(), Some("s1"));
        assert_eq!(context.states().get_value("a"), Some(&serde_json::json!(1)));
        assert_eq!(inbound.data_type, Some(DataType::Text));
        assert!(!format!("{context:?}").contains("sha256=00"));
    }

    /// Regression (bad-input corpus): a second line of a single-valued `ce-*` header was
    /// ignored, so `ce-hub: chat` + `ce-hub: admin` was served as `chat`.
    #[test]
    fn a_repeated_single_valued_header_is_a_400() {
        for name in [
            "ce-type",
            "ce-hub",
            "ce-connectionid",
            "ce-userid",
            "ce-eventname",
        ] {
            let mut headers = base();
            if !headers.contains_key(name) {
                headers.append(name, HeaderValue::from_static("first"));
            }
            headers.append(name, HeaderValue::from_static("other"));
            let rejection = read_head(&Config::default(), None, headers).unwrap_err();
            assert_eq!(rejection.kind(), RejectionKind::MalformedHeader, "{name}");
            assert!(rejection.message().contains("more than one"), "{name}");
        }
    }

    #[test]
    fn missing_and_malformed_headers_are_400s() {
        for name in [CE_TYPE, CE_HUB, CE_CONNECTION_ID] {
            let mut headers = base();
            headers.remove(&name);
            assert_eq!(
                kind(&Config::default(), headers),
                RejectionKind::MissingHeader
            );
        }
        let mut headers = base();
        headers.insert(CE_HUB, HeaderValue::from_static(""));
        assert_eq!(
            kind(&Config::default(), headers),
            RejectionKind::MalformedHeader
        );
        let mut headers = base();
        headers.insert(CE_USER_ID, HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(
            kind(&Config::default(), headers),
            RejectionKind::MalformedHeader
        );
        let mut headers = base();
        headers.insert(CE_TYPE, HeaderValue::from_static("com.example"));
        assert_eq!(
            kind(&Config::default(), headers),
            RejectionKind::UnknownEventType
        );
        let mut headers = base();
        headers.insert(CE_CONNECTION_STATE, HeaderValue::from_static("!!"));
        assert_eq!(
            kind(&Config::default(), headers),
            RejectionKind::InvalidState
        );
        let mut headers = base();
        headers.append(CE_CONNECTION_STATE, HeaderValue::from_static("e30="));
        headers.append(CE_CONNECTION_STATE, HeaderValue::from_static("e30="));
        assert_eq!(
            kind(&Config::default(), headers),
            RejectionKind::MalformedHeader
        );
    }

    #[test]
    fn checks_run_in_status_map_order() {
        let config = Config {
            hubs: Some(vec!["other".into()]),
            keys: vec![ConfiguredKey {
                host: None,
                key: SigningKey::new(&AccessKey::new("k")),
            }],
            limits: Limits {
                body: 4,
                ..Config::default().limits
            },
            ..Config::default()
        };
        // Unsigned: 401 before the 404 of the unserved hub.
        assert_eq!(kind(&config, base()), RejectionKind::MissingSignature);
        let mut headers = base();
        headers.insert(CE_SIGNATURE, HeaderValue::from_static("sha256=00"));
        assert_eq!(kind(&config, headers), RejectionKind::InvalidSignature);
        let mut headers = base();
        let signature = signature::sign(&AccessKey::new("k"), "c1");
        headers.insert(CE_SIGNATURE, HeaderValue::from_str(&signature).unwrap());
        assert_eq!(kind(&config, headers.clone()), RejectionKind::HubNotServed);
        let config = Config {
            hubs: None,
            ..config
        };
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        assert_eq!(
            kind(&config, headers.clone()),
            RejectionKind::PayloadTooLarge
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("4"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        assert_eq!(
            kind(&config, headers.clone()),
            RejectionKind::UnsupportedContentType
        );
        headers.remove(header::CONTENT_TYPE);
        assert_eq!(
            read_head(&config, None, headers).unwrap().data_type,
            Some(DataType::Binary)
        );
    }

    /// The scan matches names as strings; they must be the protocol crate's header names.
    #[test]
    fn the_scan_finds_every_header_by_its_protocol_name() {
        let names = [
            CE_TYPE,
            CE_HUB,
            CE_CONNECTION_ID,
            CE_EVENT_NAME,
            CE_USER_ID,
            CE_SUBPROTOCOL,
            CE_PHYSICAL_CONNECTION_ID,
            CE_SESSION_ID,
            CE_ID,
            CE_TIME,
            CE_SOURCE,
            CE_CONNECTION_STATE,
            header::CONTENT_LENGTH,
            header::CONTENT_TYPE,
            WEBHOOK_REQUEST_ORIGIN,
            CE_SIGNATURE,
        ];
        let mut headers = HeaderMap::new();
        for name in &names {
            headers.insert(name, HeaderValue::from_static("x"));
        }
        headers.append(CE_SIGNATURE, HeaderValue::from_static("y"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("z"));
        let found = EventHeaders::scan(&headers);
        assert!(matches!(found.authorization, Slot::Once(v) if v == "z"));
        let slots = [
            found.ce_type,
            found.hub,
            found.connection_id,
            found.event_name,
            found.user_id,
            found.subprotocol,
            found.physical_connection_id,
            found.session_id,
            found.id,
            found.time,
            found.source,
            found.connection_state,
            found.content_length,
            found.content_type,
            found.origin,
        ];
        for (name, slot) in names.iter().zip(slots) {
            assert!(
                matches!(slot, Slot::Once(v) if v == "x"),
                "{name}: {slot:?}"
            );
        }
        assert!(matches!(found.signature, Slot::Repeated));
    }

    #[test]
    fn a_signature_on_any_line_is_checked_and_all_lines_are_kept() {
        let config = Config {
            keys: vec![ConfiguredKey {
                host: None,
                key: SigningKey::new(&AccessKey::new("k")),
            }],
            ..Config::default()
        };
        let good = signature::sign(&AccessKey::new("k"), "c1");
        let mut headers = base();
        headers.append(CE_SIGNATURE, HeaderValue::from_static("sha256=00"));
        headers.append(CE_SIGNATURE, HeaderValue::from_str(&good).unwrap());
        let inbound = read_head(&config, None, headers.clone()).unwrap();
        assert_eq!(
            inbound.context.signature(),
            Some(format!("sha256=00, {good}").as_str())
        );

        headers.remove(CE_SIGNATURE);
        headers.append(CE_SIGNATURE, HeaderValue::from_static("sha256=00"));
        headers.append(CE_SIGNATURE, HeaderValue::from_static("sha256=11"));
        assert_eq!(kind(&config, headers), RejectionKind::InvalidSignature);
    }

    /// The scan finds the content type; with several lines the first one counts, as with
    /// `HeaderMap::get`.
    #[test]
    fn a_user_event_is_typed_by_its_first_content_type() {
        let data_type = |headers| read_head(&Config::default(), None, headers).map(|i| i.data_type);
        assert_eq!(data_type(base()).unwrap(), Some(DataType::Text));
        let mut headers = base();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.append(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        assert_eq!(data_type(headers).unwrap(), Some(DataType::Json));
        let mut headers = base();
        headers.remove(header::CONTENT_TYPE);
        assert_eq!(data_type(headers).unwrap(), Some(DataType::Binary));
    }

    #[test]
    fn path_hub_must_be_the_event_hub() {
        let err = read_head(&Config::default(), Some("other"), base()).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::HubNotServed);
    }

    proptest! {
        #[test]
        fn arbitrary_header_values_never_panic(
            values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 8)
        ) {
            let names = [CE_TYPE, CE_HUB, CE_CONNECTION_ID, CE_CONNECTION_STATE, CE_SIGNATURE,
                WEBHOOK_REQUEST_ORIGIN, header::CONTENT_TYPE, header::CONTENT_LENGTH];
            let mut headers = base();
            for (name, value) in names.into_iter().zip(values) {
                if let Ok(value) = HeaderValue::from_bytes(&value) {
                    headers.insert(name, value);
                }
            }
            let config = Config {
                keys: vec![ConfiguredKey { host: Some("a.com".into()), key: SigningKey::new(&AccessKey::new("k")) }],
                ..Config::default()
            };
            let _ = read_head(&config, None, headers.clone());
            let _ = read_head(&Config::default(), Some("chat"), headers);
        }
    }
}
