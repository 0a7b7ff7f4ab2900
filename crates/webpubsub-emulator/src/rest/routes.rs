//! Maps a method and path to one of the 25 operations of the data-plane REST API.
//!
//! Matched by hand on decoded segments rather than with axum's router: the service's action
//! segments (`:send`, `:closeConnections`, …) start with `:`, which axum 0.8 refuses in route
//! patterns, and the table below reads like the operation table of the API reference.

use axum::http::Method;
use webpubsub_protocol::token::Permission;

use super::error::ApiError;

/// One REST operation with its path parameters (decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Operation {
    Health,
    SendToAll,
    CloseAll,
    GenerateToken,
    AddToGroups,
    RemoveFromGroups,
    CloseConnection(String),
    ConnectionExists(String),
    SendToConnection(String),
    RemoveConnectionFromAllGroups(String),
    GroupExists(String),
    CloseGroup(String),
    SendToGroup(String),
    ListGroupConnections(String),
    AddConnectionToGroup {
        group: String,
        connection_id: String,
    },
    RemoveConnectionFromGroup {
        group: String,
        connection_id: String,
    },
    GrantPermission(PermissionTarget),
    RevokePermission(PermissionTarget),
    CheckPermission(PermissionTarget),
    UserExists(String),
    CloseUser(String),
    SendToUser(String),
    RemoveUserFromAllGroups(String),
    AddUserToGroup {
        user_id: String,
        group: String,
    },
    RemoveUserFromGroup {
        user_id: String,
        group: String,
    },
}

/// The path parameters of the permission operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PermissionTarget {
    pub(crate) permission: Permission,
    pub(crate) connection_id: String,
}

/// The hub and operation of `segments` (the decoded path after the leading `/`).
/// `hub` is `None` for the health check.
pub(crate) fn route(
    method: &Method,
    segments: &[String],
    path: &str,
) -> Result<(Option<String>, Operation), ApiError> {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let owned = |value: &str| value.to_owned();
    let (hub, candidates): (Option<&str>, Vec<(Method, Operation)>) = match s.as_slice() {
        ["api", "health"] => (
            None,
            vec![
                (Method::HEAD, Operation::Health),
                (Method::GET, Operation::Health),
            ],
        ),
        ["api", "hubs", hub, rest @ ..] => (Some(*hub), hub_operations(rest, owned)?),
        _ => (None, Vec::new()),
    };
    if candidates.is_empty() {
        return Err(ApiError::no_such_operation(method.as_str(), path));
    }
    let operation = candidates
        .into_iter()
        .find(|(allowed, _)| allowed == method)
        .map(|(_, operation)| operation)
        .ok_or_else(|| ApiError::method_not_allowed(method.as_str(), path))?;
    Ok((hub.map(owned), operation))
}

fn hub_operations(
    rest: &[&str],
    owned: impl Fn(&str) -> String,
) -> Result<Vec<(Method, Operation)>, ApiError> {
    use Method as M;
    use Operation as O;
    Ok(match rest {
        [":send"] => vec![(M::POST, O::SendToAll)],
        [":closeConnections"] => vec![(M::POST, O::CloseAll)],
        [":generateToken"] => vec![(M::POST, O::GenerateToken)],
        [":addToGroups"] => vec![(M::POST, O::AddToGroups)],
        [":removeFromGroups"] => vec![(M::POST, O::RemoveFromGroups)],
        ["connections", id] => {
            vec![
                (M::DELETE, O::CloseConnection(owned(id))),
                (M::HEAD, O::ConnectionExists(owned(id))),
            ]
        }
        ["connections", id, ":send"] => vec![(M::POST, O::SendToConnection(owned(id)))],
        ["connections", id, "groups"] => {
            vec![(M::DELETE, O::RemoveConnectionFromAllGroups(owned(id)))]
        }
        ["groups", group] => vec![(M::HEAD, O::GroupExists(owned(group)))],
        ["groups", group, ":closeConnections"] => vec![(M::POST, O::CloseGroup(owned(group)))],
        ["groups", group, ":send"] => vec![(M::POST, O::SendToGroup(owned(group)))],
        ["groups", group, "connections"] => vec![(M::GET, O::ListGroupConnections(owned(group)))],
        ["groups", group, "connections", id] => vec![
            (
                M::PUT,
                O::AddConnectionToGroup {
                    group: owned(group),
                    connection_id: owned(id),
                },
            ),
            (
                M::DELETE,
                O::RemoveConnectionFromGroup {
                    group: owned(group),
                    connection_id: owned(id),
                },
            ),
        ],
        ["permissions", permission, "connections", id] => {
            let permission = permission
                .parse()
                .map_err(|error| ApiError::bad_request(format!("{error}")))?;
            let target = PermissionTarget {
                permission,
                connection_id: owned(id),
            };
            vec![
                (M::PUT, O::GrantPermission(target.clone())),
                (M::DELETE, O::RevokePermission(target.clone())),
                (M::HEAD, O::CheckPermission(target)),
            ]
        }
        ["users", user] => vec![(M::HEAD, O::UserExists(owned(user)))],
        ["users", user, ":closeConnections"] => vec![(M::POST, O::CloseUser(owned(user)))],
        ["users", user, ":send"] => vec![(M::POST, O::SendToUser(owned(user)))],
        ["users", user, "groups"] => vec![(M::DELETE, O::RemoveUserFromAllGroups(owned(user)))],
        ["users", user, "groups", group] => vec![
            (
                M::PUT,
                O::AddUserToGroup {
                    user_id: owned(user),
                    group: owned(group),
                },
            ),
            (
                M::DELETE,
                O::RemoveUserFromGroup {
                    user_id: owned(user),
                    group: owned(group),
                },
            ),
        ],
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, path: &str) -> Result<(Option<String>, Operation), ApiError> {
        let segments = super::super::request::path_segments(path).unwrap();
        route(&method, &segments, path)
    }

    #[test]
    fn routes_every_operation() {
        let cases = [
            (Method::HEAD, "/api/health", Operation::Health),
            (Method::POST, "/api/hubs/h/:send", Operation::SendToAll),
            (
                Method::POST,
                "/api/hubs/h/:closeConnections",
                Operation::CloseAll,
            ),
            (
                Method::POST,
                "/api/hubs/h/:generateToken",
                Operation::GenerateToken,
            ),
            (
                Method::POST,
                "/api/hubs/h/:addToGroups",
                Operation::AddToGroups,
            ),
            (
                Method::POST,
                "/api/hubs/h/:removeFromGroups",
                Operation::RemoveFromGroups,
            ),
            (
                Method::DELETE,
                "/api/hubs/h/connections/c",
                Operation::CloseConnection("c".into()),
            ),
            (
                Method::HEAD,
                "/api/hubs/h/connections/c",
                Operation::ConnectionExists("c".into()),
            ),
            (
                Method::POST,
                "/api/hubs/h/connections/c/:send",
                Operation::SendToConnection("c".into()),
            ),
            (
                Method::DELETE,
                "/api/hubs/h/connections/c/groups",
                Operation::RemoveConnectionFromAllGroups("c".into()),
            ),
            (
                Method::HEAD,
                "/api/hubs/h/groups/g",
                Operation::GroupExists("g".into()),
            ),
            (
                Method::POST,
                "/api/hubs/h/groups/g/:closeConnections",
                Operation::CloseGroup("g".into()),
            ),
            (
                Method::POST,
                "/api/hubs/h/groups/g/:send",
                Operation::SendToGroup("g".into()),
            ),
            (
                Method::GET,
                "/api/hubs/h/groups/g/connections",
                Operation::ListGroupConnections("g".into()),
            ),
            (
                Method::PUT,
                "/api/hubs/h/groups/g/connections/c",
                Operation::AddConnectionToGroup {
                    group: "g".into(),
                    connection_id: "c".into(),
                },
            ),
            (
                Method::DELETE,
                "/api/hubs/h/groups/g/connections/c",
                Operation::RemoveConnectionFromGroup {
                    group: "g".into(),
                    connection_id: "c".into(),
                },
            ),
            (
                Method::PUT,
                "/api/hubs/h/permissions/sendToGroup/connections/c",
                Operation::GrantPermission(PermissionTarget {
                    permission: Permission::SendToGroup,
                    connection_id: "c".into(),
                }),
            ),
            (
                Method::DELETE,
                "/api/hubs/h/permissions/joinLeaveGroup/connections/c",
                Operation::RevokePermission(PermissionTarget {
                    permission: Permission::JoinLeaveGroup,
                    connection_id: "c".into(),
                }),
            ),
            (
                Method::HEAD,
                "/api/hubs/h/permissions/joinLeaveGroup/connections/c",
                Operation::CheckPermission(PermissionTarget {
                    permission: Permission::JoinLeaveGroup,
                    connection_id: "c".into(),
                }),
            ),
            (
                Method::HEAD,
                "/api/hubs/h/users/u",
                Operation::UserExists("u".into()),
            ),
            (
                Method::POST,
                "/api/hubs/h/users/u/:closeConnections",
                Operation::CloseUser("u".into()),
            ),
            (
                Method::POST,
                "/api/hubs/h/users/u/:send",
                Operation::SendToUser("u".into()),
            ),
            (
                Method::DELETE,
                "/api/hubs/h/users/u/groups",
                Operation::RemoveUserFromAllGroups("u".into()),
            ),
            (
                Method::PUT,
                "/api/hubs/h/users/u/groups/g",
                Operation::AddUserToGroup {
                    user_id: "u".into(),
                    group: "g".into(),
                },
            ),
            (
                Method::DELETE,
                "/api/hubs/h/users/u/groups/g",
                Operation::RemoveUserFromGroup {
                    user_id: "u".into(),
                    group: "g".into(),
                },
            ),
        ];
        for (method, path, expected) in cases {
            let (_, operation) =
                op(method.clone(), path).unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
            assert_eq!(operation, expected, "{method} {path}");
        }
    }

    #[test]
    fn unknown_paths_methods_and_permissions() {
        assert_eq!(
            op(Method::GET, "/api/hubs/h/:send").unwrap_err().status,
            405
        );
        assert_eq!(
            op(Method::POST, "/api/hubs/h/:nothing").unwrap_err().status,
            404
        );
        assert_eq!(op(Method::GET, "/elsewhere").unwrap_err().status, 404);
        let error = op(Method::PUT, "/api/hubs/h/permissions/admin/connections/c").unwrap_err();
        assert_eq!(
            (error.status.as_u16(), error.code),
            (400, "Error.BadRequest")
        );
        assert_eq!(
            op(Method::POST, "/api/hubs/Chat/users/a%2Fb/:send").unwrap(),
            (Some("Chat".into()), Operation::SendToUser("a/b".into()))
        );
    }
}
