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
    assert!(seen >= 4, "only {seen} examples found in {}", dir.display());
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

#[test]
fn the_example_tokenizes_the_common_stripe_shapes_with_stripe() {
    let config = parse(EXAMPLE, Path::new("/etc/outscope")).unwrap();
    let Some(Tokenizer::Stripe(stripe)) = &config.tokenizer else {
        panic!("expected a stripe tokenizer: {:?}", config.tokenizer);
    };
    assert_eq!(stripe.api_base, "https://api.stripe.com");
    let checkout = &config.routes[0].inspection;
    assert_eq!(checkout.mode, InspectionMode::Enforce);
    assert_eq!(checkout.on_detected, OnDetected::Tokenize);
    let shapes: Vec<(Option<&str>, Option<&str>)> = checkout
        .cards
        .iter()
        .map(|c| (c.json_path.as_deref(), c.form_prefix.as_deref()))
        .collect();
    assert_eq!(
        shapes,
        [
            (Some("$.card"), Some("card")),
            (
                Some("$.payment_method.card"),
                Some("payment_method_data[card]")
            ),
        ]
    );
    assert_eq!(checkout.cards[0].output.fingerprint, None);
    assert_eq!(checkout.cards[1].output, CardOutput::default());
    // The catch-all route enforces with the defaults.
    assert_eq!(config.routes[1].inspection, Inspection::default());
}

#[test]
fn the_local_vault_example_shares_its_vault_through_redis() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/local-vault.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let config = parse(&text, Path::new("/etc/outscope")).unwrap();
    let Some(Tokenizer::Local(vault)) = &config.tokenizer else {
        panic!("expected a local tokenizer: {:?}", config.tokenizer);
    };
    assert_eq!(vault.store, LocalStore::Redis);
    assert!(config.redis.is_some());
    let checkout = &config.routes[0].inspection;
    assert_eq!(checkout.on_detected, OnDetected::Tokenize);
    assert_eq!(checkout.encodings, []);
    assert_eq!(checkout.cards[0].fields.number, "pan");
    assert_eq!(config.routes[1].inspection.on_detected, OnDetected::Reject);
}

/// Every key the parser accepts, in every table, is documented in the example: the
/// unknown-key message of each table lists its keys, and each must appear in EXAMPLE.
#[test]
fn the_example_documents_every_key_of_every_table() {
    const PROBE: &str = "zz_probe_qq";
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    let headers = lines.iter().enumerate().filter(|(_, l)| l.starts_with('['));
    let mut probed = 0;
    for (i, header) in std::iter::once((usize::MAX, &"(root)")).chain(headers) {
        let mut edited: Vec<&str> = lines.clone();
        let probe = format!("{PROBE} = 1");
        edited.insert(i.wrapping_add(1), &probe);
        let problems = parse(&edited.join("\n"), Path::new("/etc/outscope"))
            .unwrap_err()
            .0;
        let listed = problems
            .iter()
            .find(|p| p.key_path.ends_with(PROBE))
            .unwrap_or_else(|| panic!("no unknown-key problem under {header}: {problems:?}"));
        let keys: Vec<&str> = listed.message.split('`').skip(1).step_by(2).collect();
        assert!(!keys.is_empty(), "{header}: {}", listed.message);
        for key in keys {
            let documented = lines.iter().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                let header = l
                    .split(" #")
                    .next()
                    .unwrap_or(l)
                    .trim_end()
                    .trim_end_matches(']');
                l.starts_with(&format!("{key} = ")) || (l.starts_with('[') && header.ends_with(key))
            });
            assert!(
                documented,
                "`{key}` (under {header}) is not documented in EXAMPLE"
            );
        }
        probed += 1;
    }
    assert!(probed >= 14, "only {probed} tables probed");
}
