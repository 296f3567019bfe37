//! The `outscope` binary: parse the command line, hand over to [`outscope::cli`].

use std::process::ExitCode;

/// mimalloc: the request path allocates many small, short-lived buffers; glibc's malloc
/// spent about a sixth of the inspection path's time on them (perf, loadtest/inspection-overhead).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    outscope::cli::main()
}
