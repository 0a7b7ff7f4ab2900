//! Commands out: what the chat asks of the Web PubSub service, through the REST client.

use std::time::Duration;

use webpubsub::rest::{Message, WebPubSubServiceClient};

use super::messages::ServerMessage;

/// How long the access tokens `/negotiate` mints stay valid for connecting.
const TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The chat's hub, reached through the REST API.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    client: WebPubSubServiceClient,
}

/// A REST call that failed, in words (the REST error never holds secrets).
pub(crate) type HubError = webpubsub::rest::Error;

impl Hub {
    pub(crate) fn new(client: WebPubSubServiceClient) -> Self {
        Self { client }
    }

    /// The WebSocket URL (with its access token) for `user`.
    pub(crate) async fn client_url(&self, user: &str) -> Result<String, HubError> {
        let token = self
            .client
            .client_access_token()
            .user_id(user)
            .expires_after(TOKEN_LIFETIME)
            .await?;
        Ok(token.url().to_owned())
    }

    /// Sends `message` to every connection of the hub.
    pub(crate) async fn broadcast(&self, message: &ServerMessage) -> Result<(), HubError> {
        self.client.send_to_all(Message::json(message)?).await
    }

    /// Sends `message` to the room's group, except to `excluded` (a connection id).
    pub(crate) async fn send_to_room(
        &self,
        room: &str,
        message: &ServerMessage,
        excluded: Option<&str>,
    ) -> Result<(), HubError> {
        self.client
            .send_to_group(room, Message::json(message)?)
            .excluded(excluded)
            .await
    }

    /// Adds every connection of `user` to the room's group.
    pub(crate) async fn add_user_to_room(&self, user: &str, room: &str) -> Result<(), HubError> {
        self.client.add_user_to_group(room, user).await
    }

    /// Removes every connection of `user` from the room's group.
    pub(crate) async fn remove_user_from_room(
        &self,
        user: &str,
        room: &str,
    ) -> Result<(), HubError> {
        self.client.remove_user_from_group(room, user).await
    }

    /// Closes every client connection with `reason` (they get a clean close).
    pub(crate) async fn close_all(&self, reason: &str) -> Result<(), HubError> {
        self.client.close_all_connections().reason(reason).await
    }
}
