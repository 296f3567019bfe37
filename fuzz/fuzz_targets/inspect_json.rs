//! The proxy's span-preserving JSON parser (`outscope-inspect`): it never panics, it
//! accepts what serde_json accepts (strict RFC 8259, valid UTF-8), every node's span lies in
//! the input and parses on its own, and an error's offset lies in the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use outscope_inspect::json::{JsonLimits, parse};

const LIMITS: JsonLimits = JsonLimits {
    max_depth: 64,
    max_nodes: 1 << 16,
};

fuzz_target!(|data: &[u8]| {
    // serde_json also range-checks numbers (`1e400`), which a syntax check does not.
    let theirs = match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(_) => Some(true),
        Err(e) if e.to_string().starts_with("number out of range") => None,
        Err(_) => Some(false),
    };
    match parse(data, LIMITS) {
        Ok(doc) => {
            assert_ne!(theirs, Some(false), "accepted what serde_json refuses");
            for node in &doc.nodes {
                let value = data.get(node.span.clone()).expect("span in bounds");
                assert!(parse(value, LIMITS).is_ok(), "a node's bytes parse alone");
            }
        }
        Err(e) => {
            assert!(e.offset <= data.len(), "error offset in bounds");
            if !matches!(e.reason, "nested too deeply" | "too many values") {
                assert_ne!(theirs, Some(true), "refused what serde_json accepts: {e}");
            }
        }
    }
});
