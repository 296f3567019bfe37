//! Byte-exact rewriting: replace chosen ranges of the original bytes and copy every other
//! byte unchanged.

use std::ops::Range;

use zeroize::Zeroize;

/// A set of non-overlapping replacements over one input.
#[derive(Default)]
pub struct Splice {
    edits: Vec<(Range<usize>, Vec<u8>)>,
}

/// Two replacements touch the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overlap;

impl Splice {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn replace(&mut self, range: Range<usize>, with: Vec<u8>) {
        self.edits.push((range, with));
    }

    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    pub fn len(&self) -> usize {
        self.edits.len()
    }

    /// The rewritten bytes. Fails (and writes nothing) if two edits overlap or one lies
    /// outside the input.
    pub fn apply(mut self, input: &[u8]) -> Result<Vec<u8>, Overlap> {
        self.edits.sort_by_key(|(r, _)| (r.start, r.end));
        let mut end = 0;
        for (r, _) in &self.edits {
            if r.start < end || r.end < r.start || r.end > input.len() {
                return Err(Overlap);
            }
            end = r.end;
        }
        let added: usize = self.edits.iter().map(|(_, w)| w.len()).sum();
        let mut out = Vec::with_capacity(input.len() + added);
        let mut at = 0;
        for (r, with) in &self.edits {
            out.extend_from_slice(&input[at..r.start]);
            out.extend_from_slice(with);
            at = r.end;
        }
        out.extend_from_slice(&input[at..]);
        Ok(out)
    }
}

impl Drop for Splice {
    fn drop(&mut self) {
        for (_, with) in &mut self.edits {
            with.zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_bytes_stay_identical() {
        let mut s = Splice::new();
        s.replace(10..14, b"XY".to_vec());
        s.replace(0..1, b"[".to_vec());
        assert_eq!(
            s.apply(b"{abcdefghijklmnop}").unwrap(),
            b"[abcdefghiXYnop}".to_vec()
        );
    }

    #[test]
    fn overlapping_or_out_of_range_edits_are_refused() {
        let mut s = Splice::new();
        s.replace(0..4, vec![]);
        s.replace(3..5, vec![]);
        assert_eq!(s.apply(b"abcdef"), Err(Overlap));
        let mut s = Splice::new();
        s.replace(4..9, vec![]);
        assert_eq!(s.apply(b"abcdef"), Err(Overlap));
    }

    proptest::proptest! {
        #[test]
        fn no_edits_is_identity(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100)) {
            proptest::prop_assert_eq!(Splice::new().apply(&input).unwrap(), input);
        }
    }
}
