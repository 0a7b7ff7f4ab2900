//! Reading an event's head: the `ce-*` headers become a [`ConnectionContext`], checked in the
//! order of the status map (malformed 400, signature 401, hub 404, state 400, size 413, content
//! type 415), all before the body is read.

use http::{HeaderMap, HeaderName, HeaderValue, header};
use webpubsub_protocol::{
    cloudevents::{
        EventType,
        headers::{
            CE_CONNECTION_ID, CE_CONNECTION_STATE, CE_EVENT_NAME, CE_HUB, CE_ID,
            CE_PHYSICAL_CONNECTION_ID, CE_SESSION_ID, CE_SIGNATURE, CE_SOURCE, CE_SUBPROTOCOL,
            CE_TIME, CE_TYPE, CE_USER_ID, MQTT_SUBPROTOCOL, WEBHOOK_REQUEST_ORIGIN,
        },
    },
    state::ConnectionStates,
};

use crate::{
    ConnectionContext, DataType, MqttContext, Rejection, RejectionKind,
    config::{Config, SignatureFailure},
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
    let ce_type = required(&headers, &CE_TYPE, "ce-type")?;
    let event_type = EventType::parse(ce_type);
    let Some(type_event_name) = event_type.event_name() else {
        return Err(Rejection::new(
            RejectionKind::UnknownEventType,
            format!("ce-type {ce_type:?} is not a web pubsub event type this layer handles"),
        ));
    };
    let hub = required(&headers, &CE_HUB, "ce-hub")?;
    let connection_id = required(&headers, &CE_CONNECTION_ID, "ce-connectionId")?;

    if let Err(failure) = config.check_signature(&headers, connection_id) {
        let (kind, message) = match failure {
            SignatureFailure::Missing => (
                RejectionKind::MissingSignature,
                "missing ce-signature header".to_owned(),
            ),
            SignatureFailure::NoKeyForOrigin => (
                RejectionKind::InvalidSignature,
                match joined(&headers, &WEBHOOK_REQUEST_ORIGIN, "WebHook-Request-Origin")? {
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

    let mut state_lines = headers.get_all(CE_CONNECTION_STATE).iter();
    let state_header = state_lines.next().cloned();
    if state_lines.next().is_some() {
        return Err(Rejection::new(
            RejectionKind::MalformedHeader,
            "more than one ce-connectionState header",
        ));
    }
    let states = match &state_header {
        Some(value) => ConnectionStates::decode_bytes(value.as_bytes())
            .map_err(|err| Rejection::new(RejectionKind::InvalidState, err.to_string()))?,
        None => ConnectionStates::new(),
    };

    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        && length > config.body_limit as u64
    {
        return Err(too_large(config.body_limit));
    }

    let data_type = match event_type {
        EventType::User(_) => Some(user_data_type(&headers)?),
        _ => None,
    };

    let event_name = match text(&headers, &CE_EVENT_NAME, "ce-eventName")? {
        Some(name) if !name.is_empty() => name,
        _ => type_event_name,
    };
    let subprotocol = text(&headers, &CE_SUBPROTOCOL, "ce-subprotocol")?;
    let physical_connection_id = text(
        &headers,
        &CE_PHYSICAL_CONNECTION_ID,
        "ce-physicalConnectionId",
    )?;
    let mqtt = match (subprotocol, physical_connection_id) {
        (Some(subprotocol), Some(physical))
            if subprotocol.eq_ignore_ascii_case(MQTT_SUBPROTOCOL) =>
        {
            Some(MqttContext {
                physical_connection_id: physical.to_owned(),
                session_id: owned(text(&headers, &CE_SESSION_ID, "ce-sessionId")?),
            })
        }
        _ => None,
    };
    let mut context = ConnectionContext {
        hub: hub.to_owned(),
        connection_id: connection_id.to_owned(),
        event_name: event_name.to_owned(),
        user_id: owned(text(&headers, &CE_USER_ID, "ce-userId")?),
        subprotocol: owned(subprotocol),
        states,
        origin: joined(&headers, &WEBHOOK_REQUEST_ORIGIN, "WebHook-Request-Origin")?,
        id: owned(text(&headers, &CE_ID, "ce-id")?),
        time: owned(text(&headers, &CE_TIME, "ce-time")?),
        source: owned(text(&headers, &CE_SOURCE, "ce-source")?),
        signature: joined(&headers, &CE_SIGNATURE, "ce-signature")?,
        mqtt,
        event_type,
        headers: HeaderMap::new(),
    };
    // Handlers may log the context; keep replayable credentials out of `Debug`.
    for name in [CE_SIGNATURE, header::AUTHORIZATION] {
        if let http::header::Entry::Occupied(mut entry) = headers.entry(name) {
            for value in entry.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
    context.headers = headers;
    Ok(Inbound {
        context,
        data_type,
        state_header,
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
fn user_data_type(headers: &HeaderMap) -> Result<DataType, Rejection> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(DataType::Binary);
    };
    let value = String::from_utf8_lossy(value.as_bytes());
    DataType::from_content_type(&value).ok_or_else(|| {
        Rejection::new(
            RejectionKind::UnsupportedContentType,
            format!(
                "content type {value:?} is not supported: use text/plain, application/json, application/octet-stream or application/x-protobuf"
            ),
        )
    })
}

/// The value of a single-valued header as UTF-8. Values are taken as sent: neither the service
/// nor the official SDKs percent-encode them, so decoding would corrupt ids that contain `%`.
/// The service sends each `ce-*` header once; a second line is refused rather than ignored, so
/// that no proxy in front of the layer can act on one value (say, route by the last `ce-hub`)
/// while the layer acts on another.
fn text<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    spelled: &str,
) -> Result<Option<&'h str>, Rejection> {
    let mut lines = headers.get_all(name).iter();
    let Some(value) = lines.next() else {
        return Ok(None);
    };
    if lines.next().is_some() {
        return Err(Rejection::new(
            RejectionKind::MalformedHeader,
            format!("more than one {spelled} header"),
        ));
    }
    std::str::from_utf8(value.as_bytes())
        .map(Some)
        .map_err(|_| {
            Rejection::new(
                RejectionKind::MalformedHeader,
                format!("header {spelled} is not valid utf-8"),
            )
        })
}

fn required<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    spelled: &str,
) -> Result<&'h str, Rejection> {
    match text(headers, name, spelled)? {
        Some(value) if !value.trim().is_empty() => Ok(value),
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

/// Every line of a header joined with `, `.
fn joined(
    headers: &HeaderMap,
    name: &HeaderName,
    spelled: &str,
) -> Result<Option<String>, Rejection> {
    let mut lines = headers.get_all(name).iter();
    let Some(first) = lines.next() else {
        return Ok(None);
    };
    let bad = || {
        Rejection::new(
            RejectionKind::MalformedHeader,
            format!("header {spelled} is not valid utf-8"),
        )
    };
    let mut out = std::str::from_utf8(first.as_bytes())
        .map_err(|_| bad())?
        .to_owned();
    for line in lines {
        out.push_str(", ");
        out.push_str(std::str::from_utf8(line.as_bytes()).map_err(|_| bad())?);
    }
    Ok(Some(out))
}

fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use webpubsub_protocol::{
        AccessKey,
        signature::{self, SigningKey},
    };

    use crate::config::ConfiguredKey;

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
            body_limit: 4,
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
