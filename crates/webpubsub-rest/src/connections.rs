//! Operations on one connection: send, close, exists, and its group membership.

use http::Method;

use crate::{
    Error, Message, WebPubSubServiceClient,
    operation::{CloseRequest, SendRequest, target},
    request::{Name, ResponseFuture, Spec},
};

impl WebPubSubServiceClient {
    /// Sends `message` to one connection
    /// (`POST /api/hubs/{hub}/connections/{connectionId}/:send`).
    pub fn send_to_connection(
        &self,
        connection_id: &str,
        message: impl Into<Message>,
    ) -> SendRequest<'_, target::Connection> {
        let message = message.into();
        let described = self
            .connection_path(connection_id, "/:send")
            .map(|path| self.send_spec("send_to_connection", path, message));
        SendRequest::new(self, described)
    }

    /// Closes one connection (`DELETE /api/hubs/{hub}/connections/{connectionId}`).
    pub fn close_connection(&self, connection_id: &str) -> CloseRequest<'_, target::Connection> {
        let described = self
            .connection_path(connection_id, "")
            .map(|path| Spec::new("close_connection", Method::DELETE, path));
        CloseRequest::new(self, described)
    }

    /// Whether the connection exists (`HEAD /api/hubs/{hub}/connections/{connectionId}`).
    pub fn connection_exists(&self, connection_id: &str) -> ResponseFuture<'_, bool> {
        let described = self
            .connection_path(connection_id, "")
            .map(|path| Spec::new("connection_exists", Method::HEAD, path));
        self.run_exists(described)
    }

    /// Adds a connection to `group`
    /// (`PUT /api/hubs/{hub}/groups/{group}/connections/{connectionId}`).
    pub fn add_connection_to_group(
        &self,
        group: &str,
        connection_id: &str,
    ) -> ResponseFuture<'_, ()> {
        self.run_unit(self.group_connection_spec(
            "add_connection_to_group",
            Method::PUT,
            group,
            connection_id,
        ))
    }

    /// Removes a connection from `group`
    /// (`DELETE /api/hubs/{hub}/groups/{group}/connections/{connectionId}`).
    pub fn remove_connection_from_group(
        &self,
        group: &str,
        connection_id: &str,
    ) -> ResponseFuture<'_, ()> {
        self.run_unit(self.group_connection_spec(
            "remove_connection_from_group",
            Method::DELETE,
            group,
            connection_id,
        ))
    }

    /// Removes a connection from every group
    /// (`DELETE /api/hubs/{hub}/connections/{connectionId}/groups`).
    pub fn remove_connection_from_all_groups(&self, connection_id: &str) -> ResponseFuture<'_, ()> {
        let described = self
            .connection_path(connection_id, "/groups")
            .map(|path| Spec::new("remove_connection_from_all_groups", Method::DELETE, path));
        self.run_unit(described)
    }

    pub(crate) fn connection_path(&self, connection_id: &str, rest: &str) -> Result<String, Error> {
        Ok(self.hub_path(&format!(
            "/connections/{}{rest}",
            Name::Connection.segment(connection_id)?
        )))
    }

    fn group_connection_spec(
        &self,
        operation: &'static str,
        method: Method,
        group: &str,
        connection_id: &str,
    ) -> Result<Spec, Error> {
        let connection = Name::Connection.segment(connection_id)?;
        let path = self.group_path(group, &format!("/connections/{connection}"))?;
        Ok(Spec::new(operation, method, path))
    }
}
