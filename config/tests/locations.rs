//! Every problem is collected, in file order, at the right line and column.

mod common;

use common::{MINIMAL, found};
use outscope_config::Problem;

fn at(p: &Problem) -> (Option<u32>, Option<u32>, &str) {
    (p.line, p.column, p.key_path.as_str())
}

const BROKEN: &str = r#"[admin]
address = "127.0.0.1:8443"

[[listeners]]
name = "public"
address = "127.0.0.1:8443"
colour = "blue"

[listeners.tls]
client_auth = "required"

[[listeners.tls.certificates]]
cert = "file:///etc/outscope/tls/api.crt"
key = 42

[limits]
max_headers = 0
idle_timeout =   "forever"

[[upstreams]]
name = "api"
url = "ftp://127.0.0.1"

[[routes]]
name = "all"
path = "relative"
upstream = "missing"
"#;

#[test]
fn every_problem_is_reported_once_in_file_order_with_its_location() {
    let problems = found(BROKEN);
    let located: Vec<_> = problems.iter().map(at).collect();
    assert_eq!(
        located,
        [
            (Some(2), Some(11), "admin.address"),
            (Some(7), Some(1), "listeners[0].colour"),
            (Some(9), Some(1), "listeners[0].tls.client_ca"),
            (Some(14), Some(7), "listeners[0].tls.certificates[0].key"),
            (Some(17), Some(15), "limits.max_headers"),
            (Some(18), Some(18), "limits.idle_timeout"),
            (Some(22), Some(7), "upstreams[0].url"),
            (Some(26), Some(8), "routes[0].path"),
            (Some(27), Some(12), "routes[0].upstream"),
        ],
        "{problems:#?}"
    );
}

#[test]
fn display_prints_one_line_per_problem_as_line_col_path_message() {
    let problems = outscope_config::parse(BROKEN, std::path::Path::new("/")).unwrap_err();
    let text = problems.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 9);
    assert_eq!(
        lines[0],
        "2:11 admin.address: collides with listeners[0].address; the admin listener needs its own address"
    );
    assert_eq!(
        lines[3],
        "14:7 listeners[0].tls.certificates[0].key: expected a string, found an integer"
    );
    assert_eq!(
        lines[5],
        "18:18 limits.idle_timeout: expected a duration such as \"250ms\", \"10s\", \"5m\" or \"1h\" (units: ms, s, m, h)"
    );
}

#[test]
fn problems_without_a_place_come_first_and_print_without_one() {
    let text =
        MINIMAL.split("[[routes]]").next().unwrap().to_owned() + "[limits]\nmax_headers = 0\n";
    let problems = outscope_config::parse(&text, std::path::Path::new("/")).unwrap_err();
    assert_eq!(at(&problems.0[0]), (None, None, "routes"));
    assert_eq!(
        problems.0[0].to_string(),
        "routes: at least one [[routes]] entry is required"
    );
    assert_eq!(at(&problems.0[1]).2, "limits.max_headers");
}

#[test]
fn columns_count_characters_not_bytes() {
    let text = MINIMAL.replace(
        "name = \"all\"",
        "name = \"all\" # café ☕\nmethods = [\"GET\", \"GÉT\"]",
    );
    let problems = found(&text);
    let line = MINIMAL.lines().position(|l| l == "name = \"all\"").unwrap() as u32 + 2;
    assert_eq!(
        problems.iter().map(at).collect::<Vec<_>>(),
        [(Some(line), Some(19), "routes[0].methods[1]")]
    );
}

#[test]
fn syntax_errors_carry_their_location_and_the_key_they_broke() {
    let problems = found("[log]\nlevel = \"info\"\nformat = json\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(at(&problems[0]), (Some(3), Some(10), "log.format"));
    assert_eq!(
        problems[0].to_string(),
        "3:10 log.format: invalid TOML: string values must be quoted"
    );
    let problems = found("[[routes]]\nname = \"a\"\nmethods = [\"GET\",,]\n");
    assert_eq!(at(&problems[0]), (Some(3), Some(18), "routes[0].methods"));
}

#[test]
fn a_syntax_error_the_parser_could_not_place_has_no_key_path() {
    let problems = found("[a]\nb = 1\nb = 2\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(at(&problems[0]), (Some(3), Some(1), ""));
    assert_eq!(problems[0].message, "invalid TOML: duplicate key");
}

#[test]
fn several_syntax_errors_are_all_reported() {
    let problems = found("a = \"x\"\nb = = 1\nc = [1,,2]\n[d\n");
    let lines: Vec<Option<u32>> = problems.iter().map(|p| p.line).collect();
    assert!(
        lines.contains(&Some(2)) && lines.contains(&Some(3)) && lines.contains(&Some(4)),
        "{problems:#?}"
    );
}

#[test]
fn windows_line_endings_and_a_byte_order_mark_do_not_shift_locations() {
    let bad = MINIMAL.replace("name = \"all\"", "name = \"a l\"");
    let line = MINIMAL.lines().position(|l| l == "name = \"all\"").unwrap() as u32 + 1;
    let want = [(Some(line), Some(8), "routes[0].name")];
    for text in [bad.replace('\n', "\r\n"), format!("\u{feff}{bad}")] {
        let problems = found(&text);
        assert_eq!(
            problems.iter().map(at).collect::<Vec<_>>(),
            want,
            "{text:?}"
        );
    }
}
