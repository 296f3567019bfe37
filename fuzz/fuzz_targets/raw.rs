//! Raw mode equals the naive oracle on every ISA.
#![no_main]
use libfuzzer_sys::fuzz_target;
use outscope_scanner::{Mode, oracle};

mod common;

fuzz_target!(|data: &[u8]| {
    let got = common::check_mode(data, Mode::Raw);
    let want: Vec<common::View> = common::sorted(
        oracle::raw(data)
            .into_iter()
            .map(|(k, s, d)| {
                let k = match k {
                    "track1" => 1,
                    "track2" => 2,
                    _ => 0,
                };
                (k, s, d.into_bytes(), None)
            })
            .collect(),
    );
    assert_eq!(got, want);
});
