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
        let described = self.send_spec(
            "send_to_connection",
            self.connection_path(connection_id, "/:send"),
            message,
        );
        SendRequest::new(self, described)
    }

    /// Closes one connection (`DELETE /api/hubs/{hub}/connections/{connectionId}`).
    pub fn close_connection(&self, connection_id: &str) -> CloseRequest<'_, target::Connection> {
        let described = Spec::at(
            "close_connection",
            Method::DELETE,
            self.connection_path(connection_id, ""),
        );
        CloseRequest::new(self, described)
    }

    /// Whether the connection exists (`HEAD /api/hubs/{hub}/connections/{connectionId}`).
    pub fn connection_exists(&self, connection_id: &str) -> ResponseFuture<'_, bool> {
        let described = Spec::at(
            "connection_exists",
            Method::HEAD,
            self.connection_path(connection_id, ""),
        );
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
        let described = Spec::at(
            "remove_connection_from_all_groups",
            Method::DELETE,
            self.connection_path(connection_id, "/groups"),
        );
        self.run_unit(described)
    }

    pub(crate) fn connection_path(&self, connection_id: &str, rest: &str) -> Result<String, Error> {
        self.name_path(Name::Connection, connection_id, rest)
    }

    fn group_connection_spec(
        &self,
        operation: &'static str,
        method: Method,
        group: &str,
        connection_id: &str,
    ) -> Result<Spec, Error> {
        let path = Name::Connection
            .segment(connection_id)
            .and_then(|connection| self.group_path(group, &format!("/connections/{connection}")));
        Spec::at(operation, method, path)
    }
}
