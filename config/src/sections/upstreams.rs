//! `[[upstreams]]`: where routes forward to, over plain HTTP or TLS.

use std::collections::HashMap;
use std::time::Duration;

use crate::model::{ClientCert, Upstream, UpstreamTls, UpstreamUrl};
use crate::sections::read::{
    check, count, named, optional, or_default, positive_duration, required, required_entries,
    secret_ref,
};
use crate::sections::{Cx, index_names};
use crate::walk::{Node, Table};
use crate::{syntax, url};

pub(crate) struct Upstreams {
    pub(crate) built: Option<Vec<Upstream>>,
    pub(crate) names: HashMap<String, usize>,
}

pub(crate) fn upstreams(cx: &mut Cx<'_>, node: Option<Node<'_, '_>>) -> Upstreams {
    let entries = required_entries(cx, "upstreams", node.as_ref());
    let mut names = Vec::new();
    let mut built = Vec::new();
    for (i, mut t) in entries.into_iter().enumerate() {
        let name = named(cx, &mut t);
        built.push(upstream(cx, t, name.as_ref().map(|n| n.name.clone())));
        names.push((i, name));
    }
    let names = index_names(cx, names.iter().map(|(i, n)| (*i, n.as_ref())));
    let built = if built.is_empty() {
        None
    } else {
        built.into_iter().collect()
    };
    Upstreams { built, names }
}

fn upstream(cx: &mut Cx<'_>, mut t: Table<'_, '_>, name: Option<String>) -> Option<Upstream> {
    let url = required(cx, &mut t, "url", upstream_url);
    let connect_timeout = or_default(
        cx,
        &mut t,
        "connect_timeout",
        Duration::from_secs(2),
        positive_duration,
    );
    let request_timeout = or_default(
        cx,
        &mut t,
        "request_timeout",
        Duration::from_secs(30),
        positive_duration,
    );
    let pool_idle_timeout = or_default(
        cx,
        &mut t,
        "pool_idle_timeout",
        Duration::from_secs(90),
        positive_duration,
    );
    let pool_max_idle_per_host = or_default(cx, &mut t, "pool_max_idle_per_host", 32, count);
    let tls = match (t.get("tls"), &url) {
        (Some(node), Some(u)) if !u.https => {
            node.report(cx, "only allowed for https:// upstreams");
            None
        }
        (Some(node), _) => node.table(cx).and_then(|tls| upstream_tls(cx, tls)),
        (None, _) => Some(UpstreamTls {
            ca: None,
            client_cert: None,
            server_name: None,
        }),
    };
    t.finish(cx);
    let url = url?;
    let tls = if url.https { Some(tls?) } else { None };
    Some(Upstream {
        name: name?,
        url,
        connect_timeout: connect_timeout?,
        request_timeout: request_timeout?,
        pool_idle_timeout: pool_idle_timeout?,
        pool_max_idle_per_host: pool_max_idle_per_host?,
        tls,
    })
}

fn upstream_url(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<UpstreamUrl> {
    let text = node.str(cx)?;
    let parsed = check(cx, node, url::parse(text))?;
    let https = match parsed.scheme {
        "http" => false,
        "https" => true,
        _ => {
            node.report(cx, "scheme must be http:// or https://");
            return None;
        }
    };
    let port = parsed.port.unwrap_or(if https { 443 } else { 80 });
    let base_path = parsed.path.trim_end_matches('/').to_owned();
    // The runtime model keeps IPv6 literals bare; the proxy brackets them where needed.
    let host = parsed
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Some(UpstreamUrl {
        https,
        host,
        port,
        base_path,
    })
}

fn upstream_tls(cx: &mut Cx<'_>, mut t: Table<'_, '_>) -> Option<UpstreamTls> {
    let ca = optional(cx, &mut t, "ca", secret_ref);
    let cert = t.get("client_cert").map(|node| secret_ref(cx, &node));
    let key = t.get("client_key").map(|node| secret_ref(cx, &node));
    let client_cert = match (cert, key) {
        (None, None) => Some(None),
        (Some(cert), Some(key)) => Some(Some(ClientCert {
            cert: cert?,
            key: key?,
        })),
        (Some(_), None) => {
            t.missing(
                cx,
                "client_key",
                "missing required key (client_cert is set)",
            );
            None
        }
        (None, Some(_)) => {
            t.missing(
                cx,
                "client_cert",
                "missing required key (client_key is set)",
            );
            None
        }
    };
    let server_name = optional(cx, &mut t, "server_name", |cx, node| {
        let text = node.str(cx)?;
        if text.parse::<std::net::IpAddr>().is_ok() {
            return Some(text.to_owned());
        }
        check(cx, node, syntax::dns_name(text))
    });
    t.finish(cx);
    Some(UpstreamTls {
        ca: ca?,
        client_cert: client_cert?,
        server_name: server_name?,
    })
}
