//! A tiny scripted HTTP/1.1 server standing in for Stripe where a real server cannot be
//! made to fail on demand (500, 429, slow answers, dropped connections). Each request
//! takes the next scripted reply; when the script runs out, it answers 200 with a
//! PaymentMethod. Every request is recorded (path, headers, body).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone)]
pub enum Reply {
    /// Status, extra headers, body.
    Status(u16, Vec<(String, String)>, String),
    /// Wait, then give the inner reply.
    Slow(Duration, Box<Reply>),
    /// Close the connection without answering.
    Hang,
}

impl Reply {
    pub fn status(code: u16, body: &str) -> Reply {
        Reply::Status(code, Vec::new(), body.to_owned())
    }

    pub fn ok() -> Reply {
        Reply::status(200, PAYMENT_METHOD)
    }

    pub fn rate_limited(retry_after: &str) -> Reply {
        Reply::Status(
            429,
            vec![("Retry-After".to_owned(), retry_after.to_owned())],
            r#"{"error":{"type":"rate_limit_error"}}"#.to_owned(),
        )
    }
}

pub const PAYMENT_METHOD: &str = r#"{"id":"pm_mock123","object":"payment_method","card":{"brand":"visa","last4":"4242","exp_month":12,"exp_year":2034,"fingerprint":"fpMock"}}"#;

#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub head: String,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

#[derive(Default)]
struct State {
    script: Vec<Reply>,
    requests: Vec<Recorded>,
    connections: usize,
}

#[derive(Clone)]
pub struct MockStripe {
    url: String,
    state: Arc<Mutex<State>>,
}

impl MockStripe {
    /// Starts the server on a free loopback port with this script of replies.
    pub async fn start(script: Vec<Reply>) -> MockStripe {
        MockStripe::start_with(script, None).await
    }

    /// As [`MockStripe::start`], speaking TLS; the URL is `https://localhost:PORT`.
    pub async fn start_tls(script: Vec<Reply>, config: Arc<rustls::ServerConfig>) -> MockStripe {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        MockStripe::start_with(script, Some(acceptor)).await
    }

    async fn start_with(script: Vec<Reply>, tls: Option<tokio_rustls::TlsAcceptor>) -> MockStripe {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = match tls {
            None => format!("http://127.0.0.1:{port}"),
            Some(_) => format!("https://localhost:{port}"),
        };
        let state = Arc::new(Mutex::new(State {
            script: script.into_iter().rev().collect(),
            ..State::default()
        }));
        let server = MockStripe { url, state };
        let accepting = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepting.state.lock().unwrap().connections += 1;
                let server = accepting.clone();
                match tls.clone() {
                    None => {
                        tokio::spawn(server.serve(stream));
                    }
                    Some(acceptor) => {
                        tokio::spawn(async move {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                server.serve(stream).await;
                            }
                        });
                    }
                }
            }
        });
        server
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Adds replies to the end of the script.
    pub fn push(&self, replies: Vec<Reply>) {
        let mut state = self.state.lock().unwrap();
        let mut rest: Vec<Reply> = state.script.drain(..).rev().collect();
        rest.extend(replies);
        state.script = rest.into_iter().rev().collect();
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(self, mut stream: S) {
        let mut buffer = Vec::new();
        loop {
            let Some(request) = read_request(&mut stream, &mut buffer).await else {
                return;
            };
            let reply = {
                let mut state = self.state.lock().unwrap();
                state.requests.push(request);
                state.script.pop().unwrap_or_else(Reply::ok)
            };
            if !answer(&mut stream, reply).await {
                return;
            }
        }
    }
}

async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
) -> Option<Recorded> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
    buffer.drain(..head_end + length);
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    Some(Recorded { path, head, body })
}

/// Writes the reply; false when the connection should close.
async fn answer<S: AsyncWrite + Unpin>(stream: &mut S, reply: Reply) -> bool {
    let mut reply = reply;
    loop {
        match reply {
            Reply::Hang => return false,
            Reply::Slow(delay, inner) => {
                tokio::time::sleep(delay).await;
                reply = *inner;
            }
            Reply::Status(code, headers, body) => {
                let mut out = format!(
                    "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&body);
                return stream.write_all(out.as_bytes()).await.is_ok()
                    && stream.flush().await.is_ok();
            }
        }
    }
}

/// A loopback URL where nothing listens (connection refused).
pub async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
