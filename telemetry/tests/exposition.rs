//! The text exposition: golden output, escaping, histogram shape, parseability.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::time::{Duration, UNIX_EPOCH};

use outscope_telemetry::encode::{Encoder, Kind};
use outscope_telemetry::primitives::Histogram;
use outscope_telemetry::{
    AdminState, BuildInfo, CertificateExpiry, FallbackMode, Health, Method, Metrics, Requirement,
    TlsErrorReason, UpstreamErrorKind,
};
use std::sync::Arc;

const CODES: &[&str] = &["no_route", "body_too_large", "rate_limited"];

/// A registry with one of everything, built deterministically.
fn populated() -> AdminState {
    let build = BuildInfo {
        version: "0.1.0",
        commit: Some("abc123"),
    };
    let metrics = Arc::new(Metrics::new(build, CODES));
    let routes = metrics.bind_routes(["payments"]);
    routes[0].record(Method::Post, 201, Duration::from_millis(3), 1000, 200);
    routes[0].record(Method::Post, 201, Duration::from_millis(40), 70_000, 10);
    routes[0].overhead(Duration::from_micros(300));
    routes[0].count(Method::Get, 418);
    metrics.unmatched_route().count(Method::Other, 404);
    let listeners = metrics.bind_listeners(["public"]);
    let open = listeners[0].connection_opened();
    drop(listeners[0].connection_opened());
    listeners[0].tls_handshake_failed(TlsErrorReason::ProtocolVersion);
    let limits = metrics.bind_limits(["per-ip"]);
    limits[0].limited();
    limits[0].fallback(FallbackMode::Local);
    let upstreams = metrics.bind_upstreams(["gateway"]);
    upstreams[0].error(UpstreamErrorKind::Timeout);
    metrics.set_certificates([CertificateExpiry {
        listener: "public",
        server_name: "api.example.com",
        not_after: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    }]);
    metrics.reject("no_route");
    metrics.reject("something_new");
    metrics.reload_failed();
    metrics.reload_succeeded(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500));
    let health = Arc::new(Health::new());
    health
        .register("redis", Requirement::Required)
        .set_down("connect_failed");
    health.register("tls-certs", Requirement::Required).set_up();
    // Keep one connection counted as active for the render.
    std::mem::forget(open);
    AdminState::new(metrics, health)
}

#[test]
fn full_render_matches_golden_file() {
    // Without the process collector, whose values change from run to run.
    let state = populated();
    let mut got = String::new();
    let mut enc = Encoder::new(&mut got);
    state.metrics.encode(&mut enc);
    state.health.encode(&mut enc);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/metrics.prom");
    if std::env::var_os("OUTSCOPE_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &got).unwrap();
    }
    let want = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        got, want,
        "render differs from {path}; OUTSCOPE_UPDATE_GOLDEN=1 rewrites it"
    );
}

#[test]
fn full_render_parses_line_by_line() {
    let families = support::parse(&populated().render_metrics());
    let names: Vec<_> = families.iter().map(|f| f.name.as_str()).collect();
    for want in [
        "outscope_build_info",
        "outscope_requests_total",
        "outscope_request_duration_seconds",
        "outscope_request_body_bytes",
        "outscope_response_body_bytes",
        "outscope_connections_active",
        "outscope_connections_total",
        "outscope_tls_handshake_errors_total",
        "outscope_tls_certificate_expiry_timestamp_seconds",
        "outscope_rate_limited_total",
        "outscope_rate_limit_fallback_total",
        "outscope_upstream_errors_total",
        "outscope_requests_rejected_total",
        "outscope_config_reloads_total",
        "outscope_config_last_reload_success_timestamp_seconds",
        "outscope_draining",
        "outscope_dependency_up",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let s = support::series(&families);
    let get = |k: &str| *s.get(k).unwrap_or_else(|| panic!("no series {k}"));
    assert_eq!(
        get(r#"outscope_requests_total{route="payments",method="POST",status="201"}"#),
        2.0
    );
    assert_eq!(
        get(r#"outscope_requests_total{route="payments",method="GET",status="4xx"}"#),
        1.0
    );
    assert_eq!(
        get(r#"outscope_requests_total{route="_unmatched",method="OTHER",status="404"}"#),
        1.0
    );
    assert_eq!(
        get(r#"outscope_connections_active{listener="public"}"#),
        1.0
    );
    assert_eq!(get(r#"outscope_connections_total{listener="public"}"#), 2.0);
    assert_eq!(
        get(r#"outscope_requests_rejected_total{reason="other"}"#),
        1.0
    );
    assert_eq!(
        get(r#"outscope_config_reloads_total{result="failure"}"#),
        1.0
    );
    assert_eq!(
        get(r#"outscope_config_last_reload_success_timestamp_seconds{}"#),
        1_700_000_000.5
    );
    assert_eq!(get(r#"outscope_dependency_up{dependency="redis"}"#), 0.0);
    assert_eq!(
        get(r#"outscope_request_body_bytes_bucket{route="payments",le="65536"}"#),
        1.0,
        "70 000 bytes is above the 64 KiB bucket"
    );
    assert_eq!(
        get(r#"outscope_request_body_bytes_sum{route="payments"}"#),
        71_000.0
    );
}

#[test]
fn histogram_is_cumulative_with_inf_sum_and_count() {
    let h = Histogram::new(&[0.1, 1.0, 10.0]);
    for v in [0.05, 0.1, 0.5, 5.0, 50.0] {
        h.observe(v);
    }
    let mut out = String::new();
    let mut enc = Encoder::new(&mut out);
    enc.family("x_seconds", "An example.", Kind::Histogram);
    enc.histogram("x_seconds", &[("route", "r")], &h);
    assert_eq!(
        out,
        "# HELP x_seconds An example.\n\
         # TYPE x_seconds histogram\n\
         x_seconds_bucket{route=\"r\",le=\"0.1\"} 2\n\
         x_seconds_bucket{route=\"r\",le=\"1\"} 3\n\
         x_seconds_bucket{route=\"r\",le=\"10\"} 4\n\
         x_seconds_bucket{route=\"r\",le=\"+Inf\"} 5\n\
         x_seconds_sum{route=\"r\"} 55.65\n\
         x_seconds_count{route=\"r\"} 5\n"
    );
    support::parse(&out);
}

#[test]
fn config_names_with_special_characters_are_escaped_and_round_trip() {
    let metrics = Metrics::new(
        BuildInfo {
            version: "v\"1\\\n",
            commit: None,
        },
        &[],
    );
    let odd = "we\"ird\\route\nname";
    let routes = metrics.bind_routes([odd]);
    routes[0].count(Method::Get, 200);
    let mut out = String::new();
    metrics.encode(&mut Encoder::new(&mut out));
    assert!(out.contains(r#"route="we\"ird\\route\nname""#), "{out}");
    assert!(
        out.contains(r#"outscope_build_info{version="v\"1\\\n"} 1"#),
        "{out}"
    );
    let families = support::parse(&out);
    let requests = families
        .iter()
        .find(|f| f.name == "outscope_requests_total")
        .unwrap();
    assert_eq!(requests.samples[0].label("route"), Some(odd));
}

#[test]
fn families_without_series_still_parse() {
    let metrics = Metrics::new(
        BuildInfo {
            version: "0",
            commit: None,
        },
        &[],
    );
    let health = Health::new();
    let state = AdminState::new(Arc::new(metrics), Arc::new(health));
    let families = support::parse(&state.render_metrics());
    let conns = families
        .iter()
        .find(|f| f.name == "outscope_connections_total")
        .unwrap();
    assert!(conns.samples.is_empty());
    let unmatched = families
        .iter()
        .find(|f| f.name == "outscope_request_duration_seconds");
    assert_eq!(
        unmatched.unwrap().samples.len(),
        15 + 1 + 2,
        "the _unmatched route is always there"
    );
}

#[test]
fn the_parser_rejects_malformed_exposition() {
    // Guards against a parser that accepts everything.
    let bad = [
        "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"unterminated} 1\n",
        "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"a\"b\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na{l=\"x\"} one\n",
        "# HELP a x\n# TYPE a counter\na 1\n",
        "a 1\n",
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP g x\n# TYPE g gauge\ng 1\ng 2\n",
    ];
    for text in bad {
        let r = std::panic::catch_unwind(|| support::parse(text));
        assert!(r.is_err(), "accepted: {text:?}");
    }
}
