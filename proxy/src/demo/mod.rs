//! `outscope demo`: the whole pipeline on one machine with nothing installed. A throw-away
//! CA and certificate, the proxy on 127.0.0.1, and an echo backend whose answer shows
//! exactly what it received (or a backend of the user's choosing).

mod echo;
mod pki;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use outscope_config::*;

/// Arguments of `outscope demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address the proxy listens on.
    #[arg(long, env = "OUTSCOPE_DEMO_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Forward to this backend instead of the embedded echo server (http:// or https://).
    #[arg(long, env = "OUTSCOPE_DEMO_UPSTREAM")]
    pub upstream: Option<String>,
    /// Where to write the demo CA certificate (for curl --cacert).
    #[arg(
        long,
        env = "OUTSCOPE_DEMO_CA_OUT",
        default_value = "outscope-demo-ca.pem"
    )]
    pub ca_out: PathBuf,
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "the demo only listens on loopback addresses (got {})",
            args.listen
        );
    }
    let pki = pki::DemoPki::generate().context("generating the demo certificates")?;
    std::fs::write(&args.ca_out, &pki.ca_pem)
        .with_context(|| format!("writing {}", args.ca_out.display()))?;
    let (upstream, _echo) = match &args.upstream {
        Some(url) => (parse_upstream(url)?, None),
        None => {
            let echo = echo::spawn().await.context("starting the echo backend")?;
            let url = UpstreamUrl {
                https: false,
                host: "127.0.0.1".into(),
                port: echo.port(),
                base_path: String::new(),
            };
            (url, Some(echo))
        }
    };
    let config = demo_config(args.listen, &pki, upstream)?;
    let running = crate::lifecycle::start(config)
        .await
        .context("starting the proxy")?;
    let addr = running.listen_addrs[0];
    print_banner(addr, &args);
    wait_for_stop().await;
    running.shutdown().await;
    Ok(())
}

fn print_banner(addr: SocketAddr, args: &DemoArgs) {
    let backend = args
        .upstream
        .as_deref()
        .unwrap_or("the embedded echo backend");
    let ca = args.ca_out.display();
    println!(
        "outscope demo: https://localhost:{} -> {backend}",
        addr.port()
    );
    println!("CA certificate written to {ca}\n");
    println!("Try it:\n");
    println!(
        "curl --cacert {ca} https://localhost:{}/v1/payments \\\n  -H 'content-type: application/json' \\\n  -d '{{\"amount\":1200,\"card\":{{\"number\":\"4242424242424242\",\"exp_month\":12,\"exp_year\":2030,\"cvc\":\"123\"}}}}'\n",
        addr.port()
    );
    println!("The echo backend answers with exactly what it received: a token, last4 and brand");
    println!("where the card was. Cards live in an in-memory vault, gone when the demo stops.");
    println!("Ctrl-C stops the demo.");
}

async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn parse_upstream(url: &str) -> anyhow::Result<UpstreamUrl> {
    let uri: http::Uri = url.parse().context("--upstream is not a URL")?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => bail!("--upstream must start with http:// or https://"),
    };
    let host = uri
        .host()
        .context("--upstream has no host")?
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let base_path = uri.path().trim_end_matches('/').to_owned();
    Ok(UpstreamUrl {
        https,
        host,
        port,
        base_path,
    })
}

fn demo_config(listen: SocketAddr, pki: &pki::DemoPki, url: UpstreamUrl) -> anyhow::Result<Config> {
    let (keys, fingerprint_key) = pki.vault_keys().context("writing the demo vault keys")?;
    let tls = url.https.then_some(UpstreamTls {
        ca: None,
        client_cert: None,
        server_name: None,
    });
    Ok(Config {
        listeners: vec![Listener {
            name: "demo".into(),
            address: listen,
            tls: ListenerTls {
                certificates: vec![Certificate {
                    cert: pki.cert_ref(),
                    key: pki.key_ref(),
                    server_names: vec!["localhost".into()],
                }],
                client_auth: ClientAuth::None,
                alpn: vec![Alpn::H2, Alpn::Http11],
            },
        }],
        admin: Admin {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
        },
        limits: Limits {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
            h2_max_concurrent_streams: 128,
        },
        shutdown: Shutdown {
            drain_delay: Duration::ZERO,
            drain_timeout: Duration::from_secs(5),
        },
        runtime: outscope_config::Runtime::default(),
        log: Log {
            level: "info".into(),
            format: LogFormat::Text,
            access_log: true,
        },
        request_id: RequestId {
            header: "x-request-id".into(),
            trust_incoming: false,
        },
        forwarding: Forwarding {
            trusted_proxies: vec![],
        },
        redis: None,
        rate_limits: vec![],
        upstreams: vec![Upstream {
            name: "backend".into(),
            url,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 32,
            tls,
        }],
        routes: vec![Route {
            name: "everything".into(),
            host: None,
            methods: vec![],
            path: PathMatch::Prefix("/".into()),
            upstream: 0,
            rate_limits: vec![],
            host_header: HostHeader::Preserve,
            allow_upgrade: false,
            max_body_bytes: 1024 * 1024,
            inspection: demo_inspection(),
        }],
        tokenizer: Some(Tokenizer::Local(LocalTokenizer {
            keys: Some(keys),
            fingerprint_key,
            store: LocalStore::Memory,
            token_format: TokenFormat::Random,
            envelope: None,
        })),
        vault: None,
    })
}

/// Card rules for the common Stripe-style shapes, and built-in detection that tokenizes
/// everywhere else.
fn demo_inspection() -> Inspection {
    let rule = |json: Option<&str>, form: Option<&str>| CardRule {
        json_path: json.map(str::to_owned),
        form_prefix: form.map(str::to_owned),
        fields: CardFields::default(),
        output: CardOutput::default(),
    };
    Inspection {
        on_detected: OnDetected::Tokenize,
        cards: vec![
            rule(Some("$.card"), Some("card")),
            rule(Some("$.payment_method.card"), Some("payment_method[card]")),
            rule(Some("$.payment_method_data.card"), None),
            rule(Some("$.source"), None),
        ],
        ..Inspection::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_parse() {
        let u = parse_upstream("https://api.example.com:8443/base/").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.base_path.as_str()),
            (true, "api.example.com", 8443, "/base")
        );
        let u = parse_upstream("http://[::1]").unwrap();
        assert_eq!((u.https, u.host.as_str(), u.port), (false, "::1", 80));
        assert!(parse_upstream("ftp://x").is_err());
    }
}
