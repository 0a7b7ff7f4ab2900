//! Helpers shared by the integration tests. Each test binary uses a part of them.
#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod chaos_proxy;
pub mod client;
pub mod emulator;
#[path = "../../crates/webpubsub-tower/tests/support/layer.rs"]
pub mod layer;
pub mod node;
pub mod pace;
#[path = "../../crates/webpubsub-tower/tests/support/raw_http.rs"]
pub mod raw_http;
#[path = "../../crates/webpubsub-tower/tests/support/status_rows.rs"]
pub mod status_rows;
#[path = "../../crates/webpubsub-emulator/tests/support/token.rs"]
pub mod token;
#[path = "../../crates/webpubsub-emulator/tests/support/ws_client.rs"]
pub mod ws_client;
