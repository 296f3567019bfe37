//! `outscope scan`: data discovery over files (PCI DSS 12.5.2). STUB: the scanner helper owns this file.

use std::process::ExitCode;

/// Arguments of `outscope scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files or directories to scan (`-` for stdin).
    #[arg(required = true)]
    pub paths: Vec<std::path::PathBuf>,
}

/// Runs the scan; exit 0 nothing found, 1 findings, 2 errors.
pub fn run(_args: &ScanArgs) -> ExitCode {
    ExitCode::from(2)
}
