//! A child service process: spawn on a free port, wait until it answers, kill on drop.

use std::fs::{self, File};
use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a service may take to answer after it was spawned.
pub(crate) const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
/// Attempts at finding a port nobody grabbed between our probe and the child's bind.
const PORT_ATTEMPTS: u32 = 8;

/// What a service needs to be started.
pub(crate) struct Recipe<'a> {
    /// Human name for messages, e.g. "redis-server".
    pub name: &'a str,
    /// Binary looked up on PATH.
    pub program: &'a str,
    /// How to install the binary, quoted in the panic message when it is missing.
    pub install_hint: &'a str,
    /// Also require `port + 1` to be free (OpenBao's cluster listener).
    pub needs_next_port: bool,
    /// Probe the port on all interfaces (the service binds `::`, not loopback).
    pub binds_all_interfaces: bool,
}

/// A running child process and its scratch directory (holding its log).
pub(crate) struct ServiceProcess {
    name: String,
    program: String,
    install_hint: String,
    args: Vec<String>,
    ready: fn(u16) -> bool,
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

/// Why one start attempt failed.
enum Attempt {
    /// The port was taken between our probe and the child's bind: retry with another.
    PortTaken,
}

impl ServiceProcess {
    /// Spawns `args(port)` until one attempt answers `ready(port)`, or panics with the reason.
    pub(crate) fn start(
        recipe: &Recipe<'_>,
        args: impl Fn(u16, &PathBuf) -> Vec<String>,
        ready: fn(u16) -> bool,
    ) -> Self {
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port(recipe);
            let dir = scratch_dir(recipe.name, port);
            if let Err(err) = fs::create_dir_all(&dir) {
                panic!(
                    "{}: cannot create scratch dir {}: {err}",
                    recipe.name,
                    dir.display()
                );
            }
            let mut process = Self {
                name: recipe.name.to_owned(),
                program: recipe.program.to_owned(),
                install_hint: recipe.install_hint.to_owned(),
                args: args(port, &dir),
                ready,
                child: None,
                port,
                dir,
            };
            process.spawn();
            match process.wait_ready() {
                Ok(()) => return process,
                Err(Attempt::PortTaken) => drop(process),
            }
        }
        panic!(
            "{}: no free port after {PORT_ATTEMPTS} attempts (another process keeps taking them)",
            recipe.name
        );
    }

    /// Starts the child again on the same port (after [`stop`](Self::stop)), e.g. to test
    /// recovery. Panics when it does not come back (the port may have been taken meanwhile).
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.spawn();
        if self.wait_ready().is_err() {
            panic!(
                "{}: port {} was taken while it was stopped",
                self.name, self.port
            );
        }
    }

    fn spawn(&mut self) {
        // Append: a restarted service keeps the log of its previous life.
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("service.log"));
        let log = match log {
            Ok(log) => log,
            Err(err) => panic!("{}: cannot open its log file: {err}", self.name),
        };
        let log_err = match log.try_clone() {
            Ok(log) => log,
            Err(err) => panic!("{}: cannot clone its log file handle: {err}", self.name),
        };
        let spawned = Command::new(&self.program)
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn();
        match spawned {
            Ok(child) => self.child = Some(child),
            Err(err) if err.kind() == io::ErrorKind::NotFound => panic!(
                "{} is not installed (`{}` not found on PATH). Install it with `{}`, \
                 or run `scripts/services start` (it installs what is missing).",
                self.name, self.program, self.install_hint
            ),
            Err(err) => panic!("{}: cannot start `{}`: {err}", self.name, self.program),
        }
    }

    /// Polls `ready` until it answers, the child exits, or the deadline passes.
    fn wait_ready(&mut self) -> Result<(), Attempt> {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if (self.ready)(self.port) {
                return Ok(());
            }
            if let Some(status) = self.exit_status() {
                let log = self.log_tail();
                if log.contains("in use") {
                    return Err(Attempt::PortTaken);
                }
                panic!(
                    "{} exited before answering ({status}); its log:\n{log}",
                    self.name
                );
            }
            if Instant::now() >= deadline {
                let log = self.log_tail();
                panic!(
                    "{} did not answer on 127.0.0.1:{} within {STARTUP_DEADLINE:?}; its log:\n{log}",
                    self.name, self.port
                );
            }
            pause(Duration::from_millis(50));
        }
    }

    fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|child| child.try_wait().ok().flatten())
    }

    /// The last 4 KiB of the service's log, for failure messages.
    pub(crate) fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(self.dir.join("service.log")) {
            let _ = file.read_to_string(&mut text);
        }
        let cut = text.len().saturating_sub(4096);
        let start = (cut..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..].to_owned()
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Whether the child is still alive (it may have been stopped or have crashed).
    pub(crate) fn is_running(&mut self) -> bool {
        self.child.is_some() && self.exit_status().is_none()
    }

    /// Kills the child (SIGKILL) and reaps it. Idempotent.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A port that was free a moment ago: bind port 0, read the port, drop the listener.
fn free_port(recipe: &Recipe<'_>) -> u16 {
    for _ in 0..PORT_ATTEMPTS {
        let Some(port) = probe_port(0, recipe.binds_all_interfaces) else {
            continue;
        };
        if !recipe.needs_next_port
            || port
                .checked_add(1)
                .and_then(|next| probe_port(next, recipe.binds_all_interfaces))
                .is_some()
        {
            return port;
        }
    }
    panic!("{}: cannot find a free port on 127.0.0.1", recipe.name);
}

/// Binds `port` (0: any) and returns the bound port, or `None` when it is taken.
fn probe_port(port: u16, all_interfaces: bool) -> Option<u16> {
    let addr = if all_interfaces {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))
    } else {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    };
    let listener = TcpListener::bind(addr).ok()?;
    // `[::]` is dual-stack on Linux, so one bind covers the IPv4 side too.
    listener.local_addr().ok().map(|addr| addr.port())
}

fn scratch_dir(name: &str, port: u16) -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "outscope-testkit-{name}-{}-{port}-{seq}",
        std::process::id()
    ))
}

/// The one place this crate waits: between probes of a starting child, always under a
/// deadline. Rate-limit logic never sleeps; this only paces polling of an external process.
#[allow(
    clippy::disallowed_methods,
    reason = "bounded poll of a child process starting up"
)]
pub(crate) fn pause(duration: Duration) {
    std::thread::sleep(duration);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "Install it with `apt-get install -y no-such-package`")]
    fn a_missing_binary_fails_with_an_install_hint() {
        let recipe = Recipe {
            name: "no-such-service",
            program: "outscope-testkit-no-such-binary",
            install_hint: "apt-get install -y no-such-package",
            needs_next_port: false,
            binds_all_interfaces: false,
        };
        ServiceProcess::start(&recipe, |_, _| Vec::new(), |_| false);
    }

    #[test]
    #[should_panic(expected = "exited before answering")]
    fn a_service_that_dies_at_start_fails_with_its_log() {
        let recipe = Recipe {
            name: "false",
            program: "false",
            install_hint: "apt-get install -y coreutils",
            needs_next_port: false,
            binds_all_interfaces: false,
        };
        ServiceProcess::start(&recipe, |_, _| Vec::new(), |_| false);
    }

    #[test]
    fn a_free_port_pair_is_bindable() {
        let recipe = Recipe {
            name: "probe",
            program: "true",
            install_hint: "",
            needs_next_port: true,
            binds_all_interfaces: false,
        };
        let port = free_port(&recipe);
        let first = TcpListener::bind((Ipv4Addr::LOCALHOST, port));
        let second = TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1));
        assert!(
            first.is_ok() && second.is_ok(),
            "port {port} or {} was taken",
            port + 1
        );
    }
}
