//! `[redis]`: the shared store for rate limits (`backend = "redis"`).

use std::time::Duration;

use crate::model::Redis;
use crate::sections::Cx;
use crate::sections::read::{
    boolean, check, name, optional, or_default, positive_duration, required, secret_ref,
};
use crate::url;
use crate::walk::Node;

pub(crate) fn redis(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<Redis> {
    let mut t = node.table(cx)?;
    let url = required(cx, &mut t, "url", |cx, node| {
        let text = node.str(cx)?;
        check(cx, node, redis_url(text)).map(|()| text.to_owned())
    });
    let username = optional(cx, &mut t, "username", |cx, node| {
        let text = node.str(cx)?;
        check(cx, node, username(text)).map(|()| text.to_owned())
    });
    let password = optional(cx, &mut t, "password", secret_ref);
    let cluster_node = t.get("cluster");
    let cluster = match &cluster_node {
        Some(node) => boolean(cx, node),
        None => Some(false),
    };
    if let (Some(true), Some(node), Some(text)) = (cluster, &cluster_node, url.as_deref())
        && !cluster_url(text)
    {
        node.report(
            cx,
            "a Redis Cluster has only database 0: leave the database number out of `url`",
        );
    }
    let key_secret = optional(cx, &mut t, "key_secret", secret_ref);
    // The prefix becomes part of every Redis key (`{prefix:limit:digest}`, one Cluster
    // hash tag), so it follows the same rule as names.
    let key_prefix = or_default(cx, &mut t, "key_prefix", "outscope".to_owned(), name);
    let timeout = or_default(
        cx,
        &mut t,
        "timeout",
        Duration::from_millis(100),
        positive_duration,
    );
    t.finish(cx);
    Some(Redis {
        url: url?,
        cluster: cluster?,
        username: username?,
        password: password?,
        key_secret: key_secret?,
        key_prefix: key_prefix?,
        timeout: timeout?,
    })
}

/// `redis://host[:port][/db]` or `rediss://...`, without credentials.
fn redis_url(text: &str) -> Result<(), &'static str> {
    let url = url::parse(text)?;
    if !matches!(url.scheme, "redis" | "rediss") {
        return Err("scheme must be redis:// or rediss:// (TLS)");
    }
    let db = url.path.strip_prefix('/').unwrap_or(url.path);
    if db.is_empty() || db.parse::<u16>().is_ok() {
        Ok(())
    } else {
        Err("path must be a database number such as /0")
    }
}

/// Whether a (valid) URL names no database other than 0, as a cluster node must.
fn cluster_url(text: &str) -> bool {
    url::parse(text)
        .is_ok_and(|url| matches!(url.path.strip_prefix('/').unwrap_or(url.path), "" | "0"))
}

/// A Redis ACL user name (not a secret; the password is a reference).
fn username(text: &str) -> Result<(), &'static str> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err("must be printable ASCII without spaces")
    }
}
