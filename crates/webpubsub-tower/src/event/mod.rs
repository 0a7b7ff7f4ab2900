//! The transport-agnostic event API: what a handler sees and answers, whatever carried the event
//! (the webhook that [`WebPubSubLayer`](crate::WebPubSubLayer) serves, a tunnel, a gRPC stream).
//!
//! A transport parses its wire format into an [`Event`], hands it to an [`EventRunner`], which
//! runs the [`EventHandler`] under its timeout and panic guard in one `tracing` span, and encodes
//! the [`EventReply`] (or the [`EventError`]) back:
//!
//! ```
//! use webpubsub_protocol::cloudevents::EventType;
//! use webpubsub_tower::{
//!     ConnectionContext, DataType, Event, EventError, EventHandler, EventReply, EventRunner,
//!     UserEventRequest, UserEventResponse,
//! };
//!
//! struct Echo;
//!
//! impl EventHandler for Echo {
//!     async fn on_user_event(&self, request: UserEventRequest) -> Result<UserEventResponse, EventError> {
//!         Ok(UserEventResponse::text(request.text()?))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), EventError> {
//! let runner = EventRunner::new(Echo);
//! let context = ConnectionContext::new(EventType::User("message".into()), "chat", "conn1");
//! let event = Event::UserEvent(UserEventRequest::new(context, "hi".into(), DataType::Text));
//! let EventReply::UserEvent(answer) = runner.run(event).await? else { unreachable!() };
//! assert_eq!(answer.data(), Some((&b"hi"[..], DataType::Text)));
//! # Ok(())
//! # }
//! ```

mod closures;
mod context;
mod error;
mod handler;
mod request;
mod response;
mod runner;

pub use closures::ClosureHandler;
pub(crate) use context::ContextText;
pub use context::{ConnectionContext, MqttContext};
pub(crate) use error::Cause;
pub use error::EventError;
pub use handler::EventHandler;
pub use request::{
    ConnectRequest, ConnectedRequest, DataType, DisconnectedRequest, GroupEventRequest,
    InvalidData, UserEventRequest,
};
pub use response::{ConnectResponse, StateChanges, UserEventResponse};
pub use runner::EventRunner;

/// One typed event, however it arrived (webhook, tunnel, gRPC).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// `azure.webpubsub.sys.connect` (blocking: the answer decides the connection).
    Connect(ConnectRequest),
    /// `azure.webpubsub.sys.connected`.
    Connected(ConnectedRequest),
    /// `azure.webpubsub.user.<event>` (blocking: the answer is sent to the client).
    UserEvent(UserEventRequest),
    /// `azure.webpubsub.sys.disconnected`.
    Disconnected(DisconnectedRequest),
    /// `azure.webpubsub.gp.joined`.
    GroupJoined(GroupEventRequest),
    /// `azure.webpubsub.gp.left`.
    GroupLeft(GroupEventRequest),
}

impl Event {
    /// The connection the event comes from.
    pub fn context(&self) -> &ConnectionContext {
        match self {
            Self::Connect(request) => request.context(),
            Self::Connected(request) => request.context(),
            Self::UserEvent(request) => request.context(),
            Self::Disconnected(request) => request.context(),
            Self::GroupJoined(request) | Self::GroupLeft(request) => request.context(),
        }
    }

    /// Whether the service waits for the answer (`connect` and user events). The other events
    /// are answered whatever the handler returns; their failures are only logged.
    pub fn is_blocking(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::UserEvent(_))
    }
}

/// The handler's typed answer to an [`Event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventReply {
    /// The answer to [`Event::Connect`].
    Connect(ConnectResponse),
    /// The answer to [`Event::UserEvent`].
    UserEvent(UserEventResponse),
    /// `connected`, `disconnected` and the group events: nothing to answer.
    Done,
}
