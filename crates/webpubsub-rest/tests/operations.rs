//! Every data-plane operation against a loopback recorder: method, path, query, headers, body,
//! and a REST token whose signature, audience (the URL as received) and expiry check out.

#[path = "support/recorder.rs"]
mod recorder;

use std::{fmt::Debug, future::IntoFuture, time::Duration};

use futures_util::TryStreamExt;
use recorder::{Recorded, Recorder, Reply};
use serde_json::json;
use webpubsub_protocol::filter::Filter;
use webpubsub_rest::{
    Error, Message, Permission, ResponseFuture, RetryPolicy, WebPubSubServiceClient,
};

const KEY: &str = "test-access-key-0123456789";

async fn setup() -> (Recorder, WebPubSubServiceClient) {
    let recorder = Recorder::start(KEY).await;
    let client = WebPubSubServiceClient::builder(recorder.endpoint(), "chat")
        .access_key(KEY)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    (recorder, client)
}

/// What one operation must send.
struct Expect<'a> {
    method: &'a str,
    path: &'a str,
    /// The parameters after `api-version`, decoded, in order.
    query: &'a [(&'a str, &'a str)],
    content_type: Option<&'a str>,
    body: &'a [u8],
}

/// Runs `operation`, then checks the one request it sent.
async fn check<T: Debug>(
    recorder: &Recorder,
    operation: impl IntoFuture<Output = Result<T, Error>>,
    expect: Expect<'_>,
) -> T {
    let output = tokio::time::timeout(Duration::from_secs(10), operation.into_future())
        .await
        .expect("the operation finished")
        .unwrap_or_else(|e| panic!("{} {}: {e}", expect.method, expect.path));
    let requests = recorder.take();
    assert_eq!(requests.len(), 1, "one request for {}", expect.path);
    assert_request(&requests[0], &expect);
    output
}

fn assert_request(request: &Recorded, expect: &Expect<'_>) {
    assert_eq!(request.method, expect.method, "{}", expect.path);
    assert_eq!(request.path, expect.path);
    let mut query = vec![("api-version".to_owned(), "2024-12-01".to_owned())];
    query.extend(
        expect
            .query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    assert_eq!(request.query(), query, "{}", expect.path);
    assert_eq!(
        request.content_type(),
        expect.content_type,
        "{}",
        expect.path
    );
    assert_eq!(&request.body[..], expect.body, "{}", expect.path);
    let claims = request.assert_signed();
    assert_eq!(claims.aud, request.url);
    assert!(claims.iat.is_some() && claims.nbf.is_some());
    assert!(
        request
            .headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.starts_with("webpubsub-rest/"))
    );
}

#[tokio::test]
async fn sends_carry_their_content_type_body_and_options() {
    let (rec, client) = setup().await;
    check(
        &rec,
        client
            .send_to_all(Message::json(&json!({"a": [1, "x"]})).unwrap())
            .excluded(["c1", "c2"])
            .filter(Filter::user_id().eq("o'neil"))
            .message_ttl_seconds(15),
        Expect {
            method: "POST",
            path: "/api/hubs/chat/:send",
            query: &[
                ("excluded", "c1"),
                ("excluded", "c2"),
                ("filter", "userId eq 'o''neil'"),
                ("messageTtlSeconds", "15"),
            ],
            content_type: Some("application/json"),
            body: br#"{"a":[1,"x"]}"#,
        },
    )
    .await;
    check(
        &rec,
        client
            .send_to_group("room 1/a", "hello")
            .excluded(["c3"])
            .filter("'vip' in groups"),
        Expect {
            method: "POST",
            path: "/api/hubs/chat/groups/room%201%2Fa/:send",
            query: &[("excluded", "c3"), ("filter", "'vip' in groups")],
            content_type: Some("text/plain"),
            body: b"hello",
        },
    )
    .await;
    check(
        &rec,
        client
            .send_to_user("user/1", vec![0_u8, 1, 255])
            .filter(Filter::connection_id().ne("c1"))
            .message_ttl_seconds(300),
        Expect {
            method: "POST",
            path: "/api/hubs/chat/users/user%2F1/:send",
            query: &[
                ("filter", "connectionId ne 'c1'"),
                ("messageTtlSeconds", "300"),
            ],
            content_type: Some("application/octet-stream"),
            body: &[0, 1, 255],
        },
    )
    .await;
    check(
        &rec,
        client
            .send_to_connection("conn#1", json!("just a string"))
            .message_ttl_seconds(0),
        Expect {
            method: "POST",
            path: "/api/hubs/chat/connections/conn%231/:send",
            query: &[("messageTtlSeconds", "0")],
            content_type: Some("application/json"),
            body: br#""just a string""#,
        },
    )
    .await;
}

#[tokio::test]
async fn closes_carry_reason_and_exclusions() {
    let (rec, client) = setup().await;
    let no_body = Expect {
        method: "POST",
        path: "/api/hubs/chat/:closeConnections",
        query: &[
            ("excluded", "c1"),
            ("excluded", "c2"),
            ("reason", "maintenance & more"),
        ],
        content_type: None,
        body: b"",
    };
    check(
        &rec,
        client
            .close_all_connections()
            .excluded(["c1"])
            .excluded(["c2"])
            .reason("maintenance & more"),
        no_body,
    )
    .await;
    check(
        &rec,
        client
            .close_group_connections("g")
            .excluded(["c1"])
            .reason("r"),
        Expect {
            method: "POST",
            path: "/api/hubs/chat/groups/g/:closeConnections",
            query: &[("excluded", "c1"), ("reason", "r")],
            content_type: None,
            body: b"",
        },
    )
    .await;
    check(
        &rec,
        client
            .close_user_connections("u ü")
            .reason("bye")
            .excluded(["c9"]),
        Expect {
            method: "POST",
            path: "/api/hubs/chat/users/u%20%C3%BC/:closeConnections",
            query: &[("reason", "bye"), ("excluded", "c9")],
            content_type: None,
            body: b"",
        },
    )
    .await;
    check(
        &rec,
        client.close_connection("c1").reason("kicked"),
        Expect {
            method: "DELETE",
            path: "/api/hubs/chat/connections/c1",
            query: &[("reason", "kicked")],
            content_type: None,
            body: b"",
        },
    )
    .await;
}

#[tokio::test]
async fn exists_checks_map_200_to_true_and_404_to_false() {
    let (rec, client) = setup().await;
    let cases: [(&str, &str); 3] = [
        ("group", "/api/hubs/chat/groups/g%2F1"),
        ("user", "/api/hubs/chat/users/u%2F1"),
        ("connection", "/api/hubs/chat/connections/c%2F1"),
    ];
    for (answer, expected) in [(200, true), (404, false)] {
        for (kind, path) in cases {
            rec.script([
                Reply::status(answer).header("x-ms-error-code", "Warning.Group.NotExisted")
            ]);
            let expect = Expect {
                method: "HEAD",
                path,
                query: &[],
                content_type: None,
                body: b"",
            };
            let exists = match kind {
                "group" => check(&rec, client.group_exists("g/1"), expect).await,
                "user" => check(&rec, client.user_exists("u/1"), expect).await,
                _ => check(&rec, client.connection_exists("c/1"), expect).await,
            };
            assert_eq!(exists, expected, "{kind} with {answer}");
        }
    }
    // Anything else is an error, not a `false`.
    rec.script([Reply::status(500)]);
    let error = client.group_exists("g").await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(error.operation(), Some("group_exists"));
}

#[tokio::test]
async fn membership_operations_use_put_and_delete() {
    let (rec, client) = setup().await;
    let cases: Vec<(&str, &str, ResponseFuture<'_, ()>)> = vec![
        (
            "PUT",
            "/api/hubs/chat/groups/g%2Fx/connections/c1",
            client.add_connection_to_group("g/x", "c1"),
        ),
        (
            "DELETE",
            "/api/hubs/chat/groups/g%2Fx/connections/c1",
            client.remove_connection_from_group("g/x", "c1"),
        ),
        (
            "DELETE",
            "/api/hubs/chat/connections/c1/groups",
            client.remove_connection_from_all_groups("c1"),
        ),
        (
            "PUT",
            "/api/hubs/chat/users/a%2Fb/groups/g%2Fx",
            client.add_user_to_group("g/x", "a/b"),
        ),
        (
            "DELETE",
            "/api/hubs/chat/users/a%2Fb/groups/g%2Fx",
            client.remove_user_from_group("g/x", "a/b"),
        ),
        (
            "DELETE",
            "/api/hubs/chat/users/a%2Fb/groups",
            client.remove_user_from_all_groups("a/b"),
        ),
    ];
    for (method, path, operation) in cases {
        // Any 2xx is success, whatever the specification says the status is.
        rec.script([Reply::status(204)]);
        check(
            &rec,
            operation,
            Expect {
                method,
                path,
                query: &[],
                content_type: None,
                body: b"",
            },
        )
        .await;
    }
}

#[tokio::test]
async fn groups_by_filter_send_a_json_body() {
    let (rec, client) = setup().await;
    let filter = Filter::user_id().is_in(["a", "b"]);
    let body = br#"{"groups":["g1","g2"],"filter":"userId in ('a', 'b')"}"#;
    check(
        &rec,
        client.add_connections_to_groups(["g1", "g2"], filter.clone()),
        Expect {
            method: "POST",
            path: "/api/hubs/chat/:addToGroups",
            query: &[],
            content_type: Some("application/json"),
            body,
        },
    )
    .await;
    check(
        &rec,
        client.remove_connections_from_groups(["g1", "g2"], filter),
        Expect {
            method: "POST",
            path: "/api/hubs/chat/:removeFromGroups",
            query: &[],
            content_type: Some("application/json"),
            body,
        },
    )
    .await;
}

#[tokio::test]
async fn permissions_take_a_target_name() {
    let (rec, client) = setup().await;
    check(
        &rec,
        client
            .grant_permission(Permission::SendToGroup, "c/1")
            .target_name("room 1"),
        Expect {
            method: "PUT",
            path: "/api/hubs/chat/permissions/sendToGroup/connections/c%2F1",
            query: &[("targetName", "room 1")],
            content_type: None,
            body: b"",
        },
    )
    .await;
    check(
        &rec,
        client.revoke_permission(Permission::JoinLeaveGroup, "c1"),
        Expect {
            method: "DELETE",
            path: "/api/hubs/chat/permissions/joinLeaveGroup/connections/c1",
            query: &[],
            content_type: None,
            body: b"",
        },
    )
    .await;
    for (answer, expected) in [(200, true), (404, false)] {
        rec.script([Reply::status(answer)]);
        let has = check(
            &rec,
            client
                .check_permission(Permission::JoinLeaveGroup, "c1")
                .target_name("g"),
            Expect {
                method: "HEAD",
                path: "/api/hubs/chat/permissions/joinLeaveGroup/connections/c1",
                query: &[("targetName", "g")],
                content_type: None,
                body: b"",
            },
        )
        .await;
        assert_eq!(has, expected);
    }
}

#[tokio::test]
async fn health_check_is_a_head_on_api_health() {
    let (rec, client) = setup().await;
    check(
        &rec,
        client.health_check(),
        Expect {
            method: "HEAD",
            path: "/api/health",
            query: &[],
            content_type: None,
            body: b"",
        },
    )
    .await;
}

#[tokio::test]
async fn group_listing_follows_next_links_lazily() {
    let (rec, client) = setup().await;
    rec.script([
        Reply::json(200, json!({
            "value": [{"connectionId": "c1", "userId": "u1"}, {"connectionId": "c2"}],
            // The service may name another host: the client keeps its own endpoint.
            "nextLink": "https://internal.example/api/hubs/chat/groups/g%2F1/connections?maxpagesize=2&continuationToken=t%2B1"
        })),
        Reply::json(200, json!({"value": [{"connectionId": "c3", "userId": "u3"}]})),
    ]);
    let members: Vec<_> = tokio::time::timeout(
        Duration::from_secs(10),
        client
            .list_connections_in_group("g/1")
            .max_page_size(2)
            .top(3)
            .into_stream()
            .try_collect(),
    )
    .await
    .unwrap()
    .unwrap();
    let ids: Vec<_> = members
        .iter()
        .map(|m| (m.connection_id.as_str(), m.user_id.as_deref()))
        .collect();
    assert_eq!(ids, [("c1", Some("u1")), ("c2", None), ("c3", Some("u3"))]);
    let requests = rec.take();
    assert_eq!(requests.len(), 2);
    assert_request(
        &requests[0],
        &Expect {
            method: "GET",
            path: "/api/hubs/chat/groups/g%2F1/connections",
            query: &[("maxpagesize", "2"), ("top", "3")],
            content_type: None,
            body: b"",
        },
    );
    assert_request(
        &requests[1],
        &Expect {
            method: "GET",
            path: "/api/hubs/chat/groups/g%2F1/connections",
            query: &[("maxpagesize", "2"), ("continuationToken", "t+1")],
            content_type: None,
            body: b"",
        },
    );
}

#[tokio::test]
async fn a_failing_page_ends_the_stream_with_the_error() {
    let (rec, client) = setup().await;
    rec.script([Reply::json(200, json!({"value": "not a list"}))]);
    let error = client
        .list_connections_in_group("g")
        .into_stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(error.is_decode(), "{error:?}");
    assert_eq!(error.operation(), Some("list_connections_in_group"));
}

#[tokio::test]
async fn invalid_names_are_refused_before_sending() {
    let (rec, client) = setup().await;
    let errors = [
        client.add_user_to_group("  ", "u").await.unwrap_err(),
        client.send_to_user("", "x").await.unwrap_err(),
        client.close_connection("").await.unwrap_err(),
        client
            .check_permission(Permission::SendToGroup, "")
            .await
            .unwrap_err(),
        // `users/../groups` would be resolved to `groups`: another operation.
        client.remove_user_from_all_groups("..").await.unwrap_err(),
    ];
    for error in &errors {
        assert!(error.is_invalid_argument(), "{error:?}");
        assert_eq!(error.attempts(), 0);
    }
    assert_eq!(
        errors[0].to_string(),
        "add_user_to_group: invalid argument: the group name \"  \" is only whitespace"
    );
    assert!(rec.take().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn service_errors_keep_status_code_and_detail() {
    let (rec, client) = setup().await;
    rec.script([Reply::json(
        404,
        json!({"code": "Error.Connection.NotExisted", "message": "Connection `c1` is not found.", "target": "Connection"}),
    )
    .header("x-ms-error-code", "Error.Connection.NotExisted")]);
    let error = client.add_connection_to_group("g", "c1").await.unwrap_err();
    assert!(error.is_status() && error.is_not_found());
    assert_eq!(error.error_code(), Some("Error.Connection.NotExisted"));
    assert_eq!(
        error.detail().and_then(|d| d.message.as_deref()),
        Some("Connection `c1` is not found.")
    );
    assert_eq!(
        error.to_string(),
        "add_connection_to_group: the service answered 404 Not Found (Error.Connection.NotExisted): Connection `c1` is not found."
    );
}

#[tokio::test]
async fn the_api_version_is_settable() {
    let rec = Recorder::start(KEY).await;
    let client = WebPubSubServiceClient::builder(rec.endpoint(), "chat")
        .access_key(KEY)
        .api_version("2024-01-01")
        .build()
        .unwrap();
    client.health_check().await.unwrap();
    let request = &rec.take()[0];
    assert_eq!(
        request.query(),
        [("api-version".to_owned(), "2024-01-01".to_owned())]
    );
    request.assert_signed();
}

#[tokio::test]
async fn a_user_supplied_http_client_is_used() {
    let rec = Recorder::start(KEY).await;
    // reqwest's own TLS setup needs a process-wide provider under `rustls-no-provider`.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = http::HeaderMap::new();
    headers.insert("x-from-the-caller", "yes".parse().unwrap());
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let client = WebPubSubServiceClient::builder(rec.endpoint(), "chat")
        .access_key(KEY)
        .http_client(http)
        .build()
        .unwrap();
    client.remove_user_from_all_groups("u").await.unwrap();
    let request = &rec.take()[0];
    assert_eq!(request.headers["x-from-the-caller"], "yes");
    request.assert_signed();
}
