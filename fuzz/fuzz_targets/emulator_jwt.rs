//! The emulator's token checks (client WebSocket tokens and REST bearer tokens): any token,
//! including well-signed tokens with hostile headers and claims, is accepted or refused with a
//! reason, never a panic; only tokens signed with the emulator's key and unexpired pass, and the
//! refusal never repeats the token's signature.
#![no_main]

use std::time::{SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Uri, header::AUTHORIZATION};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use webpubsub_emulator::fuzzing::{authorize_rest, verify_client_token};
use webpubsub_protocol::AccessKey;

const KEY: &str = "fuzz-emulator-key-not-a-secret";
const AUTHORITY: &str = "127.0.0.1:8080";

#[derive(Debug, Arbitrary)]
enum Token {
    /// Any text as the token.
    Raw(String),
    /// A token signed with HS256 over a fuzzed header and claims.
    Signed {
        standard_header: bool,
        header: String,
        claims: String,
        right_key: bool,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    token: Token,
    hub: String,
    rest_path: String,
    raw_authorization: Option<Vec<u8>>,
}

fn sign(header: &str, claims: &str, key: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fuzz_target!(|input: Input| {
    let keys = [AccessKey::new(KEY)];
    let (token, trusted) = match &input.token {
        Token::Raw(text) => (text.clone(), false),
        Token::Signed {
            standard_header,
            header,
            claims,
            right_key,
        } => {
            let header = if *standard_header {
                r#"{"alg":"HS256","typ":"JWT"}"#
            } else {
                header.as_str()
            };
            let key = if *right_key { KEY } else { "another-key" };
            (sign(header, claims, key), *right_key)
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    // Only a signature this target computed is a secret worth looking for (a fuzzed "token"
    // may well be a substring of the refusal's own words).
    let signature = match input.token {
        Token::Signed { .. } => token.rsplit('.').next().unwrap_or_default(),
        Token::Raw(_) => "",
    };

    match verify_client_token(&token, &keys, &input.hub, &[AUTHORITY]) {
        Ok(claims) => {
            assert!(trusted, "a token not signed with the key passed: {token:?}");
            assert!(
                claims.exp + 60 >= now,
                "an expired token passed: {claims:?}"
            );
        }
        Err(reason) => {
            assert!(!reason.is_empty());
            if signature.len() >= 16 {
                assert!(
                    !reason.contains(signature),
                    "the refusal shows the token: {reason}"
                );
            }
        }
    }

    let mut headers = HeaderMap::new();
    let authorization = match &input.raw_authorization {
        Some(bytes) => HeaderValue::from_bytes(bytes).ok(),
        None => HeaderValue::from_str(&format!("Bearer {token}")).ok(),
    };
    if let Some(value) = authorization {
        headers.insert(AUTHORIZATION, value);
    }
    let Ok(uri) = format!("/api/hubs/{}/:send", input.rest_path).parse::<Uri>() else {
        return;
    };
    match authorize_rest(&headers, &uri, &keys, AUTHORITY) {
        Ok(()) => assert!(
            trusted && input.raw_authorization.is_none(),
            "a REST token not signed with the key passed: {headers:?}"
        ),
        Err((status, message)) => {
            assert_eq!(status, 401, "{message}");
            assert!(!message.is_empty());
            if signature.len() >= 16 {
                assert!(
                    !message.contains(signature),
                    "the refusal shows the token: {message}"
                );
            }
        }
    }
});
