//! A loopback HTTP server that records every request, checks its REST JWT, and answers from a
//! script (status, headers and body, or a dropped connection, or no answer at all).
//!
//! Shared by the crate's tests and the root `interop_rest` test (included with `#[path]`).
#![allow(dead_code, unreachable_pub)]

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    Request, Response, StatusCode, body::Incoming, header::HeaderMap, service::service_fn,
};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::net::TcpListener;
use webpubsub_protocol::token::RestTokenClaims;

/// What the recorder answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An answer.
    Answer {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    },
    /// Close the connection after reading the request, without answering.
    Drop,
    /// Never answer (until the test ends).
    Hang,
    /// Answer as the service does on success: the status the REST specification lists for the
    /// operation, a token for `:generateToken`, and two pages for a group's connections.
    Service,
}

impl Reply {
    /// An answer with `status` and no body.
    pub fn status(status: u16) -> Self {
        Self::Answer {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// An answer with `status`, a JSON body, and `application/json`.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self::Answer {
            status,
            headers: vec![("content-type", "application/json".to_owned())],
            body: Bytes::from(body.to_string()),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        if let Self::Answer { headers, .. } = &mut self {
            headers.push((name, value.into()));
        }
        self
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path as received (still percent-encoded).
    pub path: String,
    /// The raw query string, if any.
    pub raw_query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `http://{Host}{path?query}`: the URL the request was sent to.
    pub url: String,
    /// The verified REST token claims, or why verification failed (`None` when the recorder
    /// has no key to verify with).
    pub token: Option<Result<RestTokenClaims, String>>,
}

impl Recorded {
    /// The query parameters, percent-decoded, in order.
    pub fn query(&self) -> Vec<(String, String)> {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        self.raw_query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    /// The `Content-Type`, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
    }

    /// The bearer token, if any.
    pub fn bearer(&self) -> Option<&str> {
        self.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
    }

    /// Panics unless the request carried a valid REST token for the URL it was sent to.
    pub fn assert_signed(&self) -> &RestTokenClaims {
        match &self.token {
            Some(Ok(claims)) => claims,
            Some(Err(why)) => panic!("{} {}: bad token: {why}", self.method, self.url),
            None => panic!("the recorder was started without a key"),
        }
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    script: VecDeque<Reply>,
}

struct Config {
    key: Option<String>,
    /// When set, tokens must be signed for this base URL + the received path and query (a
    /// reverse proxy receives requests signed for the service).
    audience_base: Option<String>,
    default_reply: Reply,
}

/// The running recorder. Dropping it stops accepting connections.
pub struct Recorder {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    /// Starts a recorder that verifies REST tokens signed with `key` and answers 200 unless
    /// scripted otherwise.
    pub async fn start(key: &str) -> Self {
        Self::start_with(Some(key.to_owned()), None, Reply::status(200)).await
    }

    /// Starts a recorder with every option.
    pub async fn start_with(
        key: Option<String>,
        audience_base: Option<String>,
        default_reply: Reply,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let config = Arc::new(Config {
            key,
            audience_base,
            default_reply,
        });
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = state.clone();
                    let config = config.clone();
                    tokio::spawn(async move {
                        let service =
                            service_fn(move |req| handle(req, state.clone(), config.clone()));
                        // A scripted drop ends the connection with an error: expected.
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues the answers to the next requests, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.lock().script.extend(replies);
    }

    /// The requests received so far, and forgets them.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.lock().requests)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the script")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    config: Arc<Config>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    let url = format!("http://{host}{path_and_query}");
    let audience = match &config.audience_base {
        Some(base) => format!("{base}{path_and_query}"),
        None => url.clone(),
    };
    let token = config
        .key
        .as_deref()
        .map(|key| verify(&parts.headers, key, &audience));
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        raw_query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        url,
        token,
    };
    let reply = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let reply = match state.script.pop_front() {
            Some(reply) => reply,
            None => config.default_reply.clone(),
        };
        let reply = match reply {
            Reply::Service => service_reply(&recorded, &host),
            reply => reply,
        };
        state.requests.push(recorded);
        reply
    };
    match reply {
        Reply::Answer {
            status,
            headers,
            body,
        } => {
            let mut response = Response::new(Full::new(body));
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            Ok(response)
        }
        Reply::Drop | Reply::Service => Err(Dropped),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Err(Dropped)
        }
    }
}

/// The successful answer of the service to `request`.
fn service_reply(request: &Recorded, host: &str) -> Reply {
    let path = request.path.as_str();
    match request.method.as_str() {
        "PUT" | "HEAD" => Reply::status(200),
        "DELETE" => Reply::status(204),
        "GET" if path.ends_with("/connections") => {
            let next = request
                .query()
                .iter()
                .any(|(k, _)| k == "continuationToken");
            if next {
                Reply::json(
                    200,
                    serde_json::json!({"value": [{"connectionId": "c3", "userId": "u3"}]}),
                )
            } else {
                Reply::json(
                    200,
                    serde_json::json!({
                        "value": [{"connectionId": "c1", "userId": "u1"}, {"connectionId": "c2"}],
                        "nextLink": format!("http://{host}{path}?maxpagesize=2&continuationToken=t1"),
                    }),
                )
            }
        }
        "POST" if path.ends_with("/:send") => Reply::status(202),
        "POST" if path.ends_with("/:closeConnections") => Reply::status(204),
        "POST" if path.ends_with("/:generateToken") => {
            Reply::json(200, serde_json::json!({"token": "generated.by.service"}))
        }
        "POST" => Reply::status(200),
        _ => Reply::status(404),
    }
}

/// Checks the bearer JWT: HS256 over the key, `aud` equal to `audience`, not expired, `nbf`
/// passed, and `exp`/`aud` present.
fn verify(headers: &HeaderMap, key: &str, audience: &str) -> Result<RestTokenClaims, String> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or("no bearer token")?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "aud"]);
    validation.validate_nbf = true;
    validation.leeway = 0;
    jsonwebtoken::decode::<RestTokenClaims>(
        token,
        &DecodingKey::from_secret(key.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
    .map_err(|e| format!("{e} (expected aud {audience})"))
}
