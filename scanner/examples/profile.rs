//! Runs one scan in a loop for profiling: `cargo run --release --example profile -- json clean`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a profiling helper
#[path = "../benches/support/corpus.rs"]
mod corpus;
use outscope_scanner::{Mode, Scanner};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let stream = args.get(1).map(String::as_str) == Some("jsonstream");
    let filter = args.get(1).map(String::as_str) == Some("jsonfilter");
    // Raw mode document by document (as `json` runs), to tell per-document costs apart.
    let rawdoc = args.get(1).map(String::as_str) == Some("rawdoc");
    let mode = match args.get(1).map(String::as_str) {
        Some("json" | "jsonstream" | "jsonfilter") => Mode::Json,
        Some("form") => Mode::Form,
        _ => Mode::Raw,
    };
    let kind = match args.get(2).map(String::as_str) {
        Some("dense") => corpus::Kind::PanDense,
        Some("numeric") => corpus::Kind::AllNumeric,
        _ => corpus::Kind::Clean,
    };
    let mib: usize = std::env::var("OUTSCOPE_PROFILE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let (data, docs) = corpus::generate(kind, mib << 20, 0x5EED);
    let s = match std::env::var("OUTSCOPE_ISA").as_deref() {
        Ok("avx512") => Scanner::with_isa(mode, outscope_scanner::Isa::Avx512).unwrap(),
        Ok("avx2") => Scanner::with_isa(mode, outscope_scanner::Isa::Avx2).unwrap(),
        Ok("sse2") => Scanner::with_isa(mode, outscope_scanner::Isa::Sse2).unwrap(),
        _ => Scanner::new(mode),
    };
    if args.get(3).is_some() {
        let exact: Vec<_> = docs
            .iter()
            .filter(|&&(a, b)| outscope_scanner::json_needs_exact(&data[a..b]))
            .collect();
        println!(
            "{} of {} documents need the exact machine",
            exact.len(),
            docs.len()
        );
        // Never print document bytes: they may hold card numbers.
        for f in s.scan(&data).iter().take(8) {
            println!("{f:?}");
        }
        return;
    }
    let reps: usize = std::env::var("OUTSCOPE_PROFILE_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let t = std::time::Instant::now();
    let cpu0 = cpu_seconds();
    let mut n = 0;
    for _ in 0..reps {
        if filter {
            n += docs
                .iter()
                .filter(|&&(a, b)| outscope_scanner::json_needs_exact(&data[a..b]))
                .count();
        } else if stream {
            let mut st = s.stream();
            let mut out = Vec::new();
            for c in data.chunks(64 << 10) {
                st.feed(c, &mut out);
            }
            st.finish(&mut out);
            n += out.len();
        } else if mode == Mode::Json || rawdoc {
            n += docs
                .iter()
                .map(|&(a, b)| s.scan(&data[a..b]).len())
                .sum::<usize>();
        } else {
            n += s.scan(&data).len();
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let bytes = reps as f64 * data.len() as f64;
    println!(
        "{n} findings, {:.3} GB/s wall, {:.3} GB/s per CPU second",
        bytes / secs / 1e9,
        bytes / cpu / 1e9
    );
}

/// CPU time of this thread in seconds (Linux `/proc/thread-self/schedstat`, nanoseconds),
/// steadier than wall time on a shared machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns: f64 = stat
        .split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0.0);
    ns / 1e9
}
