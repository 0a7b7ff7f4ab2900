//! The gRPC upstream's protocol (feature `grpc`): the protobuf messages and tonic stubs of
//! `proto/webpubsub.upstream.v1.proto`, and the few rules both sides share.
//!
//! The service is the gRPC server, the app its client. The app calls `Register` and receives
//! its hub's events on the returned stream; it answers `connect` with `AckConnect` and user
//! events with `AckMessage`; it manages clients with the data-plane calls. Every call carries
//! `authorization: Bearer <JWT>` whose audience is [`upstream_audience`].
//!
//! The code is generated with a pure-Rust protobuf compiler and checked in, so building needs
//! no `protoc`: `cargo run --manifest-path tools/grpc-codegen/Cargo.toml` regenerates it. The
//! stubs are generic over any tower service; the transport (a tonic server or channel) is the
//! business of the crates that do I/O.
//!
//! ```
//! use prost::Message as _;
//! use webpubsub_protocol::grpc::{DataType, Payload, data_type_of, upstream_audience};
//!
//! assert_eq!(upstream_audience("http://localhost:8081/", "Chat"), "http://localhost:8081/hubs/chat");
//!
//! let payload = Payload { data_type: DataType::Text.into(), content: "hi".into() };
//! let decoded = Payload::decode(payload.encode_to_vec().as_slice()).unwrap();
//! assert_eq!(data_type_of(decoded.data_type), Ok(DataType::Text));
//! ```

#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic,
    clippy::use_self,
    rust_2018_idioms
)]
mod generated;

mod convert;

pub use convert::{from_string_lists, to_string_lists};
pub use generated::*;

/// The `aud` of the JWT that authorizes gRPC calls about `hub`: `{endpoint}/hubs/{hub}`, with
/// the hub lower-cased (hub names are case-insensitive) and a trailing slash of the endpoint
/// ignored. `endpoint` is the service's gRPC endpoint, such as `http://localhost:8081`.
pub fn upstream_audience(endpoint: &str, hub: &str) -> String {
    format!(
        "{}/hubs/{}",
        endpoint.trim_end_matches('/'),
        hub.to_ascii_lowercase()
    )
}

/// A `data_type` field that names no [`DataType`] this side knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown data type {0}: expected 1 (text), 2 (json), 3 (binary) or 4 (protobuf)")]
pub struct UnknownDataType(pub i32);

/// The [`DataType`] of a received `data_type` field. Unknown values, and the unspecified `0`,
/// are refused: a payload whose type is unknown cannot be read correctly.
pub fn data_type_of(value: i32) -> Result<DataType, UnknownDataType> {
    match DataType::try_from(value) {
        Ok(DataType::Unspecified) | Err(_) => Err(UnknownDataType(value)),
        Ok(known) => Ok(known),
    }
}

impl DataType {
    /// The content type of a CloudEvents user event or REST send with this data type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => "text/plain",
            Self::Json => "application/json",
            Self::Protobuf => "application/x-protobuf",
            Self::Binary | Self::Unspecified => "application/octet-stream",
        }
    }

    /// The data type of a content type (parameters and case ignored); `None` for one that no
    /// data type has.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        [Self::Text, Self::Json, Self::Binary, Self::Protobuf]
            .into_iter()
            .find(|kind| media.eq_ignore_ascii_case(kind.content_type()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn content_types_round_trip() {
        for kind in [
            DataType::Text,
            DataType::Json,
            DataType::Binary,
            DataType::Protobuf,
        ] {
            assert_eq!(DataType::from_content_type(kind.content_type()), Some(kind));
        }
        assert_eq!(
            DataType::from_content_type("Text/Plain; charset=utf-8"),
            Some(DataType::Text)
        );
        assert_eq!(DataType::from_content_type("image/png"), None);
    }

    #[test]
    fn unknown_and_unspecified_data_types_are_refused() {
        assert_eq!(data_type_of(0), Err(UnknownDataType(0)));
        assert_eq!(data_type_of(99), Err(UnknownDataType(99)));
        assert!(data_type_of(99).unwrap_err().to_string().contains("99"));
        assert_eq!(data_type_of(2), Ok(DataType::Json));
    }

    #[test]
    fn malformed_protobuf_is_an_error_not_a_panic() {
        assert!(StreamingRequest::decode(&[0xff, 0xff, 0xff][..]).is_err());
        // A field whose length runs past the end.
        assert!(ConnectRequest::decode(&[0x12, 0x40, 0x01][..]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(bytes: Vec<u8>) {
            let _ = StreamingRequest::decode(bytes.as_slice());
            let _ = AckConnectRequest::decode(bytes.as_slice());
            let _ = AckMessageRequest::decode(bytes.as_slice());
        }
    }
}
