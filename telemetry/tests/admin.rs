//! The admin server over a real TCP socket on port 0, spoken to with raw HTTP/1.1.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use outscope_telemetry::admin::MAX_ADMIN_CONNECTIONS;
use outscope_telemetry::encode::{Encoder, Kind};
use outscope_telemetry::{
    AdminState, BuildInfo, Collect, Health, Metrics, Requirement, serve_admin,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Only a guard against a hung test; no assertion depends on timing.
const HANG_GUARD: Duration = Duration::from_secs(30);

struct Admin {
    addr: SocketAddr,
    health: Arc<Health>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Admin {
    async fn start() -> Self {
        let metrics = Arc::new(Metrics::new(
            BuildInfo {
                version: "9.9.9",
                commit: None,
            },
            &[],
        ));
        metrics.bind_routes(["payments"]);
        let health = Arc::new(Health::new());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let state = AdminState::new(metrics, Arc::clone(&health)).with_collector(Arc::new(Later));
        let task = tokio::spawn(serve_admin(listener, state, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            health,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            tx.send(()).unwrap();
        }
        tokio::time::timeout(HANG_GUARD, self.task)
            .await
            .unwrap()
            .unwrap();
    }

    async fn request(&self, raw: &str) -> Reply {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(HANG_GUARD, s.read_to_end(&mut buf))
            .await
            .unwrap()
            .unwrap();
        Reply::parse(&buf)
    }

    async fn get(&self, path: &str) -> Reply {
        self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        ))
        .await
    }
}

/// Stands in for a later crate's metrics (tokenizer, egress check).
struct Later;

impl Collect for Later {
    fn collect(&self, enc: &mut Encoder<'_>) {
        enc.family(
            "outscope_later_total",
            "A later crate's counter.",
            Kind::Counter,
        );
        enc.sample_u64("outscope_later_total", &[("result", "ok")], 3);
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn parse(buf: &[u8]) -> Self {
        let text = String::from_utf8(buf.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        Self {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        assert_eq!(self.header("content-type"), Some("application/json"));
        serde_json::from_str(&self.body).unwrap()
    }
}

#[tokio::test]
async fn livez_is_200() {
    let admin = Admin::start().await;
    admin.health.start_draining(); // liveness ignores readiness
    let r = admin.get("/livez").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "alive");
    assert_eq!(
        admin.get("/livez?verbose=1").await.status,
        200,
        "the query is ignored"
    );
    admin.stop().await;
}

#[tokio::test]
async fn readyz_follows_dependencies_and_draining() {
    let admin = Admin::start().await;
    let r = admin.get("/readyz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ready");

    let redis = admin.health.register("redis", Requirement::Required);
    redis.set_down("connect_failed");
    let r = admin.get("/readyz").await;
    assert_eq!(r.status, 503);
    let body = r.json();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["draining"], false);
    assert_eq!(
        body["failing"],
        serde_json::json!([{"check": "redis", "reason": "connect_failed"}])
    );

    redis.set_up();
    assert_eq!(admin.get("/readyz").await.status, 200);

    admin.health.start_draining();
    let r = admin.get("/readyz").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["draining"], true);
    assert_eq!(r.json()["failing"], serde_json::json!([]));
    admin.stop().await;
}

#[tokio::test]
async fn metrics_has_the_exposition_content_type_and_parses() {
    let admin = Admin::start().await;
    admin.health.start_draining();
    let r = admin.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let families = support::parse(&r.body);
    let s = support::series(&families);
    assert_eq!(s.get(r#"outscope_build_info{version="9.9.9"}"#), Some(&1.0));
    assert_eq!(s.get("outscope_draining{}"), Some(&1.0));
    assert!(s.contains_key(r#"outscope_request_duration_seconds_count{route="payments"}"#));
    assert_eq!(
        s.get(r#"outscope_later_total{result="ok"}"#),
        Some(&3.0),
        "extra collector"
    );
    admin.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_json_and_other_methods_405() {
    let admin = Admin::start().await;
    for path in ["/", "/metrics/", "/admin", "/livez/x", "/%6Civez"] {
        let r = admin.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["code"], "not_found");
        assert!(
            !r.body.contains(path.trim_start_matches('/')) || path == "/",
            "echoed {path}"
        );
    }
    let r = admin
        .request("DELETE /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_eq!(r.json()["code"], "method_not_allowed");
    admin.stop().await;
}

#[tokio::test]
async fn head_gets_headers_and_no_body() {
    let admin = Admin::start().await;
    let r = admin
        .request("HEAD /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "");
    let len: usize = r.header("content-length").unwrap().parse().unwrap();
    assert!(len > 100, "HEAD reports the GET body length, got {len}");
    let r = admin
        .request("HEAD /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    admin.stop().await;
}

#[tokio::test]
async fn answers_without_reading_a_request_body() {
    let admin = Admin::start().await;
    let mut s = TcpStream::connect(admin.addr).await.unwrap();
    // Announce a body that never comes; the answer must not wait for it.
    s.write_all(b"POST /livez HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n")
        .await
        .unwrap();
    let buf = read_one_response(&mut s).await;
    assert!(
        buf.starts_with(b"HTTP/1.1 405 "),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    drop(s);
    admin.stop().await;
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections_and_stops_listening() {
    let admin = Admin::start().await;
    let addr = admin.addr;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /livez HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let buf = read_one_response(&mut s).await;
    assert!(buf.starts_with(b"HTTP/1.1 200 "));
    // The keep-alive connection is now idle; shutdown must not wait for the client.
    admin.stop().await;
    let mut rest = Vec::new();
    let n = tokio::time::timeout(HANG_GUARD, s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "server closed the idle connection");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener is closed"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_and_the_others_still_served() {
    let admin = Admin::start().await;
    let mut held = Vec::new();
    for _ in 0..MAX_ADMIN_CONNECTIONS {
        held.push(TcpStream::connect(admin.addr).await.unwrap());
    }
    // Connections are accepted in order, so this one finds the cap reached.
    let mut extra = TcpStream::connect(admin.addr).await.unwrap();
    // The write may already fail (reset); either way no response may come back.
    let _ = extra
        .write_all(b"GET /livez HTTP/1.1\r\nHost: a\r\n\r\n")
        .await;
    let mut buf = Vec::new();
    let n = tokio::time::timeout(HANG_GUARD, extra.read_to_end(&mut buf))
        .await
        .unwrap();
    assert!(
        buf.is_empty(),
        "served over the cap: {}",
        String::from_utf8_lossy(&buf)
    );
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "the connection over the cap is closed"
    );
    let first = &mut held[0];
    first
        .write_all(b"GET /livez HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert!(read_one_response(first).await.starts_with(b"HTTP/1.1 200 "));
    drop(held);
    admin.stop().await;
}

/// Reads exactly one response (head plus Content-Length body) from a kept-alive stream.
async fn read_one_response(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .split("\r\n")
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                return buf;
            }
        }
        let n = tokio::time::timeout(HANG_GUARD, s.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(
            n > 0,
            "connection closed mid-response: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}
