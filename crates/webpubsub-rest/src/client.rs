//! The client, its builder, and the one path every request takes: URL, signature, attempt,
//! retry.

use std::{fmt, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{
    HeaderMap,
    header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT},
};
use reqwest::Url;
use tracing::{Instrument, field::Empty};
use webpubsub_protocol::{AccessKey, IntoConnectionString};

use crate::{
    Error, RetryPolicy, TokenCredential, Transport,
    auth::Credential,
    error::Kind,
    request::{Described, Name, ResponseFuture, Spec},
    urls::{RequestUrls, UrlCache},
};

/// The api-version sent by default: the newest stable data-plane API.
pub const DEFAULT_API_VERSION: &str = "2024-12-01";

/// The per-attempt timeout used unless [`WebPubSubServiceClientBuilder::timeout`] sets another.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

const USER_AGENT_VALUE: &str = concat!("webpubsub-rest/", env!("CARGO_PKG_VERSION"));

/// A client for one hub of a Web PubSub service. Cheap to clone (an `Arc` inside).
///
/// Build it from a connection string, or with [`WebPubSubServiceClient::builder`] for an Entra
/// ID credential, a reverse proxy, another api-version, retry policy, timeout or HTTP client.
/// Every operation returns a future or a request builder to `.await`.
///
/// ```no_run
/// use webpubsub_rest::{Message, WebPubSubServiceClient};
///
/// # async fn run() -> Result<(), webpubsub_rest::Error> {
/// let client = WebPubSubServiceClient::from_connection_string(
///     "Endpoint=https://demo.webpubsub.azure.com;AccessKey=…;Version=1.0;",
///     "chat",
/// )?;
/// client.send_to_group("room1", Message::text("hello")).excluded(["conn1"]).await?;
/// client.add_user_to_group("room1", "alice").await?;
/// let url = client.client_access_token().user_id("alice").await?.url().to_owned();
/// # let _ = url; Ok(()) }
/// ```
#[derive(Clone)]
pub struct WebPubSubServiceClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The service endpoint, without trailing slash: what tokens are signed for.
    pub(crate) endpoint: String,
    /// Where requests go instead of `endpoint`, if a reverse proxy is set.
    proxy: Option<String>,
    pub(crate) hub: String,
    /// The hub as an encoded path segment.
    hub_segment: String,
    api_version: String,
    pub(crate) credential: Credential,
    retry: RetryPolicy,
    timeout: Duration,
    wire: Wire,
    urls: UrlCache,
}

/// What carries the requests.
enum Wire {
    /// HTTP, the default: reqwest, called directly (no boxing per request).
    Http(reqwest::Client),
    /// A caller's [`Transport`], such as an open tunnel.
    Custom(Arc<dyn Transport>),
}

impl fmt::Debug for WebPubSubServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("WebPubSubServiceClient")
            .field("endpoint", &inner.endpoint)
            .field("reverse_proxy", &inner.proxy)
            .field("hub", &inner.hub)
            .field("api_version", &inner.api_version)
            .field("credential", &inner.credential)
            .field("retry", &inner.retry)
            .field("timeout", &inner.timeout)
            .field("transport", &inner.wire)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(_) => f.write_str("Http"),
            Self::Custom(transport) => transport.fmt(f),
        }
    }
}

impl WebPubSubServiceClient {
    /// A client for `hub`, from a connection string
    /// (`Endpoint=https://…;AccessKey=…;Version=1.0;`, optional `Port=`), as text or parsed
    /// ([`IntoConnectionString`], which `WebPubSubLayer::connection_string` takes too).
    ///
    /// # Errors
    ///
    /// When the connection string or the hub name is invalid (the error names the problem,
    /// never the key), or the TLS setup fails.
    pub fn from_connection_string(
        connection_string: impl IntoConnectionString,
        hub: &str,
    ) -> Result<Self, Error> {
        let parsed = connection_string.into_connection_string().map_err(|e| {
            Error::builder(format!("invalid connection string: {e}")).with_source(e)
        })?;
        Self::builder(parsed.endpoint(), hub)
            .access_key(parsed.access_key().clone())
            .build()
    }

    /// A builder for a client of `hub` at `endpoint` (`https://<name>.webpubsub.azure.com`).
    pub fn builder(
        endpoint: impl Into<String>,
        hub: impl Into<String>,
    ) -> WebPubSubServiceClientBuilder {
        WebPubSubServiceClientBuilder {
            endpoint: endpoint.into(),
            hub: hub.into(),
            credential: None,
            reverse_proxy: None,
            api_version: DEFAULT_API_VERSION.to_owned(),
            retry: RetryPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
            wire: None,
        }
    }

    /// The hub this client works on.
    pub fn hub(&self) -> &str {
        &self.inner.hub
    }

    /// The service endpoint, without trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The api-version sent with every request.
    pub fn api_version(&self) -> &str {
        &self.inner.api_version
    }

    /// `/api/hubs/{hub}` + `rest`.
    pub(crate) fn hub_path(&self, rest: &str) -> String {
        self.hub_path_of(&[rest])
    }

    /// `/api/hubs/{hub}/{groups|users|connections}/{value}` + `rest`, with `value` checked and
    /// encoded as a `name`.
    pub(crate) fn name_path(&self, name: Name, value: &str, rest: &str) -> Result<String, Error> {
        Ok(self.hub_path_of(&[name.collection(), &name.segment(value)?, rest]))
    }

    /// `/api/hubs/{hub}` followed by `parts`, joined without `format!`: every request runs
    /// this, and the formatting machinery costs more than the copies.
    fn hub_path_of(&self, parts: &[&str]) -> String {
        const API_HUBS: &str = "/api/hubs/";
        let hub = &self.inner.hub_segment;
        let len = parts.iter().map(|part| part.len()).sum::<usize>();
        let mut path = String::with_capacity(API_HUBS.len() + hub.len() + len);
        path.push_str(API_HUBS);
        path.push_str(hub);
        parts.iter().for_each(|part| path.push_str(part));
        path
    }

    /// Runs `described` and maps its answer with `decode`.
    pub(crate) fn run<T, F>(&self, described: Described, decode: F) -> ResponseFuture<'_, T>
    where
        F: FnOnce(Result<Answer, Error>) -> Result<T, Error> + Send + 'static,
        T: 'static,
    {
        ResponseFuture::new(async move {
            let spec = described?;
            let operation = spec.operation;
            decode(self.inner.execute(spec).await).map_err(|e| e.with_operation(operation))
        })
    }

    /// Runs `described`, succeeding on any 2xx answer.
    pub(crate) fn run_unit(&self, described: Described) -> ResponseFuture<'_, ()> {
        self.run(described, |answer| answer.map(drop))
    }

    /// Runs a `HEAD` check: 2xx is `true`, 404 is `false`, anything else an error.
    pub(crate) fn run_exists(&self, described: Described) -> ResponseFuture<'_, bool> {
        self.run(described, |answer| match answer {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        })
    }
}

/// A successful (2xx) answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) body: Bytes,
}

impl Inner {
    /// The service URL of `spec` (what the token is signed for) and the URL it is sent to.
    fn urls(&self, spec: &Spec) -> Result<Arc<RequestUrls>, Error> {
        let path_and_query = spec.path_and_query(&self.api_version);
        if let Some(urls) = self.urls.get(&path_and_query) {
            return Ok(urls);
        }
        let parse = |base: &str| {
            Url::parse(&format!("{base}{path_and_query}")).map_err(|e| {
                Error::invalid_argument(format!(
                    "the request url for {path_and_query:?} is invalid"
                ))
                .with_source(e)
            })
        };
        let service = parse(&self.endpoint)?;
        let proxy = self.proxy.as_deref().map(parse).transpose()?;
        Ok(self
            .urls
            .insert(path_and_query, RequestUrls::new(service, proxy)))
    }

    async fn execute(&self, spec: Spec) -> Result<Answer, Error> {
        let span = tracing::info_span!(
            "webpubsub_rest",
            operation = spec.operation,
            hub = %self.hub,
            method = %spec.method,
            path = %spec.path,
            status = Empty,
            attempts = Empty,
        );
        self.execute_with_retries(spec).instrument(span).await
    }

    async fn execute_with_retries(&self, spec: Spec) -> Result<Answer, Error> {
        let urls = self.urls(&spec)?;
        let span = tracing::Span::current();
        let mut attempt = 1;
        loop {
            let (result, headers) = self.attempt(&spec, &urls).await;
            match result {
                Ok(answer) => {
                    span.record("attempts", attempt);
                    return Ok(answer);
                }
                Err(error) if self.retry.should_retry(&error, attempt, spec.idempotency) => {
                    let delay = self.retry.delay(attempt, headers.as_ref());
                    tracing::debug!(attempt, ?delay, error = %error, "retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => {
                    span.record("attempts", attempt);
                    tracing::debug!(error = %error, "request failed");
                    return Err(error.with_attempts(attempt).with_endpoint(urls.target()));
                }
            }
        }
    }

    /// One attempt; also returns the answer's headers for a `Retry-After`.
    async fn attempt(
        &self,
        spec: &Spec,
        urls: &RequestUrls,
    ) -> (Result<Answer, Error>, Option<HeaderMap>) {
        // Signed per attempt so a retry after a long Retry-After still carries a fresh token.
        let authorization = match self.credential.authorization(urls).await {
            Ok(value) => value,
            Err(e) => return (Err(e), None),
        };
        // The timer is ours rather than reqwest's `RequestBuilder::timeout`, which costs a
        // boxed timer, an extensions map and a wrapped body per request; it bounds the same
        // span, from sending to the last byte of the answer, over either wire.
        let exchanged = match &self.wire {
            Wire::Http(http) => {
                let mut request = http
                    .request(spec.method.clone(), urls.target().clone())
                    .header(AUTHORIZATION, authorization)
                    .header(USER_AGENT, USER_AGENT_VALUE);
                if let Some(message) = &spec.body {
                    request = request
                        .header(CONTENT_TYPE, message.content_type())
                        .body(message.body().clone());
                }
                tokio::time::timeout(self.timeout, exchange(request)).await
            }
            Wire::Custom(transport) => {
                let request = match custom_request(spec, urls, authorization) {
                    Ok(request) => request,
                    Err(e) => return (Err(e), None),
                };
                tokio::time::timeout(self.timeout, exchange_over(&**transport, request)).await
            }
        };
        match exchanged {
            Ok(exchanged) => exchanged,
            Err(elapsed) => (Err(Error::new(Kind::Timeout).with_source(elapsed)), None),
        }
    }
}

/// Sends `request` and reads the answer; also returns the answer's headers if it is a failure.
async fn exchange(request: reqwest::RequestBuilder) -> (Result<Answer, Error>, Option<HeaderMap>) {
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return (Err(Error::transport(e)), None),
    };
    let status = response.status();
    // Only failures read the headers (Retry-After, x-ms-error-code): no copy on success.
    let headers = (!status.is_success()).then(|| response.headers().clone());
    match response.bytes().await {
        Ok(body) => answer_of(status, headers, body),
        Err(e) => (Err(Error::transport(e)), headers),
    }
}

/// The request a [`Transport`] carries: what reqwest would send.
fn custom_request(
    spec: &Spec,
    urls: &RequestUrls,
    authorization: http::HeaderValue,
) -> Result<http::Request<Bytes>, Error> {
    let mut request = http::Request::builder()
        .method(spec.method.clone())
        .uri(urls.target().as_str())
        .header(AUTHORIZATION, authorization)
        .header(USER_AGENT, USER_AGENT_VALUE);
    let body = match &spec.body {
        Some(message) => {
            request = request.header(CONTENT_TYPE, message.content_type());
            message.body().clone()
        }
        None => Bytes::new(),
    };
    request.body(body).map_err(|e| {
        Error::invalid_argument("the request could not be built for the transport").with_source(e)
    })
}

/// Sends `request` over `transport`; the same answers and errors as [`exchange`].
async fn exchange_over(
    transport: &dyn Transport,
    request: http::Request<Bytes>,
) -> (Result<Answer, Error>, Option<HeaderMap>) {
    match transport.send(request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let headers = (!parts.status.is_success()).then_some(parts.headers);
            answer_of(parts.status, headers, body)
        }
        Err(e) => {
            let (kind, source) = e.into_parts();
            (Err(Error::new(kind).with_source(source)), None)
        }
    }
}

/// The answer to an attempt: success on 2xx, else the service's error from `headers` (present
/// exactly for failures) and `body`.
fn answer_of(
    status: http::StatusCode,
    headers: Option<HeaderMap>,
    body: Bytes,
) -> (Result<Answer, Error>, Option<HeaderMap>) {
    tracing::Span::current().record("status", status.as_u16());
    let result = if let Some(headers) = &headers {
        let code = headers
            .get("x-ms-error-code")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Err(Error::from_answer(status, code, &body))
    } else {
        Ok(Answer { body })
    };
    (result, headers)
}

/// Builds a [`WebPubSubServiceClient`]; see [`WebPubSubServiceClient::builder`].
///
/// ```
/// use std::time::Duration;
/// use webpubsub_rest::{RetryPolicy, WebPubSubServiceClient};
///
/// let client = WebPubSubServiceClient::builder("https://demo.webpubsub.azure.com", "chat")
///     .access_key("…")
///     .reverse_proxy("https://apim.example.com")
///     .api_version("2024-01-01")
///     .retry_policy(RetryPolicy::default().max_retries(5))
///     .timeout(Duration::from_secs(10))
///     .build()?;
/// assert_eq!(client.api_version(), "2024-01-01");
/// // The key never prints.
/// assert!(!format!("{client:?}").contains('…'));
/// # Ok::<(), webpubsub_rest::Error>(())
/// ```
#[must_use]
pub struct WebPubSubServiceClientBuilder {
    endpoint: String,
    hub: String,
    credential: Option<Credential>,
    reverse_proxy: Option<String>,
    api_version: String,
    retry: RetryPolicy,
    timeout: Duration,
    wire: Option<Wire>,
}

impl fmt::Debug for WebPubSubServiceClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebPubSubServiceClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("hub", &self.hub)
            .field("credential", &self.credential)
            .field("reverse_proxy", &self.reverse_proxy)
            .field("api_version", &self.api_version)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("transport", &self.wire)
            .finish_non_exhaustive()
    }
}

impl WebPubSubServiceClientBuilder {
    /// Authorize with the access key: each request carries an HS256 JWT signed with it.
    pub fn access_key(mut self, key: impl Into<AccessKey>) -> Self {
        self.credential = Some(Credential::key(key.into()));
        self
    }

    /// Authorize with Microsoft Entra ID bearer tokens for [`ENTRA_SCOPE`](crate::ENTRA_SCOPE).
    /// Client access tokens are then minted by the service (`:generateToken`). The endpoint (or
    /// reverse proxy) must be `https`, or a loopback address such as a local emulator:
    /// [`build`](Self::build) refuses to send a bearer token in clear.
    pub fn credential(mut self, credential: impl TokenCredential + 'static) -> Self {
        self.credential = Some(Credential::entra(Arc::new(credential)));
        self
    }

    /// Send requests to this reverse proxy (for example Azure API Management) instead of the
    /// endpoint; tokens are still signed for the service URL. A path in `url` is kept as a
    /// prefix.
    pub fn reverse_proxy(mut self, url: impl Into<String>) -> Self {
        self.reverse_proxy = Some(url.into());
        self
    }

    /// The api-version to send (default [`DEFAULT_API_VERSION`]).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// How failed requests are retried (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The timeout of each attempt (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Use this HTTP client (its TLS, proxy and pool settings) instead of building one.
    /// Replaces a [`transport`](Self::transport) set before.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.wire = Some(Wire::Http(client));
        self
    }

    /// Carry the requests over `transport` instead of HTTP, for example an open tunnel
    /// (`webpubsub_tunnel::Tunnel::rest_transport`), so that an app behind a firewall needs
    /// only its one outbound connection. Signing, timeouts, retries and errors stay the same;
    /// see [`Transport`]. Replaces an [`http_client`](Self::http_client) set before.
    pub fn transport(mut self, transport: impl Transport + 'static) -> Self {
        self.wire = Some(Wire::Custom(Arc::new(transport)));
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// When no credential was set, a token credential would be sent over plain http to a
    /// non-loopback host, the endpoint or proxy is not an absolute `http`/`https` URL
    /// without query, the hub name does not match the service's rule (a letter, then up to 127
    /// letters, digits or `` _`,.[] ``), the api-version is empty, or TLS cannot be set up.
    pub fn build(self) -> Result<WebPubSubServiceClient, Error> {
        let credential = self.credential.ok_or_else(|| {
            Error::builder("no credential: set an access key or a token credential")
        })?;
        let endpoint = base_url("endpoint", &self.endpoint)?;
        let proxy = self
            .reverse_proxy
            .as_deref()
            .map(|p| base_url("reverse proxy", p))
            .transpose()?;
        validate_hub(&self.hub)?;
        if let Credential::Entra(_) = credential {
            refuse_bearer_in_clear(proxy.as_deref().unwrap_or(&endpoint))?;
        }
        if self.api_version.trim().is_empty() {
            return Err(Error::builder("the api-version is empty"));
        }
        let wire = match self.wire {
            Some(wire) => wire,
            None => Wire::Http(default_http_client()?),
        };
        Ok(WebPubSubServiceClient {
            inner: Arc::new(Inner {
                endpoint,
                proxy,
                hub_segment: webpubsub_protocol::token::encode_path_segment(&self.hub),
                hub: self.hub,
                api_version: self.api_version,
                credential,
                retry: self.retry,
                timeout: self.timeout,
                wire,
                urls: UrlCache::default(),
            }),
        })
    }
}

/// `scheme://authority[/path]` without trailing slash, checked.
fn base_url(what: &str, raw: &str) -> Result<String, Error> {
    let invalid = || {
        Error::builder(format!(
            "the {what} {raw:?} is not an absolute http or https url"
        ))
    };
    let url = Url::parse(raw.trim()).map_err(|e| invalid().with_source(e))?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.has_host()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(invalid());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// An Entra ID token is a bearer secret valid for every resource the identity can reach, so,
/// like the Azure SDKs, the client sends it only over TLS; a loopback address (a local
/// emulator) is the one exception, since the token then never leaves the machine.
fn refuse_bearer_in_clear(target: &str) -> Result<(), Error> {
    let url = Url::parse(target).map_err(|e| Error::builder("invalid url").with_source(e))?;
    let loopback = webpubsub_protocol::is_loopback_host(url.host_str().unwrap_or_default());
    if url.scheme() == "https" || loopback {
        Ok(())
    } else {
        Err(Error::builder(format!(
            "a token credential needs an https endpoint, not {target:?}: the bearer token would travel in clear"
        )))
    }
}

fn validate_hub(hub: &str) -> Result<(), Error> {
    if webpubsub_protocol::is_valid_hub_name(hub) {
        Ok(())
    } else {
        Err(Error::builder(format!(
            "invalid hub name {hub:?}: {}",
            webpubsub_protocol::HUB_NAME_RULE
        )))
    }
}

/// reqwest with the project's TLS setup ([`webpubsub_protocol::tls`]): rustls on the ring
/// provider, chosen there rather than through a process-wide default so that the crate never
/// depends on what else the program installed.
fn default_http_client() -> Result<reqwest::Client, Error> {
    let tls = webpubsub_protocol::tls::client_config().map_err(Error::builder)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(rustls::ClientConfig::clone(&tls))
        .build()
        .map_err(|e| Error::builder("cannot build the http client").with_source(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;
    use proptest::prelude::*;

    /// One client for all cases: building one sets up TLS, which is slow and beside the point.
    static PROPERTY_CLIENT: std::sync::LazyLock<WebPubSubServiceClient> =
        std::sync::LazyLock::new(|| {
            WebPubSubServiceClient::builder("http://127.0.0.1:8080", "chat")
                .access_key("k")
                .build()
                .unwrap()
        });

    proptest! {
        /// The URL that is signed is byte for byte the URL that is sent: parsing it as a URL
        /// (what reqwest does) changes nothing, and every value survives the round trip.
        #[test]
        fn signed_urls_survive_url_parsing(group in "\\PC{1,20}", user in "\\PC{1,20}", filter in "\\PC{0,40}") {
            prop_assume!(!group.chars().all(char::is_whitespace));
            prop_assume!(![".", ".."].contains(&group.as_str()) && ![".", ".."].contains(&user.as_str()));
            let client = &*PROPERTY_CLIENT;
            let path = crate::request::Name::User.segment(&user).unwrap();
            let path = client.group_path(&group, &format!("/users/{path}")).unwrap();
            let mut spec = Spec::new("t", Method::PUT, path);
            spec.param("filter", filter.clone());
            let url = &client.inner.urls(&spec).unwrap().service;
            prop_assert_eq!(
                url.as_str(),
                format!("http://127.0.0.1:8080{}", spec.path_and_query("2024-12-01"))
            );
            let segments: Vec<String> = url
                .path_segments()
                .unwrap()
                .map(|s| percent_encoding::percent_decode_str(s).decode_utf8().unwrap().into_owned())
                .collect();
            prop_assert_eq!(&segments[4], &group);
            prop_assert_eq!(&segments[6], &user);
            let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            prop_assert_eq!(&query[1], &("filter".to_owned(), filter));
        }
    }

    #[test]
    fn builder_errors_say_what_is_wrong() {
        let build = |endpoint: &str, hub: &str| {
            WebPubSubServiceClient::builder(endpoint, hub)
                .access_key("k")
                .build()
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            build("ftp://x", "chat"),
            "cannot build the client: the endpoint \"ftp://x\" is not an absolute http or https url"
        );
        assert!(build("http://x", "1chat").contains("invalid hub name \"1chat\""));
        assert!(build("http://x", "").contains("invalid hub name \"\""));
        assert!(build("http://x", &"h".repeat(129)).contains("at most 128"));
        let no_credential = WebPubSubServiceClient::builder("http://x", "chat")
            .build()
            .unwrap_err();
        assert!(no_credential.is_builder());
        assert!(no_credential.to_string().contains("no credential"));
    }

    #[derive(Debug)]
    struct NoToken;

    impl TokenCredential for NoToken {
        fn get_token<'a>(&'a self, _: &'a [&'a str]) -> crate::TokenFuture<'a> {
            Box::pin(async { Err("unused".into()) })
        }
    }

    #[test]
    fn bearer_tokens_travel_only_over_tls_or_loopback() {
        let build = |endpoint: &str, proxy: Option<&str>| {
            let builder = WebPubSubServiceClient::builder(endpoint, "chat").credential(NoToken);
            match proxy {
                Some(proxy) => builder.reverse_proxy(proxy),
                None => builder,
            }
            .build()
        };
        assert!(build("https://demo.webpubsub.azure.com", None).is_ok());
        for local in [
            "http://localhost:8080",
            "http://127.0.0.1:1",
            "http://[::1]:8080",
        ] {
            assert!(build(local, None).is_ok(), "{local}");
        }
        let error = build("http://demo.example", None).unwrap_err();
        assert!(error.is_builder());
        assert!(
            error.to_string().contains("needs an https endpoint"),
            "{error}"
        );
        // What counts is where the token is sent: the proxy.
        assert!(build("https://demo.example", Some("http://apim.example")).is_err());
        assert!(build("http://demo.example", Some("https://apim.example")).is_ok());
        // Access keys sign per-request tokens bound to one URL: plain http stays allowed.
        assert!(
            WebPubSubServiceClient::builder("http://demo.example", "chat")
                .access_key("k")
                .build()
                .is_ok()
        );
    }

    #[test]
    fn connection_strings_are_checked_without_leaking_the_key() {
        let error =
            WebPubSubServiceClient::from_connection_string("AccessKey=supersecretkey", "chat")
                .unwrap_err();
        assert!(error.to_string().contains("has no Endpoint"));
        assert!(!format!("{error:?}{error}").contains("supersecret"));
        let client = WebPubSubServiceClient::from_connection_string(
            "Endpoint=http://localhost;Port=8080;AccessKey=supersecretkey;Version=1.0;",
            "Chat_1",
        )
        .unwrap();
        assert_eq!(client.endpoint(), "http://localhost:8080");
        assert!(!format!("{client:?}").contains("supersecret"));
    }

    #[test]
    fn urls_sign_the_service_and_go_to_the_proxy() {
        let client = WebPubSubServiceClient::builder("https://svc.example.com/", "h")
            .access_key("k")
            .reverse_proxy("https://proxy.example.com/prefix/")
            .build()
            .unwrap();
        let mut spec = Spec::new("t", Method::POST, client.hub_path("/:send"));
        spec.param("filter", "userId eq 'a'");
        let urls = client.inner.urls(&spec).unwrap();
        assert_eq!(
            urls.service.as_str(),
            "https://svc.example.com/api/hubs/h/:send?api-version=2024-12-01&filter=userId%20eq%20%27a%27"
        );
        assert_eq!(
            urls.target().as_str(),
            "https://proxy.example.com/prefix/api/hubs/h/:send?api-version=2024-12-01&filter=userId%20eq%20%27a%27"
        );
        // The same path and query again: parsed once, then served from the cache.
        assert!(Arc::ptr_eq(&urls, &client.inner.urls(&spec).unwrap()));
    }
}
