//! Shared fixtures: a minimal valid config and small edits of it.
#![allow(dead_code)]

use std::path::Path;

use outscope_config::{Config, Problem, parse};

/// The smallest valid configuration: one listener, one upstream, one route.
pub const MINIMAL: &str = r#"
[[listeners]]
name = "public"
address = "127.0.0.1:8443"

[listeners.tls]

[[listeners.tls.certificates]]
cert = "file:///etc/outscope/tls/api.crt"
key = "file:///etc/outscope/tls/api.key"

[[upstreams]]
name = "api"
url = "http://127.0.0.1:8080"

[[routes]]
name = "all"
path_prefix = "/"
upstream = "api"
"#;

/// `MINIMAL` with `from` replaced by `to`; panics if `from` is not in it (so a changed
/// fixture cannot silently turn a test into a no-op).
pub fn edit(from: &str, to: &str) -> String {
    assert!(MINIMAL.contains(from), "fixture has no {from:?}");
    MINIMAL.replacen(from, to, 1)
}

/// `MINIMAL` followed by `extra` (more sections or array entries).
pub fn plus(extra: &str) -> String {
    format!("{MINIMAL}\n{extra}")
}

/// `MINIMAL` with one more route, `[[routes]]` + `body`, placed before the fixture's
/// catch-all route (after it, the new route would be unreachable).
pub fn route_first(body: &str) -> String {
    edit("[[routes]]", &format!("[[routes]]\n{body}\n\n[[routes]]"))
}

/// `extra` (top-level keys) followed by `MINIMAL`.
pub fn before(extra: &str) -> String {
    format!("{extra}\n{MINIMAL}")
}

/// Problems found, or none when the config was accepted.
pub fn found(text: &str) -> Vec<Problem> {
    parse(text, Path::new("/etc/outscope"))
        .err()
        .map(|p| p.0)
        .unwrap_or_default()
}

pub fn ok(text: &str) -> Config {
    match parse(text, Path::new("/etc/outscope")) {
        Ok(config) => config,
        Err(problems) => panic!("expected a valid config, got:\n{problems}"),
    }
}

pub fn problems(text: &str) -> Vec<Problem> {
    match parse(text, Path::new("/etc/outscope")) {
        Ok(_) => panic!("expected problems, the config was accepted"),
        Err(problems) => problems.0,
    }
}
