//! The `Upstream` service: registration, acks and the data plane.

use std::pin::Pin;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_TYPE};
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
use crate::rest::{self, ApiError, Operation};
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

    /// Runs a REST operation for a data-plane call.
    async fn operation(
        &self,
        metadata: &MetadataMap,
        hub: &str,
        operation: Operation,
        query: &[(&str, &str)],
        payload: Option<Option<pb::Payload>>,
    ) -> Result<StatusCode, Status> {
        self.authorize(metadata, hub)?;
        let mut query_string = format!("api-version={API_VERSION}");
        for (key, value) in query.iter().filter(|(_, value)| !value.is_empty()) {
            query_string.push_str(&format!(
                "&{key}={}",
                utf8_percent_encode(value, NON_ALPHANUMERIC)
            ));
        }
        let mut headers = HeaderMap::new();
        let body = match payload {
            None => Body::empty(),
            Some(None) => return Err(Status::invalid_argument("the payload is missing")),
            Some(Some(payload)) => {
                let kind = pb::data_type_of(payload.data_type)
                    .map_err(|e| Status::invalid_argument(format!("payload.data_type: {e}")))?;
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind.content_type()));
                Body::from(payload.content)
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
        payload: Option<Option<pb::Payload>>,
    ) -> Result<Response<OperationReply>, Status> {
        let status = self
            .operation(metadata, hub, operation, query, payload)
            .await?;
        Ok(Response::new(OperationReply {
            status: status.as_u16().into(),
        }))
    }

    /// An existence check: 200 is true, the REST 404 false.
    async fn exists(
        &self,
        metadata: &MetadataMap,
        hub: &str,
        operation: Operation,
    ) -> Result<Response<ExistsReply>, Status> {
        let exists = match self.operation(metadata, hub, operation, &[], None).await {
            Ok(_) => true,
            Err(status) if status.code() == tonic::Code::NotFound => false,
            Err(status) => return Err(status),
        };
        Ok(Response::new(ExistsReply { exists }))
    }
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
        query.extend(
            r.excluded_connections
                .iter()
                .map(|id| ("excluded", id.as_str())),
        );
        self.done(
            &metadata,
            &r.hub,
            Operation::SendToAll,
            &query,
            Some(r.payload.clone()),
        )
        .await
    }

    async fn send_to_group(
        &self,
        request: Request<pb::SendToGroupRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let mut query: Vec<(&str, &str)> = vec![("filter", &r.filter)];
        query.extend(
            r.excluded_connections
                .iter()
                .map(|id| ("excluded", id.as_str())),
        );
        let operation = Operation::SendToGroup(r.group.clone());
        self.done(
            &metadata,
            &r.hub,
            operation,
            &query,
            Some(r.payload.clone()),
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
            Some(r.payload.clone()),
        )
        .await
    }

    async fn send_to_connection(
        &self,
        request: Request<pb::SendToConnectionRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::SendToConnection(r.connection_id.clone());
        self.done(&metadata, &r.hub, operation, &[], Some(r.payload))
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
        self.done(&metadata, &r.hub, operation, &[], None).await
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
        self.done(&metadata, &r.hub, operation, &[], None).await
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
        self.done(&metadata, &r.hub, operation, &[], None).await
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
        self.done(&metadata, &r.hub, operation, &[], None).await
    }

    async fn close_connection(
        &self,
        request: Request<pb::CloseConnectionRequest>,
    ) -> Result<Response<OperationReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let query = [("reason", r.reason.as_str())];
        let operation = Operation::CloseConnection(r.connection_id);
        self.done(&metadata, &r.hub, operation, &query, None).await
    }

    async fn connection_exists(
        &self,
        request: Request<pb::ConnectionRequest>,
    ) -> Result<Response<ExistsReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        let operation = Operation::ConnectionExists(r.connection_id);
        self.exists(&metadata, &r.hub, operation).await
    }

    async fn user_exists(
        &self,
        request: Request<pb::UserRequest>,
    ) -> Result<Response<ExistsReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        self.exists(&metadata, &r.hub, Operation::UserExists(r.user_id))
            .await
    }

    async fn group_exists(
        &self,
        request: Request<pb::GroupRequest>,
    ) -> Result<Response<ExistsReply>, Status> {
        let (metadata, _, r) = request.into_parts();
        self.exists(&metadata, &r.hub, Operation::GroupExists(r.group))
            .await
    }
}
