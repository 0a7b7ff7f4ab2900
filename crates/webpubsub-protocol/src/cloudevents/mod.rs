//! The CloudEvents binding of upstream events: header names, the event type, and the JSON bodies
//! of requests and responses, MQTT included.
//!
//! The service calls the upstream in CloudEvents *binary* mode: the event's attributes travel as
//! `ce-*` headers and the body is the payload. The layer (`webpubsub-tower`) reads these requests
//! and the emulator writes them, both with the names and models of this module.
//!
//! ```
//! use webpubsub_protocol::cloudevents::{headers, EventType, GroupEventBody};
//!
//! // What the service sends when a connection joins a group.
//! let request = http::Request::post("http://localhost/api/webpubsub/hubs/chat/")
//!     .header(headers::CE_TYPE, EventType::GroupJoined.ce_type().as_ref())
//!     .header(headers::CE_HUB, "chat")
//!     .header(headers::CE_CONNECTION_ID, "conn1")
//!     .header(http::header::CONTENT_TYPE, "application/json")
//!     .body(serde_json::to_vec(&GroupEventBody { group: "room".into() })?)?;
//! assert_eq!(request.headers()["ce-connectionId"], "conn1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod body;
mod event_type;
pub mod headers;
pub mod mqtt;

pub use body::{
    ClientCertificate, ConnectEventBody, ConnectResponseBody, DisconnectedEventBody,
    GroupEventBody, MultiMap,
};
pub use event_type::{EventType, TYPE_PREFIX};

use serde::{Deserialize, Deserializer};

/// Reads JSON `null` as the type's default; the service sends `null` for empty collections.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
