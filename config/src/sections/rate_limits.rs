//! `[[rate_limits]]`: named GCRA policies that routes refer to.

use std::collections::HashMap;
use std::num::NonZeroU32;

use crate::model::{OnRedisError, RateLimit, RateLimitBackend, RateLimitKey};
use crate::sections::read::{check, named, one_of, positive, positive_duration, required, tables};
use crate::sections::{At, Cx, index_names};
use crate::syntax;
use crate::walk::{Node, Table};

pub(crate) struct RateLimits {
    pub(crate) built: Option<Vec<RateLimit>>,
    pub(crate) names: HashMap<String, usize>,
    seen: Seen,
}

/// Settings other sections constrain, and where they were written.
#[derive(Default)]
struct Seen {
    /// `backend = "redis"`: needs a `[redis]` section.
    redis: Vec<At>,
    /// `key = "client_cert_subject"`: needs a listener that asks for client certificates.
    cert_subject: Vec<At>,
}

pub(crate) fn rate_limits(cx: &mut Cx<'_>, node: Option<Node<'_, '_>>) -> RateLimits {
    let entries = node.as_ref().map(|n| tables(cx, n)).unwrap_or_default();
    let mut names = Vec::new();
    let mut built = Vec::new();
    let mut seen = Seen::default();
    for (i, mut t) in entries.into_iter().enumerate() {
        let name = named(cx, &mut t);
        let limit = rate_limit(cx, t, name.as_ref().map(|n| n.name.clone()), &mut seen);
        names.push((i, name));
        built.push(limit);
    }
    let names = index_names(cx, names.iter().map(|(i, n)| (*i, n.as_ref())));
    RateLimits {
        built: built.into_iter().collect(),
        names,
        seen,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Local,
    Redis,
}

fn rate_limit(
    cx: &mut Cx<'_>,
    mut t: Table<'_, '_>,
    name: Option<String>,
    seen: &mut Seen,
) -> Option<RateLimit> {
    let key_node = t.required(cx, "key");
    let key = key_node.as_ref().and_then(|node| key(cx, node));
    if let (Some(RateLimitKey::ClientCertSubject), Some(node)) = (&key, &key_node) {
        seen.cert_subject.push(node.at());
    }
    let requests = required(cx, &mut t, "requests", nonzero_u32);
    let per = required(cx, &mut t, "per", positive_duration);
    let burst = match t.get("burst") {
        Some(node) => nonzero_u32(cx, &node),
        None => requests,
    };
    let backend_node = t.get("backend");
    let backend = match &backend_node {
        Some(node) => one_of(
            cx,
            node,
            &[("local", Backend::Local), ("redis", Backend::Redis)],
        ),
        None => Some(Backend::Local),
    };
    if let (Some(Backend::Redis), Some(node)) = (backend, &backend_node) {
        seen.redis.push(node.at());
    }
    let on_error = t.get("on_redis_error").map(|node| {
        if backend == Some(Backend::Local) {
            node.report(cx, "only applies with backend = \"redis\"");
            return None;
        }
        let choices = [
            ("fail_open", OnRedisError::FailOpen),
            ("fail_closed", OnRedisError::FailClosed),
            ("local", OnRedisError::Local),
        ];
        one_of(cx, &node, &choices)
    });
    t.finish(cx);
    let backend = match backend? {
        Backend::Local => RateLimitBackend::Local,
        Backend::Redis => RateLimitBackend::Redis {
            on_error: on_error.unwrap_or(Some(OnRedisError::Local))?,
        },
    };
    Some(RateLimit {
        name: name?,
        key: key?,
        requests: requests?,
        per: per?,
        burst: burst?,
        backend,
    })
}

fn nonzero_u32(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<NonZeroU32> {
    positive::<u32>(cx, node).and_then(NonZeroU32::new)
}

/// `client_ip`, `client_cert_subject`, `route` or `header:<name>`.
fn key(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<RateLimitKey> {
    let text = node.str(cx)?;
    if let Some(header) = text.strip_prefix("header:") {
        return check(cx, node, syntax::header_name(header)).map(RateLimitKey::Header);
    }
    match text {
        "client_ip" => Some(RateLimitKey::ClientIp),
        "client_cert_subject" => Some(RateLimitKey::ClientCertSubject),
        "route" => Some(RateLimitKey::Route),
        _ => {
            let rule =
                "expected \"client_ip\", \"client_cert_subject\", \"route\" or \"header:<name>\"";
            node.report(cx, rule);
            None
        }
    }
}

/// Every `backend = "redis"` needs a `[redis]` section.
pub(crate) fn require_redis(cx: &mut Cx<'_>, limits: &RateLimits, have_redis: bool) {
    if have_redis {
        return;
    }
    for at in &limits.seen.redis {
        at.report(cx, "backend = \"redis\" needs a [redis] section");
    }
}

/// A client-certificate key needs a listener that asks for client certificates; without
/// one, every request would share a single bucket.
pub(crate) fn require_client_auth(cx: &mut Cx<'_>, limits: &RateLimits, any_client_auth: bool) {
    if any_client_auth {
        return;
    }
    for at in &limits.seen.cert_subject {
        let message = "no listener asks for client certificates (client_auth is \"none\" \
                       everywhere), so every request would share one bucket";
        at.report(cx, message);
    }
}
