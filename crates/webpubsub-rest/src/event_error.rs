//! A failed call to the service inside an event handler, answered as the handler's error (the
//! `handler` feature): `?` works in an `EventHandler` method that calls the REST client.

use http::StatusCode;
use webpubsub_tower::EventError;

use crate::Error;

/// The event fails the way its REST call did: `504` when the call timed out, `503` when the
/// service throttled it (429) or was unavailable (503), `502` for any other answer of the
/// service or a connection that failed, `500` for a call the application built wrongly (a bad
/// argument, a credential that failed). The message is the error's, which never carries a key
/// or a token.
impl From<Error> for EventError {
    fn from(err: Error) -> Self {
        let status = if err.is_timeout() {
            StatusCode::GATEWAY_TIMEOUT
        } else if err.is_throttled() || err.status() == Some(StatusCode::SERVICE_UNAVAILABLE) {
            StatusCode::SERVICE_UNAVAILABLE
        } else if err.is_status() || err.is_connect() || err.is_transport() {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self::new(status, format!("a web pubsub service call failed: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(err: Error) -> StatusCode {
        EventError::from(err).status()
    }

    #[test]
    fn rest_errors_map_to_event_statuses() {
        let answer = |status: StatusCode| Error::from_answer(status, None, b"");
        for (err, status) in [
            (
                answer(StatusCode::TOO_MANY_REQUESTS),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                answer(StatusCode::SERVICE_UNAVAILABLE),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (answer(StatusCode::NOT_FOUND), StatusCode::BAD_GATEWAY),
            (
                answer(StatusCode::INTERNAL_SERVER_ERROR),
                StatusCode::BAD_GATEWAY,
            ),
            (
                Error::invalid_argument("bad group"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                Error::credential("no token"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ] {
            let shown = err.to_string();
            let event = EventError::from(err);
            assert_eq!(event.status(), status, "{shown}");
            assert!(event.message().contains(&shown), "{}", event.message());
        }
        assert_eq!(
            status_of(Error::decode("x")),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    /// What a handler writes: `?` on a REST call.
    #[tokio::test]
    async fn question_mark_works_in_a_handler() {
        async fn handler() -> Result<(), EventError> {
            Err(Error::from_answer(StatusCode::NOT_FOUND, None, b""))?;
            Ok(())
        }
        assert_eq!(
            handler().await.unwrap_err().status(),
            StatusCode::BAD_GATEWAY
        );
    }
}
