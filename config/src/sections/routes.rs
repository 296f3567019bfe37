//! `[[routes]]`: which requests go where. First match wins; nothing matched is a 404.

use std::collections::HashMap;

use crate::model::{HostHeader, HostMatch, PathMatch, Route};
use crate::sections::read::{
    boolean, check, named, optional, or_default, positive, required, required_entries,
};
use crate::sections::{At, Cx, index_names, inspection, shadowing};
use crate::walk::{Node, Table};
use crate::{syntax, url};

/// Names routes refer to, resolved to indices, and the global body limit.
pub(crate) struct Targets<'a> {
    pub(crate) upstreams: &'a HashMap<String, usize>,
    pub(crate) rate_limits: &'a HashMap<String, usize>,
    pub(crate) max_body_bytes: Option<u64>,
}

/// The routes (if all are valid) and where each route that tokenizes says so (for the
/// `[tokenizer]` check).
pub(crate) struct Routes {
    pub(crate) built: Option<Vec<Route>>,
    pub(crate) tokenizes: Vec<At>,
}

pub(crate) fn routes(cx: &mut Cx<'_>, node: Option<Node<'_, '_>>, targets: &Targets<'_>) -> Routes {
    let entries = required_entries(cx, "routes", node.as_ref());
    let mut names = Vec::new();
    let mut built = Vec::new();
    let mut tokenizes = Vec::new();
    for (i, mut t) in entries.into_iter().enumerate() {
        let name = named(cx, &mut t);
        let at = t.at();
        let route = route(cx, t, name.as_ref().map(|n| n.name.clone()), targets);
        tokenizes.extend(route.as_ref().and_then(|(_, at)| at.clone()));
        built.push((at, route.map(|(route, _)| route)));
        names.push((i, name));
    }
    index_names(cx, names.iter().map(|(i, n)| (*i, n.as_ref())));
    report_unreachable(cx, &built);
    let built = if built.is_empty() {
        None
    } else {
        built.into_iter().map(|(_, route)| route).collect()
    };
    Routes { built, tokenizes }
}

fn route(
    cx: &mut Cx<'_>,
    mut t: Table<'_, '_>,
    name: Option<String>,
    targets: &Targets<'_>,
) -> Option<(Route, Option<At>)> {
    let host = optional(cx, &mut t, "host", host_match);
    let methods = or_default(cx, &mut t, "methods", Vec::new(), methods);
    let path = path_match(cx, &mut t);
    let upstream = required(cx, &mut t, "upstream", |cx, node| {
        let text = node.str(cx)?;
        let index = targets.upstreams.get(text).copied();
        if index.is_none() {
            node.report(cx, "does not name any [[upstreams]] entry");
        }
        index
    });
    let rate_limits = or_default(cx, &mut t, "rate_limits", Vec::new(), |cx, node| {
        rate_limit_refs(cx, node, targets.rate_limits)
    });
    let host_header = or_default(cx, &mut t, "host_header", HostHeader::Preserve, host_header);
    let allow_upgrade = or_default(cx, &mut t, "allow_upgrade", false, boolean);
    let max_body_bytes = match t.get("max_body_bytes") {
        Some(node) => positive(cx, &node),
        None => targets.max_body_bytes,
    };
    let policy = inspection::inspection(cx, t.get("inspection").as_ref());
    t.finish(cx);
    let policy = policy?;
    let route = Route {
        name: name?,
        host: host?,
        methods: methods?,
        path: path?,
        upstream: upstream?,
        rate_limits: rate_limits?,
        host_header: host_header?,
        allow_upgrade: allow_upgrade?,
        max_body_bytes: max_body_bytes?,
        inspection: policy.inspection,
    };
    Some((route, policy.tokenizes))
}

/// Reports each route that an earlier route fully covers.
fn report_unreachable(cx: &mut Cx<'_>, routes: &[(At, Option<Route>)]) {
    for (j, (at, later)) in routes.iter().enumerate() {
        let Some(later) = later else { continue };
        let covering = routes[..j].iter().find(|(_, earlier)| {
            earlier
                .as_ref()
                .is_some_and(|e| shadowing::covers(e, later))
        });
        if let Some((first, _)) = covering {
            let message = format!(
                "unreachable: {} matches every request this route matches \
                 (the first matching route wins; put the more specific route first)",
                first.path
            );
            at.report(cx, message);
        }
    }
}

/// `api.example.com` or `*.example.com`, without a port.
fn host_match(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<HostMatch> {
    let text = node.str(cx)?;
    if text.contains(':') {
        node.report(
            cx,
            "must not include a port (routes match the host without its port)",
        );
        return None;
    }
    let name = check(cx, node, syntax::server_name(text))?;
    Some(match name.strip_prefix('*') {
        Some(suffix) => HostMatch::Suffix(suffix.to_owned()),
        None => HostMatch::Exact(name),
    })
}

fn methods(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<Vec<String>> {
    let items = node.strings(cx)?;
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for (item, text) in &items {
        match check(cx, item, syntax::method(text)) {
            Some(m) if out.contains(&m) => {
                item.report(cx, "listed twice");
                ok = false;
            }
            Some(m) => out.push(m),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Exactly one of `path_prefix` and `path`.
fn path_match(cx: &mut Cx<'_>, t: &mut Table<'_, '_>) -> Option<PathMatch> {
    let prefix = t.get("path_prefix");
    let exact = t.get("path");
    let read = |cx: &mut Cx<'_>, node: &Node<'_, '_>| {
        let text = node.str(cx)?;
        check(cx, node, syntax::request_path(text)).map(|()| text.to_owned())
    };
    match (prefix, exact) {
        (Some(node), None) => read(cx, &node).map(|p| PathMatch::Prefix(trim_prefix(p))),
        (None, Some(node)) => read(cx, &node).map(PathMatch::Exact),
        (Some(_), Some(node)) => {
            node.report(cx, "set either path or path_prefix, not both");
            None
        }
        (None, None) => {
            let message = "missing required key: set path_prefix (use \"/\" to match every path) \
                           or path (one exact path)";
            t.missing(cx, "path_prefix", message);
            None
        }
    }
}

/// `/v1/` and `/v1` match the same requests; keep one spelling (`/` stays `/`).
fn trim_prefix(mut prefix: String) -> String {
    while prefix.len() > 1 && prefix.ends_with('/') {
        prefix.pop();
    }
    prefix
}

fn rate_limit_refs(
    cx: &mut Cx<'_>,
    node: &Node<'_, '_>,
    known: &HashMap<String, usize>,
) -> Option<Vec<usize>> {
    let items = node.strings(cx)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (item, text) in &items {
        match known.get(*text) {
            Some(index) if out.contains(index) => {
                item.report(cx, "listed twice");
                ok = false;
            }
            Some(index) => out.push(*index),
            None => {
                item.report(cx, "does not name any [[rate_limits]] entry");
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `preserve`, `upstream` or `set:<host[:port]>`.
fn host_header(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<HostHeader> {
    let text = node.str(cx)?;
    match text {
        "preserve" => Some(HostHeader::Preserve),
        "upstream" => Some(HostHeader::Upstream),
        _ => match text.strip_prefix("set:") {
            Some(value) => {
                let rule = "set:<host> needs a host name or address, optionally with a port";
                let (host, port) = check(cx, node, url::split_host_port(value).map_err(|_| rule))?;
                Some(HostHeader::Set(match port {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }))
            }
            None => {
                node.report(cx, "expected \"preserve\", \"upstream\" or \"set:<host>\"");
                None
            }
        },
    }
}
