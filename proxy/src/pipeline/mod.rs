//! The request pipeline: one driver function, [`handle`], that calls the phases in order.
//! Any phase may end the request with a [`ProxyError`], which becomes a response in
//! exactly one place (`errors::respond`).
//!
//! Phases (see ARCHITECTURE.md): 2 checks → 4 route → 3 rate limit → 5 body →
//! (6–9 inspect, tokenize, rewrite, egress check: the tokenization issue) → 10 forward →
//! 11 log and count.

mod checks;
mod upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HeaderName, HeaderValue};
use http::{Request, Response};
use hyper::body::Incoming;
use outscope_config::InspectionMode;

use crate::app::App;
use crate::body::{self, ProxyBody};
use crate::errors::{ProxyError, respond::respond};
use crate::forward::headers;
use crate::protect;
use crate::routing;
use crate::runtime::Runtime;
use crate::server::ConnInfo;

/// Response header: how many card numbers in the request were tokenized or masked.
pub const TOKENIZED_HEADER: &str = "outscope-tokenized";

/// What the access log and metrics learn about one request.
#[derive(Default)]
struct Outcome {
    route: Option<usize>,
    error: Option<&'static str>,
    request_bytes: u64,
    rate_headers: Option<outscope_ratelimit::headers::RateLimitHeaders>,
    audit: Vec<protect::Audited>,
    let_through: protect::LetThrough,
    /// The wait for the upstream's response head, once the request was sent.
    upstream_wait: Option<Duration>,
}

/// The response body size when known up front (fixed bodies, upstream Content-Length).
fn response_bytes(resp: &Response<ProxyBody>) -> u64 {
    use hyper::body::Body;
    resp.body().size_hint().exact().unwrap_or(0)
}

/// Handles one request from start to finish. Never fails: errors become responses.
pub async fn handle(
    app: Arc<App>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let rt = app.runtime();
    let (id_name, id_value) = request_id(&rt, &req);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let version = req.version();
    let mut outcome = Outcome::default();
    let result = drive(&app, &rt, &conn, req, (&id_name, &id_value), &mut outcome).await;
    let mut resp = result.unwrap_or_else(|err| {
        outcome.error = Some(err.code());
        respond(&err, id_value.to_str().unwrap_or_default())
    });
    resp.headers_mut().insert(id_name, id_value.clone());
    for (name, value) in crate::limits::header_pairs(outcome.rate_headers.as_ref()) {
        resp.headers_mut().insert(name, value);
    }
    app.audit(
        &rt,
        outcome.route,
        id_value.to_str().unwrap_or_default(),
        &outcome.audit,
        outcome.let_through,
        outcome.error,
    );
    let protected = outcome
        .audit
        .iter()
        .filter(|a| a.action != "removed")
        .count();
    if protected > 0 {
        resp.headers_mut().insert(
            HeaderName::from_static(TOKENIZED_HEADER),
            HeaderValue::from(protected),
        );
    }
    app.record(
        &rt,
        &conn,
        crate::app::Finished {
            route: outcome.route,
            method: &method,
            path: &path,
            version,
            status: resp.status(),
            error: outcome.error,
            request_bytes: outcome.request_bytes,
            response_bytes: response_bytes(&resp),
            request_id: id_value.to_str().unwrap_or_default(),
            elapsed: started.elapsed(),
            upstream_wait: outcome.upstream_wait,
        },
    );
    resp
}

async fn drive(
    app: &App,
    rt: &Runtime,
    conn: &ConnInfo,
    mut req: Request<Incoming>,
    request_id: (&HeaderName, &HeaderValue),
    outcome: &mut Outcome,
) -> Result<Response<ProxyBody>, ProxyError> {
    let config = &rt.config;
    let head = checks::check(&req, &config.limits)?;
    let (route_index, route) = routing::find(
        &config.routes,
        head.host.as_deref(),
        req.method().as_str(),
        req.uri().path(),
    )
    .ok_or(ProxyError::NoRoute)?;
    outcome.route = Some(route_index);
    outcome.rate_headers = app.rate_limit(rt, conn, route, &req).await?;
    let upgrade = if head.wants_upgrade {
        if !route.allow_upgrade || req.version() != http::Version::HTTP_11 {
            return Err(ProxyError::UpgradeRefused);
        }
        Some(hyper::upgrade::on(&mut req))
    } else {
        None
    };
    check_declared_length(&req, route.max_body_bytes)?;
    let (mut parts, incoming) = req.into_parts();
    let body = body::collect(
        incoming,
        route.max_body_bytes,
        config.limits.body_read_timeout,
    )
    .await?;
    outcome.request_bytes = body.len() as u64;
    let protected = protect::protect(rt.tokenizer.as_ref(), route, &mut parts, body).await?;
    outcome.audit = protected.audit;
    outcome.let_through = protected.let_through;
    let upstream = rt
        .upstreams
        .get(route.upstream)
        .ok_or(ProxyError::NoRoute)?;
    let forwarded_body = protected.body.clone();
    let upstream_req = upstream::build_request(
        parts,
        protected.body,
        route,
        upstream,
        conn,
        &config.forwarding.trusted_proxies,
        request_id,
    )?;
    if route.inspection.mode == InspectionMode::Enforce {
        let policy = &route.inspection;
        // The structured reader already read these exact bytes when nothing was rewritten (it
        // reads again only to place raw findings against the allow-list); raw always runs.
        let reread = if protected.body_rewritten || !policy.allow_key_paths.is_empty() {
            protected.media.as_ref()
        } else {
            None
        };
        protect::egress::check(
            upstream_req.uri(),
            upstream_req.headers(),
            &forwarded_body,
            reread,
            policy,
        )?;
    }
    let sent = Instant::now();
    let sending = upstream.send(upstream_req).await;
    outcome.upstream_wait = Some(sent.elapsed());
    let mut resp = match sending {
        Ok(resp) => resp,
        Err(err) => {
            app.upstream_failed(rt, route.upstream, &err);
            return Err(err);
        }
    };
    let switching = resp.status() == http::StatusCode::SWITCHING_PROTOCOLS;
    if let (Some(client_side), true) = (upgrade, switching) {
        let upstream_side = hyper::upgrade::on(&mut resp);
        tokio::spawn(crate::forward::tunnel(client_side, upstream_side));
    }
    Ok(upstream::relay_response(resp, request_id, switching))
}

/// Refuses a body the client has already declared too large, before reading any of it.
fn check_declared_length<B>(req: &Request<B>, limit: u64) -> Result<(), ProxyError> {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > limit => Err(ProxyError::BodyTooLarge { limit }),
        _ => Ok(()),
    }
}

/// The request id header: the client's, when configured to trust it and well-formed, else
/// a fresh one.
fn request_id<B>(rt: &Runtime, req: &Request<B>) -> (HeaderName, HeaderValue) {
    let cfg = &rt.config.request_id;
    let name = rt.request_id_header.clone();
    if cfg.trust_incoming
        && let Some(v) = req
            .headers()
            .get(&name)
            .filter(|v| headers::acceptable_request_id(v))
    {
        return (name, v.clone());
    }
    (name, headers::new_request_id())
}
