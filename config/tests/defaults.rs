//! What a minimal config turns into: every default, and how values are normalised.

mod common;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{MINIMAL, VAULT, before, edit, ok};
use outscope_config::*;

#[test]
fn a_minimal_config_gets_every_default() {
    let config = ok(MINIMAL);
    assert_eq!(
        config.admin.address,
        "127.0.0.1:9901".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        config.limits,
        Limits {
            max_header_bytes: 16384,
            max_headers: 100,
            max_body_bytes: 1_048_576,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            h2_max_concurrent_streams: 128,
        }
    );
    assert_eq!(
        config.shutdown,
        Shutdown {
            drain_delay: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(30)
        }
    );
    assert_eq!(
        config.log,
        Log {
            level: "info".into(),
            format: LogFormat::Json,
            access_log: true
        }
    );
    assert_eq!(
        config.request_id,
        RequestId {
            header: "x-request-id".into(),
            trust_incoming: false
        }
    );
    assert_eq!(
        config.forwarding,
        Forwarding {
            trusted_proxies: vec![]
        }
    );
    assert_eq!(config.redis, None);
    assert_eq!(config.rate_limits, vec![]);
}

#[test]
fn a_minimal_listener_upstream_and_route_get_their_defaults() {
    let config = ok(MINIMAL);
    let tls = &config.listeners[0].tls;
    assert_eq!(tls.alpn, [Alpn::H2, Alpn::Http11]);
    assert_eq!(tls.client_auth, ClientAuth::None);
    assert_eq!(tls.certificates[0].server_names, Vec::<String>::new());
    assert_eq!(
        config.upstreams[0],
        Upstream {
            name: "api".into(),
            url: UpstreamUrl {
                https: false,
                host: "127.0.0.1".into(),
                port: 8080,
                base_path: String::new()
            },
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(30),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 32,
            tls: None,
        }
    );
    assert_eq!(
        config.routes[0],
        Route {
            name: "all".into(),
            host: None,
            methods: vec![],
            path: PathMatch::Prefix("/".into()),
            upstream: 0,
            rate_limits: vec![],
            host_header: HostHeader::Preserve,
            allow_upgrade: false,
            max_body_bytes: 1_048_576,
            inspection: outscope_config::Inspection::default(),
        }
    );
}

#[test]
fn the_default_impls_match_the_parsed_defaults() {
    let config = ok(MINIMAL);
    assert_eq!(config.admin, Admin::default());
    assert_eq!(config.limits, Limits::default());
    assert_eq!(config.shutdown, Shutdown::default());
    assert_eq!(config.runtime, Runtime::default());
    assert_eq!(config.runtime.worker_threads, None);
    assert_eq!(config.log, Log::default());
    assert_eq!(config.request_id, RequestId::default());
}

#[test]
fn https_upstreams_get_default_ports_tls_and_a_trimmed_base_path() {
    let config = ok(&edit(
        "url = \"http://127.0.0.1:8080\"",
        "url = \"https://Backend.Internal/base/v1/\"",
    ));
    let upstream = &config.upstreams[0];
    assert_eq!(
        upstream.url,
        UpstreamUrl {
            https: true,
            host: "backend.internal".into(),
            port: 443,
            base_path: "/base/v1".into()
        }
    );
    assert_eq!(
        upstream.tls,
        Some(UpstreamTls {
            ca: None,
            client_cert: None,
            server_name: None
        })
    );
    let config = ok(&edit(
        "url = \"http://127.0.0.1:8080\"",
        "url = \"http://[::1]/\"",
    ));
    assert_eq!(config.upstreams[0].url.host, "::1");
    assert_eq!(config.upstreams[0].url.port, 80);
    assert_eq!(config.upstreams[0].url.base_path, "");
}

#[test]
fn upstream_tls_settings_are_read() {
    let text = edit(
        "url = \"http://127.0.0.1:8080\"",
        "url = \"https://127.0.0.1:9443\"\n[upstreams.tls]\nca = \"file://ca.pem\"\n\
         client_cert = \"env://CLIENT_CERT\"\nclient_key = \"vault://kv/outscope/client#key\"\n\
         server_name = \"Payments.Internal\"",
    );
    let config = ok(&format!("{text}\n{VAULT}"));
    let tls = config.upstreams[0].tls.clone().unwrap();
    assert_eq!(
        tls.ca,
        Some(SecretRef::File(PathBuf::from("/etc/outscope/ca.pem")))
    );
    assert_eq!(
        tls.client_cert,
        Some(ClientCert {
            cert: SecretRef::Env("CLIENT_CERT".into()),
            key: SecretRef::Vault {
                mount: "kv".into(),
                path: "outscope/client".into(),
                key: "key".into()
            },
        })
    );
    assert_eq!(tls.server_name.as_deref(), Some("payments.internal"));
}

#[test]
fn relative_file_references_resolve_against_the_config_directory() {
    let text = edit(
        "cert = \"file:///etc/outscope/tls/api.crt\"",
        "cert = \"file://tls/api.crt\"",
    );
    let config = parse(&text, Path::new("/srv/outscope")).unwrap();
    assert_eq!(
        config.listeners[0].tls.certificates[0].cert,
        SecretRef::File("/srv/outscope/tls/api.crt".into())
    );
    assert_eq!(
        config.listeners[0].tls.certificates[0].key,
        SecretRef::File("/etc/outscope/tls/api.key".into())
    );
}

#[test]
fn names_methods_headers_and_hosts_are_normalised() {
    // The fixture's catch-all route is narrowed so the new route is reachable.
    let narrowed = edit("path_prefix = \"/\"", "path_prefix = \"/health\"");
    let config = ok(&format!(
        "{narrowed}\n{}",
        "[[rate_limits]]\nname = \"by-key\"\nkey = \"header:X-Api-Key\"\nrequests = 5\nper = \"1m\"\n\
         [[routes]]\nname = \"wild\"\nhost = \"*.Example.COM\"\nmethods = [\"post\", \"Get\"]\n\
         path = \"/v1/pay\"\nupstream = \"api\"\nrate_limits = [\"by-key\"]\nhost_header = \"set:Backend.Internal:8443\"\n\
         allow_upgrade = true\nmax_body_bytes = 10",
    ));
    let route = &config.routes[1];
    assert_eq!(route.host, Some(HostMatch::Suffix(".example.com".into())));
    assert_eq!(route.methods, ["POST", "GET"]);
    assert_eq!(route.path, PathMatch::Exact("/v1/pay".into()));
    assert_eq!(
        route.host_header,
        HostHeader::Set("backend.internal:8443".into())
    );
    assert_eq!(route.rate_limits, [0]);
    assert!(route.allow_upgrade);
    assert_eq!(route.max_body_bytes, 10);
    assert_eq!(
        config.rate_limits[0].key,
        RateLimitKey::Header("x-api-key".into())
    );
    let config = ok(&before(
        "[request_id]\nheader = \"X-Correlation-Id\"\ntrust_incoming = true",
    ));
    assert_eq!(
        config.request_id,
        RequestId {
            header: "x-correlation-id".into(),
            trust_incoming: true
        }
    );
}

#[test]
fn exact_hosts_and_the_other_host_header_modes() {
    let route = |extra: &str| {
        ok(&edit(
            "path_prefix = \"/\"",
            &format!("path_prefix = \"/\"\n{extra}"),
        ))
        .routes
        .remove(0)
    };
    assert_eq!(
        route("host = \"API.example.com\"").host,
        Some(HostMatch::Exact("api.example.com".into()))
    );
    assert_eq!(
        route("host_header = \"upstream\"").host_header,
        HostHeader::Upstream
    );
    assert_eq!(
        route("host_header = \"preserve\"").host_header,
        HostHeader::Preserve
    );
}

#[test]
fn rate_limit_defaults_burst_to_requests_and_redis_errors_to_local() {
    // Certificate-subject keys need a listener that asks for client certificates.
    let mtls = edit(
        "[listeners.tls]",
        "[listeners.tls]\nclient_auth = \"optional\"\nclient_ca = \"file:///ca.pem\"",
    );
    let config = ok(&format!(
        "{mtls}\n{}",
        "[redis]\nurl = \"redis://127.0.0.1:6379\"\n\
         [[rate_limits]]\nname = \"a\"\nkey = \"client_ip\"\nrequests = 7\nper = \"10s\"\n\
         [[rate_limits]]\nname = \"b\"\nkey = \"route\"\nrequests = 1\nper = \"1h\"\nburst = 3\nbackend = \"redis\"\n\
         [[rate_limits]]\nname = \"c\"\nkey = \"client_cert_subject\"\nrequests = 1\nper = \"1s\"\nbackend = \"redis\"\non_redis_error = \"fail_closed\"",
    ));
    let [a, b, c] = &config.rate_limits[..] else {
        panic!("three limits")
    };
    assert_eq!(
        (a.requests, a.burst),
        (NonZeroU32::new(7).unwrap(), NonZeroU32::new(7).unwrap())
    );
    assert_eq!(a.backend, RateLimitBackend::Local);
    assert_eq!(a.key, RateLimitKey::ClientIp);
    assert_eq!(b.burst, NonZeroU32::new(3).unwrap());
    assert_eq!(b.per, Duration::from_secs(3600));
    assert_eq!(
        b.backend,
        RateLimitBackend::Redis {
            on_error: OnRedisError::Local
        }
    );
    assert_eq!(
        c.backend,
        RateLimitBackend::Redis {
            on_error: OnRedisError::FailClosed
        }
    );
    assert_eq!(c.key, RateLimitKey::ClientCertSubject);
    assert_eq!(
        config.redis,
        Some(Redis {
            url: "redis://127.0.0.1:6379".into(),
            cluster: false,
            username: None,
            password: None,
            key_prefix: "outscope".into(),
            key_secret: None,
            timeout: Duration::from_millis(100),
        })
    );
}

#[test]
fn client_auth_modes_carry_their_ca() {
    let tls = |mode: &str| {
        ok(&edit(
            "[listeners.tls]",
            &format!("[listeners.tls]\nclient_auth = \"{mode}\"\nclient_ca = \"file:///ca.pem\""),
        ))
        .listeners
        .remove(0)
        .tls
    };
    let ca = SecretRef::File("/ca.pem".into());
    assert_eq!(
        tls("optional").client_auth,
        ClientAuth::Optional { ca: ca.clone() }
    );
    assert_eq!(tls("required").client_auth, ClientAuth::Required { ca });
}

#[test]
fn zero_drain_delay_port_zero_and_bare_proxy_addresses_are_allowed() {
    let config = ok(&before(
        "[shutdown]\ndrain_delay = \"0s\"\n[admin]\naddress = \"127.0.0.1:0\"\n\
         [forwarding]\ntrusted_proxies = [\"192.0.2.7\", \"10.1.2.3/8\", \"::1\"]",
    )
    .replace("127.0.0.1:8443", "127.0.0.1:0"));
    assert_eq!(config.shutdown.drain_delay, Duration::ZERO);
    assert_eq!(config.listeners[0].address.port(), 0);
    let single = ok(&before("[runtime]\nworker_threads = 1"));
    assert_eq!(single.runtime.worker_threads, Some(1));
    let nets: Vec<String> = config
        .forwarding
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["192.0.2.7/32", "10.0.0.0/8", "::1/128"]);
}

#[test]
fn more_specific_routes_before_a_catch_all_are_fine_and_prefixes_lose_trailing_slashes() {
    let text = MINIMAL.replace(
        "[[routes]]",
        "[[routes]]\nname = \"v1\"\npath_prefix = \"/v1/\"\nupstream = \"api\"\n\n[[routes]]",
    );
    let config = ok(&text);
    assert_eq!(config.routes[0].path, PathMatch::Prefix("/v1".into()));
    assert_eq!(config.routes[1].path, PathMatch::Prefix("/".into()));
    let config = ok(&edit("path_prefix = \"/\"", "path_prefix = \"//\""));
    assert_eq!(config.routes[0].path, PathMatch::Prefix("/".into()));
}

#[test]
fn inline_tables_and_dotted_keys_read_the_same_as_headers() {
    let inline = r#"
listeners = [{ name = "public", address = "127.0.0.1:8443", tls = { certificates = [
    { cert = "file:///etc/outscope/tls/api.crt", key = "file:///etc/outscope/tls/api.key" },
] } }]
upstreams = [{ name = "api", url = "http://127.0.0.1:8080" }]
routes = [{ name = "all", path_prefix = "/", upstream = "api" }]
limits.max_headers = 50
"#;
    let config = ok(inline);
    let mut expected = ok(MINIMAL);
    expected.limits.max_headers = 50;
    assert_eq!(config, expected);
}
