//! The command line: `run`, `validate`, `config example`, `version`, `scan`, `vault rewrap`.
//! Every flag can also come from an `OUTSCOPE_*` environment variable.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Exit code for configuration errors (sysexits.h `EX_CONFIG`).
pub const EXIT_CONFIG: u8 = 78;

#[derive(Debug, Parser)]
#[command(
    name = "outscope",
    version,
    about = "Self-hosted tokenizing payment edge proxy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the proxy.
    Run {
        /// Configuration file.
        #[arg(short, long, env = "OUTSCOPE_CONFIG")]
        config: PathBuf,
    },
    /// Check a configuration file: every problem, with its key path. Exit 0 valid, 78 not.
    Validate {
        /// Configuration file.
        #[arg(short, long, env = "OUTSCOPE_CONFIG")]
        config: PathBuf,
        /// Do not open certificate, key or other referenced files.
        #[arg(long, env = "OUTSCOPE_OFFLINE")]
        offline: bool,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print version and build information.
    Version,
    /// Run the proxy on 127.0.0.1 with a throw-away certificate and an echo backend.
    Demo(crate::demo::DemoArgs),
    /// Probe the admin listener (exit 0 when /readyz answers 200); for container health checks.
    Healthcheck(crate::healthcheck::HealthcheckArgs),
    /// Find card numbers in files (PCI DSS 12.5.2 data discovery).
    Scan(crate::scan::ScanArgs),
    /// Local vault key management.
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
}

#[derive(Debug, Subcommand)]
enum VaultCommand {
    /// Re-encrypt stored records under a data key of the transit key's latest version
    /// (resumable: prints the cursor; safe to interrupt and run again).
    Rewrap(crate::rewrap::RewrapArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a complete, commented, valid configuration.
    Example,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => run(&config),
        Command::Validate { config, offline } => validate(&config, offline),
        Command::Config {
            command: ConfigCommand::Example,
        } => {
            print!("{}", outscope_config::EXAMPLE);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("outscope {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Scan(args) => crate::scan::run(&args),
        Command::Demo(args) => demo(args),
        Command::Healthcheck(args) => crate::healthcheck::run(&args),
        Command::Vault {
            command: VaultCommand::Rewrap(args),
        } => crate::rewrap::run(&args),
    }
}

/// Loads and validates a configuration, printing every problem to stderr.
pub(crate) fn load(
    path: &Path,
    checks: &outscope_config::Checks,
) -> Option<outscope_config::Config> {
    match outscope_config::load_with(path, checks) {
        Ok(config) => Some(config),
        Err(problems) => {
            for p in &problems.0 {
                let at = match (p.line, p.column) {
                    (Some(l), Some(c)) => format!("{}:{l}:{c}: ", path.display()),
                    _ => format!("{}: ", path.display()),
                };
                let key = if p.key_path.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", p.key_path)
                };
                eprintln!("{at}{key}{}", p.message);
            }
            eprintln!("{} problem(s) found", problems.0.len());
            None
        }
    }
}

fn validate(path: &Path, offline: bool) -> ExitCode {
    let checks = if offline {
        outscope_config::Checks::default()
    } else {
        outscope_config::Checks::ALL
    };
    let Some(config) = load(path, &checks) else {
        return ExitCode::from(EXIT_CONFIG);
    };
    if !offline {
        let failures = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(build_for_validate(&config)),
            Err(e) => vec![format!("cannot start the async runtime: {e}")],
        };
        if !failures.is_empty() {
            for failure in &failures {
                eprintln!("{}: {failure}", path.display());
            }
            eprintln!("{} problem(s) found", failures.len());
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    println!(
        "{}: ok ({} listener(s), {} route(s), {} upstream(s))",
        path.display(),
        config.listeners.len(),
        config.routes.len(),
        config.upstreams.len()
    );
    ExitCode::SUCCESS
}

/// Reads every secret (Vault included) and builds the runtime, as `run` would; each
/// failure names its key path and reference, never a value.
async fn build_for_validate(config: &outscope_config::Config) -> Vec<String> {
    let outcome = crate::secrets::Resolver::new().resolve(config, None).await;
    match outcome.resolved {
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        Ok(resolved) => crate::runtime::Runtime::build(
            std::sync::Arc::new(config.clone()),
            std::sync::Arc::new(resolved),
            &crate::app::new_metrics(),
            None,
        )
        .err()
        .map(|e| e.to_string())
        .into_iter()
        .collect(),
    }
}

fn run(path: &Path) -> ExitCode {
    let Some(config) = load(path, &outscope_config::Checks::ALL) else {
        return ExitCode::from(EXIT_CONFIG);
    };
    let log = match init_logging(&config.log) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("cannot set up logging: {e:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match async_runtime(config.runtime).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(path, config, &log)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "outscope stopped");
            ExitCode::FAILURE
        }
    }
}

/// The scheduler `[runtime]` asks for: one worker runs on the current-thread scheduler
/// (nothing to steal from, no cross-thread wake-ups), more on the work-stealing one.
fn async_runtime(settings: outscope_config::Runtime) -> tokio::runtime::Builder {
    match settings.worker_threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    }
}

fn demo(args: crate::demo::DemoArgs) -> ExitCode {
    let log = outscope_config::Log {
        level: "info".into(),
        format: outscope_config::LogFormat::Text,
        access_log: true,
    };
    if let Err(e) = init_logging(&log) {
        eprintln!("cannot set up logging: {e}");
        return ExitCode::FAILURE;
    }
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(crate::demo::run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outscope demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(log: &outscope_config::Log) -> anyhow::Result<outscope_telemetry::LogHandle> {
    let format = match log.format {
        outscope_config::LogFormat::Json => outscope_telemetry::LogFormat::Json,
        outscope_config::LogFormat::Text => outscope_telemetry::LogFormat::Text,
    };
    outscope_telemetry::init_logging(&log.level, format).context("log")
}

/// Runs until SIGTERM/SIGINT, reloading (and reading every secret again) on SIGHUP.
async fn serve(
    path: &Path,
    config: outscope_config::Config,
    log: &outscope_telemetry::LogHandle,
) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    let running = match crate::lifecycle::start(config).await {
        Ok(running) => running,
        Err(crate::lifecycle::StartError::Secrets(errors)) => {
            for e in &errors.0 {
                tracing::error!(key_path = %e.key_path, reference = %e.reference, reason = %e.reason, "secret cannot be read");
            }
            tracing::error!(
                "outscope did not start: {} secret(s) cannot be read",
                errors.0.len()
            );
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
        Err(e) => return Err(e.into()),
    };
    for (addr, name) in running.listen_addrs.iter().zip(
        running
            .app
            .runtime()
            .config
            .listeners
            .iter()
            .map(|l| l.name.clone()),
    ) {
        tracing::info!(listener = %name, address = %addr, "listening");
    }
    tracing::info!(address = %running.admin_addr, "admin endpoints: /livez /readyz /metrics");
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    loop {
        tokio::select! {
            _ = hup.recv() => match running.reload_file(path).await {
                Ok(()) => {
                    let level = running.app.runtime().config.log.level.clone();
                    if let Err(e) = log.set_level(&level) {
                        tracing::warn!(error = %e, "log level unchanged");
                    }
                    tracing::info!("configuration reloaded");
                }
                Err(e) => tracing::error!(error = %e, "reload refused; keeping the running configuration"),
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("draining");
    let clean = running.shutdown().await;
    tracing::info!(clean, "stopped");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::async_runtime;
    use outscope_config::Runtime;
    use tokio::runtime::RuntimeFlavor;

    fn flavor_and_workers(worker_threads: Option<usize>) -> (RuntimeFlavor, usize) {
        let rt = async_runtime(Runtime { worker_threads })
            .enable_all()
            .build()
            .unwrap();
        let metrics = rt.metrics();
        (rt.handle().runtime_flavor(), metrics.num_workers())
    }

    #[test]
    fn one_worker_runs_the_current_thread_scheduler_and_more_the_work_stealing_one() {
        assert_eq!(
            flavor_and_workers(Some(1)),
            (RuntimeFlavor::CurrentThread, 1)
        );
        assert_eq!(flavor_and_workers(Some(3)), (RuntimeFlavor::MultiThread, 3));
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(flavor_and_workers(None), (RuntimeFlavor::MultiThread, cpus));
    }
}
