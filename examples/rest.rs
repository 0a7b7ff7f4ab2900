//! Send to a group, manage its membership, and mint a client URL through the REST API.
//!
//! Run with
//!
//! ```not_rust
//! WEBPUBSUB_CONNECTION_STRING='Endpoint=https://<name>.webpubsub.azure.com;AccessKey=<key>;Version=1.0;' \
//!     cargo run --example rest [hub]
//! ```
//!
//! The local emulator works too: start `webpubsub-emulator` and use the connection string it
//! prints.

use std::{process::ExitCode, time::Duration};

use futures_util::TryStreamExt;
use webpubsub::{
    protocol::{
        filter::Filter,
        token::{ClientRole, Permission},
    },
    rest::{Message, WebPubSubServiceClient},
};

#[tokio::main]
async fn main() -> ExitCode {
    let Ok(connection_string) = std::env::var("WEBPUBSUB_CONNECTION_STRING") else {
        eprintln!(
            "set WEBPUBSUB_CONNECTION_STRING to the connection string of a Web PubSub resource \
             (Azure portal: Keys) or of the local emulator, for example\n  \
             WEBPUBSUB_CONNECTION_STRING='Endpoint=http://localhost:8080;AccessKey=<key>;Version=1.0;' \
             cargo run --example rest"
        );
        return ExitCode::from(2);
    };
    let hub = std::env::args().nth(1).unwrap_or_else(|| "chat".to_owned());
    match run(&connection_string, &hub).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The error names the operation, the status and the service's error code; never the key.
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(connection_string: &str, hub: &str) -> Result<(), webpubsub::rest::Error> {
    let client = WebPubSubServiceClient::from_connection_string(connection_string, hub)?;
    let group = "lobby";

    // A URL a browser can open a WebSocket to: user alice, joins the lobby at connect and may
    // send to it.
    let token = client
        .client_access_token()
        .user_id("alice")
        .groups([group])
        .roles([ClientRole::group(Permission::SendToGroup, group)])
        .expires_after(Duration::from_secs(60 * 60))
        .await?;
    println!("client url for alice: {}", token.url());

    // Membership by user: bob's connections join the group. A user without connections is
    // answered with 404 by the emulator; the error says so in `error_code()`.
    match client.add_user_to_group(group, "bob").await {
        Ok(()) => println!("bob is in {group}"),
        Err(error) if error.is_not_found() => println!(
            "bob has no connection to add yet ({})",
            error.error_code().unwrap_or("404")
        ),
        Err(error) => return Err(error),
    }

    // Send to the group, except to the bots (the filter builder escapes the values).
    client
        .send_to_group(group, Message::text("welcome to the lobby"))
        .filter(Filter::user_id().ne("bot"))
        .await?;
    client
        .send_to_group(
            group,
            Message::json(&serde_json::json!({"type": "notice", "text": "hi"}))?,
        )
        .message_ttl_seconds(60)
        .await?;
    println!("sent two messages to {group}");

    let members: Vec<_> = client
        .list_connections_in_group(group)
        .into_stream()
        .try_collect()
        .await?;
    println!("{group} has {} connection(s)", members.len());
    for member in &members {
        println!("  {} (user {:?})", member.connection_id, member.user_id);
    }

    client.remove_user_from_group(group, "bob").await?;
    println!(
        "removed bob from {group}; bob has connections: {}",
        client.user_exists("bob").await?
    );
    Ok(())
}
