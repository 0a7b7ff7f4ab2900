//! Helpers shared by the integration tests. Each test binary uses a part of them.
#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod chaos_proxy;
pub mod client;
pub mod emulator;
pub mod layer;
pub mod node;
pub mod pace;
pub mod raw_http;
pub mod ws_client;
