//! The admin listener: `/livez`, `/readyz`, `/metrics` over HTTP/1.1.
//!
//! Request bodies are never read. Only `GET` and `HEAD` are served (`405` otherwise);
//! unknown paths get `404`. Every non-metrics answer is a small JSON object with a
//! stable `code` field, and nothing from the request is echoed.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::encode::{CONTENT_TYPE as METRICS_CONTENT_TYPE, Collect, Encoder};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::process::ProcessCollector;

/// How long a client may take to send a request head on the admin port.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Admin requests are one short line plus a few headers.
const MAX_BUF_SIZE: usize = 16 * 1024;
/// Admin connections served at once; further ones are closed on accept.
pub const MAX_ADMIN_CONNECTIONS: usize = 64;
/// Pause after an accept error such as EMFILE before trying again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// What the admin server reads from. Cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    extra: Vec<Arc<dyn Collect>>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("metrics", &self.metrics)
            .field("health", &self.health)
            .field("extra_collectors", &self.extra.len())
            .finish()
    }
}

impl AdminState {
    /// The standard `process_*` metrics ([`ProcessCollector`]) are included.
    pub fn new(metrics: Arc<Metrics>, health: Arc<Health>) -> Self {
        Self {
            metrics,
            health,
            extra: vec![Arc::new(ProcessCollector)],
        }
    }

    /// Adds families rendered after the built-in ones (see [`Collect`]).
    pub fn with_collector(mut self, c: Arc<dyn Collect>) -> Self {
        self.extra.push(c);
        self
    }

    /// The full `/metrics` body.
    pub fn render_metrics(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let mut enc = Encoder::new(&mut out);
        self.metrics.collect(&mut enc);
        self.health.collect(&mut enc);
        for c in &self.extra {
            c.collect(&mut enc);
        }
        out
    }
}

/// Serves the admin endpoints on `listener` until `shutdown` completes, then stops
/// accepting, lets in-flight requests finish (idle keep-alive connections close at
/// once) and returns. Accept errors are logged and retried; nothing here is fatal.
/// At most [`MAX_ADMIN_CONNECTIONS`] connections are served at once, and a client gets
/// 10 s to send each request head (idle keep-alive connections close after that too).
pub async fn serve_admin<F>(listener: TcpListener, state: AdminState, shutdown: F)
where
    F: Future<Output = ()>,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) if conns.len() >= MAX_ADMIN_CONNECTIONS => {
                    tracing::debug!("admin connection limit reached; closing a new connection");
                    drop(stream);
                }
                Ok((stream, _peer)) => {
                    conns.spawn(serve_connection(stream, state.clone(), stop_rx.clone()));
                }
                Err(e) => accept_failed(&e).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
}

async fn accept_failed(e: &io::Error) {
    tracing::warn!(error = %e, "admin listener accept failed");
    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
}

async fn serve_connection(stream: TcpStream, state: AdminState, mut stop: watch::Receiver<bool>) {
    let service = service_fn(move |req| {
        let resp = respond(&state, &req);
        async move { Ok::<_, Infallible>(resp) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_BUF_SIZE)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    // A closed channel also means stop; the guard `wait_for` returns is dropped here.
    let stopping = async move {
        let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
    };
    tokio::select! {
        res = conn.as_mut() => log_connection_end(res),
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            log_connection_end(conn.await);
        }
    }
}

fn log_connection_end(res: Result<(), hyper::Error>) {
    if let Err(e) = res {
        tracing::debug!(error = %e, "admin connection ended with an error");
    }
}

/// Routes one admin request. Reads the method and path only.
pub fn respond<B>(state: &AdminState, req: &Request<B>) -> Response<Full<Bytes>> {
    let endpoint = match req.uri().path() {
        "/livez" => Endpoint::Livez,
        "/readyz" => Endpoint::Readyz,
        "/metrics" => Endpoint::Metrics,
        _ => return json(StatusCode::NOT_FOUND, r#"{"code":"not_found"}"#.to_owned()),
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = json(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"code":"method_not_allowed"}"#.to_owned(),
        );
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    match endpoint {
        Endpoint::Livez => json(StatusCode::OK, r#"{"status":"alive"}"#.to_owned()),
        Endpoint::Readyz => {
            let report = state.health.report();
            let status = match report.ready {
                true => StatusCode::OK,
                false => StatusCode::SERVICE_UNAVAILABLE,
            };
            json(status, report.to_json())
        }
        Endpoint::Metrics => {
            with_type(StatusCode::OK, METRICS_CONTENT_TYPE, state.render_metrics())
        }
    }
}

enum Endpoint {
    Livez,
    Readyz,
    Metrics,
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    with_type(status, "application/json", body)
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
