//! `docs/configuration.md` cannot drift from the configuration.
//!
//! Three sets of `(section, key)` pairs are compared:
//! - **example**: every key `EXAMPLE` (`examples/outscope.toml`) documents, read with the
//!   `toml` crate, plus the commented-out alternatives (`# key = value` lines), each under
//!   the table header above it;
//! - **accepted**: every key the parser reads in each table, taken from its unknown-key
//!   message (a probe key is inserted under each header of `EXAMPLE`);
//! - **documented**: every key row (`` | `key` | ``) of `docs/configuration.md`, under the
//!   section heading (`` ### `[section]` ``) above it.
//!
//! The reference must document every example key and every accepted key, and must name no
//! key and no section the parser does not accept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use outscope_config::{EXAMPLE, parse};

/// Section path (`routes.inspection.cards`, arrays of tables without indices) → keys.
type Keys = BTreeMap<String, BTreeSet<String>>;

const DOC: &str = include_str!("../../docs/configuration.md");
const PROBE: &str = "zz_probe_qq";

/// `listeners.tls.certificates` for `[[listeners.tls.certificates]]   # comment`.
fn header_path(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix('[')?;
    let inner = rest.trim_start_matches('[').split(']').next()?;
    Some(inner.trim().to_owned())
}

/// Every key of the parsed example, under its section path; tables and arrays of tables
/// are keys of their parent and sections of their own.
fn walk(section: &str, table: &toml::Table, out: &mut Keys) {
    for (key, value) in table {
        out.entry(section.to_owned())
            .or_default()
            .insert(key.clone());
        let child = if section.is_empty() {
            key.clone()
        } else {
            format!("{section}.{key}")
        };
        match value {
            toml::Value::Table(t) => walk(&child, t, out),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(t) = item {
                        walk(&child, t, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The key of a commented-out line such as `# client_ca = "file:///..."   # comment`:
/// the text after one `#` must be a TOML document holding exactly one plain value. Prose
/// (`# With kind = "stripe":`, `#   "local"   decide ...`) does not parse as one.
fn commented_key(line: &str) -> Option<String> {
    let text = line.trim_start().strip_prefix('#')?.trim_start();
    if text.starts_with('#') || text.starts_with('[') {
        return None;
    }
    let table: toml::Table = toml::from_str(text).ok()?;
    let mut entries = table.into_iter();
    let (key, value) = entries.next()?;
    let plain = !matches!(value, toml::Value::Table(_)) && entries.next().is_none();
    plain.then_some(key)
}

/// The example's keys: the parsed document plus the commented-out alternatives.
fn example_keys() -> Keys {
    let parsed: toml::Table =
        toml::from_str(EXAMPLE).unwrap_or_else(|e| panic!("EXAMPLE is not TOML: {e}"));
    let mut keys = Keys::new();
    walk("", &parsed, &mut keys);
    let mut section = String::new();
    for line in EXAMPLE.lines() {
        if let Some(path) = header_path(line) {
            section = path;
        } else if let Some(key) = commented_key(line) {
            keys.entry(section.clone()).or_default().insert(key);
        }
    }
    keys
}

/// The keys the parser reads in each table of the example, from its unknown-key message.
fn accepted_keys(sections: impl IntoIterator<Item = String>) -> Keys {
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    let probe = format!("{PROBE} = 1");
    let mut out = Keys::new();
    for section in sections {
        let at = if section.is_empty() {
            0
        } else {
            let header = lines
                .iter()
                .position(|l| header_path(l).as_deref() == Some(section.as_str()))
                .unwrap_or_else(|| panic!("no [{section}] header in EXAMPLE"));
            header + 1
        };
        let mut edited = lines.clone();
        edited.insert(at, &probe);
        let problems = parse(&edited.join("\n"), Path::new("/etc/outscope"))
            .err()
            .unwrap_or_else(|| panic!("a probe key under [{section}] was accepted"))
            .0;
        let listed = problems
            .iter()
            .find(|p| p.key_path.ends_with(PROBE))
            .unwrap_or_else(|| panic!("no unknown-key problem under [{section}]: {problems:?}"));
        let keys: BTreeSet<String> = listed
            .message
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        assert!(!keys.is_empty(), "[{section}]: {}", listed.message);
        out.insert(section, keys);
    }
    out
}

/// Key rows of `docs/configuration.md` under their section headings. A heading without a
/// `` `[section]` `` ends the current section.
fn documented_keys(doc: &str) -> Keys {
    let mut out = Keys::new();
    let mut section: Option<String> = None;
    for line in doc.lines() {
        if line.starts_with('#') {
            section = line
                .split_once("`[")
                .and_then(|(_, rest)| rest.split_once("]`"))
                .map(|(inner, _)| inner.trim_matches(['[', ']']).to_owned());
            if let Some(s) = &section {
                out.entry(s.clone()).or_default();
            }
        } else if let (Some(s), Some(row)) = (&section, line.strip_prefix("| `")) {
            let key = row.split('`').next().unwrap_or_default();
            out.entry(s.clone()).or_default().insert(key.to_owned());
        }
    }
    out
}

fn pairs(keys: &Keys) -> BTreeSet<(String, String)> {
    keys.iter()
        .flat_map(|(s, ks)| ks.iter().map(move |k| (s.clone(), k.clone())))
        .collect()
}

fn show(missing: &BTreeSet<(String, String)>) -> String {
    missing
        .iter()
        .map(|(s, k)| format!("[{s}] {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn the_extraction_sees_commented_alternatives_and_not_prose() {
    assert_eq!(
        commented_key("# client_ca = \"file:///x.pem\"   # CA"),
        Some("client_ca".into())
    );
    assert_eq!(
        commented_key("# store = \"memory\"                     # default"),
        Some("store".into())
    );
    assert_eq!(commented_key("# With kind = \"stripe\":"), None);
    assert_eq!(commented_key("#                # (levels: trace)"), None);
    assert_eq!(commented_key("#   \"local\"       decide with"), None);
    assert_eq!(
        commented_key("#   \"env://NAME\"  an environment variable"),
        None
    );
    let keys = example_keys();
    for (section, key) in [
        ("listeners.tls", "client_ca"),
        ("redis", "username"),
        ("vault", "namespace"),
        ("vault.auth", "token"),
        ("vault.auth", "jwt"),
        ("tokenizer", "keys"),
        ("tokenizer", "token_format"),
        ("routes.inspection", "acknowledge"),
        ("routes.inspection.cards.output", "fingerprint"),
        ("rate_limits", "on_redis_error"),
    ] {
        assert!(
            keys.get(section).is_some_and(|k| k.contains(key)),
            "[{section}] {key} not extracted"
        );
    }
}

#[test]
fn the_documentation_parser_reads_rows_under_their_sections() {
    let doc = "## Sections\n| `admin` | x |\n### `[admin]`\n| `address` | string |\n\
               ### `[[routes]]` (required)\n| `name` | string |\n## Durations\n| `5m` | x |\n";
    let keys = documented_keys(doc);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys["admin"], BTreeSet::from(["address".to_owned()]));
    assert_eq!(keys["routes"], BTreeSet::from(["name".to_owned()]));
}

#[test]
fn every_key_the_example_documents_is_in_the_reference() {
    let example = example_keys();
    let documented = documented_keys(DOC);
    let missing: BTreeSet<_> = pairs(&example)
        .into_iter()
        .filter(|(s, _)| !s.is_empty())
        .filter(|(s, k)| !documented.get(s).is_some_and(|ks| ks.contains(k)))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not document: {}",
        show(&missing)
    );
    let sections: BTreeSet<&String> = example
        .get("")
        .expect("top-level sections")
        .iter()
        .collect();
    for section in sections {
        assert!(
            documented.contains_key(section),
            "docs/configuration.md has no `[{section}]` heading"
        );
    }
}

#[test]
fn the_reference_names_exactly_the_keys_the_parser_accepts() {
    let example = example_keys();
    let accepted = accepted_keys(example.keys().cloned());
    let documented = documented_keys(DOC);
    // Every extracted example key is real (guards the extraction itself).
    let unreal: BTreeSet<_> = pairs(&example)
        .into_iter()
        .filter(|(s, k)| !accepted.get(s).is_some_and(|ks| ks.contains(k)))
        .collect();
    assert!(
        unreal.is_empty(),
        "extracted from EXAMPLE but refused: {}",
        show(&unreal)
    );
    for section in documented.keys() {
        assert!(
            accepted.contains_key(section),
            "docs/configuration.md documents `[{section}]`, which is not a configuration table"
        );
    }
    let rejected: BTreeSet<_> = pairs(&documented)
        .into_iter()
        .filter(|(s, k)| !accepted.get(s).is_some_and(|ks| ks.contains(k)))
        .collect();
    assert!(
        rejected.is_empty(),
        "docs/configuration.md names keys the configuration rejects: {}",
        show(&rejected)
    );
    for section in accepted.get("").into_iter().flatten() {
        assert!(
            documented.contains_key(section),
            "the configuration accepts `[{section}]`, which has no heading in docs/configuration.md"
        );
    }
    let undocumented: BTreeSet<_> = pairs(&accepted)
        .into_iter()
        .filter(|(s, _)| !s.is_empty())
        .filter(|(s, k)| !documented.get(s).is_some_and(|ks| ks.contains(k)))
        .collect();
    assert!(
        undocumented.is_empty(),
        "the configuration accepts keys docs/configuration.md does not document: {}",
        show(&undocumented)
    );
}
