//! Phases 8 and 10: the request that goes upstream (exact Content-Length, rewritten headers)
//! and the response that comes back (hop-by-hop removed, streamed through).

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Request, Response, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use outscope_config::{HostHeader, Route};

use crate::body::ProxyBody;
use crate::errors::ProxyError;
use crate::forward::UpstreamClient;
use crate::forward::headers;
use crate::server::ConnInfo;

/// Builds the upstream request from the client's head and the (inspected) body.
pub fn build_request(
    parts: Parts,
    body: Bytes,
    route: &Route,
    upstream: &UpstreamClient,
    conn: &ConnInfo,
    trusted: &[ipnet::IpNet],
    request_id: (&HeaderName, &HeaderValue),
) -> Result<Request<Full<Bytes>>, ProxyError> {
    let root = PathAndQuery::from_static("/");
    let uri = upstream.uri_for(parts.uri.path_and_query().unwrap_or(&root))?;
    let original_host = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        });
    let mut headers = parts.headers;
    headers::strip_hop_by_hop(&mut headers, route.allow_upgrade);
    if route.allow_upgrade && headers.contains_key(header::UPGRADE) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    headers::set_forwarded(&mut headers, conn.peer.ip(), trusted);
    headers.insert(request_id.0.clone(), request_id.1.clone());
    let host = match &route.host_header {
        HostHeader::Preserve => original_host,
        HostHeader::Upstream => Some(upstream.authority().to_owned()),
        HostHeader::Set(value) => Some(value.clone()),
    };
    let host = host.ok_or(ProxyError::BadRequest("missing Host"))?;
    let host = HeaderValue::from_str(&host).map_err(|_| ProxyError::BadRequest("invalid Host"))?;
    headers.insert(header::HOST, host);
    headers.remove(header::CONTENT_LENGTH);
    if !body.is_empty() || method_expects_body(&parts.method) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = parts.method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    Ok(req)
}

fn method_expects_body(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::POST | http::Method::PUT | http::Method::PATCH
    )
}

/// Turns the upstream's response into the client's: hop-by-hop removed, request id added,
/// body streamed through untouched.
pub fn relay_response(
    resp: Response<Incoming>,
    request_id: (&HeaderName, &HeaderValue),
    keep_upgrade: bool,
) -> Response<ProxyBody> {
    let (mut parts, body) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers, keep_upgrade);
    if keep_upgrade {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    parts
        .headers
        .insert(request_id.0.clone(), request_id.1.clone());
    Response::from_parts(parts, ProxyBody::stream(body))
}
