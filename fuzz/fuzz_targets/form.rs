//! Form mode: no panic, spans in bounds, whole equals stream.
#![no_main]
use libfuzzer_sys::fuzz_target;
use outscope_scanner::Mode;

mod common;

fuzz_target!(|data: &[u8]| {
    common::check_mode(data, Mode::Form);
});
