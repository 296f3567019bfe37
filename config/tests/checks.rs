//! `outscope validate` on the target machine: referenced files open, variables are set.
//! Each problem is located at the reference, like any other problem.

mod common;

use std::fs;
use std::path::PathBuf;

use common::edit;
use outscope_config::{Checks, load, load_with, parse_with};

/// A fresh directory for one test (no fixed paths shared between tests).
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("outscope-config-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let made = fs::create_dir_all(dir.join("tls"))
        .and_then(|()| fs::write(dir.join("tls/api.crt"), "not parsed, only opened"));
    if let Err(e) = made {
        panic!("cannot set up {}: {e}", dir.display());
    }
    dir
}

fn with_refs(cert: &str, key: &str) -> String {
    edit(
        "cert = \"file:///etc/outscope/tls/api.crt\"",
        &format!("cert = \"{cert}\""),
    )
    .replace(
        "key = \"file:///etc/outscope/tls/api.key\"",
        &format!("key = \"{key}\""),
    )
}

#[test]
fn files_that_exist_pass_and_missing_ones_are_located() {
    let dir = scratch("files");
    let text = with_refs("file://tls/api.crt", "file://tls/missing.key");
    let problems = parse_with(&text, &dir, &Checks::ALL).unwrap_err().0;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key_path, "listeners[0].tls.certificates[0].key");
    assert_eq!(
        problems[0].message,
        "referenced file cannot be opened: not found"
    );
    assert!(problems[0].line.is_some());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_directory_is_not_a_certificate() {
    let dir = scratch("directory");
    let text = with_refs("file://tls/api.crt", "file://tls");
    let problems = parse_with(&text, &dir, &Checks::ALL).unwrap_err().0;
    assert_eq!(problems[0].key_path, "listeners[0].tls.certificates[0].key");
    assert!(
        problems[0].message.contains("not a regular file"),
        "{problems:?}"
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn environment_references_must_be_set_when_asked() {
    let dir = scratch("env");
    let text = with_refs(
        "file://tls/api.crt",
        "env://OUTSCOPE_CONFIG_TEST_SURELY_UNSET_7f3a",
    );
    let problems = parse_with(&text, &dir, &Checks::ALL).unwrap_err().0;
    assert_eq!(
        problems[0].message,
        "referenced environment variable is not set"
    );
    // PATH is set wherever tests run.
    let text = with_refs("file://tls/api.crt", "env://PATH");
    assert!(parse_with(&text, &dir, &Checks::ALL).is_ok());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn without_checks_nothing_outside_the_text_is_looked_at() {
    let dir = scratch("no-checks");
    let text = with_refs(
        "file://tls/missing.crt",
        "env://OUTSCOPE_CONFIG_TEST_SURELY_UNSET_7f3a",
    );
    assert!(parse_with(&text, &dir, &Checks::default()).is_ok());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn load_resolves_relative_references_against_the_config_file() {
    let dir = scratch("load");
    let path = dir.join("outscope.toml");
    fs::write(&path, with_refs("file://tls/api.crt", "file://tls/api.crt")).unwrap();
    let config = load_with(&path, &Checks::ALL).unwrap();
    let cert = &config.listeners[0].tls.certificates[0].cert;
    assert_eq!(
        *cert,
        outscope_config::SecretRef::File(dir.join("tls/api.crt"))
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_unreadable_config_file_is_one_whole_file_problem() {
    let dir = scratch("missing");
    let problems = load(&dir.join("absent.toml")).unwrap_err().0;
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].key_path, "");
    assert!(
        problems[0].message.ends_with("absent.toml: not found"),
        "{problems:?}"
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn tokenizer_key_files_are_checked_like_any_other_reference() {
    let dir = scratch("vault-keys");
    fs::write(dir.join("vault-keys"), "not parsed, only opened").unwrap();
    let text = format!(
        "{}\n[tokenizer]\nkind = \"local\"\nkeys = \"file://vault-keys\"\n\
         fingerprint_key = \"file://missing-fingerprint-key\"\n",
        with_refs("file://tls/api.crt", "file://tls/api.crt")
    );
    let problems = parse_with(&text, &dir, &Checks::ALL).unwrap_err().0;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key_path, "tokenizer.fingerprint_key");
    assert_eq!(
        problems[0].message,
        "referenced file cannot be opened: not found"
    );
    fs::remove_dir_all(dir).unwrap();
}
