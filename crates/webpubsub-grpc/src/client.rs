//! [`DataPlaneClient`]: the data-plane calls of the gRPC upstream.

use tonic::Status;
use webpubsub_protocol::grpc::{self as pb, Payload};
use webpubsub_protocol::token::Permission;

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
            excluded_connections: owned(excluded),
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

    /// Closes every connection of the hub but `excluded`, with an optional reason.
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn close_all_connections(
        &self,
        excluded: &[&str],
        reason: Option<&str>,
    ) -> Result<(), Status> {
        let request = pb::CloseAllRequest {
            hub: self.hub(),
            excluded_connections: owned(excluded),
            reason: reason.unwrap_or_default().to_owned(),
        };
        self.inner
            .clone()
            .close_all_connections(request)
            .await
            .map(drop)
    }

    /// Closes the connections in `group` but `excluded`, with an optional reason.
    ///
    /// # Errors
    ///
    /// The service's refusal, such as `INVALID_ARGUMENT` for an invalid group name.
    pub async fn close_group_connections(
        &self,
        group: &str,
        excluded: &[&str],
        reason: Option<&str>,
    ) -> Result<(), Status> {
        let request = pb::CloseGroupRequest {
            hub: self.hub(),
            group: group.to_owned(),
            excluded_connections: owned(excluded),
            reason: reason.unwrap_or_default().to_owned(),
        };
        self.inner
            .clone()
            .close_group_connections(request)
            .await
            .map(drop)
    }

    /// Closes the connections of `user_id` but `excluded`, with an optional reason.
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn close_user_connections(
        &self,
        user_id: &str,
        excluded: &[&str],
        reason: Option<&str>,
    ) -> Result<(), Status> {
        let request = pb::CloseUserRequest {
            hub: self.hub(),
            user_id: user_id.to_owned(),
            excluded_connections: owned(excluded),
            reason: reason.unwrap_or_default().to_owned(),
        };
        self.inner
            .clone()
            .close_user_connections(request)
            .await
            .map(drop)
    }

    /// Removes a connection from every group it is in.
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn remove_connection_from_all_groups(
        &self,
        connection_id: &str,
    ) -> Result<(), Status> {
        let request = pb::ConnectionRequest {
            hub: self.hub(),
            connection_id: connection_id.to_owned(),
        };
        self.inner
            .clone()
            .remove_connection_from_all_groups(request)
            .await
            .map(drop)
    }

    /// Removes a user from every group, now and for its future connections.
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn remove_user_from_all_groups(&self, user_id: &str) -> Result<(), Status> {
        let request = pb::UserRequest {
            hub: self.hub(),
            user_id: user_id.to_owned(),
        };
        self.inner
            .clone()
            .remove_user_from_all_groups(request)
            .await
            .map(drop)
    }

    /// Adds the connections that match the OData `filter` (every connection when `None`) to
    /// each of `groups`.
    ///
    /// # Errors
    ///
    /// The service's refusal, such as `INVALID_ARGUMENT` for a filter that does not parse.
    pub async fn add_connections_to_groups(
        &self,
        groups: &[&str],
        filter: Option<&str>,
    ) -> Result<(), Status> {
        let request = self.groups_request(groups, filter);
        self.inner
            .clone()
            .add_connections_to_groups(request)
            .await
            .map(drop)
    }

    /// Removes the connections that match the OData `filter` (every connection when `None`)
    /// from each of `groups`.
    ///
    /// # Errors
    ///
    /// The service's refusal, such as `INVALID_ARGUMENT` for a filter that does not parse.
    pub async fn remove_connections_from_groups(
        &self,
        groups: &[&str],
        filter: Option<&str>,
    ) -> Result<(), Status> {
        let request = self.groups_request(groups, filter);
        self.inner
            .clone()
            .remove_connections_from_groups(request)
            .await
            .map(drop)
    }

    fn groups_request(&self, groups: &[&str], filter: Option<&str>) -> pb::GroupsRequest {
        pb::GroupsRequest {
            hub: self.hub(),
            groups: owned(groups),
            filter: filter.unwrap_or_default().to_owned(),
        }
    }

    /// One page of the connections in `group`: at most `max_page_size` members (the service's
    /// default when `None`), after the page that answered `continuation_token`. The reply's
    /// `continuation_token` is empty on the last page.
    ///
    /// # Errors
    ///
    /// The service's refusal, such as `INVALID_ARGUMENT` for a token it did not issue.
    pub async fn list_connections_in_group(
        &self,
        group: &str,
        max_page_size: Option<u32>,
        continuation_token: Option<&str>,
    ) -> Result<pb::GroupConnectionsReply, Status> {
        let request = pb::ListConnectionsInGroupRequest {
            hub: self.hub(),
            group: group.to_owned(),
            max_page_size: max_page_size.unwrap_or_default(),
            continuation_token: continuation_token.unwrap_or_default().to_owned(),
        };
        let reply = self
            .inner
            .clone()
            .list_connections_in_group(request)
            .await?;
        Ok(reply.into_inner())
    }

    /// Grants a connection `permission` on the group `target` (every group when `None`).
    ///
    /// # Errors
    ///
    /// The service's refusal, such as `NOT_FOUND` for a connection that is not there.
    pub async fn grant_permission(
        &self,
        connection_id: &str,
        permission: Permission,
        target: Option<&str>,
    ) -> Result<(), Status> {
        let request = self.permission_request(connection_id, permission, target);
        self.inner.clone().grant_permission(request).await.map(drop)
    }

    /// Revokes a connection's `permission` on the group `target` (every group when `None`).
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn revoke_permission(
        &self,
        connection_id: &str,
        permission: Permission,
        target: Option<&str>,
    ) -> Result<(), Status> {
        let request = self.permission_request(connection_id, permission, target);
        self.inner
            .clone()
            .revoke_permission(request)
            .await
            .map(drop)
    }

    /// Whether a connection has `permission` on the group `target` (every group when `None`).
    ///
    /// # Errors
    ///
    /// The service's refusal.
    pub async fn check_permission(
        &self,
        connection_id: &str,
        permission: Permission,
        target: Option<&str>,
    ) -> Result<bool, Status> {
        let request = self.permission_request(connection_id, permission, target);
        let reply = self.inner.clone().check_permission(request).await?;
        Ok(reply.into_inner().exists)
    }

    fn permission_request(
        &self,
        connection_id: &str,
        permission: Permission,
        target: Option<&str>,
    ) -> pb::PermissionRequest {
        pb::PermissionRequest {
            hub: self.hub(),
            connection_id: connection_id.to_owned(),
            permission: permission.as_str().to_owned(),
            target_name: target.unwrap_or_default().to_owned(),
        }
    }

    /// A client access token for the hub, as the REST "generate client token" operation mints
    /// it: for `user_id` (anonymous when `None`), with `roles`, joined to `groups`, valid for
    /// `minutes_to_expire` (60 when `None`). Clients connect with it to
    /// `<endpoint>/client/hubs/<hub>?access_token=<token>`.
    ///
    /// # Errors
    ///
    /// The service's refusal, such as `INVALID_ARGUMENT` for an invalid group or user id.
    pub async fn generate_client_token(
        &self,
        user_id: Option<&str>,
        roles: &[&str],
        groups: &[&str],
        minutes_to_expire: Option<u32>,
    ) -> Result<String, Status> {
        let request = pb::GenerateClientTokenRequest {
            hub: self.hub(),
            user_id: user_id.unwrap_or_default().to_owned(),
            roles: owned(roles),
            groups: owned(groups),
            minutes_to_expire: minutes_to_expire.unwrap_or_default(),
        };
        let reply = self.inner.clone().generate_client_token(request).await?;
        Ok(reply.into_inner().token)
    }
}

fn owned(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| (*value).to_owned()).collect()
}
