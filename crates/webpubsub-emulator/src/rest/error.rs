//! The service's error contract: a status, the `x-ms-error-code` header and an `ErrorDetail`
//! JSON body.

use axum::{
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// The header that carries the error code.
pub(crate) const ERROR_CODE_HEADER: HeaderName = HeaderName::from_static("x-ms-error-code");

/// A REST error: the status, the code and a message saying what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) target: Option<&'static str>,
    /// Whether the answer ends the connection (`Connection: close`): the request's body was
    /// not read to its end, so the connection cannot carry another request.
    pub(crate) close_connection: bool,
}

/// The `ErrorDetail` model of the REST API.
#[derive(Debug, Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            target: None,
            close_connection: false,
        }
    }

    /// The same error, answered with `Connection: close`.
    pub(crate) fn closing_connection(mut self) -> Self {
        self.close_connection = true;
        self
    }

    /// 400 `Error.BadRequest`: an invalid parameter, name, filter or body.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Error.BadRequest", message)
    }

    /// 500: the emulator failed; the reason is logged, not sent.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error.InternalServerError",
            message,
        )
    }

    /// 401: a missing or invalid access token.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Error.Unauthorized", message)
    }

    /// 403: an authenticated caller acting outside what it may.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Error.Forbidden", message)
    }

    /// 404 for a path that is no REST operation.
    pub(crate) fn no_such_operation(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Error.NotFound",
            format!("no REST operation {method} {path}"),
        )
    }

    /// 405 for a known path with another method.
    pub(crate) fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Error.MethodNotAllowed",
            format!("{method} is not allowed on {path}"),
        )
    }

    /// 404 `Error.Connection.NotExisted`, with the service's message and target.
    pub(crate) fn connection_not_found(connection_id: &str) -> Self {
        Self {
            target: Some("Connection"),
            ..Self::new(
                StatusCode::NOT_FOUND,
                "Error.Connection.NotExisted",
                format!("Connection `{connection_id}` is not found."),
            )
        }
    }

    /// 404 `Error.User.NotExisted`: the user has no connection.
    pub(crate) fn user_not_found(user_id: &str) -> Self {
        Self {
            target: Some("User"),
            ..Self::new(
                StatusCode::NOT_FOUND,
                "Error.User.NotExisted",
                format!("User `{user_id}` is not found."),
            )
        }
    }

    /// 404 answer of a `HEAD` existence check, with the service's warning code.
    pub(crate) fn not_existing(code: &'static str, what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code,
            format!("{what} does not exist"),
        )
    }

    /// 408: the body did not arrive in time; the connection closes.
    pub(crate) fn request_timeout(timeout: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "Error.RequestTimeout",
            format!("no part of the request body arrived within {timeout:?}"),
        )
        .closing_connection()
    }

    /// 413: a body over the limit.
    pub(crate) fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Error.PayloadTooLarge",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 415: a send body of a type the service does not take.
    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Error.UnsupportedMediaType",
            format!(
                "content type {content_type:?} is not supported: use text/plain, application/json or application/octet-stream"
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::debug!(status = %self.status, code = self.code, message = %self.message, "REST request rejected");
        let body = ErrorDetail {
            code: self.code,
            message: &self.message,
            target: self.target,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(ERROR_CODE_HEADER, HeaderValue::from_static(self.code));
        if self.close_connection {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
