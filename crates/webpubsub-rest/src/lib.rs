//! A client for the Azure Web PubSub data-plane REST API (api-version 2024-12-01 by default):
//! send to the hub, groups, users and connections; close connections; manage group membership
//! and permissions; list a group's connections; mint client access tokens.
//!
//! * **Auth**: the access key of a connection string (each request carries an HS256 JWT whose
//!   `aud` is the exact request URL), or Microsoft Entra ID through the [`TokenCredential`]
//!   trait. A reverse proxy (API Management) can stand in front of the service.
//! * **Every operation** is a method of [`WebPubSubServiceClient`] that returns a future, or a
//!   builder for the operation's options that you `.await`. Any 2xx answer is success; the
//!   `*_exists` checks return `bool`.
//! * **Errors** are one opaque [`Error`] with the status, the service's `x-ms-error-code` and
//!   its [`ErrorDetail`]; failures are retried per [`RetryPolicy`] (see there why a send is
//!   retried more carefully than the official SDKs do).
//! * **TLS** is rustls with the ring provider, set up by the client itself; or bring your own
//!   `reqwest::Client`.
//! * **Transport**: HTTP by default; any [`Transport`] instead, such as an open tunnel
//!   connection (`webpubsub_tunnel::Tunnel::rest_transport`), with the same signing, retries
//!   and errors.
//!
//! ```no_run
//! use webpubsub_protocol::filter::Filter;
//! use webpubsub_rest::{Message, Permission, WebPubSubServiceClient};
//!
//! # async fn run() -> Result<(), webpubsub_rest::Error> {
//! let client = WebPubSubServiceClient::from_connection_string(
//!     &std::env::var("WEBPUBSUB_CONNECTION_STRING").unwrap(),
//!     "chat",
//! )?;
//! client.send_to_all(Message::json(&serde_json::json!({"hello": "world"}))?).await?;
//! client.send_to_user("alice", "hi").filter(Filter::in_group("vip")).await?;
//! client.add_connection_to_group("room1", "conn1").await?;
//! client.grant_permission(Permission::JoinLeaveGroup, "conn1").target_name("room2").await?;
//! if client.group_exists("room1").await? {
//!     client.close_group_connections("room1").reason("closing time").await?;
//! }
//! # Ok(()) }
//! ```

mod auth;
mod client;
mod connections;
mod error;
#[cfg(feature = "handler")]
mod event_error;
mod groups;
mod hub;
mod message;
mod operation;
mod permissions;
mod request;
mod retry;
mod tokens;
mod transport;
mod urls;
mod users;

pub use auth::{AccessToken, ENTRA_SCOPE, TokenCredential, TokenFuture};
pub use client::{
    DEFAULT_API_VERSION, DEFAULT_TIMEOUT, WebPubSubServiceClient, WebPubSubServiceClientBuilder,
};
pub use error::{Error, ErrorDetail, InnerError};
pub use groups::{GroupMember, GroupMembers, ListConnections};
pub use message::Message;
pub use operation::{CloseRequest, SendRequest, target};
pub use permissions::{Permission, PermissionRequest};
pub use request::ResponseFuture;
pub use retry::RetryPolicy;
pub use tokens::{
    ClientAccessToken, ClientTokenRequest, DEFAULT_CLIENT_TOKEN_LIFETIME, MIN_CLIENT_TOKEN_LIFETIME,
};
pub use transport::{Transport, TransportError, TransportFuture};
pub use webpubsub_protocol::token::ClientProtocol;
pub use webpubsub_protocol::{
    AccessKey, ConnectionString, ConnectionStringError, IntoConnectionString,
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The client is shared across tasks, and every operation can be spawned.
    #[test]
    fn client_and_futures_are_send_and_sync_where_it_matters() {
        fn send_sync<T: Send + Sync + Clone + 'static>() {}
        fn send<T: Send>() {}
        send_sync::<WebPubSubServiceClient>();
        send::<ResponseFuture<'static, ()>>();
        send::<GroupMembers<'static>>();
        send::<SendRequest<'static, target::Group>>();
        send::<ClientTokenRequest<'static>>();
        fn error<T: std::error::Error + Send + Sync + 'static>() {}
        error::<Error>();
    }
}
