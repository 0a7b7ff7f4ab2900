//! The official Python SDK (azure-messaging-webpubsubservice 1.3.0), recorded once by
//! `tests/data/python_requests.py`, and this client send the same requests for the same
//! operations: method, path as sent, query parameters, content type and body (JSON compared as
//! values: Python writes `{"a": [1, "x"]}` with spaces).

#[path = "support/recorder.rs"]
mod recorder;

use std::{future::IntoFuture, time::Duration};

use futures_util::TryStreamExt;
use recorder::{Recorded, Recorder, Reply};
use serde::Deserialize;
use serde_json::json;
use webpubsub_rest::{Error, Message, Permission, WebPubSubServiceClient};

#[derive(Debug, Deserialize)]
struct PythonRequest {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    content_type: Option<String>,
    body: Vec<u8>,
}

async fn ok<T>(operation: impl IntoFuture<Output = Result<T, Error>>) -> T {
    tokio::time::timeout(Duration::from_secs(10), operation.into_future())
        .await
        .expect("the operation finished")
        .expect("the operation succeeded")
}

fn same_body(content_type: Option<&str>, ours: &[u8], theirs: &[u8]) -> bool {
    if content_type == Some("application/json") {
        serde_json::from_slice::<serde_json::Value>(ours).ok()
            == serde_json::from_slice::<serde_json::Value>(theirs).ok()
    } else {
        ours == theirs
    }
}

#[tokio::test]
async fn the_same_requests_as_the_python_sdk() {
    let python: Vec<PythonRequest> =
        serde_json::from_str(include_str!("data/python_requests.json")).unwrap();
    const KEY: &str = "python-requests-key-0123456789abcdef";
    let rec = Recorder::start_with(Some(KEY.to_owned()), None, Reply::Service).await;
    let client = WebPubSubServiceClient::builder(rec.endpoint(), "chat")
        .access_key(KEY)
        .build()
        .unwrap();

    // The operations of python_requests.py, in its order.
    ok(client
        .send_to_all(Message::json(&json!({"a": [1, "x"]})).unwrap())
        .excluded(["c1", "c2"])
        .filter("userId eq 'o''neil'"))
    .await;
    ok(client.send_to_all("hello")).await;
    ok(client.send_to_all(vec![0_u8, 1, 255])).await;
    ok(client
        .send_to_group("room 1/a", "hello")
        .excluded(["c3"])
        .filter("'vip' in groups"))
    .await;
    ok(client
        .send_to_user("user/1", vec![0_u8, 1, 255])
        .filter("connectionId ne 'c1'"))
    .await;
    ok(client.send_to_connection("conn#1", Message::json("just a string").unwrap())).await;
    ok(client
        .close_all_connections()
        .excluded(["c1", "c2"])
        .reason("maintenance & more"))
    .await;
    ok(client
        .close_group_connections("g")
        .excluded(["c1"])
        .reason("r"))
    .await;
    ok(client
        .close_user_connections("u ü")
        .excluded(["c9"])
        .reason("bye"))
    .await;
    ok(client.close_connection("c1").reason("kicked")).await;
    ok(client.group_exists("g/1")).await;
    ok(client.user_exists("u/1")).await;
    ok(client.connection_exists("c/1")).await;
    ok(client.add_connection_to_group("g/x", "c1")).await;
    ok(client.remove_connection_from_group("g/x", "c1")).await;
    ok(client.remove_connection_from_all_groups("c1")).await;
    ok(client.add_user_to_group("g/x", "a/b")).await;
    ok(client.remove_user_from_group("g/x", "a/b")).await;
    ok(client.remove_user_from_all_groups("a/b")).await;
    ok(client
        .grant_permission(Permission::SendToGroup, "c/1")
        .target_name("room 1"))
    .await;
    ok(client.revoke_permission(Permission::JoinLeaveGroup, "c1")).await;
    ok(client
        .check_permission(Permission::JoinLeaveGroup, "c1")
        .target_name("g"))
    .await;
    // The recorder answers with a next page the Python run did not get: read the first only.
    let mut stream = client.list_connections_in_group("g/1").top(3).into_stream();
    ok(stream.try_next()).await;

    let ours: Vec<Recorded> = rec.take();
    assert_eq!(ours.len(), python.len());
    for (ours, theirs) in ours.iter().zip(&python) {
        let what = format!("{} {}", theirs.method, theirs.path);
        assert_eq!(ours.method, theirs.method, "{what}");
        assert_eq!(ours.path, theirs.path, "{what}");
        let (mut our_query, mut their_query) = (ours.query(), theirs.query.clone());
        our_query.sort();
        their_query.sort();
        assert_eq!(our_query, their_query, "{what}");
        assert_eq!(
            ours.content_type(),
            theirs.content_type.as_deref(),
            "{what}"
        );
        assert!(
            same_body(ours.content_type(), &ours.body, &theirs.body),
            "{what}: {:?} / {:?}",
            String::from_utf8_lossy(&ours.body),
            String::from_utf8_lossy(&theirs.body)
        );
        ours.assert_signed();
    }
}
