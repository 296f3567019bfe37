//! `outscope healthcheck`: a dependency-free probe of the admin listener, for container
//! HEALTHCHECK lines and scripts (distroless images have no curl).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `outscope healthcheck`.
#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The admin listener's address.
    #[arg(long, env = "OUTSCOPE_ADMIN_ADDRESS", default_value = "127.0.0.1:9901")]
    pub admin: SocketAddr,
    /// The endpoint to probe: /readyz (ready to serve) or /livez (alive).
    #[arg(long, default_value = "/readyz", value_parser = ["/readyz", "/livez"])]
    pub path: String,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

/// Exit 0 when the endpoint answers 200, 1 otherwise.
pub fn run(args: &HealthcheckArgs) -> ExitCode {
    match probe(args) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("{} answered {status}", args.path);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cannot reach the admin listener at {}: {e}", args.admin);
            ExitCode::FAILURE
        }
    }
}

fn probe(args: &HealthcheckArgs) -> std::io::Result<u16> {
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let mut tcp = TcpStream::connect_timeout(&args.admin, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    write!(
        tcp,
        "GET {} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
        args.path
    )?;
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head)?;
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response"))
}
