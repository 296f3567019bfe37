//! The single-table sections: `[admin]`, `[limits]`, `[shutdown]`, `[runtime]`, `[log]`,
//! `[request_id]`
//! and `[forwarding]`. Every key has a default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use crate::model::{Admin, Forwarding, Limits, Log, LogFormat, RequestId, Runtime, Shutdown};
use crate::sections::read::{
    boolean, check, duration, one_of, or_default, positive, positive_duration, socket_addr,
};
use crate::sections::{At, Cx};
use crate::syntax;
use crate::walk::{Node, Table};

/// `127.0.0.1:9901`: the admin port is loopback-only unless configured otherwise.
pub(crate) const ADMIN_ADDRESS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9901);

pub(crate) fn admin(cx: &mut Cx<'_>, mut t: Table<'_, '_>) -> Option<(Admin, At)> {
    let node = t.get("address");
    let at = node.as_ref().map_or_else(
        || At {
            path: t.path.key("address"),
            span: t.span(),
        },
        Node::at,
    );
    let address = match &node {
        Some(node) => socket_addr(cx, node),
        None => Some(Admin::default().address),
    };
    t.finish(cx);
    Some((Admin { address: address? }, at))
}

pub(crate) fn limits(cx: &mut Cx<'_>, mut t: Table<'_, '_>) -> Option<Limits> {
    let d = Limits::default();
    let max_header_bytes = or_default(cx, &mut t, "max_header_bytes", d.max_header_bytes, positive);
    let max_headers = or_default(cx, &mut t, "max_headers", d.max_headers, positive);
    let max_body_bytes = or_default(cx, &mut t, "max_body_bytes", d.max_body_bytes, positive);
    let header_read_timeout = or_default(
        cx,
        &mut t,
        "header_read_timeout",
        d.header_read_timeout,
        positive_duration,
    );
    let body_read_timeout = or_default(
        cx,
        &mut t,
        "body_read_timeout",
        d.body_read_timeout,
        positive_duration,
    );
    let idle_timeout = or_default(
        cx,
        &mut t,
        "idle_timeout",
        d.idle_timeout,
        positive_duration,
    );
    let handshake_timeout = or_default(
        cx,
        &mut t,
        "handshake_timeout",
        d.handshake_timeout,
        positive_duration,
    );
    let max_connections = or_default(cx, &mut t, "max_connections", d.max_connections, positive);
    let h2_max_concurrent_streams = or_default(
        cx,
        &mut t,
        "h2_max_concurrent_streams",
        d.h2_max_concurrent_streams,
        positive,
    );
    t.finish(cx);
    Some(Limits {
        max_header_bytes: max_header_bytes?,
        max_headers: max_headers?,
        max_body_bytes: max_body_bytes?,
        header_read_timeout: header_read_timeout?,
        body_read_timeout: body_read_timeout?,
        idle_timeout: idle_timeout?,
        handshake_timeout: handshake_timeout?,
        max_connections: max_connections?,
        h2_max_concurrent_streams: h2_max_concurrent_streams?,
    })
}

pub(crate) fn shutdown(cx: &mut Cx<'_>, mut t: Table<'_, '_>) -> Option<Shutdown> {
    let d = Shutdown::default();
    // A zero delay is allowed: without a load balancer there is nobody to tell.
    let drain_delay = or_default(cx, &mut t, "drain_delay", d.drain_delay, duration);
    let drain_timeout = or_default(
        cx,
        &mut t,
        "drain_timeout",
        d.drain_timeout,
        positive_duration,
    );
    t.finish(cx);
    Some(Shutdown {
        drain_delay: drain_delay?,
        drain_timeout: drain_timeout?,
    })
}

/// Most worker threads: more than any machine outscope runs on has cores.
const MAX_WORKER_THREADS: usize = 1024;

pub(crate) fn runtime(cx: &mut Cx<'_>, mut t: Table<'_, '_>) -> Option<Runtime> {
    let worker_threads = match t.get("worker_threads") {
        None => Some(None),
        Some(node) => positive::<usize>(cx, &node).and_then(|n| {
            if n > MAX_WORKER_THREADS {
                node.report(cx, format!("must be at most {MAX_WORKER_THREADS}"));
                None
            } else {
                Some(Some(n))
            }
        }),
    };
    t.finish(cx);
    Some(Runtime {
        worker_threads: worker_threads?,
    })
}

pub(crate) fn log(cx: &mut Cx<'_>, mut t: Table<'_, '_>) -> Option<Log> {
    let d = Log::default();
    let level = or_default(cx, &mut t, "level", d.level, |cx, node| {
        let text = node.str(cx)?;
        check(cx, node, syntax::log_filter(text)).map(|()| text.to_owned())
    });
    let format = or_default(cx, &mut t, "format", d.format, |cx, node| {
        one_of(
            cx,
            node,
            &[("json", LogFormat::Json), ("text", LogFormat::Text)],
        )
    });
    let access_log = or_default(cx, &mut t, "access_log", d.access_log, boolean);
    t.finish(cx);
    Some(Log {
        level: level?,
        format: format?,
        access_log: access_log?,
    })
}

/// Headers a request id must not replace: they frame or route the request.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "content-type",
    "content-encoding",
    "authorization",
    "cookie",
    "x-forwarded-for",
    "x-forwarded-proto",
];

pub(crate) fn request_id(cx: &mut Cx<'_>, mut t: Table<'_, '_>) -> Option<RequestId> {
    let d = RequestId::default();
    let header = or_default(cx, &mut t, "header", d.header, |cx, node| {
        let text = node.str(cx)?;
        check(cx, node, request_id_header(text))
    });
    let trust_incoming = or_default(cx, &mut t, "trust_incoming", d.trust_incoming, boolean);
    t.finish(cx);
    Some(RequestId {
        header: header?,
        trust_incoming: trust_incoming?,
    })
}

/// A lower-cased header name that HTTP or outscope does not already give a meaning.
fn request_id_header(text: &str) -> Result<String, &'static str> {
    let name = syntax::header_name(text)?;
    if RESERVED_HEADERS.contains(&name.as_str()) {
        return Err(
            "is a header HTTP or outscope already gives a meaning; choose another \
                    (e.g. x-request-id)",
        );
    }
    Ok(name)
}

pub(crate) fn forwarding(cx: &mut Cx<'_>, mut t: Table<'_, '_>) -> Option<Forwarding> {
    let trusted = or_default(cx, &mut t, "trusted_proxies", Vec::new(), |cx, node| {
        let items = node.strings(cx)?;
        let nets: Vec<Option<IpNet>> = items
            .iter()
            .map(|(item, text)| network(cx, item, text))
            .collect();
        nets.into_iter().collect()
    });
    t.finish(cx);
    Some(Forwarding {
        trusted_proxies: trusted?,
    })
}

/// A CIDR block (`10.0.0.0/8`) or a single address (`192.0.2.7`); host bits are cleared.
fn network(cx: &mut Cx<'_>, node: &Node<'_, '_>, text: &str) -> Option<IpNet> {
    let parsed = text
        .parse::<IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(
            |_| "must be an IP network such as \"10.0.0.0/8\" or an address such as \"192.0.2.7\"",
        );
    check(cx, node, parsed)
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            h2_max_concurrent_streams: 128,
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            drain_delay: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Json,
            access_log: true,
        }
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self {
            header: "x-request-id".to_owned(),
            trust_incoming: false,
        }
    }
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            address: ADMIN_ADDRESS,
        }
    }
}
