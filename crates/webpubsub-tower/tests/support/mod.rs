//! Helpers shared by the layer's integration tests (and by the workspace's cross-crate tests,
//! which include these files by path). Each test binary uses a part of them.
#![allow(dead_code, unreachable_pub)]

pub mod layer;
pub mod raw_http;
pub mod status_rows;
