//! The shipped example is complete, valid, and says what it parses to.

use std::path::Path;

use outscope_config::*;

#[test]
fn the_example_parses_cleanly() {
    let parsed = parse(EXAMPLE, Path::new("/etc/outscope"));
    assert!(
        parsed.is_ok(),
        "{}",
        parsed.err().map(|p| p.to_string()).unwrap_or_default()
    );
}

#[test]
fn every_file_in_examples_parses_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(problems) = parse(&text, Path::new("/etc/outscope")) {
                panic!("{}:\n{problems}", path.display());
            }
            seen += 1;
        }
    }
    assert!(seen >= 3, "only {seen} examples found in {}", dir.display());
}

#[test]
fn the_example_uses_only_loopback_addresses_and_etc_outscope_files() {
    let config = parse(EXAMPLE, Path::new("/nowhere")).unwrap();
    assert!(config.admin.address.ip().is_loopback());
    assert!(
        config
            .listeners
            .iter()
            .all(|l| l.address.ip().is_loopback())
    );
    for upstream in &config.upstreams {
        assert_eq!(upstream.url.host, "127.0.0.1", "{}", upstream.name);
    }
    for line in EXAMPLE.lines() {
        if let Some((_, reference)) = line.split_once("\"file://") {
            let uncommented = !line.trim_start().starts_with('#');
            if uncommented {
                assert!(reference.starts_with("/etc/outscope/"), "{line}");
            }
        }
    }
}

#[test]
fn the_example_resolves_names_to_indices() {
    let config = parse(EXAMPLE, Path::new("/etc/outscope")).unwrap();
    let checkout = &config.routes[0];
    assert_eq!(config.upstreams[checkout.upstream].name, "payments");
    let limits: Vec<&str> = checkout
        .rate_limits
        .iter()
        .map(|&i| config.rate_limits[i].name.as_str())
        .collect();
    assert_eq!(limits, ["per-ip", "per-api-key"]);
    assert_eq!(checkout.path, PathMatch::Exact("/v1/checkout".into()));
    assert_eq!(checkout.max_body_bytes, 65536);
    assert_eq!(config.routes[1].path, PathMatch::Prefix("/".into()));
    assert_eq!(config.routes[1].max_body_bytes, 1_048_576);
}
