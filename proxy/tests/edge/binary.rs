//! The `outscope` binary as an operator uses it: `validate`, `config example`, `version`,
//! and `run` driven by SIGHUP and SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_outscope");

fn outscope(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("OUTSCOPE_CONFIG")
        .output()
        .unwrap()
}

/// A configuration file for `pki`'s certificate in front of `upstream`.
fn write_config(pki: &Pki, upstream: &Upstream, extra_route: &str) -> std::path::PathBuf {
    let server = pki.server("bin-server", &["localhost"]);
    let (cert, key) = match (&server.cert, &server.key) {
        (outscope_config::SecretRef::File(c), outscope_config::SecretRef::File(k)) => {
            (c.clone(), k.clone())
        }
        _ => unreachable!(),
    };
    let text = format!(
        r#"
[admin]
address = "127.0.0.1:0"
[log]
level = "info"
format = "json"
[shutdown]
drain_delay = "0s"
drain_timeout = "5s"
[[listeners]]
name = "public"
address = "127.0.0.1:0"
[listeners.tls]
[[listeners.tls.certificates]]
cert = "file://{cert}"
key = "file://{key}"
server_names = ["localhost"]
[[upstreams]]
name = "backend"
url = "{url}"
{extra_route}
[[routes]]
name = "all"
path_prefix = "/"
upstream = "backend"
"#,
        cert = cert.display(),
        key = key.display(),
        url = upstream.url(),
    );
    let path = pki.path("outscope.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn version_prints_the_crate_version() {
    let out = outscope(&["version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_example_configuration_is_valid() {
    let out = outscope(&["config", "example"]);
    assert!(out.status.success());
    let dir = Pki::new("example");
    let path = dir.path("example.toml");
    std::fs::write(&path, &out.stdout).unwrap();
    let check = outscope(&["validate", "--offline", "-c", path.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn validate_lists_every_problem_with_its_key_path_and_exits_78() {
    let dir = Pki::new("bad");
    let path = dir.path("bad.toml");
    std::fs::write(
        &path,
        r#"[[listeners]]
name = "public"
address = "not-an-address"
[listeners.tls]
[[listeners.tls.certificates]]
cert = "sk_live_pasted_secret_value"
key = "file:///k.pem"
[[upstreams]]
name = "api"
url = "http://127.0.0.1:1"
[[routes]]
name = "r"
path_prefix = "/"
upstream = "missing"
"#,
    )
    .unwrap();
    let out = outscope(&["validate", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listeners[0].address"), "{err}");
    assert!(err.contains("routes[0].upstream"), "{err}");
    assert!(err.contains(":3:"), "line numbers are given: {err}");
    assert!(
        !err.contains("sk_live_pasted_secret_value"),
        "a pasted secret must not be echoed: {err}"
    );
}

#[tokio::test]
async fn validate_opens_the_certificate_files() {
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let path = write_config(&pki, &upstream, "");
    let ok = outscope(&["validate", "-c", path.to_str().unwrap()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    std::fs::remove_file(pki.path("bin-server.key")).unwrap();
    let missing = outscope(&["validate", "-c", path.to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(78));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("listeners[0].tls.certificates[0].key"),
        "the missing key file is named by its key path: {err}"
    );
    let offline = outscope(&["validate", "--offline", "-c", path.to_str().unwrap()]);
    assert!(offline.status.success(), "--offline does not open files");
}

#[test]
fn flags_can_come_from_the_environment() {
    let dir = Pki::new("env");
    let path = dir.path("empty.toml");
    std::fs::write(&path, "").unwrap();
    let out = Command::new(BIN)
        .args(["validate", "--offline"])
        .env("OUTSCOPE_CONFIG", &path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(78),
        "OUTSCOPE_CONFIG was read and the empty file refused"
    );
}

/// A running `outscope run` and its JSON log lines.
struct Process {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Process {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(BIN)
            .args(["run", "-c", config.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Self { child, lines }
    }

    /// Waits for a log line containing `needle`.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100))
                && line.contains(needle)
            {
                return line;
            }
        }
        panic!("no log line containing {needle:?}");
    }

    /// SIGTERM: the process drains, logs `stopped` and exits 0.
    async fn stop_with_sigterm(mut self) {
        self.signal("-TERM");
        self.wait_for("stopped");
        let status = tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(0), "SIGTERM drains and exits 0");
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_addr(line: &str) -> std::net::SocketAddr {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["address"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn run_reloads_on_sighup_and_drains_on_sigterm() {
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let path = write_config(&pki, &upstream, "");
    let proc = Process::start(&path);
    let addr = listening_addr(&proc.wait_for("\"listening\""));
    let client = Client::new(&pki, addr);
    assert_eq!(client.get("/before").await.status, 200);

    // A good reload: a new route in front of the catch-all sets the Host for /v2.
    let extra = "[[routes]]\nname = \"v2\"\npath = \"/v2\"\nupstream = \"backend\"\nhost_header = \"set:reloaded.test\"\n";
    write_config(&pki, &upstream, extra);
    proc.signal("-HUP");
    proc.wait_for("configuration reloaded");
    assert_eq!(client.get("/v2").await.status, 200);
    assert_eq!(
        upstream.seen().last().unwrap().headers["host"],
        "reloaded.test",
        "the new route is in effect"
    );

    // A bad reload keeps the running configuration.
    std::fs::write(&path, "this is not toml = [").unwrap();
    proc.signal("-HUP");
    proc.wait_for("reload refused");
    assert_eq!(client.get("/after-bad-reload").await.status, 200);

    proc.stop_with_sigterm().await;
}

#[tokio::test]
async fn a_single_worker_thread_serves_reloads_and_drains() {
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let single = "[runtime]\nworker_threads = 1\n";
    let path = write_config(&pki, &upstream, single);
    let proc = Process::start(&path);
    let addr = listening_addr(&proc.wait_for("\"listening\""));
    let client = Client::new(&pki, addr);
    for i in 0..20 {
        assert_eq!(client.get(&format!("/one/{i}")).await.status, 200);
    }

    // Changing the thread count needs a restart: the reload is refused, serving goes on.
    write_config(&pki, &upstream, "[runtime]\nworker_threads = 2\n");
    proc.signal("-HUP");
    let refused = proc.wait_for("reload refused");
    assert!(refused.contains("runtime.worker_threads"), "{refused}");
    assert_eq!(client.get("/after").await.status, 200);

    proc.stop_with_sigterm().await;
}

#[tokio::test]
async fn healthcheck_probes_the_admin_listener() {
    let stack = Stack::start(|_, _| {}).await;
    let admin = stack.proxy.running.admin_addr.to_string();
    let check = |path: &'static str, admin: String| async move {
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(["healthcheck", "--admin", &admin, "--path", path])
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert!(check("/readyz", admin.clone()).await.status.success());
    assert!(check("/livez", admin.clone()).await.status.success());
    stack.proxy.running.app.health.start_draining();
    assert_eq!(
        check("/readyz", admin.clone()).await.status.code(),
        Some(1),
        "not ready while draining"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    assert_eq!(check("/livez", closed).await.status.code(), Some(1));
}

#[tokio::test]
async fn the_demo_turns_a_card_into_a_token() {
    let dir = Pki::new("demo-test");
    let ca_out = dir.path("demo-ca.pem");
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--ca-out",
            ca_out.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let port: u16 = first
        .split("https://localhost:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    let ca = std::fs::read_to_string(&ca_out).unwrap();
    let client = Client::with_ca(&ca, ([127, 0, 0, 1], port).into());
    let body = r#"{"amount":1200,"card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}}"#;
    let mut req = request(
        "POST",
        "/v1/payments",
        "localhost",
        bytes::Bytes::from_static(body.as_bytes()),
    );
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    let resp = client.send(req).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(resp.status, 200);
    let echoed = resp.json();
    let card = &echoed["body"]["card"];
    assert!(
        card["token"].as_str().unwrap().starts_with("tok_"),
        "{echoed}"
    );
    assert_eq!(card["last4"], "4242");
    let text = String::from_utf8_lossy(&resp.body);
    assert!(
        !text.contains("4242424242424242") && !text.contains("\"123\""),
        "{text}"
    );
}
