//! `[redis]`: the shared store for rate limits (`backend = "redis"`).

use std::time::Duration;

use crate::model::Redis;
use crate::sections::Cx;
use crate::sections::read::{
    check, name, optional, or_default, positive_duration, required, secret_ref,
};
use crate::url;
use crate::walk::Node;

pub(crate) fn redis(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<Redis> {
    let mut t = node.table(cx)?;
    let url = required(cx, &mut t, "url", |cx, node| {
        let text = node.str(cx)?;
        let parsed = url::parse(text).and_then(|u| match u.scheme {
            "redis" | "rediss" => Ok(u),
            _ => Err("scheme must be redis:// or rediss:// (TLS)"),
        });
        let parsed = check(cx, node, parsed)?;
        let db_ok = parsed.path.is_empty()
            || parsed
                .path
                .strip_prefix('/')
                .is_some_and(|db| db.is_empty() || db.parse::<u16>().is_ok());
        check(
            cx,
            node,
            if db_ok {
                Ok(text.to_owned())
            } else {
                Err("path must be a database number such as /0")
            },
        )
    });
    let username = optional(cx, &mut t, "username", |cx, node| {
        let text = node.str(cx)?;
        let ok = !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic());
        check(
            cx,
            node,
            if ok {
                Ok(text.to_owned())
            } else {
                Err("must be printable ASCII without spaces")
            },
        )
    });
    let password = optional(cx, &mut t, "password", secret_ref);
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
        username: username?,
        password: password?,
        key_prefix: key_prefix?,
        timeout: timeout?,
    })
}
