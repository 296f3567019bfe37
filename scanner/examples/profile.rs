//! Runs one scan in a loop for profiling: `cargo run --release --example profile -- json clean`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a profiling helper
#[path = "../benches/support/corpus.rs"]
mod corpus;
use outscope_scanner::{Mode, Scanner};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let stream = args.get(1).map(String::as_str) == Some("jsonstream");
    let mode = match args.get(1).map(String::as_str) {
        Some("json" | "jsonstream") => Mode::Json,
        Some("form") => Mode::Form,
        _ => Mode::Raw,
    };
    let kind = match args.get(2).map(String::as_str) {
        Some("dense") => corpus::Kind::PanDense,
        Some("numeric") => corpus::Kind::AllNumeric,
        _ => corpus::Kind::Clean,
    };
    let (data, docs) = corpus::generate(kind, 16 << 20, 0x5EED);
    let s = Scanner::new(mode);
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
        for &&(a, b) in exact.iter().take(3) {
            println!("{}", String::from_utf8_lossy(&data[a..b]));
        }
        for f in s.scan(&data).iter().take(8) {
            println!(
                "{f:?} {:?}",
                String::from_utf8_lossy(&data[f.span.start.saturating_sub(20)..f.span.end + 5])
            );
        }
        return;
    }
    let t = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..5 {
        if stream {
            let mut st = s.stream();
            let mut out = Vec::new();
            for c in data.chunks(64 << 10) {
                st.feed(c, &mut out);
            }
            st.finish(&mut out);
            n += out.len();
        } else if mode == Mode::Json {
            n += docs
                .iter()
                .map(|&(a, b)| s.scan(&data[a..b]).len())
                .sum::<usize>();
        } else {
            n += s.scan(&data).len();
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{n} findings, {:.3} GB/s",
        5.0 * data.len() as f64 / secs / 1e9
    );
}
