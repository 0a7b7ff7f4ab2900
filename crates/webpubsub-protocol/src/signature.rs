//! The `ce-signature` of upstream requests: `sha256=` + hex HMAC-SHA256 of the connection id.
//!
//! The service signs every upstream request once per access key (primary and secondary) and
//! sends the results in one `ce-signature` header, comma separated (`sha256=<hex>,sha256=<hex>`),
//! or as several header lines. A request is authentic if any entry matches any key.
//!
//! ```
//! use webpubsub_protocol::{AccessKey, signature};
//!
//! let primary = AccessKey::new("primary-key");
//! let secondary = AccessKey::new("secondary-key");
//! let header = signature::sign_all([&primary, &secondary], "conn1");
//!
//! // During key rotation the upstream may know only the secondary key.
//! assert!(signature::verify([header.as_str()], "conn1", [&secondary]));
//! // A signature is bound to its connection id.
//! assert!(!signature::verify([header.as_str()], "conn2", [&primary]));
//! ```

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::AccessKey;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of each signature entry.
const PREFIX: &str = "sha256=";

/// The HMAC-SHA256 of `connection_id` under `key`, not yet finalized.
fn mac(key: &AccessKey, connection_id: &str) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mac = HmacSha256::new_from_slice(key.as_bytes()).expect("hmac accepts any key length");
    mac.chain_update(connection_id.as_bytes())
}

/// One signature entry: `sha256=` followed by the lower-case hex digest.
pub fn sign(key: &AccessKey, connection_id: &str) -> String {
    let digest = mac(key, connection_id).finalize().into_bytes();
    format!("{PREFIX}{}", hex::encode(digest))
}

/// The `ce-signature` value the service sends: one entry per key, joined by `,`.
pub fn sign_all<'a>(keys: impl IntoIterator<Item = &'a AccessKey>, connection_id: &str) -> String {
    keys.into_iter()
        .map(|key| sign(key, connection_id))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether any signature entry in `header_values` matches `connection_id` under any of `keys`.
///
/// `header_values` are the `ce-signature` header lines; see [`digests`] for what an entry is.
/// Each digest is checked with `Mac::verify_slice` (constant time).
pub fn verify<'h, 'k>(
    header_values: impl IntoIterator<Item = &'h str>,
    connection_id: &str,
    keys: impl IntoIterator<Item = &'k AccessKey>,
) -> bool {
    let macs: Vec<HmacSha256> = keys
        .into_iter()
        .map(|key| mac(key, connection_id))
        .collect();
    digests(header_values.into_iter().map(str::as_bytes)).any(|digest| {
        macs.iter()
            .any(|mac| mac.clone().verify_slice(&digest).is_ok())
    })
}

/// The digests of the signature entries in `ce-signature` header lines, in order.
///
/// A line may hold several entries separated by commas or ASCII whitespace. An entry is
/// `sha256=` + 64 hex digits, the prefix and the hex in either case, decoded with `hex`; entries
/// of any other shape are skipped. Bytes, not `str`: an entry is ASCII or no entry at all.
pub fn digests<'h>(
    header_values: impl IntoIterator<Item = &'h [u8]>,
) -> impl Iterator<Item = [u8; 32]> {
    header_values
        .into_iter()
        .flat_map(|line| line.split(|&b| b == b',' || b.is_ascii_whitespace()))
        .filter_map(decode_entry)
}

/// The digest of a `sha256=<64 hex digits>` entry; `None` for any other shape.
fn decode_entry(entry: &[u8]) -> Option<[u8; 32]> {
    let (prefix, hex) = entry.split_at_checked(PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(PREFIX.as_bytes()) {
        return None;
    }
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex, &mut digest).ok()?;
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_the_reference_vector() {
        // HMAC-SHA256(key = "key", msg = "The quick brown fox jumps over the lazy dog"), RFC 4231 style vector.
        let key = AccessKey::new("key");
        assert_eq!(
            sign(&key, "The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn accepts_upper_case_as_dotnet_sends_it() {
        let key = AccessKey::new("k");
        let upper = sign(&key, "c").to_ascii_uppercase();
        assert!(upper.starts_with("SHA256="));
        assert!(verify([upper.as_str()], "c", [&key]));
    }

    #[test]
    fn accepts_any_entry_of_any_line_under_any_key() {
        let key = AccessKey::new("k");
        let good = sign(&key, "c");
        let line = format!("sha256=00, {good}");
        assert!(verify(["sha256=zz", line.as_str()], "c", [&key]));
        assert!(verify([format!("sha256=ab\n{good}").as_str()], "c", [&key]));
        let other = AccessKey::new("other");
        assert!(verify([good.as_str()], "c", [&other, &key]));
        assert!(verify(
            [sign_all([&other, &key], "c").as_str()],
            "c",
            [&key]
        ));
    }

    #[test]
    fn rejects_other_keys_connections_and_garbage() {
        let key = AccessKey::new("k");
        let other = AccessKey::new("other");
        let good = sign(&key, "c");
        assert!(!verify([good.as_str()], "c", [&other]));
        assert!(!verify([good.as_str()], "d", [&key]));
        assert!(!verify(["", "sha256=", "md5=abcd", "sha256"], "c", [&key]));
        assert!(!verify([&good[..good.len() - 1]], "c", [&key]));
        assert!(!verify([format!("{good}0").as_str()], "c", [&key]));
        assert!(!verify(
            [good.as_str()],
            "c",
            std::iter::empty::<&AccessKey>()
        ));
    }

    proptest! {
        #[test]
        fn verify_never_panics(header in ".*", conn in ".*") {
            let key = AccessKey::new("k");
            let _ = verify([header.as_str()], &conn, [&key]);
        }

        #[test]
        fn a_signature_verifies_among_any_other_entries(
            key in ".*",
            conn in ".*",
            noise in "[ -~]*",
        ) {
            let key = AccessKey::new(key);
            let header = format!("{noise},{}", sign(&key, &conn));
            prop_assert!(verify([header.as_str()], &conn, [&key]));
            // Random noise holds no valid HMAC under another key.
            prop_assert!(!verify([header.as_str()], &conn, [&AccessKey::new("not the key")]));
        }
    }
}
