//! Phase 2: strict request checks before anything else looks at the request: request-target
//! form, method, framing and header limits. Everything here is cheap and reads only the head.

use http::{HeaderMap, Method, Request, Version, header};

use crate::server::framing::Verdict;
use outscope_config::Limits;

use crate::errors::ProxyError;

/// What the later phases need from a checked head.
pub struct Head {
    /// Lower-cased host without port, if the request named one.
    pub host: Option<String>,
    /// Whether the client asked for a protocol upgrade.
    pub wants_upgrade: bool,
}

/// Checks the request head. Any failure ends the request; framing failures also close
/// the connection.
pub fn check<B>(req: &Request<B>, limits: &Limits) -> Result<Head, ProxyError> {
    check_target(req)?;
    let headers = req.headers();
    if req.version() < Version::HTTP_2 {
        check_framing(req)?;
    }
    check_header_size(headers, limits)?;
    let host = host(req)?;
    let wants_upgrade = headers.contains_key(header::UPGRADE)
        || headers.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
        })
        || headers.contains_key("http2-settings");
    Ok(Head {
        host,
        wants_upgrade,
    })
}

/// Origin-form only (never an open proxy): no absolute-form, no CONNECT, no `*`.
fn check_target<B>(req: &Request<B>) -> Result<(), ProxyError> {
    if req.method() == Method::CONNECT {
        return Err(ProxyError::Connect);
    }
    if req.version() < Version::HTTP_2
        && (req.uri().scheme().is_some() || req.uri().authority().is_some())
    {
        return Err(ProxyError::AbsoluteTarget);
    }
    if !req.uri().path().starts_with('/') {
        return Err(ProxyError::BadRequest("request target must start with '/'"));
    }
    Ok(())
}

/// HTTP/1 framing, as judged on the raw bytes by `server::framing`. A request without a
/// verdict is refused: it means the framing could not be followed.
fn check_framing<B>(req: &Request<B>) -> Result<(), ProxyError> {
    match req.extensions().get::<Verdict>() {
        Some(Verdict::Clean) => Ok(()),
        Some(Verdict::Refused(why)) => Err(ProxyError::BadFraming(why)),
        None => Err(ProxyError::BadFraming(
            "request framing could not be followed",
        )),
    }
}

/// Header count and total size, against the configured limits.
fn check_header_size(headers: &HeaderMap, limits: &Limits) -> Result<(), ProxyError> {
    if headers.len() > limits.max_headers {
        return Err(ProxyError::HeadersTooLarge);
    }
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if bytes > limits.max_header_bytes {
        return Err(ProxyError::HeadersTooLarge);
    }
    Ok(())
}

/// The request's host: `:authority` for HTTP/2, the single `Host` header for HTTP/1.1.
fn host<B>(req: &Request<B>) -> Result<Option<String>, ProxyError> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let header_host = hosts.next();
    if hosts.next().is_some() {
        return Err(ProxyError::BadRequest("more than one Host header"));
    }
    let authority = match (req.uri().authority(), header_host) {
        (Some(a), _) => Some(a.as_str()),
        (None, Some(h)) => Some(
            h.to_str()
                .map_err(|_| ProxyError::BadRequest("invalid Host header"))?,
        ),
        (None, None) if req.version() == Version::HTTP_11 => {
            return Err(ProxyError::BadRequest("missing Host header"));
        }
        (None, None) => None,
    };
    Ok(crate::routing::request_host(authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_header_bytes: 1024,
            max_headers: 10,
            max_body_bytes: 1024,
            header_read_timeout: std::time::Duration::from_secs(1),
            body_read_timeout: std::time::Duration::from_secs(1),
            idle_timeout: std::time::Duration::from_secs(1),
            handshake_timeout: std::time::Duration::from_secs(1),
            max_connections: 10,
            h2_max_concurrent_streams: 10,
        }
    }

    fn req(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri("/x").version(Version::HTTP_11);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut r = b.body(()).unwrap();
        r.extensions_mut().insert(Verdict::Clean);
        r
    }

    fn code(r: Result<Head, ProxyError>) -> &'static str {
        r.map(|_| "ok").unwrap_or_else(|e| e.code())
    }

    #[test]
    fn http1_requests_need_a_clean_framing_verdict() {
        let l = limits();
        let mut r = req(&[("host", "a")]);
        assert_eq!(code(check(&r, &l)), "ok");
        r.extensions_mut().insert(Verdict::Refused(
            "both Content-Length and Transfer-Encoding",
        ));
        assert_eq!(code(check(&r, &l)), "bad_framing");
        r.extensions_mut().clear();
        assert_eq!(code(check(&r, &l)), "bad_framing");
    }

    #[test]
    fn host_is_required_and_single() {
        let l = limits();
        assert_eq!(code(check(&req(&[]), &l)), "bad_request");
        assert_eq!(
            code(check(&req(&[("host", "a"), ("host", "b")]), &l)),
            "bad_request"
        );
        assert_eq!(
            check(&req(&[("host", "API.test:443")]), &l)
                .unwrap()
                .host
                .as_deref(),
            Some("api.test")
        );
    }

    #[test]
    fn absolute_form_and_connect_are_refused() {
        let l = limits();
        let abs = Request::builder()
            .uri("http://evil.test/")
            .body(())
            .unwrap();
        assert_eq!(code(check(&abs, &l)), "absolute_target");
        let connect = Request::builder()
            .method(Method::CONNECT)
            .uri("evil.test:443")
            .body(())
            .unwrap();
        assert_eq!(code(check(&connect, &l)), "connect_refused");
    }

    #[test]
    fn header_limits_apply() {
        let l = limits();
        let big = "v".repeat(1100);
        assert_eq!(
            code(check(&req(&[("host", "a"), ("x-big", &big)]), &l)),
            "headers_too_large"
        );
        let many: Vec<(String, &str)> = (0..11).map(|i| (format!("x-h{i}"), "v")).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(code(check(&req(&many), &l)), "headers_too_large");
    }

    #[test]
    fn upgrade_requests_are_noticed() {
        let l = limits();
        assert!(
            check(
                &req(&[("host", "a"), ("connection", "Upgrade"), ("upgrade", "h2c")]),
                &l
            )
            .unwrap()
            .wants_upgrade
        );
        assert!(!check(&req(&[("host", "a")]), &l).unwrap().wants_upgrade);
    }
}
