//! Scanner throughput on 64 MiB of generated JSON API traffic, against the naive oracle,
//! `regex` + Luhn, and `memchr` of an absent byte (the read ceiling), in one run.
//!
//! `cargo bench -p outscope-scanner --bench scan` (about 3 minutes). Set
//! `OUTSCOPE_BENCH_MIB` to change the corpus size.

#![allow(clippy::expect_used)] // a bench may stop on setup errors

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use outscope_scanner::{Isa, Mode, Scanner, available_isas, oracle};
use std::hint::black_box;
use std::time::Duration;

#[path = "support/corpus.rs"]
mod corpus;

fn luhn(d: &[u8]) -> bool {
    let mut s = 0;
    for (i, &b) in d.iter().rev().enumerate() {
        let v = u32::from(b - b'0');
        s += if i % 2 == 1 {
            if v * 2 > 9 { v * 2 - 9 } else { v * 2 }
        } else {
            v
        };
    }
    s % 10 == 0
}

fn regex_luhn(re: &regex::bytes::Regex, hay: &[u8]) -> usize {
    let mut n = 0;
    let mut digits = Vec::with_capacity(32);
    for m in re.find_iter(hay) {
        digits.clear();
        digits.extend(m.as_bytes().iter().filter(|b| b.is_ascii_digit()));
        if luhn(&digits) {
            n += 1;
        }
    }
    n
}

fn benches(c: &mut Criterion) {
    let mib: usize = std::env::var("OUTSCOPE_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let size = mib << 20;
    let re = regex::bytes::Regex::new(r"(?-u)\b(?:[0-9][ -]?){12,18}[0-9]\b").expect("regex");
    let corpora = [
        ("clean", corpus::Kind::Clean),
        ("pan_dense", corpus::Kind::PanDense),
        ("all_numeric", corpus::Kind::AllNumeric),
    ];
    for (name, kind) in corpora {
        let (data, docs) = corpus::generate(kind, size, 0x5EED);
        let mut g = c.benchmark_group(name);
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        g.throughput(Throughput::Bytes(data.len() as u64));

        g.bench_function("memchr_absent_byte", |b| {
            b.iter(|| memchr::memchr(0x01, black_box(&data)))
        });
        g.bench_function("regex_luhn", |b| {
            b.iter(|| regex_luhn(&re, black_box(&data)))
        });

        for isa in available_isas() {
            let raw = Scanner::with_isa(Mode::Raw, isa).expect("isa");
            g.bench_with_input(
                BenchmarkId::new("outscope_raw", format!("{isa:?}")),
                &data,
                |b, d| b.iter(|| raw.scan(black_box(d)).len()),
            );
        }
        let isa = outscope_scanner::detected_isa();
        let json = Scanner::with_isa(Mode::Json, isa).expect("isa");
        g.bench_function(
            BenchmarkId::new("outscope_json_per_doc", format!("{isa:?}")),
            |b| {
                b.iter(|| {
                    docs.iter()
                        .map(|&(s, e)| json.scan(black_box(&data[s..e])).len())
                        .sum::<usize>()
                })
            },
        );
        // The other vector ISAs in the same run, for comparison.
        for other in [Isa::Avx512, Isa::Avx2, Isa::Sse2] {
            if other == isa || !available_isas().contains(&other) {
                continue;
            }
            let s = Scanner::with_isa(Mode::Json, other).expect("isa");
            g.bench_function(
                BenchmarkId::new("outscope_json_per_doc", format!("{other:?}")),
                |b| {
                    b.iter(|| {
                        docs.iter()
                            .map(|&(a, e)| s.scan(black_box(&data[a..e])).len())
                            .sum::<usize>()
                    })
                },
            );
        }
        g.bench_function(
            BenchmarkId::new("outscope_json_stream_64k_chunks", format!("{isa:?}")),
            |b| {
                b.iter(|| {
                    let mut st = json.stream();
                    let mut out = Vec::new();
                    for chunk in data.chunks(64 << 10) {
                        st.feed(black_box(chunk), &mut out);
                    }
                    st.finish(&mut out);
                    out.len()
                })
            },
        );
        // The oracle is slow: it runs on the first 4 MiB (throughput is per byte).
        let small = &data[..data.len().min(4 << 20)];
        g.throughput(Throughput::Bytes(small.len() as u64));
        g.bench_function("naive_oracle_4MiB", |b| {
            b.iter(|| oracle::raw(black_box(small)).len())
        });
        g.finish();
    }
}

criterion_group!(scan, benches);
criterion_main!(scan);
