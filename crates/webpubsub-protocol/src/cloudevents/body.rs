//! The JSON bodies of system and group events and of the `connect` response.
//!
//! Deserialization is lenient the way the service's own output needs: missing fields and JSON
//! `null` read as empty, and unknown fields are ignored. Serialization omits empty optional
//! fields, so the layer's answers stay small and the emulator's requests look like the service's.
//!
//! ```
//! use webpubsub_protocol::cloudevents::{ConnectEventBody, ConnectResponseBody};
//!
//! let body: ConnectEventBody = serde_json::from_str(
//!     r#"{"claims":{"sub":["alice"]},"query":{"room":["a"]},"subprotocols":["json.webpubsub.azure.v1"]}"#,
//! )?;
//! assert_eq!(body.query["room"], ["a"]);
//! assert!(body.client_certificates.is_empty());
//!
//! let answer = ConnectResponseBody {
//!     user_id: Some("alice".into()),
//!     groups: Some(vec!["room-a".into()]),
//!     ..Default::default()
//! };
//! assert_eq!(serde_json::to_string(&answer)?, r#"{"userId":"alice","groups":["room-a"]}"#);
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::mqtt::{
    MqttConnectProperties, MqttConnectResponseProperties, MqttDisconnectedProperties,
};
use super::nullable;

/// A map from a name to its values, as `claims`, `query` and `headers` are sent.
pub type MultiMap = BTreeMap<String, Vec<String>>;

/// The body of `azure.webpubsub.sys.connect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectEventBody {
    /// The claims of the client's access token, each with its values.
    #[serde(default, deserialize_with = "nullable")]
    pub claims: MultiMap,
    /// The query parameters of the client's connect URL.
    #[serde(default, deserialize_with = "nullable")]
    pub query: MultiMap,
    /// The headers of the client's connect request.
    #[serde(default, deserialize_with = "nullable")]
    pub headers: MultiMap,
    /// The subprotocols the client asked for.
    #[serde(default, deserialize_with = "nullable")]
    pub subprotocols: Vec<String>,
    /// The client's TLS certificates, when client certificates are enabled.
    #[serde(default, deserialize_with = "nullable")]
    pub client_certificates: Vec<ClientCertificate>,
    /// The CONNECT packet's properties, for MQTT clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttConnectProperties>,
}

/// A client certificate of a `connect` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertificate {
    /// The certificate's SHA-1 thumbprint.
    #[serde(default, deserialize_with = "nullable")]
    pub thumbprint: String,
    /// The certificate in PEM form (newer services only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// The body of a `200` answer to `connect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectResponseBody {
    /// The user id to give the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Groups the connection joins at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// Roles of the connection, such as `webpubsub.sendToGroup.<group>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// The subprotocol chosen among those the client asked for. The MQTT docs spell it
    /// `subProtocol`, which is read too.
    #[serde(
        default,
        alias = "subProtocol",
        skip_serializing_if = "Option::is_none"
    )]
    pub subprotocol: Option<String>,
    /// User properties for an MQTT client's CONNACK packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttConnectResponseProperties>,
}

impl ConnectResponseBody {
    /// Whether the answer says nothing, so that `204 No Content` can carry it.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// The body of `azure.webpubsub.sys.disconnected`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectedEventBody {
    /// Why the connection ended; absent or empty for a normal close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The MQTT details, for MQTT sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttDisconnectedProperties>,
}

/// The body of `azure.webpubsub.gp.joined` and `azure.webpubsub.gp.left`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEventBody {
    /// The group the connection joined or left.
    pub group: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_documented_connect_body() {
        let body: ConnectEventBody = serde_json::from_str(
            r#"{"claims":{"role":["a","b"]},"query":{"k":["v"]},"headers":{"Connection":["Upgrade"]},
                "subprotocols":["json.webpubsub.azure.v1"],
                "clientCertificates":[{"thumbprint":"ABC","content":"-----BEGIN CERTIFICATE-----"}],
                "mqtt":{"protocolVersion":5,"username":"u","password":"cA==","userProperties":[{"name":"n","value":"v"}],"cleanStart":true}}"#,
        )
        .unwrap();
        assert_eq!(body.claims["role"], ["a", "b"]);
        assert_eq!(body.headers["Connection"], ["Upgrade"]);
        assert_eq!(body.client_certificates[0].thumbprint, "ABC");
        let mqtt = body.mqtt.unwrap();
        assert_eq!(mqtt.protocol_version, 5);
        assert_eq!(mqtt.user_properties[0].name, "n");
    }

    #[test]
    fn reads_nulls_and_missing_fields_as_empty() {
        let body: ConnectEventBody =
            serde_json::from_str(r#"{"claims":null,"subprotocols":null}"#).unwrap();
        assert_eq!(body, ConnectEventBody::default());
        let body: DisconnectedEventBody = serde_json::from_str(r#"{"reason":null}"#).unwrap();
        assert_eq!(body.reason, None);
    }

    #[test]
    fn reads_mqtt_disconnect() {
        let body: DisconnectedEventBody = serde_json::from_str(
            r#"{"reason":"closed","mqtt":{"initiatedByClient":true,"disconnectPacket":{"code":4,"userProperties":[]}}}"#,
        )
        .unwrap();
        let mqtt = body.mqtt.unwrap();
        assert!(mqtt.initiated_by_client);
        assert_eq!(mqtt.disconnect_packet.unwrap().code, 4);
    }

    #[test]
    fn connect_response_reads_both_subprotocol_spellings() {
        for json in [r#"{"subprotocol":"mqtt"}"#, r#"{"subProtocol":"mqtt"}"#] {
            let body: ConnectResponseBody = serde_json::from_str(json).unwrap();
            assert_eq!(body.subprotocol.as_deref(), Some("mqtt"));
        }
        assert!(ConnectResponseBody::default().is_empty());
        assert_eq!(
            serde_json::to_string(&ConnectResponseBody::default()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn group_event_needs_its_group() {
        assert!(serde_json::from_str::<GroupEventBody>("{}").is_err());
        let body: GroupEventBody = serde_json::from_str(r#"{"group":"g"}"#).unwrap();
        assert_eq!(body.group, "g");
    }

    proptest! {
        #[test]
        fn bodies_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = serde_json::from_slice::<ConnectEventBody>(&bytes);
            let _ = serde_json::from_slice::<DisconnectedEventBody>(&bytes);
            let _ = serde_json::from_slice::<GroupEventBody>(&bytes);
            let _ = serde_json::from_slice::<ConnectResponseBody>(&bytes);
        }

        #[test]
        fn connect_body_round_trips(
            claims in proptest::collection::btree_map(".*", proptest::collection::vec(".*", 0..3), 0..3),
            subprotocols in proptest::collection::vec(".*", 0..3),
        ) {
            let body = ConnectEventBody { claims, subprotocols, ..Default::default() };
            let json = serde_json::to_vec(&body).unwrap();
            prop_assert_eq!(serde_json::from_slice::<ConnectEventBody>(&json).unwrap(), body);
        }
    }
}
