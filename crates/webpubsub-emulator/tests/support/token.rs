//! Tokens minted by hand from the protocol crate's claims, as the service's SDKs mint them, so
//! that the emulator's tests need no REST client.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use webpubsub_emulator::Emulator;
use webpubsub_protocol::token::{
    ClientProtocol, ClientTokenClaims, RestTokenClaims, client_audience, client_url,
};

/// How long the minted tokens last.
const LIFETIME_SECS: u64 = 300;

/// `claims` as an HS256 JWT signed with `key`.
pub fn sign<T: Serialize>(key: &str, claims: &T) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("claims encode")
}

/// A REST token for `url`, signed with `key`, valid for five minutes.
pub fn rest_token(key: &str, url: &str) -> String {
    let claims = RestTokenClaims::new(url, jsonwebtoken::get_current_timestamp(), LIFETIME_SECS);
    sign(key, &claims)
}

/// Client claims for `hub` of the emulator's own endpoint, valid for five minutes.
pub fn client_claims(emulator: &Emulator, hub: &str) -> ClientTokenClaims {
    let audience = client_audience(emulator.endpoint(), ClientProtocol::Default, hub);
    ClientTokenClaims::new(
        audience,
        jsonwebtoken::get_current_timestamp(),
        LIFETIME_SECS,
    )
}

/// The client URL of `hub` with a token of `claims`, signed with the emulator's key.
pub fn url_with(emulator: &Emulator, hub: &str, claims: &ClientTokenClaims) -> String {
    let token = sign(emulator.access_key().expose(), claims);
    client_url(emulator.endpoint(), ClientProtocol::Default, hub, &token)
}

/// The client URL of `hub` for `user`.
pub fn user_url(emulator: &Emulator, hub: &str, user: &str) -> String {
    url_with(emulator, hub, &client_claims(emulator, hub).with_user(user))
}

/// A plain-HTTP reqwest client. reqwest is built without a default TLS provider (see the
/// workspace's Cargo.toml), and a client needs one installed before it is built.
pub fn http_client() -> reqwest::Client {
    // Err means another part of the test binary installed one already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
