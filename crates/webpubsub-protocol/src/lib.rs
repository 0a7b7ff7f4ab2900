//! Wire-level types shared by the Azure Web PubSub crates: connection strings, access keys,
//! `ce-signature`, token claims, the CloudEvents event model, the connection-state codec, the
//! client-protocol frames, the tunnel frames and the OData filter grammar.
//!
//! With the `grpc` feature, [`grpc`] holds the gRPC upstream's protobuf messages and stubs.
//!
//! This crate does no I/O: the layer (`webpubsub-tower`), the REST client (`webpubsub-rest`) and
//! the emulator (`webpubsub-emulator`) agree on the protocol by sharing it.

mod access_key;
pub mod cloudevents;
mod connection_string;
pub mod filter;
pub mod frames;
#[cfg(feature = "grpc")]
pub mod grpc;
mod header_text;
mod hub_name;
pub mod signature;
pub mod state;
pub mod token;
pub mod tunnel;

pub use access_key::AccessKey;
pub use connection_string::{ConnectionString, ConnectionStringError};
pub use header_text::{
    EVENT_NAME_RULE, MAX_EVENT_NAME_LENGTH, MAX_USER_ID_LENGTH, USER_ID_RULE, is_valid_event_name,
    is_valid_user_id,
};
pub use hub_name::{HUB_NAME_RULE, is_valid_hub_name};
