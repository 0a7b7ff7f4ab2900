//! Grant, revoke and check a connection's permissions on groups
//! (`/api/hubs/{hub}/permissions/{permission}/connections/{connectionId}`).

use std::{future::IntoFuture, marker::PhantomData};

use http::Method;
pub use webpubsub_protocol::token::Permission;

use crate::{
    Error, WebPubSubServiceClient,
    request::{Described, Name, ResponseFuture, Spec},
};

impl WebPubSubServiceClient {
    /// Grants `permission` to a connection (`PUT`); limit it to one group with
    /// [`target_name`](PermissionRequest::target_name), else it applies to every group.
    ///
    /// ```no_run
    /// # async fn run(client: webpubsub_rest::WebPubSubServiceClient) -> Result<(), webpubsub_rest::Error> {
    /// use webpubsub_rest::Permission;
    ///
    /// client.grant_permission(Permission::SendToGroup, "conn1").target_name("room1").await?;
    /// assert!(client.check_permission(Permission::SendToGroup, "conn1").target_name("room1").await?);
    /// # Ok(()) }
    /// ```
    pub fn grant_permission(
        &self,
        permission: Permission,
        connection_id: &str,
    ) -> PermissionRequest<'_, ()> {
        self.permission_request("grant_permission", Method::PUT, permission, connection_id)
    }

    /// Revokes `permission` from a connection (`DELETE`).
    pub fn revoke_permission(
        &self,
        permission: Permission,
        connection_id: &str,
    ) -> PermissionRequest<'_, ()> {
        self.permission_request(
            "revoke_permission",
            Method::DELETE,
            permission,
            connection_id,
        )
    }

    /// Whether a connection has `permission` (`HEAD`: 2xx is `true`, 404 `false`).
    pub fn check_permission(
        &self,
        permission: Permission,
        connection_id: &str,
    ) -> PermissionRequest<'_, bool> {
        self.permission_request("check_permission", Method::HEAD, permission, connection_id)
    }

    fn permission_request<T>(
        &self,
        operation: &'static str,
        method: Method,
        permission: Permission,
        connection_id: &str,
    ) -> PermissionRequest<'_, T> {
        let path = Name::Connection.segment(connection_id).map(|connection| {
            self.hub_path(&format!(
                "/permissions/{permission}/connections/{connection}"
            ))
        });
        PermissionRequest {
            client: self,
            described: Spec::at(operation, method, path),
            _output: PhantomData,
        }
    }
}

/// A grant, revoke or check of a permission; `.await` it (a check resolves to `bool`).
#[must_use = "a permission request does nothing unless awaited"]
#[derive(Debug)]
pub struct PermissionRequest<'a, T> {
    client: &'a WebPubSubServiceClient,
    described: Described,
    _output: PhantomData<fn() -> T>,
}

impl<T> PermissionRequest<'_, T> {
    /// The group the permission is about (`targetName`).
    pub fn target_name(mut self, group: impl Into<String>) -> Self {
        if let Ok(spec) = &mut self.described {
            spec.param("targetName", group);
        }
        self
    }
}

impl<'a> IntoFuture for PermissionRequest<'a, ()> {
    type Output = Result<(), Error>;
    type IntoFuture = ResponseFuture<'a, ()>;

    fn into_future(self) -> Self::IntoFuture {
        self.client.run_unit(self.described)
    }
}

impl<'a> IntoFuture for PermissionRequest<'a, bool> {
    type Output = Result<bool, Error>;
    type IntoFuture = ResponseFuture<'a, bool>;

    fn into_future(self) -> Self::IntoFuture {
        self.client.run_exists(self.described)
    }
}
