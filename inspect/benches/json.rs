//! The span-preserving JSON parser on request bodies shaped like the proxy's traffic: a
//! 1 KiB checkout and a 256 KiB one (one card object, then line items; the protect bench's
//! bodies), and a 256 KiB pretty-printed document with long strings (whitespace, escapes
//! and non-ASCII text). Throughput in bytes.
//!
//!   cargo bench -p outscope-inspect --bench json

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use outscope_inspect::json::{JsonLimits, parse};

#[path = "support/checkout.rs"]
mod support;
use support::checkout;

/// Pretty-printed notes with long strings, an escape or two and accented text.
fn notes(size: usize) -> Vec<u8> {
    let mut out = String::from("{\n  \"notes\": [\n");
    let mut i = 0;
    while out.len() + 200 < size {
        out.push_str(&format!(
            "    {{\n      \"id\": {i},\n      \"author\": \"Zoë Müller\",\n      \"text\": \"Delivered to the \\\"back door\\\" as asked; customer rang twice, left a note about the gate code and the dog.\"\n    }},\n"
        ));
        i += 1;
    }
    out.push_str("    {}\n  ]\n}\n");
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("inspect_json_parse");
    for (name, body) in [
        ("checkout_1k", checkout(0)),
        ("checkout_256k", checkout(256 * 1024)),
        ("notes_256k", notes(256 * 1024)),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                parse(std::hint::black_box(&body), JsonLimits::default()).map(|d| d.nodes.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
