//! [`DataPlaneClient`]: the data-plane calls of the gRPC upstream.

use tonic::Status;
use webpubsub_protocol::grpc::{self as pb, Payload};

use crate::upstream::Client;

/// Manages one hub's clients over gRPC: each call behaves like the REST operation of the same
/// name (same checks, same errors, as a gRPC status whose message starts with the service's
/// error code). Made by [`GrpcUpstream::client`](crate::GrpcUpstream::client). Cheap to clone.
#[derive(Debug, Clone)]
pub struct DataPlaneClient {
    inner: Client,
    hub: String,
}

impl DataPlaneClient {
    pub(crate) fn new(inner: Client, hub: String) -> Self {
        Self { inner, hub }
    }

    fn hub(&self) -> String {
        self.hub.clone()
    }

    /// Sends `payload` to every connection of the hub, except `excluded`.
    ///
    /// # Errors
    ///
    /// The service's refusal, such as `INVALID_ARGUMENT` for an unknown data type.
    pub async fn send_to_all(&self, payload: Payload, excluded: &[&str]) -> Result<(), Status> {
        let request = pb::SendToAllRequest {
            hub: self.hub(),
            payload: Some(payload),
            excluded_connections: excluded.iter().map(|id| (*id).to_owned()).collect(),
            filter: String::new(),
        };
        self.inner.clone().send_to_all(request).await.map(drop)
    }

    /// Sends `payload` to the connections in `group`.
    ///
    /// # Errors
    ///
    /// The service's refusal, such as `INVALID_ARGUMENT` for an invalid group name.
    pub async fn send_to_group(&self, group: &str, payload: Payload) -> Result<(), Status> {
        let request = pb::SendToGroupRequest {
            hub: self.hub(),
            group: group.to_owned(),
            payload: Some(payload),
            ..pb::SendToGroupRequest::default()
        };
        self.inner.clone().send_to_group(request).await.map(drop)
    }

    /// Sends `payload` to the connections of `user_id`.
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn send_to_user(&self, user_id: &str, payload: Payload) -> Result<(), Status> {
        let request = pb::SendToUserRequest {
            hub: self.hub(),
            user_id: user_id.to_owned(),
            payload: Some(payload),
            filter: String::new(),
        };
        self.inner.clone().send_to_user(request).await.map(drop)
    }

    /// Sends `payload` to one connection.
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn send_to_connection(
        &self,
        connection_id: &str,
        payload: Payload,
    ) -> Result<(), Status> {
        let request = pb::SendToConnectionRequest {
            hub: self.hub(),
            connection_id: connection_id.to_owned(),
            payload: Some(payload),
        };
        self.inner
            .clone()
            .send_to_connection(request)
            .await
            .map(drop)
    }

    /// Adds a connection to a group.
    ///
    /// # Errors
    ///
    /// `NOT_FOUND` (`Error.Connection.NotExisted`) when the connection does not exist.
    pub async fn join_group(&self, connection_id: &str, group: &str) -> Result<(), Status> {
        let request = self.connection_group(connection_id, group);
        self.inner.clone().join_group(request).await.map(drop)
    }

    /// Removes a connection from a group.
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn leave_group(&self, connection_id: &str, group: &str) -> Result<(), Status> {
        let request = self.connection_group(connection_id, group);
        self.inner.clone().leave_group(request).await.map(drop)
    }

    fn connection_group(&self, connection_id: &str, group: &str) -> pb::ConnectionGroupRequest {
        pb::ConnectionGroupRequest {
            hub: self.hub(),
            connection_id: connection_id.to_owned(),
            group: group.to_owned(),
        }
    }

    fn user_group(&self, user_id: &str, group: &str) -> pb::UserGroupRequest {
        pb::UserGroupRequest {
            hub: self.hub(),
            user_id: user_id.to_owned(),
            group: group.to_owned(),
        }
    }

    /// Adds every connection of a user to a group.
    ///
    /// # Errors
    ///
    /// `NOT_FOUND` (`Error.User.NotExisted`) when the user has no connection.
    pub async fn add_user_to_group(&self, user_id: &str, group: &str) -> Result<(), Status> {
        let request = self.user_group(user_id, group);
        self.inner
            .clone()
            .add_user_to_group(request)
            .await
            .map(drop)
    }

    /// Removes a user from a group.
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn remove_user_from_group(&self, user_id: &str, group: &str) -> Result<(), Status> {
        let request = self.user_group(user_id, group);
        self.inner
            .clone()
            .remove_user_from_group(request)
            .await
            .map(drop)
    }

    /// Closes a connection, with an optional reason.
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn close_connection(
        &self,
        connection_id: &str,
        reason: Option<&str>,
    ) -> Result<(), Status> {
        let request = pb::CloseConnectionRequest {
            hub: self.hub(),
            connection_id: connection_id.to_owned(),
            reason: reason.unwrap_or_default().to_owned(),
        };
        self.inner.clone().close_connection(request).await.map(drop)
    }

    /// Whether the connection exists.
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn connection_exists(&self, connection_id: &str) -> Result<bool, Status> {
        let request = pb::ConnectionRequest {
            hub: self.hub(),
            connection_id: connection_id.to_owned(),
        };
        let reply = self.inner.clone().connection_exists(request).await?;
        Ok(reply.into_inner().exists)
    }

    /// Whether the user has a connection.
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn user_exists(&self, user_id: &str) -> Result<bool, Status> {
        let request = pb::UserRequest {
            hub: self.hub(),
            user_id: user_id.to_owned(),
        };
        let reply = self.inner.clone().user_exists(request).await?;
        Ok(reply.into_inner().exists)
    }

    /// Whether the group has a connection.
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn group_exists(&self, group: &str) -> Result<bool, Status> {
        let request = pb::GroupRequest {
            hub: self.hub(),
            group: group.to_owned(),
        };
        let reply = self.inner.clone().group_exists(request).await?;
        Ok(reply.into_inner().exists)
    }
}
