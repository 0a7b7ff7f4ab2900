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

#[cfg(test)]
mod tests {
    use std::{convert::Infallible, time::Duration};

    use bytes::Bytes;
    use futures_util::stream;
    use http::{HeaderMap, Request, Response, StatusCode, header};
    use http_body::Frame;
    use http_body_util::{BodyExt as _, Full, StreamBody, combinators::BoxBody};
    use serde_json::{Value, json};
    use tower::{ServiceExt as _, service_fn};
    use webpubsub_protocol::{AccessKey, signature, state::ConnectionStates};

    use crate::{
        ClosureHandler, ConnectResponse, EventError, Rejection, RejectionKind, UserEventResponse,
        WebPubSubLayer,
    };

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

    fn connect(json: &'static str) -> Request<ReqBody> {
        event("azure.webpubsub.sys.connect", "application/json", json)
            .body(body(json))
            .unwrap()
    }

    fn layer(handler: ClosureHandler) -> WebPubSubLayer<ClosureHandler> {
        WebPubSubLayer::new(handler)
    }

    fn states_of(headers: &HeaderMap) -> Option<ConnectionStates> {
        headers
            .get("ce-connectionstate")
            .map(|v| ConnectionStates::decode(v.to_str().unwrap()).unwrap())
    }

    #[tokio::test]
    async fn other_paths_pass_through_untouched() {
        let layer = layer(ClosureHandler::new());
        let bytes: &'static [u8] = &[0xff, 0x00, 0x80];
        let request = Request::post("/api/other")
            .header("ce-type", "azure.webpubsub.user.message")
            .body(body(bytes))
            .unwrap();
        let (status, headers, echoed, rejection) = send(&layer, request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-inner"], "yes");
        assert_eq!(&echoed[..], bytes);
        assert!(rejection.is_none());
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
    async fn handshake_without_origin_is_400() {
        let request = Request::options("/api/webpubsub/hubs/chat/")
            .body(body(""))
            .unwrap();
        let (status, _, _, rejection) = send(&layer(ClosureHandler::new()), request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(rejection.unwrap().kind(), RejectionKind::MissingOrigin);
    }

    #[tokio::test]
    async fn other_methods_are_405() {
        let request = Request::get("/api/webpubsub/hubs/chat/")
            .body(body(""))
            .unwrap();
        let (status, headers, _, _) = send(&layer(ClosureHandler::new()), request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers[header::ALLOW], "OPTIONS, POST");
    }

    #[tokio::test]
    async fn malformed_heads_are_400_with_a_reason() {
        let request = Request::post("/api/webpubsub/hubs/chat/")
            .header("ce-hub", "chat")
            .body(body(""))
            .unwrap();
        let (status, _, text, rejection) = send(&layer(ClosureHandler::new()), request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(&text[..], b"missing ce-type header");
        assert_eq!(rejection.unwrap().kind(), RejectionKind::MissingHeader);
    }

    /// The declared data is checked before the handler runs: text that is not UTF-8 and JSON
    /// that does not parse are 400s with a reason, and the handler is not called.
    #[tokio::test]
    async fn declared_data_is_validated_before_the_handler() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&calls);
        let layer = layer(ClosureHandler::new().user_event(move |_| {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async { Ok(UserEventResponse::empty()) }
        }));
        for (content_type, data, reason) in [
            ("text/plain", &b"\xff\xfe"[..], "not utf-8"),
            (
                "application/json",
                &b"{\"n\":"[..],
                "declared application/json but is not json",
            ),
            (
                "application/json; charset=utf-8",
                &b"nope"[..],
                "is not json",
            ),
        ] {
            let request = event("azure.webpubsub.user.message", content_type, "")
                .body(body(Bytes::copy_from_slice(data)))
                .unwrap();
            let (status, _, text, rejection) = send(&layer, request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{content_type}");
            assert_eq!(rejection.unwrap().kind(), RejectionKind::InvalidBody);
            let text = std::str::from_utf8(&text).unwrap();
            assert!(text.contains(reason), "{text}");
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 0);
        // Binary data (declared or not) and valid data reach the handler.
        for (content_type, data) in [
            ("application/octet-stream", &b"\xff"[..]),
            ("application/json", &b" [1, \"x\"] "[..]),
            ("text/plain", "caf\u{e9}".as_bytes()),
        ] {
            let request = event("azure.webpubsub.user.message", content_type, "")
                .body(body(Bytes::copy_from_slice(data)))
                .unwrap();
            assert_eq!(send(&layer, request).await.0, StatusCode::NO_CONTENT);
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 3);
    }

    /// Who holds no key cannot tell served hubs from others: an unsigned event to an unserved
    /// `{hub}` of the path is a 401, like one to a served hub.
    #[tokio::test]
    async fn unsigned_requests_learn_nothing_about_hubs() {
        let layer = layer(ClosureHandler::new()).hub("chat").access_key("k");
        for hub in ["chat", "secret"] {
            let mut request = user("x");
            *request.uri_mut() = format!("/api/webpubsub/hubs/{hub}/").parse().unwrap();
            request.headers_mut().insert("ce-hub", hub.parse().unwrap());
            assert_eq!(
                send(&layer, request).await.0,
                StatusCode::UNAUTHORIZED,
                "{hub}"
            );
        }
        let mut request = user("x");
        *request.uri_mut() = "/api/webpubsub/hubs/secret/".parse().unwrap();
        request
            .headers_mut()
            .insert("ce-hub", "secret".parse().unwrap());
        let signature = signature::sign(&AccessKey::new("k"), "conn1");
        request
            .headers_mut()
            .insert("ce-signature", signature.parse().unwrap());
        assert_eq!(send(&layer, request).await.0, StatusCode::NOT_FOUND);
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
    async fn unserved_hubs_are_404() {
        let layer = layer(ClosureHandler::new()).hub("Other");
        let (status, _, _, rejection) = send(&layer, user("hi")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(rejection.unwrap().kind(), RejectionKind::HubNotServed);
        let layer = layer.hubs(["CHAT"]);
        assert_eq!(send(&layer, user("hi")).await.0, StatusCode::NO_CONTENT);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413_even_when_chunked() {
        let layer = layer(ClosureHandler::new()).body_limit(4);
        let request = event("azure.webpubsub.user.message", "text/plain", "")
            .header(header::CONTENT_LENGTH, "5")
            .body(body("12345"))
            .unwrap();
        assert_eq!(send(&layer, request).await.0, StatusCode::PAYLOAD_TOO_LARGE);
        // No length: the limit holds while the body streams.
        let chunks = stream::iter(["12", "34", "5"].map(|c| Ok(Frame::data(Bytes::from(c)))));
        let request = event("azure.webpubsub.user.message", "text/plain", "")
            .body(StreamBody::new(chunks).boxed())
            .unwrap();
        let (status, _, _, rejection) = send(&layer, request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(rejection.unwrap().kind(), RejectionKind::PayloadTooLarge);
        assert_eq!(send(&layer, user("1234")).await.0, StatusCode::NO_CONTENT);
    }

    #[tokio::test]
    async fn user_event_content_types() {
        let layer = layer(ClosureHandler::new().user_event(|request| async move {
            Ok(UserEventResponse::text(format!(
                "{:?}:{}",
                request.data_type(),
                request.bytes().len()
            )))
        }));
        let request = event("azure.webpubsub.user.message", "text/html", "")
            .body(body("<p>"))
            .unwrap();
        assert_eq!(
            send(&layer, request).await.0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let request = event("azure.webpubsub.user.message", "application/x-protobuf", "")
            .body(body(&[8u8, 1][..]))
            .unwrap();
        let (status, _, text, _) = send(&layer, request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&text[..], b"Protobuf:2");
    }

    #[tokio::test]
    async fn user_event_answers_carry_their_content_type() {
        let layer = layer(ClosureHandler::new().user_event(|request| async move {
            Ok(match request.text().unwrap() {
                "text" => UserEventResponse::text("t"),
                "json" => UserEventResponse::json(&json!({"a": 1}))?,
                "binary" => UserEventResponse::binary(vec![1u8, 2]),
                _ => UserEventResponse::empty(),
            })
        }));
        for (input, status, content_type, expected) in [
            (
                "text",
                StatusCode::OK,
                Some("text/plain; charset=utf-8"),
                &b"t"[..],
            ),
            (
                "json",
                StatusCode::OK,
                Some("application/json; charset=utf-8"),
                &br#"{"a":1}"#[..],
            ),
            (
                "binary",
                StatusCode::OK,
                Some("application/octet-stream"),
                &[1u8, 2][..],
            ),
            ("none", StatusCode::NO_CONTENT, None, &b""[..]),
        ] {
            let (got, headers, data, _) = send(&layer, user(input)).await;
            assert_eq!(got, status, "{input}");
            assert_eq!(
                headers
                    .get(header::CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap()),
                content_type
            );
            assert_eq!(&data[..], expected);
        }
    }

    #[tokio::test]
    async fn connect_is_204_when_empty_and_200_with_json() {
        let layer = layer(ClosureHandler::new().connect(|request| async move {
            Ok(match request.query().get("user").and_then(|u| u.first()) {
                Some(user) => ConnectResponse::new().user_id(user.clone()).groups(["g"]),
                None => ConnectResponse::new(),
            })
        }));
        let (status, _, data, _) = send(&layer, connect("")).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(data.is_empty());
        let (status, headers, data, _) =
            send(&layer, connect(r#"{"query":{"user":["bob"]}}"#)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&data).unwrap(),
            json!({"userId": "bob", "groups": ["g"]})
        );
        let (status, _, _, rejection) = send(&layer, connect("{not json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(rejection.unwrap().kind(), RejectionKind::InvalidBody);
        // Regression (bad-input corpus): serde reads a struct from a JSON array too, so `[]`
        // was served as an empty connect.
        for not_an_object in ["[]", " [{}]", "\"connect\"", "5"] {
            let (status, _, _, rejection) = send(&layer, connect(not_an_object)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{not_an_object}");
            assert_eq!(rejection.unwrap().kind(), RejectionKind::InvalidBody);
        }
    }

    #[tokio::test]
    async fn connect_errors_keep_status_and_message() {
        let layer = layer(
            ClosureHandler::new().connect(|_| async { Err(EventError::forbidden("room is full")) }),
        );
        let (status, headers, data, rejection) = send(&layer, connect("{}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(&data[..], b"room is full");
        assert!(rejection.is_none());
        // An MQTT client gets the MQTT error body, with a code for its protocol version.
        let (status, headers, data, _) =
            send(&layer, connect(r#"{"mqtt":{"protocolVersion":5}}"#)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&data).unwrap(),
            json!({"mqtt": {"code": 0x8A, "reason": "room is full"}})
        );
    }

    #[tokio::test]
    async fn explicit_mqtt_errors_are_sent_as_built() {
        let layer = layer(ClosureHandler::new().connect(|_| async {
            Err(EventError::mqtt(4, "bad password").with_mqtt_user_property("k", "v"))
        }));
        let (status, _, data, _) = send(&layer, connect(r#"{"mqtt":{"protocolVersion":4}}"#)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            serde_json::from_slice::<Value>(&data).unwrap(),
            json!({"mqtt": {"code": 4, "reason": "bad password", "userProperties": [{"name": "k", "value": "v"}]}})
        );
    }

    #[tokio::test]
    async fn panics_are_500_and_slow_handlers_504_without_details() {
        let layer = layer(
            ClosureHandler::new()
                .connect(|_| async { panic!("secret internals") })
                .user_event(|_| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(UserEventResponse::empty())
                }),
        )
        .handler_timeout(Duration::from_millis(20));
        let (status, _, data, rejection) = send(&layer, connect("{}")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!std::str::from_utf8(&data).unwrap().contains("secret"));
        assert_eq!(rejection.unwrap().kind(), RejectionKind::HandlerPanicked);
        let (status, _, _, rejection) =
            tokio::time::timeout(Duration::from_secs(10), send(&layer, user("x")))
                .await
                .expect("the layer's timeout fires first");
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(rejection.unwrap().kind(), RejectionKind::HandlerTimedOut);
    }

    #[tokio::test]
    async fn states_set_merge_remove_and_clear_on_the_wire() {
        let layer = layer(ClosureHandler::new().user_event(|request| async move {
            let response = UserEventResponse::empty();
            Ok(match request.text().unwrap() {
                "set" => response.set_state("b", json!({"n": 2})),
                "remove" => response.remove_state("a"),
                "clear" => response.clear_states(),
                _ => response,
            })
        }));
        let with_state = |command: &'static str| {
            let mut request = user(command);
            let states: ConnectionStates = [("a", json!(1))].into_iter().collect();
            request
                .headers_mut()
                .insert("ce-connectionState", states.encode().parse().unwrap());
            request
        };
        let (_, headers, _, _) = send(&layer, with_state("set")).await;
        let expected: ConnectionStates = [("a", json!(1)), ("b", json!({"n": 2}))]
            .into_iter()
            .collect();
        assert_eq!(states_of(&headers), Some(expected));
        let (_, headers, _, _) = send(&layer, with_state("remove")).await;
        assert_eq!(states_of(&headers), Some(ConnectionStates::new()));
        let (_, headers, _, _) = send(&layer, with_state("clear")).await;
        assert_eq!(headers["ce-connectionstate"], "e30=");
        let (_, headers, _, _) = send(&layer, with_state("keep")).await;
        assert!(headers.get("ce-connectionstate").is_none());
    }

    #[tokio::test]
    async fn handlers_read_the_request_state() {
        let layer = layer(ClosureHandler::new().user_event(|request| async move {
            let count: i64 = request
                .context()
                .states()
                .get("count")
                .transpose()?
                .unwrap_or(0);
            Ok(UserEventResponse::text(count.to_string()).set_state("count", count + 1))
        }));
        let mut request = user("x");
        // The .NET SDK's format: {"count":"NA=="} ("NA==" is base64 of the JSON 4).
        request.headers_mut().insert(
            "ce-connectionstate",
            "eyJjb3VudCI6Ik5BPT0ifQ==".parse().unwrap(),
        );
        let (_, headers, data, _) = send(&layer, request).await;
        assert_eq!(&data[..], b"4");
        assert_eq!(
            states_of(&headers).unwrap().get_value("count"),
            Some(&json!(5))
        );
    }

    #[tokio::test]
    async fn non_blocking_events_are_200_whatever_the_handler_does() {
        let layer = layer(
            ClosureHandler::new()
                .connected(|_| async { Err(EventError::internal("db down")) })
                .disconnected(|_| async { panic!("boom") })
                .group_joined(|request| async move {
                    assert_eq!(request.group(), "room");
                    Ok(())
                }),
        );
        for (ty, json) in [
            ("azure.webpubsub.sys.connected", "{}"),
            ("azure.webpubsub.sys.disconnected", r#"{"reason":"closed"}"#),
            ("azure.webpubsub.gp.joined", r#"{"group":"room"}"#),
            ("azure.webpubsub.gp.left", r#"{"group":"room"}"#),
        ] {
            let request = event(ty, "application/json", "").body(body(json)).unwrap();
            let (status, _, data, _) = send(&layer, request).await;
            assert_eq!(status, StatusCode::OK, "{ty}");
            assert!(data.is_empty());
        }
        let request = event("azure.webpubsub.gp.joined", "application/json", "")
            .body(body("{}"))
            .unwrap();
        assert_eq!(send(&layer, request).await.0, StatusCode::BAD_REQUEST);
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

    #[tokio::test]
    async fn user_event_answers_carry_mqtt_user_properties() {
        let layer = layer(ClosureHandler::new().user_event(|request| async move {
            let response = UserEventResponse::text("ok");
            Ok(match request.text().unwrap() {
                "bad" => response.mqtt_user_property("not a token", "v"),
                _ => response
                    .mqtt_user_property("color", "red")
                    .mqtt_user_property("color", "blue"),
            })
        }));
        let (status, headers, _, _) = send(&layer, user("good")).await;
        assert_eq!(status, StatusCode::OK);
        let colors: Vec<_> = headers.get_all("mqtt-color").iter().collect();
        assert_eq!(colors, ["red", "blue"]);
        let (status, _, text, _) = send(&layer, user("bad")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            std::str::from_utf8(&text)
                .unwrap()
                .contains("not a valid header name")
        );
    }

    #[tokio::test]
    async fn mqtt_connects_get_the_mqtt_body_even_on_panic() {
        let layer = layer(ClosureHandler::new().connect(|_| async { panic!("boom") }));
        let (status, headers, data, _) =
            send(&layer, connect(r#"{"mqtt":{"protocolVersion":4}}"#)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&data).unwrap(),
            json!({"mqtt": {"code": 3, "reason": "the event handler failed"}})
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
