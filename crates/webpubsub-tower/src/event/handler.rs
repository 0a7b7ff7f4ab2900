//! The trait the application implements.

use std::future::Future;

use crate::{
    ConnectRequest, ConnectResponse, ConnectedRequest, DisconnectedRequest, EventError,
    GroupEventRequest, UserEventRequest, UserEventResponse,
};

/// The application's side of the events: one method per event, each with a default.
///
/// Implement it with plain `async fn`s; the futures must be `Send`. The handler sees typed
/// events, never HTTP, and the layer turns its answers back into HTTP:
///
/// | method | default | answer |
/// |---|---|---|
/// | [`on_connect`](Self::on_connect) | accept (`204`) | `204`/`200` + JSON, or the error's status |
/// | [`on_user_event`](Self::on_user_event) | `204` | `204`/`200` + data, or the error's status |
/// | [`on_connected`](Self::on_connected), [`on_disconnected`](Self::on_disconnected), [`on_group_joined`](Self::on_group_joined), [`on_group_left`](Self::on_group_left) | nothing | always `200`; an error is logged |
///
/// A panic in a method is caught and answered `500`; a method that outlives the layer's handler
/// timeout is dropped and answered `504`.
///
/// ```
/// use webpubsub_tower::{
///     ConnectRequest, ConnectResponse, EventError, EventHandler, UserEventRequest, UserEventResponse,
/// };
///
/// struct Chat;
///
/// impl EventHandler for Chat {
///     async fn on_connect(&self, request: ConnectRequest) -> Result<ConnectResponse, EventError> {
///         let Some(user) = request.query().get("user").and_then(|v| v.first()) else {
///             return Err(EventError::unauthorized("missing user"));
///         };
///         Ok(ConnectResponse::new().user_id(user.clone()).groups(["lobby"]))
///     }
///
///     async fn on_user_event(&self, request: UserEventRequest) -> Result<UserEventResponse, EventError> {
///         let text = request.text().map_err(|_| EventError::bad_request("expected text"))?;
///         Ok(UserEventResponse::text(format!("echo: {text}")))
///     }
/// }
/// ```
///
/// # Blocking and non-blocking events
///
/// `connect` and user events are blocking: the service waits for the answer, so the handler's
/// result becomes the HTTP response. `connected`, `disconnected` and the group events are
/// non-blocking: the layer answers `200` whatever the handler returns, and logs a failure. It
/// still awaits the handler (bounded by the handler timeout) before answering, rather than
/// detaching it on a task as `@azure/web-pubsub-express` does: the handler's work then has a
/// deadline, back-pressure reaches the service, and no task outlives the server. A handler that
/// must outlive the request can spawn its own task.
pub trait EventHandler: Send + Sync + 'static {
    /// A client asks to connect (blocking). Default: accept as is.
    fn on_connect(
        &self,
        request: ConnectRequest,
    ) -> impl Future<Output = Result<ConnectResponse, EventError>> + Send {
        drop(request);
        async { Ok(ConnectResponse::new()) }
    }

    /// A client is connected (non-blocking). Default: nothing.
    fn on_connected(
        &self,
        request: ConnectedRequest,
    ) -> impl Future<Output = Result<(), EventError>> + Send {
        drop(request);
        async { Ok(()) }
    }

    /// A client sent an event (blocking). Default: `204`, nothing sent back.
    fn on_user_event(
        &self,
        request: UserEventRequest,
    ) -> impl Future<Output = Result<UserEventResponse, EventError>> + Send {
        drop(request);
        async { Ok(UserEventResponse::empty()) }
    }

    /// A client disconnected (non-blocking). Default: nothing.
    fn on_disconnected(
        &self,
        request: DisconnectedRequest,
    ) -> impl Future<Output = Result<(), EventError>> + Send {
        drop(request);
        async { Ok(()) }
    }

    /// A connection joined a group (non-blocking). Default: nothing.
    fn on_group_joined(
        &self,
        request: GroupEventRequest,
    ) -> impl Future<Output = Result<(), EventError>> + Send {
        drop(request);
        async { Ok(()) }
    }

    /// A connection left a group (non-blocking). Default: nothing.
    fn on_group_left(
        &self,
        request: GroupEventRequest,
    ) -> impl Future<Output = Result<(), EventError>> + Send {
        drop(request);
        async { Ok(()) }
    }
}

/// A shared handler: keep an `Arc` to the handler's state elsewhere in the application (for
/// example to read it from other routes) and give the layer a clone.
impl<H: EventHandler> EventHandler for std::sync::Arc<H> {
    fn on_connect(
        &self,
        request: ConnectRequest,
    ) -> impl Future<Output = Result<ConnectResponse, EventError>> + Send {
        (**self).on_connect(request)
    }

    fn on_connected(
        &self,
        request: ConnectedRequest,
    ) -> impl Future<Output = Result<(), EventError>> + Send {
        (**self).on_connected(request)
    }

    fn on_user_event(
        &self,
        request: UserEventRequest,
    ) -> impl Future<Output = Result<UserEventResponse, EventError>> + Send {
        (**self).on_user_event(request)
    }

    fn on_disconnected(
        &self,
        request: DisconnectedRequest,
    ) -> impl Future<Output = Result<(), EventError>> + Send {
        (**self).on_disconnected(request)
    }

    fn on_group_joined(
        &self,
        request: GroupEventRequest,
    ) -> impl Future<Output = Result<(), EventError>> + Send {
        (**self).on_group_joined(request)
    }

    fn on_group_left(
        &self,
        request: GroupEventRequest,
    ) -> impl Future<Output = Result<(), EventError>> + Send {
        (**self).on_group_left(request)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use webpubsub_protocol::cloudevents::EventType;

    use super::*;
    use crate::ConnectionContext;

    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl EventHandler for Counter {
        async fn on_connected(&self, _: ConnectedRequest) -> Result<(), EventError> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }

    #[tokio::test]
    async fn defaults_accept_and_arcs_forward() {
        let shared = Arc::new(Counter::default());
        let handler = Arc::clone(&shared);
        let context = || ConnectionContext::new(EventType::Connected, "h", "c");
        handler
            .on_connected(ConnectedRequest::new(context()))
            .await
            .unwrap();
        assert_eq!(shared.0.load(Ordering::Relaxed), 1);
        let connect = ConnectRequest::new(context(), Default::default());
        assert_eq!(
            handler.on_connect(connect).await.unwrap(),
            ConnectResponse::new()
        );
        let user = UserEventRequest::new(context(), "x".into(), crate::DataType::Text);
        assert_eq!(
            handler.on_user_event(user).await.unwrap(),
            UserEventResponse::empty()
        );
    }
}
