//! Wire-level types shared by the Azure Web PubSub crates: connection strings, access keys,
//! `ce-signature`, token claims, the CloudEvents event model, the connection-state codec, the
//! client-protocol frames, the tunnel frames and the OData filter grammar.
//!
//! With the `grpc` feature, [`grpc`] holds the gRPC upstream's protobuf messages and stubs.
//!
//! This crate does no I/O: the layer (`webpubsub-tower`), the REST client (`webpubsub-rest`) and
//! the emulator (`webpubsub-emulator`) agree on the protocol by sharing it.
//!
//! What an app calls here directly, mostly: the connection string (its key never shows in
//! `Debug` or errors), and the [`filter`] builder for the REST client's `filter` parameter.
//!
//! ```
//! use webpubsub_protocol::{ConnectionString, signature};
//!
//! let cs: ConnectionString =
//!     "Endpoint=http://localhost:8080;AccessKey=not-a-real-key;Version=1.0;".parse()?;
//! assert_eq!(cs.endpoint(), "http://localhost:8080");
//! assert!(!format!("{cs:?}").contains("not-a-real-key"));
//! // What the service puts in `ce-signature` for a connection's events.
//! assert!(signature::sign(cs.access_key(), "conn-1").starts_with("sha256="));
//! // A wrong connection string says what is wrong, without the key.
//! let error = "Endpoint=;AccessKey=secret;".parse::<ConnectionString>().unwrap_err();
//! assert!(!error.to_string().contains("secret"));
//! # Ok::<(), webpubsub_protocol::ConnectionStringError>(())
//! ```

mod access_key;
pub mod cloudevents;
mod connection_string;
pub mod filter;
pub mod frames;
#[cfg(feature = "grpc")]
pub mod grpc;
mod header_text;
mod host;
mod hub_name;
pub mod signature;
pub mod state;
#[cfg(feature = "tls")]
pub mod tls;
pub mod token;
pub mod tunnel;

pub use access_key::AccessKey;
pub use connection_string::{ConnectionString, ConnectionStringError, IntoConnectionString};
pub use header_text::{
    EVENT_NAME_RULE, MAX_EVENT_NAME_LENGTH, MAX_USER_ID_LENGTH, USER_ID_RULE, is_valid_event_name,
    is_valid_user_id,
};
pub use host::is_loopback_host;
pub use hub_name::{HUB_NAME_RULE, is_valid_hub_name};
