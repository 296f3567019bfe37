//! JSON mode: no panic, spans in bounds, the fast path equals the exact stream, and the
//! stream's fast paths equal feeding the exact machine one byte at a time.
#![no_main]
use libfuzzer_sys::fuzz_target;
use outscope_scanner::{Mode, available_isas, json_scan_bytewise};

mod common;

fuzz_target!(|data: &[u8]| {
    let want = common::check_mode(data, Mode::Json);
    for isa in available_isas() {
        let bytewise = common::sorted(
            json_scan_bytewise(data, isa)
                .iter()
                .map(common::view)
                .collect(),
        );
        assert_eq!(bytewise, want, "{isa:?} byte by byte");
    }
});
