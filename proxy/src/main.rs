//! The `outscope` binary: parse the command line, hand over to [`outscope::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    outscope::cli::main()
}
