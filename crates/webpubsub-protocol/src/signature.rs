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

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::AccessKey;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of each signature entry.
pub const PREFIX: &str = "sha256=";

/// The raw 32-byte HMAC-SHA256 of `connection_id` under `key`.
pub fn digest(key: &AccessKey, connection_id: &str) -> [u8; 32] {
    SigningKey::new(key).digest(connection_id)
}

/// An access key ready to sign: the HMAC state after absorbing the key, computed once.
///
/// Keep one per configured key to check many requests: each signature then costs two SHA-256
/// blocks instead of four. `Debug` is redacted (the state is derived from the secret).
///
/// ```
/// use webpubsub_protocol::{AccessKey, signature::{self, SigningKey}};
///
/// let key = AccessKey::new("primary-key");
/// let prepared = SigningKey::new(&key);
/// assert_eq!(prepared.digest("conn1"), signature::digest(&key, "conn1"));
/// let header = signature::sign(&key, "conn1");
/// assert!(signature::verify_prepared([header.as_str()], "conn1", [&prepared]));
/// ```
#[derive(Clone)]
pub struct SigningKey {
    mac: HmacSha256,
}

impl SigningKey {
    /// Prepares `key`.
    pub fn new(key: &AccessKey) -> Self {
        // HMAC takes keys of any length, so this cannot fail.
        let mac = HmacSha256::new_from_slice(key.as_bytes()).expect("hmac accepts any key length");
        Self { mac }
    }

    /// The raw 32-byte HMAC-SHA256 of `connection_id`: the same as [`digest`].
    pub fn digest(&self, connection_id: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(connection_id.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl From<&AccessKey> for SigningKey {
    fn from(key: &AccessKey) -> Self {
        Self::new(key)
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// One signature entry: `sha256=` followed by the lower-case hex digest.
pub fn sign(key: &AccessKey, connection_id: &str) -> String {
    format!("{PREFIX}{}", hex::encode(digest(key, connection_id)))
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
/// `header_values` are the `ce-signature` header lines; each may hold several entries separated
/// by commas or ASCII whitespace. Hex is accepted in either case. Entries that are not
/// `sha256=` + 64 hex digits match nothing. Digests are compared in constant time.
pub fn verify<'h, 'k>(
    header_values: impl IntoIterator<Item = &'h str>,
    connection_id: &str,
    keys: impl IntoIterator<Item = &'k AccessKey>,
) -> bool {
    let prepared: Vec<SigningKey> = keys.into_iter().map(SigningKey::new).collect();
    verify_prepared(header_values, connection_id, &prepared)
}

/// [`verify`] with prepared keys (see [`SigningKey`]): the same answer, half the hashing, and no
/// allocation for up to two keys.
pub fn verify_prepared<'h, 'k>(
    header_values: impl IntoIterator<Item = &'h str>,
    connection_id: &str,
    keys: impl IntoIterator<Item = &'k SigningKey>,
) -> bool {
    let expect = |key: &SigningKey| hex_digest(key.digest(connection_id));
    let mut keys = keys.into_iter();
    let (Some(first), second) = (keys.next(), keys.next()) else {
        return false;
    };
    match (second, keys.next()) {
        (None, _) => matches_any(header_values, &[expect(first)]),
        (Some(second), None) => matches_any(header_values, &[expect(first), expect(second)]),
        (Some(second), Some(third)) => {
            let expected: Vec<[u8; HEX_LEN]> = [first, second, third]
                .into_iter()
                .chain(keys)
                .map(expect)
                .collect();
            matches_any(header_values, &expected)
        }
    }
}

/// The length of a digest in hex.
const HEX_LEN: usize = 64;

/// A digest as lower-case hex. Entries are compared as text: encoding our digest once is
/// cheaper than decoding every entry, and the comparison stays constant-time.
///
/// By hand rather than with `hex`: arithmetic without branches or table lookups keeps the
/// encoding of the secret-derived digest free of data-dependent timing, and it is several times
/// cheaper than the crate's iterator.
fn hex_digest(digest: [u8; 32]) -> [u8; HEX_LEN] {
    // A nibble n is '0' + n, plus 39 (from '0' + 10 to 'a') when n > 9, which is when 9 - n
    // wraps around and sets the top bit.
    let digit = |nibble: u8| b'0' + nibble + 39 * (9u8.wrapping_sub(nibble) >> 7);
    let mut hex = [0u8; HEX_LEN];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(digest) {
        pair[0] = digit(byte >> 4);
        pair[1] = digit(byte & 0x0f);
    }
    hex
}

/// Whether any entry of `header_values` is `sha256=` + one of the `expected` hex digests
/// (prefix and hex in any case).
fn matches_any<'h>(
    header_values: impl IntoIterator<Item = &'h str>,
    expected: &[[u8; HEX_LEN]],
) -> bool {
    if expected.is_empty() {
        return false;
    }
    let mut found = false;
    for entry in header_values.into_iter().flat_map(entries) {
        let Some(candidate) = entry_hex(entry) else {
            continue;
        };
        for digest in expected {
            // Keep comparing after a match: the time taken must not depend on which entry matched.
            found |= equal_in_constant_time(digest, &candidate);
        }
    }
    found
}

/// Whether `a == b`, in a time that does not depend on where they differ. The bytes are folded
/// into one word first (`subtle` compares byte by byte behind an optimization barrier each,
/// which costs more than the HMAC here); `subtle` then compares that word.
fn equal_in_constant_time(a: &[u8; HEX_LEN], b: &[u8; HEX_LEN]) -> bool {
    let mut difference = 0u64;
    for (a, b) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let word = |chunk: &[u8]| u64::from_ne_bytes(chunk.try_into().expect("chunks of 8"));
        difference |= word(a) ^ word(b);
    }
    bool::from(difference.ct_eq(&0))
}

/// Splits one header value into its entries.
fn entries(value: &str) -> impl Iterator<Item = &[u8]> {
    value
        .as_bytes()
        .split(|&b| b == b',' || b.is_ascii_whitespace())
        .filter(|entry| !entry.is_empty())
}

/// The hex of a `sha256=<64 characters>` entry, lower-cased; `None` for any other shape. Letters
/// other than `a`-`f` survive lower-casing as themselves, so a non-hex entry matches no digest.
fn entry_hex(entry: &[u8]) -> Option<[u8; HEX_LEN]> {
    let (prefix, hex) = entry.split_at_checked(PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(PREFIX.as_bytes()) {
        return None;
    }
    let hex: &[u8; HEX_LEN] = hex.try_into().ok()?;
    Some(hex.map(|b| b.to_ascii_lowercase()))
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
    fn accepts_upper_case_hex_as_dotnet_sends_it() {
        let key = AccessKey::new("k");
        let upper = format!("{PREFIX}{}", hex::encode_upper(digest(&key, "c")));
        assert!(verify([upper.as_str()], "c", [&key]));
    }

    #[test]
    fn accepts_any_entry_of_any_line() {
        let key = AccessKey::new("k");
        let good = sign(&key, "c");
        let line = format!("sha256=00, {good}");
        assert!(verify(["sha256=zz", line.as_str()], "c", [&key]));
        assert!(verify([format!("sha256=ab\n{good}").as_str()], "c", [&key]));
    }

    #[test]
    fn rejects_other_keys_connections_and_garbage() {
        let key = AccessKey::new("k");
        let other = AccessKey::new("other");
        let good = sign(&key, "c");
        assert!(!verify([good.as_str()], "c", [&other]));
        assert!(!verify([good.as_str()], "d", [&key]));
        assert!(!verify(["", "sha256=", "md5=abcd", "sha256"], "c", [&key]));
        assert!(!verify(
            [good.as_str()],
            "c",
            std::iter::empty::<&AccessKey>()
        ));
    }

    /// The check as first written, entries hex-decoded and compared as bytes: the reference
    /// for the comparison as text that `verify_prepared` does.
    fn verify_by_decoding(header: &str, connection_id: &str, keys: &[AccessKey]) -> bool {
        header
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .any(|entry| {
                let mut decoded = [0u8; 32];
                entry
                    .split_at_checked(PREFIX.len())
                    .is_some_and(|(prefix, hex)| {
                        prefix.eq_ignore_ascii_case(PREFIX)
                            && hex::decode_to_slice(hex, &mut decoded).is_ok()
                            && keys.iter().any(|key| digest(key, connection_id) == decoded)
                    })
            })
    }

    #[test]
    fn prepared_keys_agree_with_plain_keys() {
        let keys: Vec<AccessKey> = ["a", "b", "c"].into_iter().map(AccessKey::new).collect();
        let prepared: Vec<SigningKey> = keys.iter().map(SigningKey::new).collect();
        for (i, (key, ready)) in keys.iter().zip(&prepared).enumerate() {
            assert_eq!(ready.digest("conn"), digest(key, "conn"));
            let header = sign(key, "conn");
            for n in 1..=3 {
                assert_eq!(
                    verify_prepared([header.as_str()], "conn", &prepared[..n]),
                    i < n,
                );
                assert_eq!(verify([header.as_str()], "conn", &keys[..n]), i < n);
            }
        }
        assert!(!verify_prepared([sign(&keys[0], "c").as_str()], "c", []));
        assert_eq!(format!("{:?}", prepared[0]), "SigningKey(<redacted>)");
    }

    proptest! {
        #[test]
        fn hex_digests_are_lower_case_hex(digest in any::<[u8; 32]>()) {
            let expected = hex::encode(digest);
            prop_assert_eq!(&hex_digest(digest)[..], expected.as_bytes());
        }

        #[test]
        fn prepared_verify_matches_decoding(header in ".*", conn in ".*", n in 0usize..4) {
            let keys: Vec<AccessKey> = (0..n).map(|i| AccessKey::new(format!("k{i}"))).collect();
            let prepared: Vec<SigningKey> = keys.iter().map(SigningKey::new).collect();
            let good = keys.first().map(|k| sign(k, &conn)).unwrap_or_default();
            let upper = good.to_ascii_uppercase();
            let mixed = format!("{header},{good}");
            for header in [header.as_str(), good.as_str(), upper.as_str(), mixed.as_str()] {
                prop_assert_eq!(
                    verify_prepared([header], &conn, &prepared),
                    verify_by_decoding(header, &conn, &keys)
                );
            }
        }

        #[test]
        fn verify_never_panics(header in ".*", conn in ".*") {
            let key = AccessKey::new("k");
            let _ = verify([header.as_str()], &conn, [&key]);
        }

        #[test]
        fn a_signature_always_verifies(key in ".*", conn in ".*") {
            let key = AccessKey::new(key);
            let header = sign(&key, &conn);
            prop_assert!(verify([header.as_str()], &conn, [&key]));
        }
    }
}
