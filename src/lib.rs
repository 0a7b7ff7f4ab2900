//! Azure Web PubSub for Rust.
