//! The middleware service.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Method, Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::{
    EventHandler, EventRunner,
    body::ResponseBody,
    future::ResponseFuture,
    webhook::{
        Config,
        answer::handle,
        read::{BoxError, read_head},
        rejection::{Rejection, RejectionKind},
    },
};

/// Serves the event-handler path and passes every other request to the inner service.
///
/// Built by [`WebPubSubLayer`](crate::WebPubSubLayer); see the [crate docs](crate) for the whole
/// picture. Cloning is cheap: the configuration and the handler are shared.
pub struct WebPubSubService<S, H> {
    inner: S,
    config: Arc<Config>,
    runner: EventRunner<H>,
}

impl<S, H> WebPubSubService<S, H> {
    pub(crate) fn new(inner: S, config: Arc<Config>, runner: EventRunner<H>) -> Self {
        Self {
            inner,
            config,
            runner,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, H: EventHandler> WebPubSubService<S, H> {
    /// The handler.
    pub fn handler(&self) -> &H {
        self.runner.handler()
    }
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for WebPubSubService<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    H: EventHandler,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the inner service's; requests the layer answers itself do not use it,
        // the same trade-off as tower-http's CORS preflight.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let config = &*self.config;
        // Split first, so that the path's `{hub}` can stay borrowed from the URI while the
        // headers move into the event.
        let (parts, body) = request.into_parts();
        let Some(matched) = config.path.matches(parts.uri.path()) else {
            return ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)));
        };
        match parts.method {
            Method::POST => {}
            Method::OPTIONS => return ResponseFuture::ready(config.auth.handshake(&parts.headers)),
            ref method => {
                return ResponseFuture::ready(
                    Rejection::new(
                        RejectionKind::MethodNotAllowed,
                        format!("method {method} is not allowed: use OPTIONS or POST"),
                    )
                    .into_response(),
                );
            }
        }
        match read_head(config, matched.hub.as_deref(), parts.headers) {
            Ok(inbound) => ResponseFuture::handled(Box::pin(handle(
                self.runner.clone(),
                inbound,
                body,
                config.body_limit,
            ))),
            Err(rejection) => ResponseFuture::ready(rejection.into_response()),
        }
    }
}

impl<S: Clone, H> Clone for WebPubSubService<S, H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
            runner: self.runner.clone(),
        }
    }
}

impl<S: fmt::Debug, H> fmt::Debug for WebPubSubService<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebPubSubService")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("runner", &self.runner)
            .finish()
    }
}

// The status map (each request and handler outcome → status, headers, body) is one table, checked
// over HTTP in tests/status_map.rs; these cover what that table's one configuration cannot reach:
// other allow lists, key sets and paths, logs, and the service's own traits.
#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http::{HeaderMap, Request, Response, StatusCode, header};
    use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
    use tower::{ServiceExt as _, service_fn};
    use webpubsub_protocol::{AccessKey, signature};

    use crate::{ClosureHandler, Rejection, RejectionKind, WebPubSubLayer};

    type ReqBody = BoxBody<Bytes, Infallible>;

    /// Sends `request` through the layer over an inner service that echoes the request body.
    async fn send(
        layer: &WebPubSubLayer<ClosureHandler>,
        request: Request<ReqBody>,
    ) -> (StatusCode, HeaderMap, Bytes, Option<Rejection>) {
        let inner = service_fn(|request: Request<ReqBody>| async move {
            let mut response = Response::new(request.into_body());
            response
                .headers_mut()
                .insert("x-inner", "yes".parse().unwrap());
            Ok::<_, Infallible>(response)
        });
        let service = tower::Layer::layer(layer, inner);
        let response = service.oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let rejection = response.extensions().get::<Rejection>().cloned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, body, rejection)
    }

    fn body(data: impl Into<Bytes>) -> ReqBody {
        Full::new(data.into()).boxed()
    }

    fn event(ce_type: &str, content_type: &str, data: impl Into<Bytes>) -> http::request::Builder {
        let _ = data;
        Request::post("/api/webpubsub/hubs/chat/")
            .header("ce-type", ce_type)
            .header("ce-hub", "chat")
            .header("ce-connectionId", "conn1")
            .header("ce-eventName", "x")
            .header("webhook-request-origin", "demo.webpubsub.azure.com")
            .header(header::CONTENT_TYPE, content_type)
    }

    fn user(data: &'static str) -> Request<ReqBody> {
        event("azure.webpubsub.user.message", "text/plain", data)
            .body(body(data))
            .unwrap()
    }

    fn layer(handler: ClosureHandler) -> WebPubSubLayer<ClosureHandler> {
        WebPubSubLayer::new(handler)
    }

    #[tokio::test]
    async fn handshake_answers_star_without_a_list() {
        let request = Request::options("/api/webpubsub/hubs/chat/validate")
            .header("webhook-request-origin", "demo.webpubsub.azure.com")
            .body(body(""))
            .unwrap();
        let (status, headers, _, _) = send(&layer(ClosureHandler::new()), request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["webhook-allowed-origin"], "*");
        assert_eq!(headers[header::ALLOW], "POST");
        assert!(headers.get("x-inner").is_none());
    }

    #[tokio::test]
    async fn handshake_echoes_a_listed_origin_from_any_line() {
        let layer = layer(ClosureHandler::new()).allowed_origins(["https://b.webpubsub.azure.com"]);
        let request = Request::options("/api/webpubsub/hubs/chat/")
            .header("webhook-request-origin", "a.webpubsub.azure.com")
            .header(
                "webhook-request-origin",
                "x.example.com, B.webpubsub.azure.com",
            )
            .body(body(""))
            .unwrap();
        let (status, headers, _, _) = send(&layer, request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["webhook-allowed-origin"], "B.webpubsub.azure.com");

        let request = Request::options("/api/webpubsub/hubs/chat/")
            .header("webhook-request-origin", "b.webpubsub.azure.com.evil.tld")
            .body(body(""))
            .unwrap();
        let (status, headers, text, rejection) = send(&layer, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(headers.get("webhook-allowed-origin").is_none());
        assert_eq!(rejection.unwrap().kind(), RejectionKind::OriginNotAllowed);
        assert!(std::str::from_utf8(&text).unwrap().contains("not allowed"));
    }

    #[tokio::test]
    async fn signatures_are_checked_with_any_configured_key() {
        let layer = layer(ClosureHandler::new())
            .access_key(AccessKey::new("primary"))
            .access_key("secondary");
        for (signature, expected) in [
            (
                Some(signature::sign(&AccessKey::new("secondary"), "conn1")),
                StatusCode::NO_CONTENT,
            ),
            (
                Some(signature::sign_all(
                    [&AccessKey::new("old"), &AccessKey::new("primary")],
                    "conn1",
                )),
                StatusCode::NO_CONTENT,
            ),
            (
                Some(signature::sign(&AccessKey::new("other"), "conn1")),
                StatusCode::UNAUTHORIZED,
            ),
            (
                Some(signature::sign(&AccessKey::new("primary"), "conn2")),
                StatusCode::UNAUTHORIZED,
            ),
            (None, StatusCode::UNAUTHORIZED),
        ] {
            let mut request = user("hi");
            if let Some(signature) = signature {
                request
                    .headers_mut()
                    .insert("ce-signature", signature.parse().unwrap());
            }
            let (status, _, _, _) = send(&layer, request).await;
            assert_eq!(status, expected);
        }
    }

    #[tokio::test]
    async fn connection_string_keys_apply_to_their_origin() {
        let layer = layer(ClosureHandler::new())
            .connection_string(
                "Endpoint=https://demo.webpubsub.azure.com;AccessKey=k1;Version=1.0;",
            )
            .unwrap();
        let signed = signature::sign(&AccessKey::new("k1"), "conn1");
        let mut request = user("hi");
        request
            .headers_mut()
            .insert("ce-signature", signed.parse().unwrap());
        assert_eq!(send(&layer, request).await.0, StatusCode::NO_CONTENT);

        let mut request = user("hi");
        request
            .headers_mut()
            .insert("ce-signature", signed.parse().unwrap());
        request.headers_mut().insert(
            "webhook-request-origin",
            "other.webpubsub.azure.com".parse().unwrap(),
        );
        let (status, _, text, _) = send(&layer, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(!std::str::from_utf8(&text).unwrap().contains("k1"));
        // The endpoint host is also the handshake's allowed origin.
        let request = Request::options("/api/webpubsub/hubs/chat/")
            .header("webhook-request-origin", "demo.webpubsub.azure.com")
            .body(body(""))
            .unwrap();
        let (_, headers, _, _) = send(&layer, request).await;
        assert_eq!(
            headers["webhook-allowed-origin"],
            "demo.webpubsub.azure.com"
        );
        assert!(!format!("{layer:?}").contains("k1"));
    }

    #[tokio::test]
    async fn served_hubs_match_in_any_case() {
        let layer = layer(ClosureHandler::new()).hubs(["CHAT"]);
        assert_eq!(send(&layer, user("hi")).await.0, StatusCode::NO_CONTENT);
    }

    #[tokio::test]
    async fn custom_paths_with_hub_and_event() {
        let layer = layer(ClosureHandler::new()).path("/hooks/{hub}/{event}");
        let mut request = user("x");
        *request.uri_mut() = "/hooks/chat/message".parse().unwrap();
        assert_eq!(send(&layer, request).await.0, StatusCode::NO_CONTENT);
        let mut request = user("x");
        *request.uri_mut() = "/hooks/other/message".parse().unwrap();
        assert_eq!(send(&layer, request).await.0, StatusCode::NOT_FOUND);
        let mut request = user("x");
        *request.uri_mut() = "/hooks/chat".parse().unwrap();
        assert_eq!(
            send(&layer, request).await.0,
            StatusCode::OK,
            "passes through"
        );
    }

    #[test]
    fn logs_and_bodies_never_carry_keys_or_signatures() {
        let captured = crate::test_support::Captured::default();
        let subscriber = captured.subscriber();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let key = "super-secret-key";
        let layer = layer(ClosureHandler::new()).access_key(key);
        let forged = signature::sign(&AccessKey::new("wrong"), "conn1");
        let mut request = user("x");
        request
            .headers_mut()
            .insert("ce-signature", forged.parse().unwrap());
        let (status, _, data, _) = tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(send(&layer, request))
        });
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let logs = captured.text();
        assert!(logs.contains("request rejected"), "{logs}");
        let digest = &forged["sha256=".len()..];
        for text in [logs.as_str(), std::str::from_utf8(&data).unwrap()] {
            assert!(!text.contains(key) && !text.contains(digest), "{text}");
        }
    }

    #[test]
    fn services_and_futures_are_send_sync_and_clone() {
        fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>(_: &T) {}
        fn assert_send<T: Send + 'static>(_: &T) {}
        let inner = service_fn(|_: Request<ReqBody>| async {
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        });
        let mut service = tower::Layer::layer(&layer(ClosureHandler::new()), inner);
        assert_send_sync_clone(&service);
        let future = tower::Service::call(&mut service, user("x"));
        assert_send(&future);
        assert!(format!("{future:?}").starts_with("ResponseFuture"));
    }

    #[test]
    #[should_panic(expected = "does not start with '/'")]
    fn bad_paths_panic_at_startup() {
        let _ = layer(ClosureHandler::new()).path("eventhandler");
    }
}
