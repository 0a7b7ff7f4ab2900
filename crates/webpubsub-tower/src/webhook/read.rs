//! Reading a webhook request into an [`Event`]: the `ce-*` headers into a [`ConnectionContext`],
//! checked in the order of the status map (malformed 400, signature 401, hub 404, state 400,
//! size 413, content type 415) before the body is read; then the body, within its limit, into
//! the typed request.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, header, header::Entry};
use http_body::Body;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use webpubsub_protocol::{
    cloudevents::{
        ConnectEventBody, DisconnectedEventBody, EventType, GroupEventBody,
        headers::{CE_SIGNATURE, MQTT_SUBPROTOCOL, WEBHOOK_REQUEST_ORIGIN},
    },
    state::ConnectionStates,
};

use super::{
    Config,
    rejection::{Rejection, RejectionKind},
};
use crate::{
    ConnectRequest, ConnectedRequest, ConnectionContext, DataType, DisconnectedRequest, Event,
    GroupEventRequest, MqttContext, UserEventRequest, event::ContextText,
};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An event whose head passed every check; the body is still unread.
#[derive(Debug)]
pub(crate) struct Inbound {
    /// Boxed here, where it is read, and handed on to the request type as it is: the context
    /// (440 bytes) is not copied again on its way through the event's futures, and with the
    /// connect body boxed too an `Event` is 48 bytes, not 208 (1.9k of 44.0k instructions per
    /// user event, 4.3 %, `benches/instructions.sh layer user`).
    pub(crate) context: Box<ConnectionContext>,
    /// How a user event's body is typed (`None` for other events).
    pub(crate) data_type: Option<DataType>,
    /// The request's `ce-connectionState`, which an answer's state changes apply to (a clone
    /// shares the header's bytes; decoded again only if the answer changes the state).
    pub(crate) state: Option<HeaderValue>,
}

/// Checks the head of a `POST` on the layer's path. `path_hub` is the path's `{hub}`, if any.
pub(crate) fn read_head(
    config: &Config,
    path_hub: Option<&str>,
    mut headers: HeaderMap,
) -> Result<Inbound, Rejection> {
    let head = Head::gather(&headers);
    let ce_type = head.ce_type.required("ce-type")?;
    let event_type = EventType::parse(ce_type);
    if event_type.event_name().is_none() {
        return Err(Rejection::new(
            RejectionKind::UnknownEventType,
            format!("ce-type {ce_type:?} is not a web pubsub event type this layer handles"),
        ));
    };
    let hub = head.hub.required("ce-hub")?;
    let connection_id = head.connection_id.required("ce-connectionId")?;

    let origin = head
        .origin
        .joined(&headers, &WEBHOOK_REQUEST_ORIGIN, "WebHook-Request-Origin")?;
    let signature = head
        .signature
        .joined(&headers, &CE_SIGNATURE, "ce-signature")?;
    // Before the hub: who holds no key learns nothing, not even which hubs are served.
    config
        .auth
        .verify(origin.as_deref(), signature.as_deref(), connection_id)?;

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

    let state = head.state.single_value("ce-connectionState")?;
    let states = match state {
        Some(value) => ConnectionStates::decode_bytes(value.as_bytes())
            .map_err(|err| Rejection::new(RejectionKind::InvalidState, err.to_string()))?,
        None => ConnectionStates::new(),
    };
    let state = state.cloned();

    if let Some(length) = head
        .content_length
        .first
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim_ascii().parse::<u64>().ok())
        && length > config.body_limit as u64
    {
        return Err(too_large(config.body_limit));
    }

    let data_type = match event_type {
        // The first line, as `HeaderMap::get` reads it.
        EventType::User(_) => Some(user_data_type(head.content_type.first)?),
        _ => None,
    };

    let event_name = match head.event_name.single("ce-eventName")? {
        Some(name) if !name.is_empty() => Some(name),
        // The service always sends the name; the type's is for other senders.
        _ => None,
    };
    let subprotocol = head.subprotocol.single("ce-subprotocol")?;
    let physical = head
        .physical_connection_id
        .single("ce-physicalConnectionId")?;
    let mqtt = match (subprotocol, physical) {
        (Some(subprotocol), Some(physical))
            if subprotocol.eq_ignore_ascii_case(MQTT_SUBPROTOCOL) =>
        {
            Some(MqttContext::new(
                physical,
                head.session_id.single("ce-sessionId")?.map(str::to_owned),
            ))
        }
        _ => None,
    };
    let text = ContextText {
        hub,
        connection_id,
        event_name,
        user_id: head.user_id.single("ce-userId")?,
        subprotocol,
        origin: origin.as_deref(),
        id: head.id.single("ce-id")?,
        time: head.time.single("ce-time")?,
        source: head.source.single("ce-source")?,
        signature: signature.as_deref(),
    };
    let mut context = Box::new(ConnectionContext::read(
        event_type,
        text,
        states,
        mqtt,
        HeaderMap::new(),
    ));
    // Handlers may log the context; keep replayable credentials out of `Debug`.
    let credentials = [
        (CE_SIGNATURE, head.signature.count),
        (header::AUTHORIZATION, head.authorization.count),
    ];
    for (name, count) in credentials {
        if count > 0
            && let Entry::Occupied(mut lines) = headers.entry(name)
        {
            for value in lines.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
    context.set_headers(headers);
    Ok(Inbound {
        context,
        data_type,
        state,
    })
}

/// The headers [`read_head`] reads, gathered in one pass over the head: a `match` on each
/// header's name instead of a hashed `HeaderMap` lookup per name read (17 of them: 2.3k of
/// 49.5k instructions per event, 4.7 %, `benches/instructions.sh layer user`).
#[derive(Default)]
struct Head<'h> {
    ce_type: Lines<'h>,
    hub: Lines<'h>,
    connection_id: Lines<'h>,
    origin: Lines<'h>,
    signature: Lines<'h>,
    state: Lines<'h>,
    content_length: Lines<'h>,
    content_type: Lines<'h>,
    event_name: Lines<'h>,
    subprotocol: Lines<'h>,
    physical_connection_id: Lines<'h>,
    session_id: Lines<'h>,
    user_id: Lines<'h>,
    id: Lines<'h>,
    time: Lines<'h>,
    source: Lines<'h>,
    authorization: Lines<'h>,
}

impl<'h> Head<'h> {
    fn gather(headers: &'h HeaderMap) -> Self {
        let mut head = Self::default();
        // Names in a `HeaderMap` are lower case; `iter` yields a name's first line first.
        for (name, value) in headers {
            let lines = match name.as_str() {
                "ce-type" => &mut head.ce_type,
                "ce-hub" => &mut head.hub,
                "ce-connectionid" => &mut head.connection_id,
                "webhook-request-origin" => &mut head.origin,
                "ce-signature" => &mut head.signature,
                "ce-connectionstate" => &mut head.state,
                "content-length" => &mut head.content_length,
                "content-type" => &mut head.content_type,
                "ce-eventname" => &mut head.event_name,
                "ce-subprotocol" => &mut head.subprotocol,
                "ce-physicalconnectionid" => &mut head.physical_connection_id,
                "ce-sessionid" => &mut head.session_id,
                "ce-userid" => &mut head.user_id,
                "ce-id" => &mut head.id,
                "ce-time" => &mut head.time,
                "ce-source" => &mut head.source,
                "authorization" => &mut head.authorization,
                _ => continue,
            };
            lines.first.get_or_insert(value);
            lines.count += 1;
        }
        head
    }
}

/// The lines of one header of a request: the first, and how many there are.
#[derive(Default, Clone, Copy)]
struct Lines<'h> {
    first: Option<&'h HeaderValue>,
    count: usize,
}

impl<'h> Lines<'h> {
    /// The value of a single-valued header as UTF-8. Values are taken as sent: neither the
    /// service nor the official SDKs percent-encode them, so decoding would corrupt ids that
    /// contain `%`.
    fn single(self, spelled: &str) -> Result<Option<&'h str>, Rejection> {
        self.single_value(spelled)?
            .map(|value| utf8(value, spelled))
            .transpose()
    }

    /// [`single`](Self::single) as bytes. The service sends each `ce-*` header once; a second
    /// line is refused rather than ignored, so that no proxy in front of the layer can act on
    /// one value (say, route by the last `ce-hub`) while the layer acts on another.
    fn single_value(self, spelled: &str) -> Result<Option<&'h HeaderValue>, Rejection> {
        if self.count > 1 {
            return Err(Rejection::new(
                RejectionKind::MalformedHeader,
                format!("more than one {spelled} header"),
            ));
        }
        Ok(self.first)
    }

    /// A required single-valued header, not blank.
    fn required(self, spelled: &str) -> Result<&'h str, Rejection> {
        match self.single(spelled)? {
            Some(value) if !value.trim_ascii().is_empty() => Ok(value),
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

    /// A header that may come as several lines (origins, signatures): every line of `name` in
    /// `headers`, joined with `, `.
    fn joined(
        self,
        headers: &HeaderMap,
        name: &HeaderName,
        spelled: &str,
    ) -> Result<Option<Cow<'h, str>>, Rejection> {
        if self.count <= 1 {
            return self
                .first
                .map(|line| utf8(line, spelled).map(Cow::Borrowed))
                .transpose();
        }
        let mut out = String::new();
        for (i, line) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(utf8(line, spelled)?);
        }
        Ok(Some(Cow::Owned(out)))
    }
}

/// Reads the body of a checked event, within `limit`, into the typed event. The declared data
/// of a user event is checked here, before any handler runs: text must be UTF-8, JSON must
/// parse.
pub(crate) async fn read_event<B>(
    inbound: Inbound,
    body: B,
    limit: usize,
) -> Result<Event, Rejection>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let body = read_body(body, limit).await?;
    let Inbound {
        context, data_type, ..
    } = inbound;
    Ok(match context.event_type() {
        EventType::Connect => {
            let body: ConnectEventBody = parse_json(&body, "connect")?;
            Event::Connect(ConnectRequest::new(context, body))
        }
        EventType::User(_) => {
            let data_type = data_type.unwrap_or(DataType::Binary);
            let request = UserEventRequest::try_new(context, body, data_type)
                .map_err(|err| Rejection::new(RejectionKind::InvalidBody, err.to_string()))?;
            Event::UserEvent(request)
        }
        EventType::Connected => Event::Connected(ConnectedRequest::new(context)),
        EventType::Disconnected => {
            let body: DisconnectedEventBody = parse_json(&body, "disconnected")?;
            Event::Disconnected(DisconnectedRequest::new(context, body))
        }
        EventType::GroupJoined => {
            let GroupEventBody { group } = parse_required_json(&body, "group")?;
            Event::GroupJoined(GroupEventRequest::new(context, group))
        }
        EventType::GroupLeft => {
            let GroupEventBody { group } = parse_required_json(&body, "group")?;
            Event::GroupLeft(GroupEventRequest::new(context, group))
        }
        // `read_head` rejects unknown types before the body is read.
        _ => {
            return Err(Rejection::new(
                RejectionKind::UnknownEventType,
                "the event type is not handled",
            ));
        }
    })
}

/// Collects the body, enforcing the limit while it streams (chunked bodies have no length).
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, Rejection>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(too_large(limit)),
        Err(err) => Err(Rejection::new(
            RejectionKind::InvalidBody,
            format!("could not read the request body: {err}"),
        )),
    }
}

/// A system event body; an empty body reads as the default (`connect` may come without one).
fn parse_json<T: DeserializeOwned + Default>(body: &[u8], event: &str) -> Result<T, Rejection> {
    if body.trim_ascii().is_empty() {
        return Ok(T::default());
    }
    parse_required_json(body, event)
}

fn parse_required_json<T: DeserializeOwned>(body: &[u8], event: &str) -> Result<T, Rejection> {
    // serde's derived structs also read a JSON array (fields by position), so `[]` would pass
    // as an empty event: an event body is an object or nothing.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(Rejection::new(
            RejectionKind::InvalidBody,
            format!("the {event} event body is not a json object"),
        ));
    }
    serde_json::from_slice(body).map_err(|err| {
        Rejection::new(
            RejectionKind::InvalidBody,
            format!("the {event} event body is not valid json: {err}"),
        )
    })
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
    if let Some(data_type) = value.to_str().ok().and_then(DataType::from_content_type) {
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
    std::str::from_utf8(value.as_bytes()).map_err(|_| {
        Rejection::new(
            RejectionKind::MalformedHeader,
            format!("header {spelled} is not valid utf-8"),
        )
    })
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
        signature,
    };

    use crate::webhook::auth::{Auth, ScopedKey};

    fn keyed(host: Option<&str>, key: &str) -> Config {
        Config {
            auth: Auth {
                keys: vec![ScopedKey::new(
                    host.map(str::to_owned),
                    &AccessKey::new(key),
                )],
                ..Auth::default()
            },
            ..Config::default()
        }
    }

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

    /// `Head::gather` spells the names it reads; each must be the protocol crate's.
    #[test]
    fn gather_reads_each_name_the_protocol_crate_spells() {
        let names = [
            CE_TYPE,
            CE_HUB,
            CE_CONNECTION_ID,
            WEBHOOK_REQUEST_ORIGIN,
            CE_SIGNATURE,
            CE_CONNECTION_STATE,
            header::CONTENT_LENGTH,
            header::CONTENT_TYPE,
            CE_EVENT_NAME,
            CE_SUBPROTOCOL,
            CE_PHYSICAL_CONNECTION_ID,
            CE_SESSION_ID,
            CE_USER_ID,
            CE_ID,
            CE_TIME,
            CE_SOURCE,
            header::AUTHORIZATION,
        ];
        let mut headers = HeaderMap::new();
        for (i, name) in names.iter().enumerate() {
            headers.insert(name, HeaderValue::from(i));
            // A second line of the last name only; `first` stays the first.
            if i + 1 == names.len() {
                headers.append(name, HeaderValue::from_static("second"));
            }
        }
        let head = Head::gather(&headers);
        let gathered = [
            head.ce_type,
            head.hub,
            head.connection_id,
            head.origin,
            head.signature,
            head.state,
            head.content_length,
            head.content_type,
            head.event_name,
            head.subprotocol,
            head.physical_connection_id,
            head.session_id,
            head.user_id,
            head.id,
            head.time,
            head.source,
            head.authorization,
        ];
        for (i, (name, lines)) in names.iter().zip(gathered).enumerate() {
            let expected = if i + 1 == names.len() { 2 } else { 1 };
            assert_eq!(lines.count, expected, "{name}");
            assert_eq!(lines.first, Some(&HeaderValue::from(i)), "{name}");
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
            body_limit: 4,
            ..keyed(None, "k")
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

    #[test]
    fn a_signature_on_any_line_is_checked_and_all_lines_are_kept() {
        let config = keyed(None, "k");
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

    /// With several content type lines the first one counts, as with `HeaderMap::get`.
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
            let config = keyed(Some("a.com"), "k");
            let _ = read_head(&config, None, headers.clone());
            let _ = read_head(&Config::default(), Some("chat"), headers);
        }
    }

    mod bodies {
        use super::super::read_body;
        use crate::RejectionKind;
        use bytes::Bytes;
        use futures_util::stream;
        use http_body::Frame;
        use http_body_util::StreamBody;

        type Frames = Vec<Result<Frame<Bytes>, std::io::Error>>;

        fn frames(frames: Frames) -> StreamBody<stream::Iter<<Frames as IntoIterator>::IntoIter>> {
            StreamBody::new(stream::iter(frames))
        }

        fn data(text: &'static str) -> Result<Frame<Bytes>, std::io::Error> {
            Ok(Frame::data(Bytes::from_static(text.as_bytes())))
        }

        #[tokio::test]
        async fn bodies_are_joined_across_frames_up_to_the_limit() {
            let one = read_body(frames(vec![data("hello")]), 5).await.unwrap();
            assert_eq!(one, "hello");
            let trailers = Ok(Frame::trailers(http::HeaderMap::new()));
            let many = vec![
                data(""),
                data("he"),
                data(""),
                data("ll"),
                trailers,
                data("o"),
            ];
            assert_eq!(read_body(frames(many), 5).await.unwrap(), "hello");
            assert_eq!(read_body(frames(vec![]), 5).await.unwrap(), "");

            let over = vec![data("hel"), data("lo"), data("!")];
            let rejection = read_body(frames(over), 5).await.unwrap_err();
            assert_eq!(rejection.kind(), RejectionKind::PayloadTooLarge);
            let rejection = read_body(frames(vec![data("hello!")]), 5)
                .await
                .unwrap_err();
            assert_eq!(rejection.kind(), RejectionKind::PayloadTooLarge);
        }

        #[tokio::test]
        async fn a_broken_body_is_a_400_that_says_why() {
            let broken = vec![data("he"), Err(std::io::Error::other("connection reset"))];
            let rejection = read_body(frames(broken), 5).await.unwrap_err();
            assert_eq!(rejection.kind(), RejectionKind::InvalidBody);
            assert_eq!(
                rejection.message(),
                "could not read the request body: connection reset"
            );
        }
    }
}
