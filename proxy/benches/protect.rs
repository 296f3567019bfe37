//! What the card-data phases cost per request, in-process (no network): a 1 KiB JSON
//! checkout body with one card object, tokenized by the local vault (memory store), against
//! the same request with inspection off; and the egress check on its own. The same for a
//! 256 KiB checkout (one card object, then line items), the large bodies of the k6 mix.
//!
//! `cargo bench -p outscope --bench protect`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use outscope::body::RequestBody;
use outscope::protect;
use outscope_config::{
    CardRule, Inspection, InspectionMode, LocalStore, LocalTokenizer, OnDetected, SecretRef,
    TokenFormat, Tokenizer,
};

/// The checkout bodies (shared with the inspect parser's bench).
#[path = "../../inspect/benches/support/checkout.rs"]
mod checkout;
use checkout::checkout as body;

fn route(mode: InspectionMode) -> outscope_config::Route {
    let inspection = Inspection {
        mode,
        on_detected: OnDetected::Tokenize,
        cards: vec![CardRule {
            json_path: Some("$.card".into()),
            form_prefix: None,
            fields: Default::default(),
            output: Default::default(),
        }],
        ..Inspection::default()
    };
    outscope_config::Route {
        name: "bench".into(),
        host: None,
        methods: vec![],
        path: outscope_config::PathMatch::Prefix("/".into()),
        upstream: 0,
        rate_limits: vec![],
        host_header: outscope_config::HostHeader::Preserve,
        allow_upgrade: false,
        max_body_bytes: 1 << 20,
        inspection,
    }
}

fn parts() -> http::request::Parts {
    let (parts, ()) = http::Request::builder()
        .method("POST")
        .uri("/v1/checkout")
        .header("host", "api.example.com")
        .header("content-type", "application/json")
        .header("user-agent", "k6/1.1.0 (https://k6.io/)")
        .header("accept", "*/*")
        .header("x-request-id", "abcdefghijklmnopqrstuvwxyz")
        .body(())
        .unwrap_or_default()
        .into_parts();
    parts
}

fn tokenizer(dir: &std::path::Path) -> outscope_tokenizer::Tokenizer {
    std::fs::write(
        dir.join("keys"),
        "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n",
    )
    .unwrap_or_default();
    std::fs::write(
        dir.join("fp"),
        "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n",
    )
    .unwrap_or_default();
    let mut config: outscope_config::Config = outscope_config::parse(outscope_config::EXAMPLE, dir)
        .unwrap_or_else(|_| panic!("the example parses"));
    config.tokenizer = Some(Tokenizer::Local(LocalTokenizer {
        keys: Some(SecretRef::File(dir.join("keys"))),
        fingerprint_key: SecretRef::File(dir.join("fp")),
        store: LocalStore::Memory,
        token_format: TokenFormat::Random,
        envelope: None,
    }));
    match protect::build_tokenizer(&config) {
        Ok(Some(t)) => t,
        _ => panic!("the local vault builds"),
    }
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("outscope-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let tokenizer = tokenizer(&dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|_| panic!("runtime"));
    for (size_name, size) in [("1k", 0), ("256k", 256 * 1024)] {
        bench_size(c, &tokenizer, &rt, size_name, &body(size));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Protect with inspection off and on, and the egress check, for one body.
fn bench_size(
    c: &mut Criterion,
    tokenizer: &outscope_tokenizer::Tokenizer,
    rt: &tokio::runtime::Runtime,
    size_name: &str,
    body: &[u8],
) {
    let body = body.to_vec();
    let mut group = c.benchmark_group(format!("protect_{size_name}_json_one_card"));
    group
        .throughput(criterion::Throughput::Bytes(body.len() as u64))
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (name, mode) in [
        ("inspection_off", InspectionMode::Off),
        ("tokenize_local", InspectionMode::Enforce),
    ] {
        let route = route(mode);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut p = parts();
                let out = rt.block_on(protect::protect(
                    Some(tokenizer),
                    &route,
                    &mut p,
                    RequestBody::from(body.clone()),
                ));
                black_box(out.map(|o| o.body.len()).unwrap_or(0))
            })
        });
    }
    let route = route(InspectionMode::Enforce);
    let mut p = parts();
    let protected = rt.block_on(protect::protect(
        Some(tokenizer),
        &route,
        &mut p,
        RequestBody::from(body.clone()),
    ));
    let protected = protected.unwrap_or_else(|_| panic!("protects"));
    let uri: http::Uri = "http://127.0.0.1:8080/v1/checkout"
        .parse()
        .unwrap_or_default();
    group.bench_function("egress_check", |b| {
        b.iter(|| {
            protect::egress::check(
                &uri,
                &p.headers,
                &protected.body,
                protected.media.as_ref(),
                &route.inspection,
            )
            .is_ok()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
