//! Operations on the whole hub: broadcast, close everything, group membership by filter, and
//! the service's health check.

use http::Method;
use serde::Serialize;

use crate::{
    Error, Message, WebPubSubServiceClient,
    operation::{CloseRequest, SendRequest, target},
    request::{Described, ResponseFuture, Spec},
    retry::Idempotency,
};

/// The body of `:addToGroups` and `:removeFromGroups`.
#[derive(Serialize)]
struct GroupsByFilter {
    groups: Vec<String>,
    filter: String,
}

impl WebPubSubServiceClient {
    /// Sends `message` to every connection of the hub (`POST /api/hubs/{hub}/:send`).
    pub fn send_to_all(&self, message: impl Into<Message>) -> SendRequest<'_, target::Hub> {
        SendRequest::new(
            self,
            self.send_spec("send_to_all", Ok(self.hub_path("/:send")), message.into()),
        )
    }

    /// Closes every connection of the hub (`POST /api/hubs/{hub}/:closeConnections`).
    pub fn close_all_connections(&self) -> CloseRequest<'_, target::Hub> {
        CloseRequest::new(
            self,
            Ok(Spec::new(
                "close_all_connections",
                Method::POST,
                self.hub_path("/:closeConnections"),
            )),
        )
    }

    /// Adds the connections that match the OData `filter` to each of `groups`
    /// (`POST /api/hubs/{hub}/:addToGroups`).
    pub fn add_connections_to_groups<I, S>(
        &self,
        groups: I,
        filter: impl Into<String>,
    ) -> ResponseFuture<'_, ()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups_by_filter(
            "add_connections_to_groups",
            "/:addToGroups",
            groups,
            filter.into(),
        )
    }

    /// Removes the connections that match the OData `filter` from each of `groups`
    /// (`POST /api/hubs/{hub}/:removeFromGroups`).
    pub fn remove_connections_from_groups<I, S>(
        &self,
        groups: I,
        filter: impl Into<String>,
    ) -> ResponseFuture<'_, ()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups_by_filter(
            "remove_connections_from_groups",
            "/:removeFromGroups",
            groups,
            filter.into(),
        )
    }

    /// Checks that the service is up (`HEAD /api/health`): `Ok(())` on any 2xx answer.
    pub fn health_check(&self) -> ResponseFuture<'_, ()> {
        self.run_unit(Ok(Spec::new(
            "health_check",
            Method::HEAD,
            "/api/health".to_owned(),
        )))
    }

    /// A send of `message` to `path`: the one non-idempotent kind of request.
    pub(crate) fn send_spec(
        &self,
        operation: &'static str,
        path: Result<String, Error>,
        message: Message,
    ) -> Described {
        let mut spec = Spec::at(operation, Method::POST, path)?;
        spec.body = Some(message);
        spec.idempotency = Idempotency::Send;
        Ok(spec)
    }

    fn groups_by_filter<I, S>(
        &self,
        operation: &'static str,
        action: &str,
        groups: I,
        filter: String,
    ) -> ResponseFuture<'_, ()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let body = GroupsByFilter {
            groups: groups.into_iter().map(Into::into).collect(),
            filter,
        };
        let described = Message::json(&body).map(|message| {
            let mut spec = Spec::new(operation, Method::POST, self.hub_path(action));
            spec.body = Some(message);
            spec
        });
        self.run_unit(described)
    }
}
