//! Narrow entry points into the token checks, for the fuzz targets in `fuzz/`. Compiled only under
//! `--cfg fuzzing`, which cargo-fuzz sets, so they are not part of the API and change freely with
//! the checks they expose.

use http::{HeaderMap, Uri};
use webpubsub_protocol::{AccessKey, token::ClientTokenClaims};

/// The client-token check of `/client/hubs/{hub}`: the claims when `token` is valid for `hub` at
/// one of `authorities` (`host:port`), else the refusal in words.
///
/// # Errors
///
/// The reason the emulator gives the client for refusing the token.
pub fn verify_client_token(
    token: &str,
    keys: &[AccessKey],
    hub: &str,
    authorities: &[&str],
) -> Result<ClientTokenClaims, String> {
    crate::client::auth::verify(token, keys, hub, authorities).map_err(|e| e.to_string())
}

/// The REST check of `/api/...`: whether the bearer token in `headers` is valid for `uri` on an
/// emulator reachable at `own_authority`.
///
/// # Errors
///
/// The status and message the emulator answers with.
pub fn authorize_rest(
    headers: &HeaderMap,
    uri: &Uri,
    keys: &[AccessKey],
    own_authority: &str,
) -> Result<(), (u16, String)> {
    crate::rest::auth::authorize(headers, uri, keys, &[own_authority])
        .map_err(|e| (e.status.as_u16(), e.message))
}
