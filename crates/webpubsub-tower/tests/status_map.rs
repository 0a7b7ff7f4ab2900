//! The layer's status map (docs/architecture.md, the webpubsub-tower crate docs), read over
//! loopback HTTP: every row of `support/status_rows.rs` is sent to an axum server with the layer
//! on 127.0.0.1:0, and every row that answers otherwise is reported by name.

mod support;

use support::layer::TestServer;
use support::status_rows::{Outcomes, app, report, rows};

#[tokio::test]
async fn every_row_of_the_status_map_answers_as_the_table_says() {
    let handler = Outcomes::default();
    let server = TestServer::start(app(handler.clone())).await;
    let rows = rows();
    let mut failures = Vec::new();
    for row in &rows {
        let before = handler.calls();
        let answer = row.event.send(&server).await;
        let mut wrong = row.mismatches(&answer);
        // Non-blocking handlers run before the layer answers, so the count is final here.
        let handled = handler.calls() > before;
        if handled != row.handled {
            wrong.push(format!(
                "handler ran: {handled}, should have: {}",
                row.handled
            ));
        }
        if !wrong.is_empty() {
            failures.push((row.name.clone(), wrong));
        }
    }
    assert!(failures.is_empty(), "{}", report(&failures, rows.len()));
}
