//! Helpers shared by the integration tests.
#![allow(dead_code)]

use outscope_scanner::{Finding, Isa, Kind, Mode, Scanner, available_isas};

/// A comparable view of a finding: kind, span, digits or value, key path.
pub type View = (String, std::ops::Range<usize>, String, Option<String>);

pub fn view(f: &Finding) -> View {
    let kind = match f.kind {
        Kind::Pan => "pan".to_owned(),
        Kind::Track1 => "track1".to_owned(),
        Kind::Track2 => "track2".to_owned(),
        Kind::Field(field) => format!("{field:?}"),
    };
    let data = match (f.pan(), f.value()) {
        (Some(p), _) => String::from_utf8_lossy(p.digits().expose()).into_owned(),
        (None, Some(v)) => String::from_utf8_lossy(v.expose()).into_owned(),
        (None, None) => String::new(),
    };
    (kind, f.span.clone(), data, f.key_path.clone())
}

pub fn sorted(mut v: Vec<View>) -> Vec<View> {
    v.sort_by(|a, b| {
        (a.1.start, a.1.end, &a.0, &a.2, &a.3).cmp(&(b.1.start, b.1.end, &b.0, &b.2, &b.3))
    });
    v
}

/// Whole-input scan on one ISA.
pub fn scan_isa(input: &[u8], mode: Mode, isa: Isa) -> Vec<View> {
    let s = Scanner::with_isa(mode, isa).expect("isa available");
    sorted(s.scan(input).iter().map(view).collect())
}

/// The findings of a streaming scan with the given cut points (taken modulo the length),
/// in the order they were made.
pub fn stream_findings(input: &[u8], mode: Mode, isa: Isa, cuts: &[usize]) -> Vec<Finding> {
    let s = Scanner::with_isa(mode, isa).expect("isa available");
    let mut st = s.stream();
    let mut out = Vec::new();
    let mut prev = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts {
        st.feed(&input[prev..c], &mut out);
        prev = c;
    }
    st.feed(&input[prev..], &mut out);
    st.finish(&mut out);
    out
}

/// Streaming scan with the given cut points.
pub fn scan_chunks(input: &[u8], mode: Mode, isa: Isa, cuts: &[usize]) -> Vec<View> {
    sorted(
        stream_findings(input, mode, isa, cuts)
            .iter()
            .map(view)
            .collect(),
    )
}

/// Scans with every ISA, whole and byte by byte, asserts they agree, returns the result.
pub fn scan_all(input: &[u8], mode: Mode) -> Vec<View> {
    let isas = available_isas();
    let want = scan_isa(input, mode, isas[0]);
    for &isa in &isas {
        assert_eq!(scan_isa(input, mode, isa), want, "{isa:?} whole");
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(
            scan_chunks(input, mode, isa, &every),
            want,
            "{isa:?} byte by byte"
        );
    }
    want
}

/// PAN digits found, in order of span.
pub fn pans(input: &[u8], mode: Mode) -> Vec<String> {
    scan_all(input, mode)
        .into_iter()
        .filter(|v| v.0 == "pan")
        .map(|v| v.2)
        .collect()
}
