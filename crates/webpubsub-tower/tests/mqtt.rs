//! MQTT clients through the layer, over loopback HTTP: the MQTT context and `mqtt-*` user
//! properties reach the handler, answers carry user properties back, and connect refusals become
//! the MQTT error JSON with the same codes and statuses as `@azure/web-pubsub-express` 1.1.0
//! (its `getStatusCodeFromMqttConnectCode` / `getMqttConnectCodeFromStatusCode` tables, written
//! out here rather than taken from the protocol crate, so the crate's table is checked).

mod support;

use std::sync::{Arc, Mutex};

use http::StatusCode;
use serde_json::{Value, json};
use support::layer::{Event, TestServer, app, vector_layer};
use webpubsub_tower::{
    ConnectRequest, ConnectResponse, DisconnectedRequest, EventError, EventHandler,
    UserEventRequest, UserEventResponse,
};

fn mqtt(event: Event) -> Event {
    event
        .header("ce-subprotocol", "mqtt")
        .header("ce-physicalConnectionId", "phys-1")
        .header("ce-sessionId", "session-1")
}

fn mqtt_connect(version: u8, query: Value) -> Event {
    mqtt(Event::connect(json!({
        "claims": {},
        "query": query,
        "headers": {},
        "subprotocols": ["mqtt"],
        "clientCertificates": [],
        "mqtt": {
            "protocolVersion": version,
            "username": "u",
            "password": "cGFzcw==",
            "userProperties": [{ "name": "client-prop", "value": "1" }],
        },
    })))
    .without("ce-sessionId")
}

/// Refuses connects as the query says; echoes MQTT details of user events; records disconnects.
#[derive(Debug, Clone, Default)]
struct MqttHandler(Arc<Mutex<Vec<String>>>);

impl MqttHandler {
    fn seen(&self, what: String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(what);
    }

    /// What it has seen so far.
    fn log(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn query_u16(req: &ConnectRequest, key: &str) -> Option<u16> {
    req.query().get(key)?.first()?.parse().ok()
}

impl EventHandler for MqttHandler {
    async fn on_connect(&self, req: ConnectRequest) -> Result<ConnectResponse, EventError> {
        let mqtt = req.mqtt().expect("an MQTT connect has its MQTT properties");
        self.seen(format!(
            "connect v{} user={:?} props={}",
            mqtt.protocol_version,
            mqtt.username,
            mqtt.user_properties.len()
        ));
        if let Some(status) = query_u16(&req, "status") {
            return Err(EventError::new(
                StatusCode::from_u16(status).expect("status"),
                "refused by status",
            ));
        }
        if let Some(code) = query_u16(&req, "code") {
            return Err(
                EventError::mqtt(u8::try_from(code).expect("u8"), "refused by code")
                    .with_mqtt_user_property("why", "test"),
            );
        }
        Ok(ConnectResponse::new()
            .user_id("mqtt-user")
            .subprotocol("mqtt")
            .mqtt_user_property("server-prop", "2"))
    }

    async fn on_user_event(&self, req: UserEventRequest) -> Result<UserEventResponse, EventError> {
        let context = req.context();
        let mqtt = context.mqtt().expect("an MQTT event has its MQTT context");
        let props: Vec<String> = req
            .mqtt_user_properties()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        self.seen(format!(
            "event {} phys={} session={:?} props={}",
            req.event_name(),
            mqtt.physical_connection_id(),
            mqtt.session_id(),
            props.join(",")
        ));
        Ok(UserEventResponse::text("done").mqtt_user_property("reply", "yes"))
    }

    async fn on_disconnected(&self, req: DisconnectedRequest) -> Result<(), EventError> {
        let mqtt = req.mqtt().map(|m| format!("{m:?}")).unwrap_or_default();
        self.seen(format!("disconnected {:?} {mqtt}", req.reason()));
        Ok(())
    }
}

async fn server() -> (TestServer, MqttHandler) {
    let handler = MqttHandler::default();
    let server = TestServer::start(app(vector_layer(handler.clone()))).await;
    (server, handler)
}

#[tokio::test]
async fn mqtt_connect_accepted_with_user_properties() {
    let (server, handler) = server().await;
    let answer = mqtt_connect(5, json!({})).send(&server).await;
    answer.assert_status(StatusCode::OK);
    assert_eq!(
        answer.json(),
        json!({
            "userId": "mqtt-user",
            "subprotocol": "mqtt",
            "mqtt": { "userProperties": [{ "name": "server-prop", "value": "2" }] },
        })
    );
    let seen = handler.log();
    assert_eq!(seen, ["connect v5 user=Some(\"u\") props=1"]);
}

#[tokio::test]
async fn mqtt_connect_errors_map_status_to_code_like_express() {
    // express `fail(status)`: 3.1.1: 400->4, 401->5, 500->3; 5.0: 400->0x86, 401->0x87, 500->0x80
    let (server, _handler) = server().await;
    for (version, status, code) in [
        (4u8, 400u16, 4u64),
        (4, 401, 5),
        (4, 500, 3),
        (5, 400, 0x86),
        (5, 401, 0x87),
        (5, 500, 0x80),
    ] {
        let answer = mqtt_connect(version, json!({ "status": [status.to_string()] }))
            .send(&server)
            .await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "v{version} {status}: {answer:?}"
        );
        assert_eq!(answer.content_type().as_deref(), Some("application/json"));
        let body = answer.json();
        assert_eq!(body["mqtt"]["code"], code, "v{version} {status}: {body}");
        assert_eq!(body["mqtt"]["reason"], "refused by status");
    }
}

#[tokio::test]
async fn mqtt_connect_codes_map_to_statuses_like_express() {
    // The whole map (express `failWith({mqtt:{code}})` -> getStatusCodeFromMqttConnectCode) is
    // tested where it lives, webpubsub_protocol::cloudevents::mqtt; here one code of each status
    // shows the layer answers with it and passes the code, reason and properties on.
    let (server, _handler) = server().await;
    let table: [(u8, u16); 6] = [
        (1, 400),
        (4, 401),
        (0x8A, 403),
        (0x97, 429),
        (0x80, 500),
        (3, 503),
    ];
    for (code, status) in table {
        let answer = mqtt_connect(5, json!({ "code": [code.to_string()] }))
            .send(&server)
            .await;
        assert_eq!(answer.status.as_u16(), status, "code {code:#x}: {answer:?}");
        assert_eq!(
            answer.json(),
            json!({ "mqtt": {
                "code": code,
                "reason": "refused by code",
                "userProperties": [{ "name": "why", "value": "test" }],
            } }),
            "code {code:#x}"
        );
    }
}

#[tokio::test]
async fn mqtt_user_events_carry_user_properties_both_ways() {
    let (server, handler) = server().await;
    let answer = mqtt(Event::user("telemetry", "application/json", "{\"t\":21}"))
        .header("mqtt-color", "red")
        .append_header("mqtt-size", "L")
        .send(&server)
        .await;
    answer.assert_status(StatusCode::OK);
    assert_eq!(answer.text(), "done");
    assert_eq!(answer.header("mqtt-reply").as_deref(), Some("yes"));
    let seen = handler.log();
    assert_eq!(
        seen,
        ["event telemetry phys=phys-1 session=Some(\"session-1\") props=color=red,size=L"]
    );
}

#[tokio::test]
async fn mqtt_disconnected_details_reach_the_handler() {
    let (server, handler) = server().await;
    let answer = mqtt(Event::disconnected("x"))
        .body(
            json!({
                "reason": "bye",
                "mqtt": {
                    "initiatedByClient": true,
                    "disconnectPacket": { "code": 4, "userProperties": [{ "name": "k", "value": "v" }] },
                },
            })
            .to_string(),
        )
        .send(&server)
        .await;
    answer.assert_status(StatusCode::OK);
    support::layer::wait_until(|| !handler.log().is_empty()).await;
    let seen = handler.log();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("disconnected Some(\"bye\")"),
        "{seen:?}"
    );
    for part in ["initiated_by_client: true", "code: 4", "\"k\"", "\"v\""] {
        assert!(seen[0].contains(part), "{part} missing from {seen:?}");
    }
}
