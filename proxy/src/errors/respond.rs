//! Turns a [`ProxyError`] into the JSON response the client sees. The only place that does.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use super::ProxyError;
use crate::body::ProxyBody;

/// Status code for each error.
pub fn status(err: &ProxyError) -> StatusCode {
    use ProxyError::*;
    match err {
        NoRoute => StatusCode::NOT_FOUND,
        AbsoluteTarget | BadFraming(_) | BadRequest(_) | UpgradeRefused => StatusCode::BAD_REQUEST,
        Connect => StatusCode::METHOD_NOT_ALLOWED,
        HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        BodyTimeout => StatusCode::REQUEST_TIMEOUT,
        BodyRead => StatusCode::BAD_REQUEST,
        RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        RateLimiterUnavailable | ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        UpstreamConnect | UpstreamProtocol => StatusCode::BAD_GATEWAY,
        UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Undecodable(_) | Unparseable(_) | Ambiguous(_) => StatusCode::BAD_REQUEST,
        DecodedTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        CardDataRejected(_) | CardRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        TokenizerUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        TokenizerFailed => StatusCode::BAD_GATEWAY,
        EgressBlocked => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON error response: `{"error":{"code":"...","message":"...","request_id":"..."}}`.
/// Never echoes request content: the message is our own fixed text.
pub fn respond(err: &ProxyError, request_id: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "error": {
            "code": err.code(),
            "message": err.to_string(),
            "request_id": request_id,
        }
    });
    let bytes = Bytes::from(body.to_string());
    let mut resp = Response::new(ProxyBody::full(bytes));
    *resp.status_mut() = status(err);
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match err {
        ProxyError::RateLimited {
            retry_after,
            headers: extra,
        } => {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            for (name, value) in extra {
                headers.append(name.clone(), value.clone());
            }
        }
        ProxyError::RateLimiterUnavailable | ProxyError::ShuttingDown => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        ProxyError::TokenizerUnavailable { retry_after } => {
            let secs = retry_after.map_or(1, |d| d.as_secs().max(1));
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        _ => {}
    }
    if err.closes_connection() {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}
