//! Client access tokens: what a WebSocket, MQTT or Socket.IO client needs to connect.

use std::{fmt, future::IntoFuture, time::Duration};

use http::Method;
use serde::Deserialize;
use webpubsub_protocol::token::{self, ClientProtocol, ClientTokenClaims};

use crate::{
    Error, WebPubSubServiceClient,
    auth::{Credential, unix_now},
    request::{ResponseFuture, Spec},
};

/// The lifetime of a client access token unless set otherwise: 60 minutes.
pub const DEFAULT_CLIENT_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The shortest client token lifetime accepted: one minute.
pub const MIN_CLIENT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

impl WebPubSubServiceClient {
    /// A request for a client access token and URL; set its options, then `.await` it.
    pub fn client_access_token(&self) -> ClientTokenRequest<'_> {
        ClientTokenRequest {
            client: self,
            user_id: None,
            roles: Vec::new(),
            groups: Vec::new(),
            lifetime: DEFAULT_CLIENT_TOKEN_LIFETIME,
            protocol: ClientProtocol::Default,
        }
    }
}

/// The options of a client access token; `.await` it to get a [`ClientAccessToken`]: what a
/// WebSocket, MQTT or Socket.IO client needs to connect.
///
/// With an access key the token is signed locally (HS256, the claims of the official SDKs:
/// `aud`, `iat`, `exp`, plus `sub`, `role` and `webpubsub.group` when set); with an Entra ID
/// credential the service mints it (`POST /api/hubs/{hub}/:generateToken`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), webpubsub_rest::Error> {
/// use std::time::Duration;
/// use webpubsub_protocol::token::{ClientProtocol, ClientRole, Permission};
/// use webpubsub_rest::WebPubSubServiceClient;
///
/// let client = WebPubSubServiceClient::from_connection_string(
///     "Endpoint=https://demo.webpubsub.azure.com;AccessKey=secret;Version=1.0;", "chat")?;
/// let token = client
///     .client_access_token()
///     .user_id("alice")
///     .roles([ClientRole::group(Permission::SendToGroup, "room1")])
///     .groups(["room1"])
///     .expires_after(Duration::from_secs(30 * 60))
///     .await?;
/// assert_eq!(token.base_url(), "wss://demo.webpubsub.azure.com/client/hubs/chat");
/// assert!(token.url().starts_with("wss://demo.webpubsub.azure.com/client/hubs/chat?access_token=ey"));
///
/// let mqtt = client.client_access_token().protocol(ClientProtocol::Mqtt).await?;
/// assert_eq!(mqtt.base_url(), "wss://demo.webpubsub.azure.com/clients/mqtt/hubs/chat");
/// // Debug never shows the token.
/// assert!(!format!("{mqtt:?}").contains(mqtt.token()));
/// # Ok(()) }
/// ```
#[must_use = "a token request does nothing unless awaited"]
#[derive(Debug)]
pub struct ClientTokenRequest<'a> {
    client: &'a WebPubSubServiceClient,
    user_id: Option<String>,
    roles: Vec<String>,
    groups: Vec<String>,
    lifetime: Duration,
    protocol: ClientProtocol,
}

impl ClientTokenRequest<'_> {
    /// The user the connection belongs to (`sub`).
    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// The connection's roles (`role`), for example
    /// [`ClientRole`](webpubsub_protocol::token::ClientRole) values or `"webpubsub.joinLeaveGroup"`.
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    /// The groups the connection joins when it connects (`webpubsub.group`).
    pub fn groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups.extend(groups.into_iter().map(Into::into));
        self
    }

    /// How long the token is valid (at least one minute; default 60 minutes). The service
    /// checks it only when the client connects.
    pub fn expires_after(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The kind of client (default: WebSocket clients); chooses the endpoint path.
    pub fn protocol(mut self, protocol: ClientProtocol) -> Self {
        self.protocol = protocol;
        self
    }
}

impl<'a> IntoFuture for ClientTokenRequest<'a> {
    type Output = Result<ClientAccessToken, Error>;
    type IntoFuture = ResponseFuture<'a, ClientAccessToken>;

    fn into_future(self) -> Self::IntoFuture {
        ResponseFuture::new(async move {
            self.mint()
                .await
                .map_err(|e| e.with_operation("client_access_token"))
        })
    }
}

#[derive(Deserialize)]
struct GeneratedToken {
    token: String,
}

impl ClientTokenRequest<'_> {
    async fn mint(self) -> Result<ClientAccessToken, Error> {
        if self.lifetime < MIN_CLIENT_TOKEN_LIFETIME {
            return Err(Error::invalid_argument(format!(
                "the client token lifetime {:?} is shorter than one minute",
                self.lifetime
            )));
        }
        let inner = &self.client.inner;
        let token = match &inner.credential {
            Credential::Key(signer) => {
                let audience = token::client_audience(&inner.endpoint, self.protocol, &inner.hub);
                let mut claims =
                    ClientTokenClaims::new(audience, unix_now(), self.lifetime.as_secs())
                        .with_roles(self.roles)
                        .with_groups(self.groups);
                claims.sub = self.user_id;
                signer.sign(&claims)?
            }
            Credential::Entra(_) => self.generate_on_service().await?,
        };
        Ok(ClientAccessToken::new(
            &inner.endpoint,
            self.protocol,
            &inner.hub,
            token,
        ))
    }

    /// `POST :generateToken`, the only way to get a client token without the access key.
    async fn generate_on_service(&self) -> Result<String, Error> {
        let client = self.client;
        let mut spec = Spec::new(
            "client_access_token",
            Method::POST,
            client.hub_path("/:generateToken"),
        );
        if let Some(user_id) = &self.user_id {
            spec.param("userId", user_id);
        }
        spec.params("role", self.roles.iter().cloned());
        // The service counts whole minutes.
        spec.param(
            "minutesToExpire",
            (self.lifetime.as_secs() / 60).to_string(),
        );
        spec.params("group", self.groups.iter().cloned());
        if self.protocol != ClientProtocol::Default {
            spec.param("clientType", self.protocol.client_type());
        }
        client
            .run(Ok(spec), |answer| {
                let body = answer?.body;
                serde_json::from_slice::<GeneratedToken>(&body)
                    .map(|generated| generated.token)
                    .map_err(|e| {
                        Error::decode("the generated token answer has no token").with_source(e)
                    })
            })
            .await
    }
}

/// A client access token and the URL to connect with. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientAccessToken {
    token: String,
    base_url: String,
    url: String,
}

impl ClientAccessToken {
    fn new(endpoint: &str, protocol: ClientProtocol, hub: &str, token: String) -> Self {
        let base_url = token::websocket_scheme(&token::client_audience(endpoint, protocol, hub));
        let url = token::client_url(endpoint, protocol, hub, &token);
        Self {
            token,
            base_url,
            url,
        }
    }

    /// The token (a JWT).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The client endpoint without the token: `wss://<host>/client/hubs/<hub>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URL to connect to: the base URL plus `?access_token=<token>`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Debug for ClientAccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAccessToken")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .finish()
    }
}
