//! HTTP/1.1 over a bare TCP socket, for requests no HTTP client would send: duplicated,
//! oversized or non-UTF-8 headers, bodies whose framing lies, and answers that never come.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

/// Every exchange is bounded by this.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// What came back: the status (`None` when the server closed without answering), the headers
/// (names lower-cased) and the de-chunked body.
#[derive(Debug, Clone, Default)]
pub struct RawResponse {
    /// The status code.
    pub status: Option<u16>,
    /// The header lines.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `head` then `body`, half-closes the socket when `half_close`, and reads
/// until the server closes (send `Connection: close`). Write errors are ignored: a server may
/// answer and close before it has read everything.
pub async fn exchange(addr: SocketAddr, head: &[u8], body: &[u8], half_close: bool) -> RawResponse {
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect to the server");
    let (mut read, mut write) = stream.into_split();
    let head = head.to_vec();
    let body = body.to_vec();
    let writer = tokio::spawn(async move {
        if write.write_all(&head).await.is_err() {
            return;
        }
        for chunk in body.chunks(64 * 1024) {
            if write.write_all(chunk).await.is_err() {
                return;
            }
        }
        if half_close {
            let _ = write.shutdown().await;
        } else {
            // Keep the write side open until the reader is done.
            std::future::pending::<()>().await;
        }
    });
    let mut received = Vec::new();
    let read_all = async {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, read_all)
        .await
        .expect("the server answers or closes within the timeout");
    writer.abort();
    parse(&received)
}

/// Parses one HTTP/1.1 response (as much of it as arrived).
fn parse(bytes: &[u8]) -> RawResponse {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return RawResponse::default();
    };
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &bytes[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size else { break };
        rest = &rest[line_end + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    out
}

/// A chunked encoding of `body` in chunks of `chunk` bytes, with the final empty chunk.
pub fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / chunk.max(1) * 8 + 8);
    for piece in body.chunks(chunk.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
