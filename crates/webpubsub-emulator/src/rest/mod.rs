//! The data-plane REST API under `/api/`: every operation of the service's `2024-12-01` API
//! (sends, closes, existence checks, group and user membership, permissions, group listing and
//! `:generateToken`), with access-key JWT authentication, the service's status codes and its
//! error contract (`ErrorDetail` JSON and `x-ms-error-code`).
//!
//! Behaviour worth knowing, all as on the service:
//! - sends answer 202 even when the target does not exist (fire-and-forget), closes 204;
//! - `HEAD` checks answer 200 or 404; adding a missing connection to a group is 404
//!   `Error.Connection.NotExisted`, adding a user without connections 404 `Error.User.NotExisted`;
//! - invalid names, filters and parameters are 400 `Error.BadRequest` with the reason;
//! - send bodies are `text/plain`, `application/json` or `application/octet-stream` (else 415)
//!   and at most 1 MiB (else 413, after reading the body to its end when it is at most 16 MiB,
//!   so the client sees the status and its connection stays usable; a larger body gets
//!   `Connection: close`); JSON bodies must parse as delivery parses them (at most 128 levels
//!   deep), so JSON clients get them as JSON; `messageTtlSeconds` is checked but messages are
//!   delivered at once, so it has no effect;
//! - revoking a permission on a group keeps a deny entry that overrides a role allowing every
//!   group, until a grant lifts it.

pub(crate) mod auth;
mod error;
mod operations;
mod request;
mod routes;

use std::sync::Arc;

use axum::{
    Router,
    extract::{Request, State},
    http::header,
    response::{IntoResponse, Response},
    routing::any,
};

pub(crate) use self::error::ApiError;
pub(crate) use self::routes::{Operation, PermissionTarget};
use self::{operations::Call, request::Query};
use crate::{config::EmulatorConfig, registry::Registry};

/// A REST call an app sent over its tunnel connection (`LocalRouting`): the connection was
/// authenticated when it opened, and it may act on its own hub only. Only the emulator itself
/// puts this in a request's extensions; nothing from the network can.
#[derive(Debug, Clone)]
pub(crate) struct TunnelPrincipal {
    hub: String,
}

impl TunnelPrincipal {
    pub(crate) fn new(hub: &str) -> Self {
        Self {
            hub: hub.to_owned(),
        }
    }

    fn authorize(&self, hub: &str) -> Result<(), ApiError> {
        if hub.eq_ignore_ascii_case(&self.hub) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "a tunnel of hub {:?} cannot call the REST API of hub {hub:?}",
                self.hub
            )))
        }
    }
}

/// What the REST handlers share.
#[derive(Debug, Clone)]
pub(crate) struct RestState {
    registry: Registry,
    config: Arc<EmulatorConfig>,
}

/// The REST API: every route under `/api/`, authenticated with the emulator's access keys.
pub(crate) fn router(registry: Registry, config: Arc<EmulatorConfig>) -> Router {
    Router::new()
        .route("/api/{*rest}", any(handle))
        .layer(axum::middleware::from_fn_with_state(
            config.clone(),
            crate::trace::trace_rest_calls,
        ))
        .with_state(RestState { registry, config })
}

async fn handle(State(state): State<RestState>, request: Request) -> Response {
    serve(&state, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn serve(state: &RestState, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let segments = request::path_segments(path)?;
    let (hub_name, operation) = routes::route(&parts.method, &segments, path)?;
    let Some(hub_name) = hub_name else {
        // The health check is open, as on the service.
        return Ok(axum::http::StatusCode::OK.into_response());
    };
    match parts.extensions.get::<TunnelPrincipal>() {
        Some(principal) => principal.authorize(&hub_name)?,
        None => auth::authorize(
            &parts.headers,
            &parts.uri,
            &state.config.keys,
            state.config.own_authorities(),
        )?,
    }
    let query = Query::parse(parts.uri.query())?;
    query.require_api_version()?;
    validate_hub(&hub_name)?;
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or(state.config.authority());
    let call = Call {
        state,
        hub_name: &hub_name,
        // A REST call never creates a hub: it can only act on connections that exist.
        hub: state.registry.hub_or_empty(&hub_name),
        query,
        headers: parts.headers.clone(),
        body,
        base_url: format!("http://{host}"),
    };
    call.execute(operation).await
}

/// Runs one operation for another front end (the gRPC data plane) with the same checks and
/// errors as over HTTP; the caller authenticated the request. `query` is the REST query
/// string (percent-encoded), `headers` carry the body's `Content-Type`. The answer is the REST
/// response, whose status and JSON body the caller translates.
pub(crate) async fn execute(
    registry: &Registry,
    config: &Arc<EmulatorConfig>,
    hub_name: &str,
    operation: Operation,
    query: &str,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    validate_hub(hub_name)?;
    let state = RestState {
        registry: registry.clone(),
        config: config.clone(),
    };
    let call = Call {
        state: &state,
        hub_name,
        hub: registry.hub_or_empty(hub_name),
        query: Query::parse(Some(query))?,
        headers,
        body,
        base_url: config.endpoint.clone(),
    };
    call.execute(operation).await
}

fn validate_hub(hub: &str) -> Result<(), ApiError> {
    if webpubsub_protocol::is_valid_hub_name(hub) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid hub name {hub:?}: {}",
            webpubsub_protocol::HUB_NAME_RULE
        )))
    }
}

#[cfg(test)]
mod tests;
