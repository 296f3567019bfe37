//! Unreachable routes: first match wins, so a route that an earlier route fully covers can
//! never be chosen. That is always a mistake (usually a catch-all placed too early).
//!
//! The rules mirror the proxy's matcher: no host matches any host; `*.x` matches strict
//! sub-domains of `x`; an empty method list matches any method; a prefix matches itself and
//! everything below it at a `/` boundary.

use crate::model::{HostMatch, PathMatch, Route};

/// Whether every request `later` matches is matched by `earlier`.
pub(crate) fn covers(earlier: &Route, later: &Route) -> bool {
    host_covers(earlier.host.as_ref(), later.host.as_ref())
        && methods_cover(&earlier.methods, &later.methods)
        && path_covers(&earlier.path, &later.path)
}

fn host_covers(earlier: Option<&HostMatch>, later: Option<&HostMatch>) -> bool {
    match (earlier, later) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(HostMatch::Exact(a)), Some(HostMatch::Exact(b))) => a == b,
        (Some(HostMatch::Exact(_)), Some(HostMatch::Suffix(_))) => false,
        (Some(HostMatch::Suffix(s)), Some(HostMatch::Exact(h))) => {
            h.len() > s.len() && h.ends_with(s.as_str())
        }
        (Some(HostMatch::Suffix(s)), Some(HostMatch::Suffix(t))) => t.ends_with(s.as_str()),
    }
}

fn methods_cover(earlier: &[String], later: &[String]) -> bool {
    earlier.is_empty() || (!later.is_empty() && later.iter().all(|m| earlier.contains(m)))
}

fn path_covers(earlier: &PathMatch, later: &PathMatch) -> bool {
    match (earlier, later) {
        (PathMatch::Exact(a), PathMatch::Exact(b)) => a == b,
        (PathMatch::Exact(_), PathMatch::Prefix(_)) => false,
        (PathMatch::Prefix(p), PathMatch::Exact(q) | PathMatch::Prefix(q)) => under(p, q),
    }
}

/// `path` is `prefix` or below it at a `/` boundary.
fn under(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::covers;
    use crate::model::{HostHeader, HostMatch, PathMatch, Route};

    fn route(host: Option<HostMatch>, methods: &[&str], path: PathMatch) -> Route {
        Route {
            name: String::new(),
            host,
            methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            path,
            upstream: 0,
            rate_limits: vec![],
            host_header: HostHeader::Preserve,
            allow_upgrade: false,
            max_body_bytes: 1,
            inspection: crate::model::Inspection::default(),
        }
    }

    fn prefix(p: &str) -> PathMatch {
        PathMatch::Prefix(p.into())
    }

    fn exact(p: &str) -> PathMatch {
        PathMatch::Exact(p.into())
    }

    #[test]
    fn a_catch_all_covers_everything_after_it() {
        let all = route(None, &[], prefix("/"));
        assert!(covers(&all, &route(None, &["GET"], exact("/x"))));
        assert!(covers(
            &all,
            &route(Some(HostMatch::Exact("a.com".into())), &[], prefix("/v1"))
        ));
        assert!(!covers(&route(None, &["GET"], prefix("/")), &all));
    }

    #[test]
    fn prefixes_cover_at_segment_boundaries_only() {
        let v1 = route(None, &[], prefix("/v1"));
        assert!(covers(&v1, &route(None, &[], prefix("/v1/pay"))));
        assert!(covers(&v1, &route(None, &[], exact("/v1"))));
        assert!(!covers(&v1, &route(None, &[], prefix("/v10"))));
        assert!(!covers(&route(None, &[], exact("/v1")), &v1));
    }

    #[test]
    fn hosts_and_methods_must_also_be_covered() {
        let wild = Some(HostMatch::Suffix(".example.com".into()));
        let api = Some(HostMatch::Exact("api.example.com".into()));
        let apex = Some(HostMatch::Exact("example.com".into()));
        assert!(covers(
            &route(wild.clone(), &[], prefix("/")),
            &route(api.clone(), &[], prefix("/"))
        ));
        assert!(!covers(
            &route(wild.clone(), &[], prefix("/")),
            &route(apex, &[], prefix("/"))
        ));
        assert!(!covers(
            &route(api, &[], prefix("/")),
            &route(None, &[], prefix("/"))
        ));
        assert!(covers(
            &route(None, &["GET", "POST"], prefix("/")),
            &route(None, &["POST"], prefix("/"))
        ));
        assert!(!covers(
            &route(None, &["GET"], prefix("/")),
            &route(None, &["GET", "POST"], prefix("/"))
        ));
        assert!(!covers(
            &route(None, &["GET"], prefix("/")),
            &route(wild, &[], prefix("/"))
        ));
    }
}
