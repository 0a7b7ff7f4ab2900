//! The event bodies of the CloudEvents model as protobuf messages and back, so both sides of
//! the gRPC upstream read and write the same fields the HTTP upstream carries.

use std::collections::HashMap;

use super::{ClientCertificate, ConnectRequest, DataType, Payload, StringList};
use crate::cloudevents::{self, ConnectEventBody, MultiMap};

/// `claims`, `query` or `headers` as the protobuf map carries them.
pub fn to_string_lists(map: MultiMap) -> HashMap<String, StringList> {
    map.into_iter()
        .map(|(key, values)| (key, StringList { values }))
        .collect()
}

/// A protobuf map of string lists as the CloudEvents model's [`MultiMap`].
pub fn from_string_lists(map: HashMap<String, StringList>) -> MultiMap {
    map.into_iter()
        .map(|(key, list)| (key, list.values))
        .collect()
}

impl Payload {
    /// Text data.
    pub fn text(text: impl Into<String>) -> Self {
        Self::with(DataType::Text, text.into().into())
    }

    /// JSON data, already serialized.
    pub fn json(json: impl Into<bytes::Bytes>) -> Self {
        Self::with(DataType::Json, json.into())
    }

    /// Binary data.
    pub fn binary(data: impl Into<bytes::Bytes>) -> Self {
        Self::with(DataType::Binary, data.into())
    }

    fn with(data_type: DataType, content: bytes::Bytes) -> Self {
        Self {
            data_type: data_type.into(),
            content,
        }
    }
}

impl ConnectRequest {
    /// The `connect` event's body fields as a message; `ack_id` and `context` are the caller's.
    pub fn from_body(body: ConnectEventBody) -> Self {
        Self {
            ack_id: 0,
            context: None,
            claims: to_string_lists(body.claims),
            query: to_string_lists(body.query),
            headers: to_string_lists(body.headers),
            subprotocols: body.subprotocols,
            client_certificates: body
                .client_certificates
                .into_iter()
                .map(|certificate| ClientCertificate {
                    thumbprint: certificate.thumbprint,
                    content: certificate.content.unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// The body fields as the CloudEvents model's `connect` body (the MQTT details do not
    /// travel over gRPC).
    pub fn to_body(&self) -> ConnectEventBody {
        ConnectEventBody {
            claims: from_string_lists(self.claims.clone()),
            query: from_string_lists(self.query.clone()),
            headers: from_string_lists(self.headers.clone()),
            subprotocols: self.subprotocols.clone(),
            client_certificates: self
                .client_certificates
                .iter()
                .map(|certificate| cloudevents::ClientCertificate {
                    thumbprint: certificate.thumbprint.clone(),
                    content: (!certificate.content.is_empty()).then(|| certificate.content.clone()),
                })
                .collect(),
            mqtt: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_bodies_round_trip() {
        let mut body = ConnectEventBody::default();
        body.claims.insert("sub".into(), vec!["alice".into()]);
        body.query.insert("q".into(), vec!["1".into(), "2".into()]);
        body.headers.insert("origin".into(), vec!["x".into()]);
        body.subprotocols = vec!["json.webpubsub.azure.v1".into()];
        body.client_certificates = vec![
            cloudevents::ClientCertificate {
                thumbprint: "ab".into(),
                content: Some("pem".into()),
            },
            cloudevents::ClientCertificate {
                thumbprint: "cd".into(),
                content: None,
            },
        ];
        assert_eq!(ConnectRequest::from_body(body.clone()).to_body(), body);
    }
}
