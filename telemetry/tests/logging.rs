//! Log setup and the access log record, captured through `build_dispatch`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outscope_telemetry::logging::{LoggingError, build_dispatch};
use outscope_telemetry::{AccessLog, LogFormat, Method};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn capture(level: &str, format: LogFormat, f: impl FnOnce()) -> String {
    let out = Captured::default();
    let writer = out.clone();
    let (dispatch, _handle) = build_dispatch(level, format, move || writer.clone(), false).unwrap();
    tracing::dispatcher::with_default(&dispatch, f);
    out.text()
}

fn record<'a>(path: &'a str, request_id: &'a str) -> AccessLog<'a> {
    AccessLog {
        listener: "public",
        route: Some("payments"),
        method: Method::Post,
        path,
        status: 201,
        request_bytes: 1024,
        response_bytes: 77,
        duration: Duration::from_micros(1500),
        request_id,
        peer_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        tls_version: Some("TLSv1_3"),
        alpn: Some("h2"),
        decision: "forwarded",
    }
}

fn json_line(out: &str) -> serde_json::Value {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    serde_json::from_str(lines[0]).unwrap()
}

#[test]
fn json_access_log_is_one_flat_object_with_every_field() {
    let out = capture("info", LogFormat::Json, || {
        record("/v1/charges", "req-1").emit()
    });
    let v = json_line(&out);
    assert_eq!(v["target"], "access");
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["message"], "request");
    assert_eq!(v["listener"], "public");
    assert_eq!(v["route"], "payments");
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/v1/charges");
    assert_eq!(v["status"], 201);
    assert_eq!(v["request_bytes"], 1024);
    assert_eq!(v["response_bytes"], 77);
    assert_eq!(v["duration_seconds"], 0.0015);
    assert_eq!(v["request_id"], "req-1");
    assert_eq!(v["peer_ip"], "192.0.2.7");
    assert_eq!(v["tls_version"], "TLSv1_3");
    assert_eq!(v["alpn"], "h2");
    assert_eq!(v["decision"], "forwarded");
    assert!(v["timestamp"].is_string());
}

#[test]
fn absent_optional_fields_are_omitted() {
    let mut r = record("/", "id");
    r.route = None;
    r.tls_version = None;
    r.alpn = None;
    let v = json_line(&capture("info", LogFormat::Json, || r.emit()));
    for k in ["route", "tls_version", "alpn"] {
        assert!(v.get(k).is_none(), "{k} present: {v}");
    }
}

#[test]
fn the_query_string_and_fragment_never_reach_the_log() {
    let out = capture("info", LogFormat::Json, || {
        record("/v1/charges?card=4111111111111111&cvc=123#frag", "id").emit();
    });
    assert_eq!(json_line(&out)["path"], "/v1/charges");
    for secret in ["card=", "cvc", "123", "4111", "frag"] {
        assert!(!out.contains(secret), "{secret} leaked: {out}");
    }
}

#[test]
fn card_like_digit_runs_in_path_and_request_id_are_masked() {
    let cases = [
        ("/v1/cards/4111111111111111", "/v1/cards/****************"),
        ("/4111-1111-1111-1111/x", "/****-****-****-****/x"),
        ("/4111/1111/1111/1111", "/****/****/****/****"),
        ("/c/%34%31%31%31111111111111", "/c/****************"),
        ("/u/%EF%BC%94%EF%BC%91%EF%BC%91%EF%BC%91", "/u/************"),
        ("/orders/12345/items/678", "/orders/12345/items/678"),
    ];
    for (path, want) in cases {
        let out = capture("info", LogFormat::Json, || record(path, "x").emit());
        assert_eq!(json_line(&out)["path"], *want, "{path}");
    }
    let out = capture("info", LogFormat::Json, || {
        record("/", "4111 1111 1111 1111").emit()
    });
    assert_eq!(json_line(&out)["request_id"], "**** **** **** ****");
}

#[test]
fn text_format_is_one_line_per_event_even_with_control_characters() {
    let out = capture("info", LogFormat::Text, || {
        record("/a", "evil\nINFO forged").emit()
    });
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("status=201"), "{out}");
    assert!(
        !out.contains('\u{1b}'),
        "no ANSI codes when ansi=false: {out:?}"
    );
}

#[test]
fn the_level_filter_applies_to_the_access_log() {
    let out = capture("warn", LogFormat::Json, || record("/", "id").emit());
    assert_eq!(out, "");
    let out = capture("warn,access=info", LogFormat::Json, || {
        record("/", "id").emit()
    });
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn an_invalid_level_is_a_typed_error() {
    let r = build_dispatch("info,=nonsense[", LogFormat::Json, io::sink, false);
    assert!(
        matches!(r, Err(LoggingError::InvalidLevel { .. })),
        "{:?}",
        r.err()
    );
    let r = build_dispatch("inof", LogFormat::Json, io::sink, false);
    assert!(
        matches!(r, Err(LoggingError::InvalidLevel { .. })),
        "a typo is not a target"
    );
    for ok in ["INFO", "warn,access=info", "outscope=debug, info", "off"] {
        assert!(
            build_dispatch(ok, LogFormat::Text, io::sink, false).is_ok(),
            "{ok}"
        );
    }
}

#[test]
fn the_level_changes_through_the_handle_and_a_bad_level_keeps_the_old_one() {
    let out = Captured::default();
    let writer = out.clone();
    let (dispatch, handle) =
        build_dispatch("warn", LogFormat::Json, move || writer.clone(), false).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        record("/1", "id").emit();
        handle.set_level("info").unwrap();
        record("/2", "id").emit();
        assert!(matches!(
            handle.set_level("inof"),
            Err(LoggingError::InvalidLevel { .. })
        ));
        record("/3", "id").emit();
        handle.set_level("error").unwrap();
        record("/4", "id").emit();
    });
    let paths: Vec<String> = out
        .text()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["path"].to_string())
        .collect();
    assert_eq!(paths, ["\"/2\"", "\"/3\""]);
}
