//! Operations on a user (all connections that share a user id): send, close, exists, and the
//! user's group membership.

use http::Method;

use crate::{
    Error, Message, WebPubSubServiceClient,
    operation::{CloseRequest, SendRequest, target},
    request::{Name, ResponseFuture, Spec},
};

impl WebPubSubServiceClient {
    /// Sends `message` to the connections of `user_id` (`POST /api/hubs/{hub}/users/{userId}/:send`).
    pub fn send_to_user(
        &self,
        user_id: &str,
        message: impl Into<Message>,
    ) -> SendRequest<'_, target::User> {
        let message = message.into();
        let described = self.send_spec("send_to_user", self.user_path(user_id, "/:send"), message);
        SendRequest::new(self, described)
    }

    /// Closes the connections of `user_id` (`POST /api/hubs/{hub}/users/{userId}/:closeConnections`).
    pub fn close_user_connections(&self, user_id: &str) -> CloseRequest<'_, target::User> {
        let described = Spec::at(
            "close_user_connections",
            Method::POST,
            self.user_path(user_id, "/:closeConnections"),
        );
        CloseRequest::new(self, described)
    }

    /// Whether `user_id` has at least one connection (`HEAD /api/hubs/{hub}/users/{userId}`).
    pub fn user_exists(&self, user_id: &str) -> ResponseFuture<'_, bool> {
        let described = Spec::at("user_exists", Method::HEAD, self.user_path(user_id, ""));
        self.run_exists(described)
    }

    /// Adds `user_id` (its current and future connections) to `group`
    /// (`PUT /api/hubs/{hub}/users/{userId}/groups/{group}`).
    pub fn add_user_to_group(&self, group: &str, user_id: &str) -> ResponseFuture<'_, ()> {
        self.run_unit(self.user_group_spec("add_user_to_group", Method::PUT, group, user_id))
    }

    /// Removes `user_id` from `group` (`DELETE /api/hubs/{hub}/users/{userId}/groups/{group}`).
    pub fn remove_user_from_group(&self, group: &str, user_id: &str) -> ResponseFuture<'_, ()> {
        self.run_unit(self.user_group_spec(
            "remove_user_from_group",
            Method::DELETE,
            group,
            user_id,
        ))
    }

    /// Removes `user_id` from every group (`DELETE /api/hubs/{hub}/users/{userId}/groups`).
    pub fn remove_user_from_all_groups(&self, user_id: &str) -> ResponseFuture<'_, ()> {
        let described = Spec::at(
            "remove_user_from_all_groups",
            Method::DELETE,
            self.user_path(user_id, "/groups"),
        );
        self.run_unit(described)
    }

    fn user_path(&self, user_id: &str, rest: &str) -> Result<String, Error> {
        self.name_path(Name::User, user_id, rest)
    }

    fn user_group_spec(
        &self,
        operation: &'static str,
        method: Method,
        group: &str,
        user_id: &str,
    ) -> Result<Spec, Error> {
        let path = Name::Group
            .segment(group)
            .and_then(|group| self.user_path(user_id, &format!("/groups/{group}")));
        Spec::at(operation, method, path)
    }
}
