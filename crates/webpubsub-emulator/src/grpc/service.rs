//! The `Upstream` service: registration, acks and the data plane.

use std::pin::Pin;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
use futures_util::Stream;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tonic::{Request, Response, Status, metadata::MetadataMap};
use webpubsub_protocol::grpc::{
    self as pb, AckConnectRequest, AckMessageRequest, AckReply, ExistsReply, OperationReply,
    StreamingRequest, upstream_audience, upstream_server::Upstream,
};
use webpubsub_protocol::token::same_audience;

use super::{Ack, Registrations};
use crate::app::AppState;
use crate::rest::{self, ApiError, Operation, PermissionTarget};
use crate::upstream::{check_connect_ack, check_message_ack};

/// The REST API version whose behaviour the data plane follows.
const API_VERSION: &str = "2024-12-01";

#[derive(Debug)]
pub(super) struct UpstreamService {
    state: AppState,
    registrations: Registrations,
}

impl UpstreamService {
    pub(super) fn new(state: AppState) -> Self {
        let registrations = state.upstream.registrations().clone();
        Self {
            state,
            registrations,
        }
    }

    /// Checks the call's access token against `hub`: `UNAUTHENTICATED` with the reason (never
    /// the token) when it is missing, forged, expired or for another audience.
    fn authorize(&self, metadata: &MetadataMap, hub: &str) -> Result<(), Status> {
        if !webpubsub_protocol::is_valid_hub_name(hub) {
            return Err(Status::invalid_argument(format!(
                "invalid hub name {hub:?}: {}",
                webpubsub_protocol::HUB_NAME_RULE
            )));
        }
        let headers = metadata.clone().into_headers();
        let unauthenticated = |error: ApiError| Status::unauthenticated(error.message);
        let token = rest::auth::bearer_token(&headers).map_err(unauthenticated)?;
        let claims = rest::auth::verify_signature(token, &self.state.config.keys)
            .map_err(unauthenticated)?;
        let expected = upstream_audience(&self.state.config.endpoint, hub);
        if same_audience(&claims.aud, &expected) {
            Ok(())
        } else {
            Err(Status::unauthenticated(format!(
                "the access token's audience {:?} is not {expected:?}",
                claims.aud
            )))
        }
    }

    /// Runs a REST operation for a data-plane call and answers its REST response.
    async fn operation(
        &self,
        metadata: &MetadataMap,
        hub: &str,
        operation: Operation,
        query: &[(&str, &str)],
        body: RestBody,
    ) -> Result<axum::response::Response, Status> {
        self.authorize(metadata, hub)?;
        let mut query_string = format!("api-version={API_VERSION}");
        for (key, value) in query.iter().filter(|(_, value)| !value.is_empty()) {
            query_string.push_str(&format!(
                "&{key}={}",
                utf8_percent_encode(value, NON_ALPHANUMERIC)
            ));
        }
        let mut headers = HeaderMap::new();
        let body = match body {
            RestBody::None => Body::empty(),
            RestBody::Payload(None) => {
                return Err(Status::invalid_argument("the payload is missing"));
            }
            RestBody::Payload(Some(payload)) => {
                let kind = pb::data_type_of(payload.data_type)
                    .map_err(|e| Status::invalid_argument(format!("payload.data_type: {e}")))?;
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind.content_type()));
                Body::from(payload.content)
            }
            RestBody::Json(json) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Body::from(json.to_string())
            }
        };
        rest::execute(
            &self.state.registry,
            &self.state.config,
            hub,
            operation,
            &query_string,
            headers,
            body,
        )
        .await
        .map_err(status_of)
    }

    async fn done(
        &self,
        metadata: &MetadataMap,
        hub: &str,
        operation: Operation,
        query: &[(&str, &str)],
        body: RestBody,
    ) -> Result<Response<OperationReply>, Status> {
        let response = self
            .operation(metadata, hub, operation, query, body)
            .await?;
        Ok(Response::new(OperationReply {
            status: response.status().as_u16().into(),
        }))
    }

    /// An existence check: 200 is true, the REST 404 false.
    async fn exists(
        &self,
        metadata: &MetadataMap,
        hub: &str,
        operation: Operation,
        query: &[(&str, &str)],
    ) -> Result<Response<ExistsReply>, Status> {
        let exists = match self
            .operation(metadata, hub, operation, query, RestBody::None)
            .await
        {
            Ok(_) => true,
            Err(status) if status.code() == tonic::Code::NotFound => false,
            Err(status) => return Err(status),
        };
        Ok(Response::new(ExistsReply { exists }))
    }

    /// A REST operation whose answer is JSON, read as `T`.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        metadata: &MetadataMap,
        hub: &str,
        operation: Operation,
        query: &[(&str, &str)],
    ) -> Result<T, Status> {
        let response = self
            .operation(metadata, hub, operation, query, RestBody::None)
            .await?;
        // The emulator's own JSON answers (a token, a page of members) are small; the bound only
        // guards against a mistake turning into unbounded memory.
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .map_err(|error| {
                Status::internal(format!("reading the operation's answer: {error}"))
            })?;
        serde_json::from_slice(&body).map_err(|error| {
            Status::internal(format!(
                "the operation's answer is not the expected JSON: {error}"
            ))
        })
    }
}

/// What a data-plane call hands to the REST operation as its body.
enum RestBody {
    None,
    /// A send's message; `None` when the call left it out (refused).
    Payload(Option<pb::Payload>),
    /// A JSON body (the groups operations).
    Json(serde_json::Value),
}

/// The REST answer of `generateToken`.
#[derive(serde::Deserialize)]
struct TokenJson {
    token: String,
}

/// A page of the REST answer of "list connections in group".
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupPageJson {
    value: Vec<GroupMemberJson>,
    next_link: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupMemberJson {
    connection_id: String,
    user_id: Option<String>,
}

/// The `continuationToken` of a REST `nextLink`, which the emulator itself built.
fn continuation_token(next_link: &str) -> Option<String> {
    let (_, query) = next_link.split_once('?')?;
    url_query_value(query, "continuationToken")
}

fn url_query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// The excluded connections of a send or close as REST query pairs.
fn excluded(ids: &[String]) -> impl Iterator<Item = (&'static str, &str)> {
    ids.iter().map(|id| ("excluded", id.as_str()))
}

/// The REST permission path parameter, refused in the REST operation's own words.
fn permission_target(r: &pb::PermissionRequest) -> Result<PermissionTarget, Status> {
    let permission = r
        .permission
        .parse()
        .map_err(|error| Status::invalid_argument(format!("{error}")))?;
    Ok(PermissionTarget {
        permission,
        connection_id: r.connection_id.clone(),
    })
}

/// A REST error as a gRPC status: the code by the HTTP status, the message prefixed with the
/// service's error code.
fn status_of(error: ApiError) -> Status {
    use tonic::Code;
    let code = match error.status.as_u16() {
        400 | 415 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::FailedPrecondition,
        413 | 429 => Code::ResourceExhausted,
        500 => Code::Internal,
        503 => Code::Unavailable,
        _ => Code::Unknown,
    };
    Status::new(code, format!("{}: {}", error.code, error.message))
}

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamingRequest, Status>> + Send>>;

#[tonic::async_trait]
impl Upstream for UpstreamService {
    type RegisterStream = EventStream;

    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let hub = request.get_ref().hub.clone();
        self.authorize(request.metadata(), &hub)?;
        let grpc_mode = self
            .state
            .config
            .hub(&hub)
            .is_some_and(|settings| settings.event_handlers().iter().any(|h| h.is_grpc()));
        if !grpc_mode {
            return Err(Status::failed_precondition(format!(
                "hub {hub:?} does not send its events over gRPC: start the emulator with --hub {hub}=grpc"
            )));
        }
        let (guard, events) = self.registrations.register(&hub);
        let shutdown = self.state.shutdown.clone();
        // The stream ends when the emulator stops; the guard ends the registration when tonic
        // drops the stream (the app went away).
        let stream = futures_util::stream::unfold(
            (events, guard, shutdown),
            |(mut events, guard, mut shutdown)| async move {
                let next = tokio::select! {
                    next = events.recv() => next,
                    _ = shutdown.wait_for(|stopped| *stopped) => None,
                };
                next.map(|item| (item, (events, guard, shutdown)))
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }

    async fn ack_connect(
        &self,
        request: Request<AckConnectRequest>,
    ) -> Result<Response<AckReply>, Status> {
        self.authorize(request.metadata(), &request.get_ref().hub)?;
        let ack = request.into_inner();
        check_connect_ack(&ack)?;
        self.registrations.complete(Ack::Connect(ack))?;
        Ok(Response::new(AckReply {}))
    }

    async fn ack_message(
        &self,
        request: Request<AckMessageRequest>,
    ) -> Result<Response<AckReply>, Status> {
        self.authorize(request.metadata(), &request.get_ref().hub)?;
        let ack = request.into_inner();
        check_message_ack(&ack)?;
        self.registrations.complete(Ack::Message(ack))?;
        Ok(Response::new(AckReply {}))
    }

    async fn send_to_all(
        &self,
        request: Request<pb::SendToAllRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let mut query: Vec<(&str, &str)> = vec![("filter", &r.filter)];
        query.extend(excluded(&r.excluded_connections));
        self.done(
            &metadata,
            &r.hub,
            Operation::SendToAll,
            &query,
            RestBody::Payload(r.payload.clone()),
        )
        .await
    }

    async fn send_to_group(
        &self,
        request: Request<pb::SendToGroupRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let mut query: Vec<(&str, &str)> = vec![("filter", &r.filter)];
        query.extend(excluded(&r.excluded_connections));
        let operation = Operation::SendToGroup(r.group.clone());
        self.done(
            &metadata,
            &r.hub,
            operation,
            &query,
            RestBody::Payload(r.payload.clone()),
        )
        .await
    }

    async fn send_to_user(
        &self,
        request: Request<pb::SendToUserRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::SendToUser(r.user_id.clone());
        let query = [("filter", r.filter.as_str())];
        self.done(
            &metadata,
            &r.hub,
            operation,
            &query,
            RestBody::Payload(r.payload.clone()),
        )
        .await
    }

    async fn send_to_connection(
        &self,
        request: Request<pb::SendToConnectionRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::SendToConnection(r.connection_id.clone());
        self.done(
            &metadata,
            &r.hub,
            operation,
            &[],
            RestBody::Payload(r.payload),
        )
        .await
    }

    async fn join_group(
        &self,
        request: Request<pb::ConnectionGroupRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::AddConnectionToGroup {
            group: r.group,
            connection_id: r.connection_id,
        };
        self.done(&metadata, &r.hub, operation, &[], RestBody::None)
            .await
    }

    async fn leave_group(
        &self,
        request: Request<pb::ConnectionGroupRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::RemoveConnectionFromGroup {
            group: r.group,
            connection_id: r.connection_id,
        };
        self.done(&metadata, &r.hub, operation, &[], RestBody::None)
            .await
    }

    async fn add_user_to_group(
        &self,
        request: Request<pb::UserGroupRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::AddUserToGroup {
            user_id: r.user_id,
            group: r.group,
        };
        self.done(&metadata, &r.hub, operation, &[], RestBody::None)
            .await
    }

    async fn remove_user_from_group(
        &self,
        request: Request<pb::UserGroupRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::RemoveUserFromGroup {
            user_id: r.user_id,
            group: r.group,
        };
        self.done(&metadata, &r.hub, operation, &[], RestBody::None)
            .await
    }

    async fn close_connection(
        &self,
        request: Request<pb::CloseConnectionRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let query = [("reason", r.reason.as_str())];
        let operation = Operation::CloseConnection(r.connection_id);
        self.done(&metadata, &r.hub, operation, &query, RestBody::None)
            .await
    }

    async fn connection_exists(
        &self,
        request: Request<pb::ConnectionRequest>,
    ) -> Result<Response<ExistsReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::ConnectionExists(r.connection_id);
        self.exists(&metadata, &r.hub, operation, &[]).await
    }

    async fn user_exists(
        &self,
        request: Request<pb::UserRequest>,
    ) -> Result<Response<ExistsReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        self.exists(&metadata, &r.hub, Operation::UserExists(r.user_id), &[])
            .await
    }

    async fn group_exists(
        &self,
        request: Request<pb::GroupRequest>,
    ) -> Result<Response<ExistsReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        self.exists(&metadata, &r.hub, Operation::GroupExists(r.group), &[])
            .await
    }

    async fn close_all_connections(
        &self,
        request: Request<pb::CloseAllRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let mut query = vec![("reason", r.reason.as_str())];
        query.extend(excluded(&r.excluded_connections));
        self.done(
            &metadata,
            &r.hub,
            Operation::CloseAll,
            &query,
            RestBody::None,
        )
        .await
    }

    async fn close_group_connections(
        &self,
        request: Request<pb::CloseGroupRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let mut query = vec![("reason", r.reason.as_str())];
        query.extend(excluded(&r.excluded_connections));
        let operation = Operation::CloseGroup(r.group.clone());
        self.done(&metadata, &r.hub, operation, &query, RestBody::None)
            .await
    }

    async fn close_user_connections(
        &self,
        request: Request<pb::CloseUserRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let mut query = vec![("reason", r.reason.as_str())];
        query.extend(excluded(&r.excluded_connections));
        let operation = Operation::CloseUser(r.user_id.clone());
        self.done(&metadata, &r.hub, operation, &query, RestBody::None)
            .await
    }

    async fn remove_connection_from_all_groups(
        &self,
        request: Request<pb::ConnectionRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::RemoveConnectionFromAllGroups(r.connection_id);
        self.done(&metadata, &r.hub, operation, &[], RestBody::None)
            .await
    }

    async fn remove_user_from_all_groups(
        &self,
        request: Request<pb::UserRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::RemoveUserFromAllGroups(r.user_id);
        self.done(&metadata, &r.hub, operation, &[], RestBody::None)
            .await
    }

    async fn add_connections_to_groups(
        &self,
        request: Request<pb::GroupsRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let body = groups_body(&r);
        self.done(&metadata, &r.hub, Operation::AddToGroups, &[], body)
            .await
    }

    async fn remove_connections_from_groups(
        &self,
        request: Request<pb::GroupsRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let body = groups_body(&r);
        self.done(&metadata, &r.hub, Operation::RemoveFromGroups, &[], body)
            .await
    }

    async fn list_connections_in_group(
        &self,
        request: Request<pb::ListConnectionsInGroupRequest>,
    ) -> Result<Response<pb::GroupConnectionsReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let page_size = (r.max_page_size != 0).then(|| r.max_page_size.to_string());
        let mut query = vec![("continuationToken", r.continuation_token.as_str())];
        if let Some(size) = &page_size {
            query.push(("maxpagesize", size.as_str()));
        }
        let operation = Operation::ListGroupConnections(r.group.clone());
        let page: GroupPageJson = self.json(&metadata, &r.hub, operation, &query).await?;
        Ok(Response::new(pb::GroupConnectionsReply {
            members: page
                .value
                .into_iter()
                .map(|member| pb::GroupMember {
                    connection_id: member.connection_id,
                    user_id: member.user_id.unwrap_or_default(),
                })
                .collect(),
            continuation_token: page
                .next_link
                .as_deref()
                .and_then(continuation_token)
                .unwrap_or_default(),
        }))
    }

    async fn grant_permission(
        &self,
        request: Request<pb::PermissionRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::GrantPermission(permission_target(&r)?);
        let query = [("targetName", r.target_name.as_str())];
        self.done(&metadata, &r.hub, operation, &query, RestBody::None)
            .await
    }

    async fn revoke_permission(
        &self,
        request: Request<pb::PermissionRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::RevokePermission(permission_target(&r)?);
        let query = [("targetName", r.target_name.as_str())];
        self.done(&metadata, &r.hub, operation, &query, RestBody::None)
            .await
    }

    async fn check_permission(
        &self,
        request: Request<pb::PermissionRequest>,
    ) -> Result<Response<ExistsReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::CheckPermission(permission_target(&r)?);
        let query = [("targetName", r.target_name.as_str())];
        self.exists(&metadata, &r.hub, operation, &query).await
    }

    async fn generate_client_token(
        &self,
        request: Request<pb::GenerateClientTokenRequest>,
    ) -> Result<Response<pb::ClientTokenReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let minutes = (r.minutes_to_expire != 0).then(|| r.minutes_to_expire.to_string());
        let mut query = vec![("userId", r.user_id.as_str())];
        if let Some(minutes) = &minutes {
            query.push(("minutesToExpire", minutes.as_str()));
        }
        query.extend(r.roles.iter().map(|role| ("role", role.as_str())));
        query.extend(r.groups.iter().map(|group| ("group", group.as_str())));
        let token: TokenJson = self
            .json(&metadata, &r.hub, Operation::GenerateToken, &query)
            .await?;
        Ok(Response::new(pb::ClientTokenReply { token: token.token }))
    }
}

/// The REST body of the groups operations.
fn groups_body(r: &pb::GroupsRequest) -> RestBody {
    let mut body = serde_json::json!({ "groups": r.groups });
    if !r.filter.is_empty() {
        body["filter"] = serde_json::Value::String(r.filter.clone());
    }
    RestBody::Json(body)
}
