//! Opening a WebSocket to the service, reading its first frame, and writing with a timeout.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::error::UrlError;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use webpubsub_protocol::frames::ServerFrame;

use crate::Error;
use crate::builder::Options;
use crate::url::endpoint;

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long one write may take before the connection counts as lost.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The `connected` frame that starts every connection.
#[derive(Debug)]
pub(crate) struct Connected {
    pub(crate) connection_id: String,
    pub(crate) user_id: Option<String>,
    pub(crate) reconnection_token: Option<String>,
}

/// Opens a WebSocket to `url` with the client's subprotocol.
pub(crate) async fn open(options: &Options, url: &str) -> Result<Socket, Error> {
    let failed = |reason: String| Error::Connect {
        endpoint: endpoint(url).to_owned(),
        reason,
    };
    let mut request = url.into_client_request().map_err(|_| {
        Error::InvalidUrl(format!("{} is not a valid websocket url", endpoint(url)))
    })?;
    request.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(options.protocol.name()),
    );
    let config = WebSocketConfig::default()
        .max_message_size(Some(options.max_incoming_bytes))
        .max_frame_size(Some(options.max_incoming_bytes));
    let connector = if url.starts_with("wss://") {
        Connector::Rustls(webpubsub_protocol::tls::client_config().map_err(failed)?)
    } else {
        Connector::Plain
    };
    let handshake = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(config),
        true,
        Some(connector),
    );
    let (socket, _response) = tokio::time::timeout(options.connect_timeout, handshake)
        .await
        .map_err(|_| failed(format!("no answer within {:?}", options.connect_timeout)))?
        .map_err(|e| failed(describe(&e)))?;
    Ok(socket)
}

/// Reads the connection's first frame, which must be `connected`.
pub(crate) async fn read_connected(
    options: &Options,
    url: &str,
    socket: &mut Socket,
) -> Result<Connected, Error> {
    let failed = |reason: String| Error::Connect {
        endpoint: endpoint(url).to_owned(),
        reason,
    };
    let first = async {
        loop {
            let message = match socket.next().await {
                None => return Err("the service closed the connection at once".to_owned()),
                Some(Err(e)) => return Err(describe(&e)),
                Some(Ok(message)) => message,
            };
            if let Message::Close(frame) = &message {
                return Err(match frame {
                    Some(frame) => format!(
                        "the service closed the connection with {}: {}",
                        u16::from(frame.code),
                        frame.reason
                    ),
                    None => "the service closed the connection".to_owned(),
                });
            }
            match options.protocol.decode(&message) {
                Ok(None) => continue,
                Ok(Some(ServerFrame::Connected {
                    connection_id,
                    user_id,
                    reconnection_token,
                })) => {
                    return Ok(Connected {
                        connection_id,
                        user_id,
                        reconnection_token,
                    });
                }
                Ok(Some(other)) => {
                    return Err(format!("expected the connected frame first, got {other:?}"));
                }
                Err(reason) => return Err(format!("the first frame is not valid: {reason}")),
            }
        }
    };
    tokio::time::timeout(options.connect_timeout, first)
        .await
        .map_err(|_| {
            failed(format!(
                "no connected frame within {:?}",
                options.connect_timeout
            ))
        })?
        .map_err(failed)
}

/// Writes one message, or says why the connection is lost.
pub(crate) async fn write(socket: &mut Socket, message: Message) -> Result<(), String> {
    match tokio::time::timeout(WRITE_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(describe(&e)),
        Err(_) => Err(format!("a write took longer than {WRITE_TIMEOUT:?}")),
    }
}

/// A WebSocket error in words, without the URL (tungstenite puts the whole URL, access token
/// included, into `UnableToConnect`).
pub(crate) fn describe(error: &WsError) -> String {
    match error {
        WsError::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            if body.is_empty() {
                format!("the service answered {}", response.status())
            } else {
                format!("the service answered {}: {body}", response.status())
            }
        }
        WsError::Url(UrlError::UnableToConnect(_)) => "cannot reach the host".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_does_not_show_the_token() {
        // A port nothing listens on: bind one and drop it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("ws://127.0.0.1:{port}/client/hubs/chat?access_token=secret-token");
        let error = open(&Options::default(), &url).await.unwrap_err();
        let text = error.to_string();
        assert!(!text.contains("secret-token"), "{text}");
        assert!(text.contains("/client/hubs/chat"), "{text}");
    }
}
