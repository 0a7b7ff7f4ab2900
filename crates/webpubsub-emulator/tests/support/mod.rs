//! Helpers shared by the emulator's integration tests (and by the workspace's cross-crate tests,
//! which include `ws_client.rs` by path). Each test binary uses a part of them.
#![allow(dead_code, unreachable_pub)]

pub mod token;
pub mod ws_client;
