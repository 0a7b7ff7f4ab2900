//! The REST API over loopback HTTP, observed through the registry: every operation, its status
//! codes, error bodies and authentication.

use std::{sync::Arc, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use webpubsub_protocol::{
    AccessKey,
    token::{ClientTokenClaims, RestTokenClaims},
};

use super::router;
use crate::{
    config::EmulatorConfig,
    registry::{ConnectionInfo, DataType, Delivery, Hub, Origin, Outbound, Registry},
};

const KEY: &str = "rest-tests-primary-key-0123456789ABCDEF";
const SECONDARY: &str = "rest-tests-secondary-key";
const API: &str = "api-version=2024-12-01";

struct Server {
    base: String,
    registry: Registry,
    http: reqwest::Client,
    _task: tokio::task::JoinHandle<()>,
}

async fn server() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = Arc::new(EmulatorConfig::new(
        base.clone(),
        vec![AccessKey::new(KEY), AccessKey::new(SECONDARY)],
        [],
        false,
    ));
    let registry = Registry::new();
    let app = router(registry.clone(), config);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    // reqwest is built without a TLS provider; plain HTTP still needs one chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Server {
        base,
        registry,
        http: reqwest::Client::new(),
        _task: task,
    }
}

fn sign(aud: &str, exp_offset: i64, key: &str) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = RestTokenClaims::new(aud, now, 60);
    claims.exp = now.saturating_add_signed(exp_offset);
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

struct Reply {
    status: StatusCode,
    error_code: Option<String>,
    body: Value,
}

impl Server {
    fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    fn hub(&self) -> Hub {
        self.registry.hub("hub1")
    }

    /// Sends a request signed for its exact URL.
    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let url = self.url(path_and_query);
        let token = sign(&url, 300, KEY);
        self.send(method, &url, Some(&token), body).await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .expect("a reply in 10 s")
            .unwrap();
        let status = response.status();
        let error_code = response
            .headers()
            .get("x-ms-error-code")
            .map(|value| value.to_str().unwrap().to_owned());
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Reply {
            status,
            error_code,
            body,
        }
    }

    fn connect(
        &self,
        id: &str,
        user: Option<&str>,
        groups: &[&str],
    ) -> (crate::registry::ConnectionGuard, Outbound) {
        let info = ConnectionInfo {
            connection_id: id.into(),
            user_id: user.map(Into::into),
            protocol: Some("json.webpubsub.azure.v1".into()),
            roles: Vec::new(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        };
        self.hub().register(info).unwrap()
    }
}

fn text(body: &str) -> Option<(&'static str, Vec<u8>)> {
    Some(("text/plain", body.as_bytes().to_vec()))
}

/// Everything queued for a connection, without waiting for more.
async fn drain(outbound: &mut Outbound) -> Vec<Delivery> {
    let mut items = Vec::new();
    while let Ok(Some(item)) =
        tokio::time::timeout(Duration::from_millis(50), outbound.recv()).await
    {
        items.push(item);
    }
    items
}

fn payloads(items: &[Delivery]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            Delivery::Message(message) => Some(String::from_utf8_lossy(&message.data).into_owned()),
            Delivery::Close { .. } => None,
        })
        .collect()
}

#[tokio::test]
async fn every_send_target_answers_202_and_delivers() {
    let s = server().await;
    let (_g1, mut c1) = s.connect("c1", Some("alice"), &["room"]);
    let (_g2, mut c2) = s.connect("c2", Some("alice"), &[]);
    let (_g3, mut c3) = s.connect("c3", Some("bob"), &["room"]);

    let all = s
        .call(
            Method::POST,
            &format!("/api/hubs/hub1/:send?{API}&excluded=c2"),
            text("to all"),
        )
        .await;
    assert_eq!(all.status, 202);
    let user = s
        .call(
            Method::POST,
            &format!("/api/hubs/Hub1/users/alice/:send?{API}"),
            text("to alice"),
        )
        .await;
    assert_eq!(user.status, 202);
    let conn = s
        .call(
            Method::POST,
            &format!("/api/hubs/hub1/connections/c3/:send?{API}"),
            text("to c3"),
        )
        .await;
    assert_eq!(conn.status, 202);
    let group = s
        .call(
            Method::POST,
            &format!("/api/hubs/hub1/groups/room/:send?{API}&excluded=c3"),
            text("to room"),
        )
        .await;
    assert_eq!(group.status, 202);
    let missing = s
        .call(
            Method::POST,
            &format!("/api/hubs/hub1/users/nobody/:send?{API}"),
            text("x"),
        )
        .await;
    assert_eq!(
        missing.status, 202,
        "sends to missing targets succeed, as on the service"
    );

    assert_eq!(
        payloads(&drain(&mut c1).await),
        ["to all", "to alice", "to room"]
    );
    assert_eq!(payloads(&drain(&mut c2).await), ["to alice"]);
    assert_eq!(payloads(&drain(&mut c3).await), ["to all", "to c3"]);
}

#[tokio::test]
async fn content_types_become_data_types_and_group_sends_are_group_messages() {
    let s = server().await;
    let (_g, mut c) = s.connect("c1", None, &["g"]);
    for (content_type, body) in [
        ("text/plain; charset=utf-8", b"hello".to_vec()),
        ("application/json", br#"{"a":1}"#.to_vec()),
        ("application/octet-stream", vec![0, 1, 255]),
    ] {
        let reply = s
            .call(
                Method::POST,
                &format!("/api/hubs/hub1/:send?{API}"),
                Some((content_type, body)),
            )
            .await;
        assert_eq!(reply.status, 202, "{content_type}");
    }
    s.call(
        Method::POST,
        &format!("/api/hubs/hub1/groups/g/:send?{API}"),
        text("g"),
    )
    .await;
    let items = drain(&mut c).await;
    let kinds: Vec<(DataType, Origin)> = items
        .iter()
        .map(|item| match item {
            Delivery::Message(m) => (m.data_type, m.origin.clone()),
            Delivery::Close { .. } => panic!("unexpected close"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (DataType::Text, Origin::Server),
            (DataType::Json, Origin::Server),
            (DataType::Binary, Origin::Server),
            (
                DataType::Text,
                Origin::Group {
                    group: "g".into(),
                    from_user_id: None
                }
            ),
        ]
    );
}

#[tokio::test]
async fn filters_select_connections_and_bad_filters_are_400() {
    let s = server().await;
    let (_g1, mut c1) = s.connect("c1", Some("listener-1"), &["g1"]);
    let (_g2, mut c2) = s.connect("c2", Some("Speaker"), &[]);
    let filter = "startswith(userId, 'listener-') or userId eq 'speaker' and 'g1' in groups";
    let query = format!(
        "{API}&filter={}",
        percent_encoding::utf8_percent_encode(filter, percent_encoding::NON_ALPHANUMERIC)
    );
    assert_eq!(
        s.call(
            Method::POST,
            &format!("/api/hubs/hub1/:send?{query}"),
            text("f1")
        )
        .await
        .status,
        202
    );
    let by_user =
        format!("/api/hubs/hub1/users/Speaker/:send?{API}&filter=connectionId%20eq%20%27c2%27");
    assert_eq!(s.call(Method::POST, &by_user, text("f2")).await.status, 202);
    assert_eq!(payloads(&drain(&mut c1).await), ["f1"]);
    assert_eq!(payloads(&drain(&mut c2).await), ["f2"]);

    let bad = s
        .call(
            Method::POST,
            &format!("/api/hubs/hub1/:send?{API}&filter=userId%20eq"),
            text("x"),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_code.as_deref(), Some("Error.BadRequest"));
    assert_eq!(bad.body["code"], "Error.BadRequest");
    assert_eq!(
        bad.body["message"],
        "invalid filter at position 9: expected a value, found the end of the filter"
    );
    assert!(
        drain(&mut c1).await.is_empty(),
        "nothing is sent when the filter is invalid"
    );
}

#[tokio::test]
async fn invalid_sends_are_rejected_with_reasons() {
    let s = server().await;
    let path = format!("/api/hubs/hub1/:send?{API}");
    let xml = s
        .call(
            Method::POST,
            &path,
            Some(("application/xml", b"<a/>".to_vec())),
        )
        .await;
    assert_eq!(
        (xml.status.as_u16(), xml.body["code"].as_str()),
        (415, Some("Error.UnsupportedMediaType"))
    );
    let json = s
        .call(
            Method::POST,
            &path,
            Some(("application/json", b"{".to_vec())),
        )
        .await;
    assert_eq!(json.status, 400);
    assert!(
        json.body["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let big = s
        .call(
            Method::POST,
            &path,
            Some(("application/octet-stream", vec![0; 1024 * 1024 + 1])),
        )
        .await;
    assert_eq!(
        (big.status.as_u16(), big.error_code.as_deref()),
        (413, Some("Error.PayloadTooLarge"))
    );
    let exactly = s
        .call(
            Method::POST,
            &path,
            Some(("application/octet-stream", vec![0; 1024 * 1024])),
        )
        .await;
    assert_eq!(exactly.status, 202);
    let ttl = s
        .call(
            Method::POST,
            &format!("{path}&messageTtlSeconds=301"),
            text("x"),
        )
        .await;
    assert_eq!(ttl.status, 400);
    let ok_ttl = s
        .call(
            Method::POST,
            &format!("{path}&messageTtlSeconds=300"),
            text("x"),
        )
        .await;
    assert_eq!(ok_ttl.status, 202);
    let hub = s
        .call(
            Method::POST,
            &format!("/api/hubs/1hub/:send?{API}"),
            text("x"),
        )
        .await;
    assert_eq!(
        (hub.status.as_u16(), hub.error_code.as_deref()),
        (400, Some("Error.BadRequest"))
    );
    let no_version = s
        .call(Method::POST, "/api/hubs/hub1/:send", text("x"))
        .await;
    assert_eq!(no_version.status, 400);
    assert!(
        no_version.body["message"]
            .as_str()
            .unwrap()
            .contains("api-version")
    );
    let blank_group = s
        .call(
            Method::POST,
            &format!("/api/hubs/hub1/groups/%20%20/:send?{API}"),
            text("x"),
        )
        .await;
    assert_eq!(blank_group.status, 400);
    let unknown = s
        .call(
            Method::POST,
            &format!("/api/hubs/hub1/:publish?{API}"),
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
    let wrong_method = s
        .call(Method::GET, &format!("/api/hubs/hub1/:send?{API}"), None)
        .await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn group_and_user_membership() {
    let s = server().await;
    let (_g1, _c1) = s.connect("c1", Some("u1"), &[]);
    let (_g2, _c2) = s.connect("c2", Some("u1"), &[]);
    let head = |path: String| {
        let s = &s;
        async move { s.call(Method::HEAD, &path, None).await.status.as_u16() }
    };
    assert_eq!(head(format!("/api/hubs/hub1/groups/g?{API}")).await, 404);
    let add = s
        .call(
            Method::PUT,
            &format!("/api/hubs/hub1/groups/g/connections/c1?{API}"),
            None,
        )
        .await;
    assert_eq!(add.status, 200);
    assert_eq!(head(format!("/api/hubs/hub1/groups/g?{API}")).await, 200);

    let missing = s
        .call(
            Method::PUT,
            &format!("/api/hubs/hub1/groups/g/connections/nope?{API}"),
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.error_code.as_deref(),
        Some("Error.Connection.NotExisted")
    );
    assert_eq!(
        missing.body,
        json!({"code": "Error.Connection.NotExisted", "message": "Connection `nope` is not found.", "target": "Connection"})
    );

    let remove = s
        .call(
            Method::DELETE,
            &format!("/api/hubs/hub1/groups/g/connections/c1?{API}"),
            None,
        )
        .await;
    assert_eq!(remove.status, 204);
    let again = s
        .call(
            Method::DELETE,
            &format!("/api/hubs/hub1/groups/g/connections/c1?{API}"),
            None,
        )
        .await;
    assert_eq!(again.status, 204, "removal is idempotent");
    assert_eq!(head(format!("/api/hubs/hub1/groups/g?{API}")).await, 404);

    assert_eq!(
        s.call(
            Method::PUT,
            &format!("/api/hubs/hub1/users/u1/groups/g?{API}"),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(s.hub().group_members("g", None, 10).members.len(), 2);
    let no_user = s
        .call(
            Method::PUT,
            &format!("/api/hubs/hub1/users/ghost/groups/g?{API}"),
            None,
        )
        .await;
    assert_eq!(
        (no_user.status.as_u16(), no_user.error_code.as_deref()),
        (404, Some("Error.User.NotExisted"))
    );
    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("/api/hubs/hub1/users/u1/groups/g?{API}"),
            None
        )
        .await
        .status,
        204
    );
    assert!(!s.hub().group_exists("g"));

    s.hub().add_connection_to_group("a", "c1").unwrap();
    s.hub().add_connection_to_group("b", "c2").unwrap();
    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("/api/hubs/hub1/users/u1/groups?{API}"),
            None
        )
        .await
        .status,
        204
    );
    assert!(!s.hub().group_exists("a") && !s.hub().group_exists("b"));
    s.hub().add_connection_to_group("a", "c1").unwrap();
    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("/api/hubs/hub1/connections/c1/groups?{API}"),
            None
        )
        .await
        .status,
        204
    );
    assert!(!s.hub().group_exists("a"));
    let gone = s
        .call(
            Method::DELETE,
            &format!("/api/hubs/hub1/connections/gone/groups?{API}"),
            None,
        )
        .await;
    assert_eq!(
        gone.status, 204,
        "succeeds for a missing connection, as on the service"
    );
}

#[tokio::test]
async fn add_and_remove_groups_by_filter() {
    let s = server().await;
    let (_g1, _c1) = s.connect("c1", Some("listener-1"), &[]);
    let (_g2, _c2) = s.connect("c2", Some("other"), &[]);
    let body = |value: Value| Some(("application/json", serde_json::to_vec(&value).unwrap()));
    let add = s
        .call(
            Method::POST,
            &format!("/api/hubs/hub1/:addToGroups?{API}"),
            body(json!({"groups": ["a", "b"], "filter": "startswith(userId, 'listener-')"})),
        )
        .await;
    assert_eq!(add.status, 200);
    assert!(s.hub().group_exists("a") && s.hub().group_exists("b"));
    assert_eq!(s.hub().group_members("a", None, 10).members.len(), 1);
    let remove = s
        .call(
            Method::POST,
            &format!("/api/hubs/hub1/:removeFromGroups?{API}"),
            body(json!({"groups": ["a"]})),
        )
        .await;
    assert_eq!(remove.status, 200);
    assert!(!s.hub().group_exists("a") && s.hub().group_exists("b"));
    for bad in [
        json!({"groups": []}),
        json!({"filter": "true"}),
        json!({"groups": ["a"], "filter": "x eq"}),
    ] {
        let reply = s
            .call(
                Method::POST,
                &format!("/api/hubs/hub1/:addToGroups?{API}"),
                body(bad.clone()),
            )
            .await;
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.error_code.as_deref(), Some("Error.BadRequest"));
    }
}

#[tokio::test]
async fn close_operations_and_exists_checks() {
    let s = server().await;
    let (_g1, mut c1) = s.connect("c1", Some("u1"), &["g"]);
    let (_g2, mut c2) = s.connect("c2", Some("u1"), &["g"]);
    let (_g3, mut c3) = s.connect("c3", Some("u2"), &[]);
    let (_g4, mut c4) = s.connect("c4", None, &[]);
    let status = |path: String, method: Method| {
        let s = &s;
        async move { s.call(method, &path, None).await.status.as_u16() }
    };
    assert_eq!(
        status(format!("/api/hubs/hub1/connections/c1?{API}"), Method::HEAD).await,
        200
    );
    assert_eq!(
        status(format!("/api/hubs/hub1/users/u1?{API}"), Method::HEAD).await,
        200
    );
    assert_eq!(
        status(format!("/api/hubs/hub1/users/U1?{API}"), Method::HEAD).await,
        404
    );

    let close_group =
        format!("/api/hubs/hub1/groups/g/:closeConnections?{API}&excluded=c2&reason=bye%20group");
    assert_eq!(status(close_group, Method::POST).await, 204);
    assert_eq!(
        drain(&mut c1).await,
        [Delivery::Close {
            reason: Some("bye group".into())
        }]
    );
    assert_eq!(
        status(format!("/api/hubs/hub1/connections/c1?{API}"), Method::HEAD).await,
        404
    );

    assert_eq!(
        status(
            format!("/api/hubs/hub1/users/u1/:closeConnections?{API}"),
            Method::POST
        )
        .await,
        204
    );
    assert_eq!(drain(&mut c2).await, [Delivery::Close { reason: None }]);
    assert_eq!(
        status(format!("/api/hubs/hub1/users/u1?{API}"), Method::HEAD).await,
        404
    );

    assert_eq!(
        status(
            format!("/api/hubs/hub1/connections/c3?{API}&reason=r"),
            Method::DELETE
        )
        .await,
        204
    );
    assert_eq!(
        drain(&mut c3).await,
        [Delivery::Close {
            reason: Some("r".into())
        }]
    );
    assert_eq!(
        status(
            format!("/api/hubs/hub1/connections/c3?{API}"),
            Method::DELETE
        )
        .await,
        204
    );

    assert_eq!(
        status(
            format!("/api/hubs/hub1/:closeConnections?{API}&excluded=c4"),
            Method::POST
        )
        .await,
        204
    );
    assert!(drain(&mut c4).await.is_empty());
    assert_eq!(
        status(
            format!("/api/hubs/hub1/:closeConnections?{API}"),
            Method::POST
        )
        .await,
        204
    );
    assert_eq!(drain(&mut c4).await, [Delivery::Close { reason: None }]);

    let head = s
        .call(
            Method::HEAD,
            &format!("/api/hubs/hub1/groups/g?{API}"),
            None,
        )
        .await;
    assert_eq!(
        (head.status.as_u16(), head.error_code.as_deref()),
        (404, Some("Warning.Group.NotExisted"))
    );
}

#[tokio::test]
async fn permissions_grant_check_revoke() {
    let s = server().await;
    let (_g, _c) = s.connect("c1", None, &[]);
    let path = |verb: &str, target: &str| {
        format!("/api/hubs/hub1/permissions/{verb}/connections/c1?{API}{target}")
    };
    let check = |p: String| {
        let s = &s;
        async move { s.call(Method::HEAD, &p, None).await.status.as_u16() }
    };
    assert_eq!(check(path("sendToGroup", "&targetName=g")).await, 404);
    assert_eq!(
        s.call(Method::PUT, &path("sendToGroup", "&targetName=g"), None)
            .await
            .status,
        200
    );
    assert_eq!(check(path("sendToGroup", "&targetName=g")).await, 200);
    assert_eq!(check(path("sendToGroup", "&targetName=h")).await, 404);
    assert_eq!(check(path("joinLeaveGroup", "&targetName=g")).await, 404);
    assert!(s.hub().has_permission(
        "c1",
        webpubsub_protocol::token::Permission::SendToGroup,
        Some("g")
    ));
    assert_eq!(
        s.call(Method::DELETE, &path("sendToGroup", "&targetName=g"), None)
            .await
            .status,
        204
    );
    assert_eq!(check(path("sendToGroup", "&targetName=g")).await, 404);
    let unknown = s.call(Method::PUT, &path("admin", ""), None).await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.body["message"].as_str().unwrap().contains("admin"));
    let missing = s
        .call(
            Method::PUT,
            &format!("/api/hubs/hub1/permissions/sendToGroup/connections/zz?{API}"),
            None,
        )
        .await;
    assert_eq!(
        missing.error_code.as_deref(),
        Some("Error.Connection.NotExisted")
    );
}

#[tokio::test]
async fn group_listing_pages_with_next_link() {
    let s = server().await;
    let mut guards = Vec::new();
    for i in 0..5 {
        guards.push(s.connect(&format!("c{i}"), Some(&format!("u{i}")), &["g"]));
    }
    let first = s
        .call(
            Method::GET,
            &format!("/api/hubs/hub1/groups/g/connections?{API}&maxpagesize=2"),
            None,
        )
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.body["value"],
        json!([{"connectionId": "c0", "userId": "u0"}, {"connectionId": "c1", "userId": "u1"}])
    );
    let mut ids = Vec::new();
    let mut next = first.body["nextLink"].as_str().map(str::to_owned);
    ids.extend(
        first.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["connectionId"].as_str().unwrap().to_owned()),
    );
    for _ in 0..5 {
        let Some(link) = next.take() else { break };
        assert!(
            link.starts_with(&s.base) && link.contains("continuationToken="),
            "{link}"
        );
        let token = sign(&link, 300, KEY);
        let page = s.send(Method::GET, &link, Some(&token), None).await;
        assert_eq!(page.status, 200);
        ids.extend(
            page.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["connectionId"].as_str().unwrap().to_owned()),
        );
        next = page.body["nextLink"].as_str().map(str::to_owned);
    }
    assert_eq!(ids, ["c0", "c1", "c2", "c3", "c4"]);

    let top = s
        .call(
            Method::GET,
            &format!("/api/hubs/hub1/groups/g/connections?{API}&maxpagesize=2&top=3"),
            None,
        )
        .await;
    let link = top.body["nextLink"].as_str().unwrap().to_owned();
    let second = s
        .send(Method::GET, &link, Some(&sign(&link, 300, KEY)), None)
        .await;
    assert_eq!(
        second.body["value"].as_array().unwrap().len(),
        1,
        "top caps the total"
    );
    assert!(second.body.get("nextLink").is_none());
    let empty = s
        .call(
            Method::GET,
            &format!("/api/hubs/hub1/groups/none/connections?{API}"),
            None,
        )
        .await;
    assert_eq!(empty.body, json!({"value": []}));
    let bad = s
        .call(
            Method::GET,
            &format!("/api/hubs/hub1/groups/g/connections?{API}&maxpagesize=201"),
            None,
        )
        .await;
    assert_eq!(bad.status, 400);
    let token = s
        .call(
            Method::GET,
            &format!("/api/hubs/hub1/groups/g/connections?{API}&continuationToken=%25%25"),
            None,
        )
        .await;
    assert_eq!(token.status, 400);
}

#[tokio::test]
async fn generate_token_mints_a_client_token() {
    let s = server().await;
    let path = format!(
        "/api/hubs/Hub1/:generateToken?{API}&userId=alice&role=webpubsub.joinLeaveGroup&role=webpubsub.sendToGroup.g&group=g1&group=g2&minutesToExpire=5"
    );
    let reply = s.call(Method::POST, &path, None).await;
    assert_eq!(reply.status, 200);
    let token = reply.body["token"].as_str().unwrap();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[format!("{}/client/hubs/Hub1", s.base)]);
    let claims = jsonwebtoken::decode::<ClientTokenClaims>(
        token,
        &DecodingKey::from_secret(KEY.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims.sub.as_deref(), Some("alice"));
    assert_eq!(
        claims.role,
        ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup.g"]
    );
    assert_eq!(claims.groups, ["g1", "g2"]);
    let lifetime = claims.exp - claims.iat.unwrap();
    assert_eq!(lifetime, 300);

    let mqtt = s
        .call(
            Method::POST,
            &format!("/api/hubs/hub1/:generateToken?{API}&clientType=MQTT"),
            None,
        )
        .await;
    let token = mqtt.body["token"].as_str().unwrap();
    validation.set_audience(&[format!("{}/clients/mqtt/hubs/hub1", s.base)]);
    jsonwebtoken::decode::<ClientTokenClaims>(
        token,
        &DecodingKey::from_secret(KEY.as_bytes()),
        &validation,
    )
    .unwrap();
    for bad in [
        "&minutesToExpire=0",
        "&clientType=carrier-pigeon",
        "&group=%20",
    ] {
        let reply = s
            .call(
                Method::POST,
                &format!("/api/hubs/hub1/:generateToken?{API}{bad}"),
                None,
            )
            .await;
        assert_eq!(reply.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn requests_on_hubs_without_connections_change_nothing_and_keep_nothing() {
    let s = server().await;
    for (method, path, expected) in [
        (Method::POST, "/api/hubs/ghost1/:send", 202),
        (Method::HEAD, "/api/hubs/ghost2/groups/g", 404),
        (Method::PUT, "/api/hubs/ghost3/groups/g/connections/c", 404),
        (Method::PUT, "/api/hubs/ghost4/users/u/groups/g", 404),
        (Method::POST, "/api/hubs/ghost5/:closeConnections", 204),
        (Method::GET, "/api/hubs/ghost6/groups/g/connections", 200),
        (
            Method::PUT,
            "/api/hubs/ghost7/permissions/sendToGroup/connections/c",
            404,
        ),
    ] {
        let body = (method == Method::POST).then(|| ("text/plain", b"x".to_vec()));
        let reply = s.call(method.clone(), &format!("{path}?{API}"), body).await;
        assert_eq!(reply.status.as_u16(), expected, "{method} {path}");
    }
    assert_eq!(s.registry.hub_count(), 0, "no hub was created");
    let (_g, mut c) = s.connect("c1", None, &[]);
    assert_eq!(
        s.call(
            Method::POST,
            &format!("/api/hubs/HUB1/:send?{API}"),
            text("found")
        )
        .await
        .status,
        202
    );
    assert_eq!(
        payloads(&drain(&mut c).await),
        ["found"],
        "an existing hub is found case-insensitively"
    );
}

#[tokio::test]
async fn authentication_failures_are_401_with_reasons() {
    let s = server().await;
    let url = s.url(&format!("/api/hubs/hub1/:send?{API}"));
    let without_query = s.url("/api/hubs/hub1/:send");
    let https = url.replacen("http://", "https://", 1);
    for (token, expected) in [
        (Some(sign(&without_query, 300, KEY)), None),
        (Some(sign(&https, 300, SECONDARY)), None),
        (None, Some("missing")),
        (
            Some(sign(&url, 300, "not-the-key")),
            Some("matches no access key"),
        ),
        (Some(sign(&url, -600, KEY)), Some("expired")),
        (
            Some(sign(
                &s.url(&format!("/api/hubs/other/:send?{API}")),
                300,
                KEY,
            )),
            Some("audience"),
        ),
    ] {
        let reply = s
            .send(Method::POST, &url, token.as_deref(), text("x"))
            .await;
        match expected {
            None => assert_eq!(reply.status, 202),
            Some(reason) => {
                assert_eq!(reply.status, 401, "{reason}");
                assert_eq!(reply.error_code.as_deref(), Some("Error.Unauthorized"));
                assert!(
                    reply.body["message"].as_str().unwrap().contains(reason),
                    "{}",
                    reply.body
                );
            }
        }
    }
    let health = s
        .send(Method::HEAD, &s.url("/api/health"), None, None)
        .await;
    assert_eq!(health.status, 200, "the health check needs no token");
}
