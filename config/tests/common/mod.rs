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

/// One rule story: a config that breaks the rule, and the one problem that names it.
pub struct Case {
    story: &'static str,
    /// The rule's problem is the only one (false where a follow-on problem is expected).
    alone: bool,
    config: String,
    key_path: String,
    message: &'static str,
}

pub fn case(
    story: &'static str,
    config: String,
    key_path: impl Into<String>,
    message: &'static str,
) -> Case {
    Case {
        story,
        alone: true,
        config,
        key_path: key_path.into(),
        message,
    }
}

/// A case whose problem comes with expected follow-on problems (e.g. a route that now
/// names a missing upstream).
pub fn case_among(
    story: &'static str,
    config: String,
    key_path: impl Into<String>,
    message: &'static str,
) -> Case {
    Case {
        story,
        alone: false,
        config,
        key_path: key_path.into(),
        message,
    }
}

/// Runs every case and lists all failures at once.
pub fn check(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in cases {
        let found = found(&c.config);
        let hit = |p: &outscope_config::Problem| {
            p.key_path == c.key_path && p.message.contains(c.message)
        };
        let matches = if c.alone {
            found.len() == 1 && hit(&found[0])
        } else {
            found.iter().any(hit)
        };
        if !matches {
            let listed: Vec<String> = found.iter().map(ToString::to_string).collect();
            failures.push(format!(
                "{}\n  want: {}: ...{}...\n  got:  {}",
                c.story,
                c.key_path,
                c.message,
                listed.join("\n        ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// A `[vault]` section logging in with AppRole (append with [`plus`]).
pub const VAULT: &str = r#"
[vault]
address = "https://vault.internal:8200"

[vault.auth]
method = "approle"
role_id = "file:///etc/outscope/vault-role-id"
secret_id = "file:///etc/outscope/vault-secret-id"
"#;
