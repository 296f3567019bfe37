//! Route matching: host, method and path; the first matching route wins.

use outscope_config::{HostMatch, PathMatch, Route};

/// Finds the first route that matches. `host` is the request's host without port,
/// lower-cased; `path` is the path without query.
pub fn find<'a>(
    routes: &'a [Route],
    host: Option<&str>,
    method: &str,
    path: &str,
) -> Option<(usize, &'a Route)> {
    routes.iter().enumerate().find(|(_, r)| {
        host_matches(r.host.as_ref(), host)
            && method_matches(&r.methods, method)
            && path_matches(&r.path, path)
    })
}

fn host_matches(rule: Option<&HostMatch>, host: Option<&str>) -> bool {
    match (rule, host) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(HostMatch::Exact(want)), Some(host)) => want == host,
        (Some(HostMatch::Suffix(suffix)), Some(host)) => {
            host.len() > suffix.len() && host.ends_with(suffix.as_str())
        }
    }
}

fn method_matches(methods: &[String], method: &str) -> bool {
    methods.is_empty() || methods.iter().any(|m| m == method)
}

fn path_matches(rule: &PathMatch, path: &str) -> bool {
    match rule {
        PathMatch::Exact(want) => want == path,
        PathMatch::Prefix(prefix) => {
            let prefix = prefix.trim_end_matches('/');
            match path.strip_prefix(prefix) {
                Some(rest) => rest.is_empty() || rest.starts_with('/'),
                None => false,
            }
        }
    }
}

/// The request's host: the `:authority` / `Host`, lower-cased, without port.
pub fn request_host(authority: Option<&str>) -> Option<String> {
    let authority = authority?;
    let host = if let Some(rest) = authority.strip_prefix('[') {
        // IPv6 literal: keep the brackets' content.
        rest.split_once(']').map(|(h, _)| h)?
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, host: Option<HostMatch>, methods: &[&str], path: PathMatch) -> Route {
        Route {
            name: name.into(),
            host,
            methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            path,
            upstream: 0,
            rate_limits: vec![],
            host_header: outscope_config::HostHeader::Preserve,
            allow_upgrade: false,
            max_body_bytes: 1024,
            inspection: outscope_config::Inspection::default(),
        }
    }

    fn table() -> Vec<Route> {
        vec![
            route("exact", None, &["GET"], PathMatch::Exact("/health".into())),
            route(
                "api-host",
                Some(HostMatch::Exact("api.test".into())),
                &[],
                PathMatch::Prefix("/v1".into()),
            ),
            route(
                "wild",
                Some(HostMatch::Suffix(".shop.test".into())),
                &["POST"],
                PathMatch::Prefix("/".into()),
            ),
            route("fallback", None, &[], PathMatch::Prefix("/".into())),
        ]
    }

    fn name(host: Option<&str>, method: &str, path: &str) -> Option<String> {
        let routes = table();
        find(&routes, host, method, path).map(|(_, r)| r.name.clone())
    }

    #[test]
    fn first_matching_route_wins() {
        assert_eq!(
            name(Some("api.test"), "GET", "/health").as_deref(),
            Some("exact")
        );
        assert_eq!(
            name(Some("api.test"), "POST", "/health").as_deref(),
            Some("fallback")
        );
    }

    #[test]
    fn prefix_matches_only_at_segment_boundaries() {
        assert_eq!(
            name(Some("api.test"), "GET", "/v1").as_deref(),
            Some("api-host")
        );
        assert_eq!(
            name(Some("api.test"), "GET", "/v1/charges").as_deref(),
            Some("api-host")
        );
        assert_eq!(
            name(Some("api.test"), "GET", "/v10").as_deref(),
            Some("fallback")
        );
    }

    #[test]
    fn wildcard_hosts_match_subdomains_but_not_the_apex() {
        assert_eq!(
            name(Some("eu.shop.test"), "POST", "/x").as_deref(),
            Some("wild")
        );
        assert_eq!(
            name(Some("shop.test"), "POST", "/x").as_deref(),
            Some("fallback")
        );
        assert_eq!(
            name(Some("eu.shop.test"), "GET", "/x").as_deref(),
            Some("fallback")
        );
    }

    #[test]
    fn no_route_when_nothing_matches() {
        let routes = vec![route(
            "only",
            Some(HostMatch::Exact("a.test".into())),
            &[],
            PathMatch::Prefix("/".into()),
        )];
        assert!(find(&routes, Some("b.test"), "GET", "/").is_none());
        assert!(find(&routes, None, "GET", "/").is_none());
    }

    #[test]
    fn request_host_strips_port_and_case() {
        assert_eq!(
            request_host(Some("API.Test:8443")).as_deref(),
            Some("api.test")
        );
        assert_eq!(request_host(Some("[::1]:443")).as_deref(), Some("::1"));
        assert_eq!(request_host(Some("")), None);
        assert_eq!(request_host(None), None);
    }
}
