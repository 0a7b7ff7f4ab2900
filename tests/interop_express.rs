//! This project's layer beside `@azure/web-pubsub-express` 1.1.0, on the request vectors of
//! `tests/data/events/` (format and reference handler: that folder's README.md).
//!
//! - Our layer, in an axum server on 127.0.0.1:0 with the Rust reference handler, must answer
//!   every vector as its `expect` says (the protocol as docs/architecture.md reads it).
//! - Express, run by `tests/interop/express_events.mjs` with the JavaScript reference handler,
//!   must answer as `expect` overlaid with the vector's `express` block: where the block is absent
//!   the two answer semantically the same (status, content-type essence, body or JSON, decoded
//!   state, what the handler saw), and that is asserted directly too; where it is present, the
//!   documented difference must still hold, so an express release that changes is noticed.

mod support;

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value};
use support::layer::{
    Answer, PRIMARY_KEY, SECONDARY_KEY, check_expectation, reference_server, vector_event, vectors,
};
use webpubsub_protocol::{AccessKey, signature};

/// Our layer's answer and handler calls for every vector, in vector order.
async fn our_answers() -> Vec<(Value, Answer, Vec<Value>)> {
    let (server, handler) = reference_server().await;
    let mut out = Vec::new();
    for vector in vectors() {
        let answer = vector_event(&vector).send(&server).await;
        let expected_calls = vector["expect"]["handler"].as_array().map_or(0, Vec::len);
        let calls = handler.wait_calls(expected_calls).await;
        out.push((vector, answer, calls));
    }
    out
}

#[tokio::test]
async fn the_vectors_are_signed_with_the_documented_keys() {
    let keys = [AccessKey::new(PRIMARY_KEY), AccessKey::new(SECONDARY_KEY)];
    let mut signed = 0;
    for vector in vectors() {
        let name = vector["name"].as_str().expect("name");
        let headers = vector["request"]["headers"].as_array().expect("headers");
        let get = |wanted: &str| {
            headers
                .iter()
                .find(|pair| {
                    pair[0]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
                })
                .and_then(|pair| pair[1].as_str())
        };
        let (Some(sig), Some(id)) = (get("ce-signature"), get("ce-connectionId")) else {
            continue;
        };
        let valid =
            signature::verify([sig], id, &keys[..1]) && signature::verify([sig], id, &keys[1..]);
        assert_eq!(
            valid,
            name != "reject-bad-signature",
            "{name}: signature {sig}"
        );
        signed += 1;
    }
    assert!(signed > 20, "only {signed} signed vectors");
}

#[tokio::test]
async fn our_layer_answers_every_vector_as_expected() {
    let mut wrong = Vec::new();
    for (vector, answer, calls) in our_answers().await {
        let expect = vector["expect"].as_object().expect("expect");
        for why in check_expectation(expect, &answer, &calls) {
            wrong.push(format!("{}: {why}", vector["name"]));
        }
    }
    assert!(
        wrong.is_empty(),
        "our layer differs from the vectors:\n{}",
        wrong.join("\n")
    );
}

/// One answer of express_events.mjs as an [`Answer`].
fn express_answer(result: &Value) -> Answer {
    let mut headers = HeaderMap::new();
    for (name, value) in result["headers"].as_object().expect("headers") {
        let name = HeaderName::try_from(name.as_str()).expect("header name");
        let values = match value {
            Value::Array(values) => values.clone(),
            other => vec![other.clone()],
        };
        for v in values {
            headers.append(
                &name,
                HeaderValue::from_str(v.as_str().expect("header text")).expect("header value"),
            );
        }
    }
    Answer {
        status: StatusCode::from_u16(
            u16::try_from(result["status"].as_u64().expect("status")).expect("u16"),
        )
        .expect("status"),
        headers,
        body: Bytes::from(
            BASE64
                .decode(result["body"].as_str().expect("body"))
                .expect("base64 body"),
        ),
    }
}

/// Where two answers to the same request differ in meaning: status, content-type essence, body
/// (as JSON when JSON), decoded state, handler calls.
fn semantic_differences(
    ours: &Answer,
    our_calls: &[Value],
    theirs: &Answer,
    their_calls: &[Value],
) -> Vec<String> {
    let mut wrong = Vec::new();
    if ours.status != theirs.status {
        wrong.push(format!(
            "status: ours {} express {}",
            ours.status, theirs.status
        ));
    }
    if ours.content_type() != theirs.content_type() {
        wrong.push(format!(
            "content type: ours {:?} express {:?}",
            ours.content_type(),
            theirs.content_type()
        ));
    }
    let same_body = if ours.content_type().as_deref() == Some("application/json") {
        serde_json::from_slice::<Value>(&ours.body).ok()
            == serde_json::from_slice::<Value>(&theirs.body).ok()
    } else {
        ours.body == theirs.body
    };
    if !same_body {
        wrong.push(format!(
            "body: ours {:?} express {:?}",
            ours.body, theirs.body
        ));
    }
    if ours.states() != theirs.states() {
        wrong.push(format!(
            "state: ours {:?} express {:?}",
            ours.states(),
            theirs.states()
        ));
    }
    if our_calls != their_calls {
        wrong.push(format!(
            "handler saw: ours {our_calls:?} express {their_calls:?}"
        ));
    }
    wrong
}

#[tokio::test]
async fn express_answers_the_same_or_as_documented() {
    let output =
        support::node::run_node("express_events.mjs", &[], &[], Duration::from_secs(120)).await;
    assert!(
        output.success,
        "express_events.mjs failed:\n{}",
        output.stderr
    );
    let results: Vec<Value> = serde_json::from_str(output.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "express_events.mjs printed no JSON ({e}):\n{}",
            output.stdout
        )
    });

    let ours = our_answers().await;
    assert_eq!(results.len(), ours.len(), "express replayed every vector");
    let mut wrong = Vec::new();
    let mut same = 0;
    for ((vector, our_answer, our_calls), result) in ours.iter().zip(&results) {
        let name = vector["name"].as_str().expect("name");
        assert_eq!(
            result["name"], name,
            "both replay the vectors in the same order"
        );
        let theirs = express_answer(result);
        let their_calls: Vec<Value> = result["calls"].as_array().expect("calls").clone();

        let mut expect: Map<String, Value> = vector["expect"].as_object().expect("expect").clone();
        match vector.get("express").and_then(Value::as_object) {
            Some(differences) => {
                assert!(
                    differences
                        .get("note")
                        .and_then(Value::as_str)
                        .is_some_and(|n| !n.is_empty()),
                    "{name}: a documented difference says why"
                );
                for (key, value) in differences {
                    if key != "note" {
                        expect.insert(key.clone(), value.clone());
                    }
                }
            }
            None => {
                same += 1;
                for why in semantic_differences(our_answer, our_calls, &theirs, &their_calls) {
                    wrong.push(format!("{name}: {why}"));
                }
            }
        }
        for why in check_expectation(&expect, &theirs, &their_calls) {
            wrong.push(format!("{name} (express): {why}"));
        }
    }
    assert!(same >= 15, "only {same} vectors compared directly");
    assert!(
        wrong.is_empty(),
        "express and our layer differ beyond what the vectors document:\n{}",
        wrong.join("\n")
    );
}
