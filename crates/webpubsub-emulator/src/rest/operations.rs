//! Runs one REST operation against the registry and answers with the service's status codes.

use axum::{
    Json,
    body::Body,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use webpubsub_protocol::token::{ClientProtocol, ClientTokenClaims, client_audience};

use super::{
    RestState,
    error::ApiError,
    request::{Query, optional_filter, payload_type, read_body},
    routes::Operation,
};
use crate::registry::{Hub, Message, Origin, RegistryError, validate_group};

/// The largest page of a group listing (`maxpagesize`).
const MAX_PAGE_SIZE: i64 = 200;

/// The request of `:addToGroups` and `:removeFromGroups`.
#[derive(Debug, Deserialize)]
struct GroupsRequest {
    groups: Vec<String>,
    #[serde(default)]
    filter: Option<String>,
}

/// `GroupMemberPagedValues`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupMemberPage {
    value: Vec<GroupMemberJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupMemberJson {
    connection_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
}

/// What a request carries besides its operation.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) state: &'a RestState,
    pub(crate) hub_name: &'a str,
    pub(crate) hub: Hub,
    pub(crate) query: Query,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    /// The scheme and authority the caller used, for `nextLink`.
    pub(crate) base_url: String,
}

fn status(code: StatusCode) -> Response {
    code.into_response()
}

/// 200 when `exists`, else the 404 of a `HEAD` check with `code`.
fn exists(exists: bool, code: &'static str, what: &str) -> Result<Response, ApiError> {
    if exists {
        Ok(status(StatusCode::OK))
    } else {
        Err(ApiError::not_existing(code, what))
    }
}

fn non_empty<'a>(what: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.is_empty() {
        Err(ApiError::bad_request(format!(
            "the {what} must not be empty"
        )))
    } else {
        Ok(value)
    }
}

fn group_name(group: &str) -> Result<&str, ApiError> {
    validate_group(group).map_err(|error| ApiError::bad_request(error.to_string()))?;
    Ok(group)
}

fn registry_error(error: RegistryError) -> ApiError {
    match error {
        RegistryError::ConnectionNotFound(id) => ApiError::connection_not_found(&id),
        RegistryError::UserNotFound(user) => ApiError::user_not_found(&user),
        other => ApiError::bad_request(other.to_string()),
    }
}

impl Call<'_> {
    /// Reads and checks a send's payload and its parameters.
    async fn message(&mut self, origin: Origin) -> Result<Message, ApiError> {
        self.query.check_message_ttl()?;
        let body = std::mem::take(&mut self.body);
        let data = read_body(&self.headers, body, self.state.config.read_timeout).await?;
        let data_type = payload_type(&self.headers, &data)?;
        Ok(Message::new(data, data_type, origin))
    }

    pub(crate) async fn execute(mut self, operation: Operation) -> Result<Response, ApiError> {
        let accepted = || Ok(status(StatusCode::ACCEPTED));
        let no_content = || Ok(status(StatusCode::NO_CONTENT));
        let reason = self.query.get("reason").map(str::to_owned);
        let reason = reason.as_deref();
        match operation {
            Operation::Health => Ok(status(StatusCode::OK)),
            Operation::SendToAll => {
                let filter = self.query.filter()?;
                let message = self.message(Origin::Server).await?;
                self.hub
                    .send_to_all(message, &self.query.excluded(), filter.as_ref());
                accepted()
            }
            Operation::SendToUser(user) => {
                non_empty("user id", &user)?;
                let filter = self.query.filter()?;
                let message = self.message(Origin::Server).await?;
                self.hub.send_to_user(&user, message, filter.as_ref());
                accepted()
            }
            Operation::SendToConnection(id) => {
                non_empty("connection id", &id)?;
                let message = self.message(Origin::Server).await?;
                self.hub.send_to_connection(&id, message);
                accepted()
            }
            Operation::SendToGroup(group) => {
                group_name(&group)?;
                let filter = self.query.filter()?;
                // Clients see a REST group send as a group message without a sender.
                let message = self
                    .message(Origin::Group {
                        group: group.clone(),
                        from_user_id: None,
                    })
                    .await?;
                self.hub
                    .send_to_group(&group, message, &self.query.excluded(), filter.as_ref());
                accepted()
            }
            Operation::CloseAll => {
                self.hub.close_all(reason, &self.query.excluded());
                no_content()
            }
            Operation::CloseUser(user) => {
                self.hub
                    .close_user(non_empty("user id", &user)?, reason, &self.query.excluded());
                no_content()
            }
            Operation::CloseGroup(group) => {
                self.hub
                    .close_group(group_name(&group)?, reason, &self.query.excluded());
                no_content()
            }
            Operation::CloseConnection(id) => {
                self.hub
                    .close_connection(non_empty("connection id", &id)?, reason);
                no_content()
            }
            Operation::ConnectionExists(id) => exists(
                self.hub.connection_exists(&id),
                "Warning.Connection.NotExisted",
                "the connection",
            ),
            Operation::UserExists(user) => exists(
                self.hub.user_exists(&user),
                "Warning.User.NotExisted",
                "the user",
            ),
            Operation::GroupExists(group) => exists(
                self.hub.group_exists(group_name(&group)?),
                "Warning.Group.NotExisted",
                "the group",
            ),
            Operation::AddConnectionToGroup {
                group,
                connection_id,
            } => {
                self.hub
                    .add_connection_to_group(group_name(&group)?, &connection_id)
                    .map_err(registry_error)?;
                Ok(status(StatusCode::OK))
            }
            Operation::RemoveConnectionFromGroup {
                group,
                connection_id,
            } => {
                self.hub
                    .remove_connection_from_group(group_name(&group)?, &connection_id);
                no_content()
            }
            Operation::RemoveConnectionFromAllGroups(id) => {
                self.hub.remove_connection_from_all_groups(&id);
                no_content()
            }
            Operation::AddUserToGroup { user_id, group } => {
                self.hub
                    .add_user_to_group(group_name(&group)?, &user_id)
                    .map_err(registry_error)?;
                Ok(status(StatusCode::OK))
            }
            Operation::RemoveUserFromGroup { user_id, group } => {
                self.hub
                    .remove_user_from_group(group_name(&group)?, &user_id);
                no_content()
            }
            Operation::RemoveUserFromAllGroups(user) => {
                self.hub.remove_user_from_all_groups(&user);
                no_content()
            }
            Operation::AddToGroups | Operation::RemoveFromGroups => {
                let body = std::mem::take(&mut self.body);
                let body = read_body(&self.headers, body, self.state.config.read_timeout).await?;
                let request: GroupsRequest = serde_json::from_slice(&body).map_err(|error| {
                    ApiError::bad_request(format!(
                        "the body must be {{\"groups\": [..], \"filter\": \"..\"}}: {error}"
                    ))
                })?;
                if request.groups.is_empty() {
                    return Err(ApiError::bad_request("groups must name at least one group"));
                }
                let filter = optional_filter(request.filter.as_deref())?;
                let result = if operation == Operation::AddToGroups {
                    self.hub.add_to_groups(&request.groups, filter.as_ref())
                } else {
                    self.hub
                        .remove_from_groups(&request.groups, filter.as_ref())
                };
                result.map_err(registry_error)?;
                Ok(status(StatusCode::OK))
            }
            Operation::GrantPermission(target) => {
                let group = self.permission_group()?;
                self.hub
                    .grant_permission(&target.connection_id, target.permission, group.as_deref())
                    .map_err(registry_error)?;
                Ok(status(StatusCode::OK))
            }
            Operation::RevokePermission(target) => {
                let group = self.permission_group()?;
                self.hub.revoke_permission(
                    &target.connection_id,
                    target.permission,
                    group.as_deref(),
                );
                no_content()
            }
            Operation::CheckPermission(target) => {
                let group = self.permission_group()?;
                let held = self.hub.has_permission(
                    &target.connection_id,
                    target.permission,
                    group.as_deref(),
                );
                exists(held, "Warning.Permission.NotGranted", "the permission")
            }
            Operation::ListGroupConnections(group) => self.list_group(&group),
            Operation::GenerateToken => self.generate_token(),
        }
    }

    /// `targetName`: the group a permission is about (every group when absent).
    fn permission_group(&self) -> Result<Option<String>, ApiError> {
        self.query
            .get("targetName")
            .map(|group| group_name(group).map(str::to_owned))
            .transpose()
    }

    fn list_group(&self, group: &str) -> Result<Response, ApiError> {
        group_name(group)?;
        let page_size = self
            .query
            .int("maxpagesize", 1, MAX_PAGE_SIZE)?
            .unwrap_or(MAX_PAGE_SIZE);
        let top = self.query.int("top", 1, i64::from(i32::MAX))?;
        let after = match self.query.get("continuationToken") {
            Some(token) => Some(
                URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "continuationToken {token:?} is not one the emulator issued"
                        ))
                    })?,
            ),
            None => None,
        };
        let limit = top.map_or(page_size, |top| top.min(page_size));
        let page = self.hub.group_members(
            group,
            after.as_deref(),
            usize::try_from(limit).unwrap_or(usize::MAX),
        );
        let remaining = top.map(|top| top - i64::try_from(page.members.len()).unwrap_or(i64::MAX));
        let next_link = match (page.continue_after, remaining) {
            (Some(last), None) => Some(self.next_link(group, page_size, None, &last)),
            (Some(last), Some(remaining)) if remaining > 0 => {
                Some(self.next_link(group, page_size, Some(remaining), &last))
            }
            _ => None,
        };
        let value = page
            .members
            .into_iter()
            .map(|member| GroupMemberJson {
                connection_id: member.connection_id,
                user_id: member.user_id,
            })
            .collect();
        Ok(Json(GroupMemberPage { value, next_link }).into_response())
    }

    fn next_link(&self, group: &str, page_size: i64, top: Option<i64>, last: &str) -> String {
        use webpubsub_protocol::token::encode_path_segment as segment;
        let api_version = self.query.get("api-version").unwrap_or("2024-12-01");
        let mut link = format!(
            "{}/api/hubs/{}/groups/{}/connections?api-version={}&maxpagesize={page_size}",
            self.base_url,
            segment(self.hub_name),
            segment(group),
            segment(api_version),
        );
        if let Some(top) = top {
            link.push_str(&format!("&top={top}"));
        }
        link.push_str(&format!(
            "&continuationToken={}",
            URL_SAFE_NO_PAD.encode(last)
        ));
        link
    }

    fn generate_token(&self) -> Result<Response, ApiError> {
        let minutes = self
            .query
            .int("minutesToExpire", 1, i64::from(i32::MAX))?
            .unwrap_or(60);
        let protocol = match self.query.get("clientType") {
            None => ClientProtocol::Default,
            Some(kind) => [
                ClientProtocol::Default,
                ClientProtocol::Mqtt,
                ClientProtocol::SocketIo,
            ]
            .into_iter()
            .find(|protocol| protocol.client_type().eq_ignore_ascii_case(kind))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "clientType {kind:?} is not Default, MQTT or SocketIO"
                ))
            })?,
        };
        let groups: Vec<&str> = self.query.all("group").collect();
        for group in &groups {
            group_name(group)?;
        }
        let audience = client_audience(&self.state.config.endpoint, protocol, self.hub_name);
        let now = jsonwebtoken::get_current_timestamp();
        let lifetime = u64::try_from(minutes).unwrap_or(60).saturating_mul(60);
        let mut claims = ClientTokenClaims::new(audience, now, lifetime)
            .with_roles(self.query.all("role"))
            .with_groups(groups);
        if let Some(user) = self.query.get("userId") {
            if !webpubsub_protocol::is_valid_user_id(user) {
                return Err(ApiError::bad_request(format!(
                    "invalid userId: {}",
                    webpubsub_protocol::USER_ID_RULE
                )));
            }
            claims = claims.with_user(user);
        }
        let key = EncodingKey::from_secret(self.state.config.primary_key().as_bytes());
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).map_err(
            |error| {
                tracing::error!(%error, "cannot sign a client token");
                ApiError::internal("the client token cannot be signed")
            },
        )?;
        Ok(Json(serde_json::json!({ "token": token })).into_response())
    }
}
