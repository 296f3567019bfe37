//! Label values stay inside their bounded sets whatever the request data.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use outscope_telemetry::labels::{LabelEnum, STATUS_LABELS};
use outscope_telemetry::{
    AdminState, BuildInfo, Health, Method, Metrics, TlsErrorReason, UNMATCHED_ROUTE,
};

const CODES: &[&str] = &["no_route", "bad_framing"];

fn hostile_methods() -> Vec<Vec<u8>> {
    let mut m: Vec<Vec<u8>> = [
        "GET",
        "get",
        "PROPFIND",
        "4111111111111111",
        "",
        "G\"ET",
        "\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    m.extend((0..=255u8).map(|b| vec![b; 3]));
    m
}

#[test]
fn arbitrary_methods_and_statuses_stay_within_the_label_sets() {
    let metrics = Arc::new(Metrics::new(
        BuildInfo {
            version: "0",
            commit: None,
        },
        CODES,
    ));
    let routes = metrics.bind_routes(["a", "b"]);
    for (i, method) in hostile_methods().iter().enumerate() {
        for status in (0..=u16::MAX).step_by(7) {
            routes[i % 2].count(Method::from_bytes(method), status);
        }
    }
    let state = AdminState::new(Arc::clone(&metrics), Arc::new(Health::new()));
    let families = support::parse(&state.render_metrics());
    let requests = families
        .iter()
        .find(|f| f.name == "outscope_requests_total")
        .unwrap();

    let methods: HashSet<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
    let statuses: HashSet<&str> = STATUS_LABELS.iter().copied().collect();
    let route_names: HashSet<&str> = ["a", "b", UNMATCHED_ROUTE].into_iter().collect();
    for s in &requests.samples {
        assert!(methods.contains(s.label("method").unwrap()), "{s:?}");
        assert!(statuses.contains(s.label("status").unwrap()), "{s:?}");
        assert!(route_names.contains(s.label("route").unwrap()), "{s:?}");
    }
    let bound = route_names.len() * methods.len() * statuses.len();
    assert!(requests.samples.len() <= bound);
    assert!(
        requests.samples.len() > 2 * 3,
        "the test did record a spread of series"
    );
}

#[test]
fn unknown_error_codes_count_as_other() {
    let metrics = Metrics::new(
        BuildInfo {
            version: "0",
            commit: None,
        },
        CODES,
    );
    for code in ["no_route", "4111 1111 1111 1111", "", "bad_framing\"}", "x"] {
        metrics.reject(code);
    }
    let state = AdminState::new(Arc::new(metrics), Arc::new(Health::new()));
    let families = support::parse(&state.render_metrics());
    let rejected = families
        .iter()
        .find(|f| f.name == "outscope_requests_rejected_total")
        .unwrap();
    let got: Vec<(&str, f64)> = rejected
        .samples
        .iter()
        .map(|s| (s.label("reason").unwrap(), s.value))
        .collect();
    assert_eq!(
        got,
        vec![("no_route", 1.0), ("bad_framing", 0.0), ("other", 4.0)]
    );
}

#[test]
fn a_reload_replaces_the_exported_config_names() {
    let metrics = Arc::new(Metrics::new(
        BuildInfo {
            version: "0",
            commit: None,
        },
        CODES,
    ));
    let old = metrics.bind_routes(["old", "kept"]);
    old[0].count(Method::Get, 200);
    old[1].count(Method::Get, 200);
    let listeners = metrics.bind_listeners(["l1"]);
    listeners[0].tls_handshake_failed(TlsErrorReason::Eof);

    let new = metrics.bind_routes(["kept", "new", UNMATCHED_ROUTE]);
    metrics.bind_listeners(["l2"]);
    new[0].count(Method::Get, 200);
    new[2].count(Method::Get, 404);
    old[0].count(Method::Get, 200); // an in-flight request of the old config

    let state = AdminState::new(Arc::clone(&metrics), Arc::new(Health::new()));
    let families = support::parse(&state.render_metrics());
    let mut routes = HashSet::new();
    let mut listeners_seen = HashSet::new();
    for f in &families {
        for s in &f.samples {
            routes.extend(s.label("route").map(str::to_owned));
            listeners_seen.extend(s.label("listener").map(str::to_owned));
        }
    }
    let want: HashSet<String> = ["kept", "new", UNMATCHED_ROUTE].map(String::from).into();
    assert_eq!(routes, want);
    assert_eq!(listeners_seen, ["l2".to_owned()].into());
    assert_eq!(
        new[0].requests(Method::Get, 200),
        2,
        "kept continues across the reload"
    );
    assert_eq!(metrics.unmatched_route().requests(Method::Get, 404), 1);
}

#[test]
fn the_hot_path_is_safe_from_many_threads() {
    let metrics = Arc::new(Metrics::new(
        BuildInfo {
            version: "0",
            commit: None,
        },
        CODES,
    ));
    let route = metrics.bind_routes(["r"]).remove(0);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let route = route.clone();
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    route.record(Method::Get, 200, Duration::from_micros(1), 1, 1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(route.requests(Method::Get, 200), 40_000);
}
