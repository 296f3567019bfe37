//! Any chunking gives the same findings as the whole input, in every mode. The first
//! byte picks the mode, the next four the cut points.
#![no_main]
use libfuzzer_sys::fuzz_target;
use outscope_scanner::{Mode, available_isas};

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let mode = [Mode::Raw, Mode::Json, Mode::Form][usize::from(m % 3)];
    let (cut_bytes, input) = rest.split_at(rest.len().min(4));
    let mut cuts: Vec<usize> = cut_bytes
        .iter()
        .map(|&c| usize::from(c) * input.len() / 255)
        .collect();
    cuts.sort_unstable();
    for isa in available_isas() {
        let want = common::whole(input, mode, isa);
        assert_eq!(
            common::chunked(input, mode, isa, &cuts),
            want,
            "{isa:?} {mode:?}"
        );
        let every: Vec<usize> = (1..input.len().min(512)).collect();
        assert_eq!(
            common::chunked(input, mode, isa, &every),
            want,
            "{isa:?} {mode:?} bytewise"
        );
    }
});
