//! Azure Web PubSub for Rust.
//!
//! This facade gathers the project's crates under one name:
//!
//! | module | crate | what it is for |
//! |---|---|---|
//! | [`handler`] | `webpubsub-tower` | events in: the tower layer that serves the event-handler protocol |
//! | [`rest`] | `webpubsub-rest` | commands out: the data-plane REST API and client access tokens |
//! | [`client`] | `webpubsub-client` | clients: the Web PubSub client protocol for Rust apps, with reliable recovery |
//! | `emulator` | `webpubsub-emulator` | the service itself, in-process, for local runs and tests (feature `emulator`, opt-in: `webpubsub = { version = "0.1", features = ["emulator"] }`) |
//! | [`protocol`] | `webpubsub-protocol` | what they all agree on: connection strings, keys, signatures, tokens, events, frames, filters |
//!
//! Each crate can also be used on its own. The feature `testing` adds `handler::testing`: signed
//! events as the service sends them, to test a handler (see its "Testing your handler").

pub use webpubsub_client as client;
pub use webpubsub_protocol as protocol;
pub use webpubsub_rest as rest;
pub use webpubsub_tower as handler;

#[cfg(feature = "emulator")]
pub use webpubsub_emulator as emulator;

pub use webpubsub_protocol::{AccessKey, ConnectionString};

// The README's examples are compiled as doctests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
