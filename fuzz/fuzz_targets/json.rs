//! JSON mode: no panic, spans in bounds, the fast path equals the exact stream, and the
//! stream's fast paths equal feeding the exact machine one byte at a time (every field of
//! every finding, in order).
#![no_main]
use libfuzzer_sys::fuzz_target;
use outscope_scanner::{Mode, Scanner, available_isas, json_scan_bytewise};

mod common;

fuzz_target!(|data: &[u8]| {
    common::check_mode(data, Mode::Json);
    for isa in available_isas() {
        let s = Scanner::with_isa(Mode::Json, isa).expect("available");
        let mut st = s.stream();
        let mut streamed = Vec::new();
        st.feed(data, &mut streamed);
        st.finish(&mut streamed);
        // Findings have no Debug (they hold card data): compare without printing them.
        assert!(
            streamed == json_scan_bytewise(data, isa),
            "{isa:?}: the stream differs from byte-by-byte feeding"
        );
    }
});
