//! Random identifiers: generated access keys and connection ids.

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `len` random ASCII letters and digits.
///
/// `fastrand` is not a cryptographic generator. That is enough for an emulator's ids and its
/// default key, which guard local test traffic only; set your own key for anything else.
pub(crate) fn alphanumeric(len: usize) -> String {
    (0..len)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn has_the_length_and_alphabet() {
        let id = super::alphanumeric(22);
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(id, super::alphanumeric(22));
    }
}
