//! No problem message, key path or debug output ever contains a configured value.
//!
//! The test puts a secret-looking literal into every value of the example config, one at a
//! time (as a string, inside an array and as an inline-table value), and into unknown keys
//! and broken syntax, and checks that the literal never comes back.

use std::path::Path;

use outscope_config::{EXAMPLE, parse};

const SECRET: &str = "sk_live_51HxQ7pSECRETdoNotLeak";

/// Every output a caller could print: Display and Debug.
fn output(text: &str) -> Option<String> {
    parse(text, Path::new("/etc/outscope"))
        .err()
        .map(|p| format!("{p}\n{p:?}"))
}

/// `(line index, line with its value replaced)` for every `key = value` line of the example.
fn each_value_replaced_by(value: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with('#') || !line.contains(" = ") {
            continue;
        }
        let key = line.split(" = ").next().unwrap_or_default();
        let mut edited = lines.clone();
        let replaced = format!("{key} = {value}");
        edited[i] = &replaced;
        out.push((i, edited.join("\n")));
    }
    out
}

#[test]
fn a_secret_in_any_value_never_appears_in_problems() {
    let shapes = [
        format!("\"{SECRET}\""),
        format!("[\"{SECRET}\"]"),
        format!("[\"h2\", \"{SECRET}\"]"),
        format!("{{ value = \"{SECRET}\" }}"),
        format!("\"header:{SECRET} x\""),
        format!("\"set:{SECRET}:1\""),
        format!("\"redis://:{SECRET}@127.0.0.1\""),
        format!("\"https://user:{SECRET}@127.0.0.1/x?token={SECRET}#{SECRET}\""),
        format!("\"file://{SECRET}\""),
        format!("\"{SECRET}://x\""),
        format!("\"$.{SECRET}[\""),
        format!("\"$['{SECRET}\""),
        format!("\"{SECRET}[x\""),
        format!("\"http://{SECRET}.example/\""),
    ];
    let mut rejected = 0;
    for shape in &shapes {
        for (line, text) in each_value_replaced_by(shape) {
            if let Some(out) = output(&text) {
                rejected += 1;
                assert!(
                    !out.contains("SECRET"),
                    "line {} with {shape} leaked:\n{out}",
                    line + 1
                );
            }
        }
    }
    // Most of these edits are invalid; make sure the loop really exercised error paths.
    assert!(rejected > 300, "only {rejected} configs were rejected");
}

#[test]
fn a_secret_under_an_unknown_key_is_not_shown() {
    let text = EXAMPLE.replace("[admin]\n", &format!("[admin]\ntoken = \"{SECRET}\"\n"));
    let out = output(&text).expect("unknown key rejected");
    assert!(out.contains("admin.token: unknown key"), "{out}");
    assert!(!out.contains("SECRET"), "{out}");
}

#[test]
fn a_secret_in_broken_toml_is_not_shown() {
    for broken in [
        format!("password = {SECRET}\n"),
        format!("password = \"{SECRET}\n"),
        format!("password = '''{SECRET}"),
        format!("a = 1979-05-27T07:32:00{SECRET}\n"),
        format!("[{SECRET}\n"),
        format!("x = [\"{SECRET}\",,]\n"),
        format!("x = {{ a = \"{SECRET}\", a = 1 }}\n"),
    ] {
        let out = output(&broken).expect("syntax error");
        assert!(!out.contains("SECRET"), "{broken:?} leaked:\n{out}");
    }
}
