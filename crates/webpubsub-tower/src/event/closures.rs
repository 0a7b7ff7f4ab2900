//! A handler made of closures, for small applications and tests.

use std::{fmt, future::Future, pin::Pin};

use crate::{
    ConnectRequest, ConnectResponse, ConnectedRequest, DisconnectedRequest, EventError,
    EventHandler, GroupEventRequest, UserEventRequest, UserEventResponse,
};

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, EventError>> + Send>>;
type BoxFn<Req, Res> = Box<dyn Fn(Req) -> BoxFuture<Res> + Send + Sync>;

fn boxed<Req, Res, F, Fut>(f: F) -> BoxFn<Req, Res>
where
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Res, EventError>> + Send + 'static,
{
    Box::new(move |request| Box::pin(f(request)))
}

/// An [`EventHandler`] built from closures: each event without a closure gets the trait's
/// default.
///
/// Each call boxes the closure's future; implement [`EventHandler`] on your own type when that
/// matters. The builder's methods are named after the events (`connect`, `user_event`, ...), the
/// trait's after the calls (`on_connect`, `on_user_event`, ...).
///
/// ```
/// use webpubsub_tower::{ConnectResponse, ClosureHandler, UserEventResponse, WebPubSubLayer};
///
/// let handler = ClosureHandler::new()
///     .connect(|request| async move {
///         let user = request.context().connection_id().to_owned();
///         Ok(ConnectResponse::new().user_id(user))
///     })
///     .user_event(|request| async move {
///         Ok(UserEventResponse::binary(request.bytes().clone()))
///     });
/// let layer = WebPubSubLayer::new(handler).hub("chat");
/// ```
#[derive(Default)]
#[must_use]
pub struct ClosureHandler {
    connect: Option<BoxFn<ConnectRequest, ConnectResponse>>,
    connected: Option<BoxFn<ConnectedRequest, ()>>,
    user_event: Option<BoxFn<UserEventRequest, UserEventResponse>>,
    disconnected: Option<BoxFn<DisconnectedRequest, ()>>,
    group_joined: Option<BoxFn<GroupEventRequest, ()>>,
    group_left: Option<BoxFn<GroupEventRequest, ()>>,
}

impl ClosureHandler {
    /// A handler where every event gets the default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles `connect` with `f`.
    pub fn connect<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(ConnectRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ConnectResponse, EventError>> + Send + 'static,
    {
        self.connect = Some(boxed(f));
        self
    }

    /// Handles `connected` with `f`.
    pub fn connected<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(ConnectedRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), EventError>> + Send + 'static,
    {
        self.connected = Some(boxed(f));
        self
    }

    /// Handles user events with `f`.
    pub fn user_event<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(UserEventRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<UserEventResponse, EventError>> + Send + 'static,
    {
        self.user_event = Some(boxed(f));
        self
    }

    /// Handles `disconnected` with `f`.
    pub fn disconnected<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(DisconnectedRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), EventError>> + Send + 'static,
    {
        self.disconnected = Some(boxed(f));
        self
    }

    /// Handles group joins with `f`.
    pub fn group_joined<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(GroupEventRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), EventError>> + Send + 'static,
    {
        self.group_joined = Some(boxed(f));
        self
    }

    /// Handles group leaves with `f`.
    pub fn group_left<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(GroupEventRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), EventError>> + Send + 'static,
    {
        self.group_left = Some(boxed(f));
        self
    }
}

/// Runs `f` if set, else answers `default`.
async fn call_or<Req, Res>(
    f: Option<&BoxFn<Req, Res>>,
    request: Req,
    default: Res,
) -> Result<Res, EventError> {
    match f {
        Some(f) => f(request).await,
        None => Ok(default),
    }
}

impl EventHandler for ClosureHandler {
    async fn on_connect(&self, request: ConnectRequest) -> Result<ConnectResponse, EventError> {
        call_or(self.connect.as_ref(), request, ConnectResponse::new()).await
    }

    async fn on_connected(&self, request: ConnectedRequest) -> Result<(), EventError> {
        call_or(self.connected.as_ref(), request, ()).await
    }

    async fn on_user_event(
        &self,
        request: UserEventRequest,
    ) -> Result<UserEventResponse, EventError> {
        call_or(
            self.user_event.as_ref(),
            request,
            UserEventResponse::empty(),
        )
        .await
    }

    async fn on_disconnected(&self, request: DisconnectedRequest) -> Result<(), EventError> {
        call_or(self.disconnected.as_ref(), request, ()).await
    }

    async fn on_group_joined(&self, request: GroupEventRequest) -> Result<(), EventError> {
        call_or(self.group_joined.as_ref(), request, ()).await
    }

    async fn on_group_left(&self, request: GroupEventRequest) -> Result<(), EventError> {
        call_or(self.group_left.as_ref(), request, ()).await
    }
}

impl fmt::Debug for ClosureHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |on: bool| if on { "<fn>" } else { "<default>" };
        f.debug_struct("ClosureHandler")
            .field("on_connect", &set(self.connect.is_some()))
            .field("on_connected", &set(self.connected.is_some()))
            .field("on_user_event", &set(self.user_event.is_some()))
            .field("on_disconnected", &set(self.disconnected.is_some()))
            .field("on_group_joined", &set(self.group_joined.is_some()))
            .field("on_group_left", &set(self.group_left.is_some()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webpubsub_protocol::cloudevents::EventType;

    use crate::{ConnectionContext, DataType};

    fn context(ty: EventType) -> ConnectionContext {
        ConnectionContext::new(ty, "hub", "conn")
    }

    #[tokio::test]
    async fn closures_run_and_defaults_apply() {
        let handler = ClosureHandler::new().user_event(|request| async move {
            Ok(UserEventResponse::text(
                request.text().unwrap_or_default().to_uppercase(),
            ))
        });
        let request = UserEventRequest::new(
            context(EventType::User("m".into())),
            "hi".into(),
            DataType::Text,
        );
        assert_eq!(
            handler.on_user_event(request).await.unwrap(),
            UserEventResponse::text("HI")
        );
        let connect = ConnectRequest::new(context(EventType::Connect), Default::default());
        assert_eq!(
            handler.on_connect(connect).await.unwrap(),
            ConnectResponse::new()
        );
        assert!(format!("{handler:?}").contains("on_user_event: \"<fn>\""));
    }

    #[tokio::test]
    async fn errors_pass_through() {
        let handler =
            ClosureHandler::new().connected(|_| async { Err(EventError::internal("boom")) });
        let err = handler
            .on_connected(ConnectedRequest::new(context(EventType::Connected)))
            .await
            .unwrap_err();
        assert_eq!(err.message(), "boom");
    }
}
