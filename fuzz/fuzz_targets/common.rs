//! Shared checks for the fuzz targets.
#![allow(dead_code)]

use outscope_scanner::{Finding, Isa, Kind, Mode, Scanner, available_isas};

pub type View = (u8, std::ops::Range<usize>, Vec<u8>, Option<String>);

pub fn view(f: &Finding) -> View {
    let k = match f.kind {
        Kind::Pan => 0,
        Kind::Track1 => 1,
        Kind::Track2 => 2,
        Kind::Field(_) => 3,
    };
    let d = f
        .pan()
        .map(|p| p.digits().expose().to_vec())
        .unwrap_or_default();
    (k, f.span.clone(), d, f.key_path.clone())
}

pub fn sorted(mut v: Vec<View>) -> Vec<View> {
    v.sort_by(|a, b| (a.1.start, a.1.end, a.0, &a.2).cmp(&(b.1.start, b.1.end, b.0, &b.2)));
    v
}

pub fn whole(input: &[u8], mode: Mode, isa: Isa) -> Vec<View> {
    let s = Scanner::with_isa(mode, isa).expect("available");
    let f = s.scan(input);
    for x in &f {
        assert!(
            x.span.start <= x.span.end && x.span.end <= input.len(),
            "span out of bounds"
        );
        if let Some(p) = x.pan() {
            assert!((12..=19).contains(&p.digits().len()));
        }
    }
    sorted(f.iter().map(view).collect())
}

pub fn chunked(input: &[u8], mode: Mode, isa: Isa, cuts: &[usize]) -> Vec<View> {
    let s = Scanner::with_isa(mode, isa).expect("available");
    let mut st = s.stream();
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts {
        let c = c.clamp(prev, input.len());
        st.feed(&input[prev..c], &mut out);
        prev = c;
    }
    st.feed(&input[prev..], &mut out);
    st.finish(&mut out);
    sorted(out.iter().map(view).collect())
}

/// Every ISA, whole and as one stream, agree; returns the result.
pub fn check_mode(input: &[u8], mode: Mode) -> Vec<View> {
    let isas = available_isas();
    let want = whole(input, mode, isas[0]);
    for &isa in &isas {
        assert_eq!(whole(input, mode, isa), want, "{isa:?} whole");
        assert_eq!(chunked(input, mode, isa, &[]), want, "{isa:?} stream");
    }
    want
}
