//! Raw mode: text, XML, logs, headers. Bytes are decoded as UTF-8 (invalid bytes become
//! breakers) and fed to the character machine; the SIMD prefilter skips every stretch that
//! cannot hold a card number.

use crate::core::Chars;
use crate::finding::Finding;
use crate::prefilter::{next_flag, prev_x_bits};
use crate::simd::Isa;
use crate::utf8::{REPLACEMENT, Utf8};

/// The raw-mode machine.
#[derive(Clone)]
pub(crate) struct Raw {
    pub(crate) chars: Chars,
    utf8: Utf8,
    /// Absolute offset of the next chunk.
    pub(crate) offset: usize,
    /// The last three bytes seen (oldest first), for the prefilter and track 1.
    tail: [u8; 3],
    isa: Isa,
}

impl Raw {
    pub(crate) fn new(isa: Isa) -> Raw {
        Raw {
            chars: Chars::default(),
            utf8: Utf8::default(),
            offset: 0,
            tail: [0; 3],
            isa,
        }
    }

    /// Continues from an existing character machine (JSON error fallback).
    pub(crate) fn with_chars(isa: Isa, chars: Chars, offset: usize) -> Raw {
        Raw {
            chars,
            utf8: Utf8::default(),
            offset,
            tail: [0; 3],
            isa,
        }
    }

    /// The 3 bytes before the next chunk, when something else read them (JSON fallback).
    pub(crate) fn set_tail(&mut self, tail: [u8; 3]) {
        self.tail = tail;
    }

    #[inline]
    fn quiescent(&self) -> bool {
        self.chars.quiescent() && self.utf8.idle()
    }

    /// One byte spanning `start..end`, decoded exactly (no skipping).
    #[inline]
    pub(crate) fn byte(
        &mut self,
        b: u8,
        start: usize,
        end: usize,
        enc: u8,
        out: &mut Vec<Finding>,
    ) {
        let o = self.utf8.byte(b, start, enc);
        for _ in 0..o.bad {
            self.chars
                .push(REPLACEMENT, o.bad_start, start, 0, None, out);
        }
        if let Some((c, s, flags)) = o.ch {
            self.chars.push(c, s, end, flags, None, out);
        }
    }

    /// The byte `k` positions before index `i` of `chunk` (looking into the carried tail).
    fn before(&self, chunk: &[u8], i: usize, k: usize) -> u8 {
        match i.checked_sub(k) {
            Some(j) => chunk.get(j).copied().unwrap_or(0),
            None => {
                let back = k - i; // 1..=3
                self.tail
                    .get(3usize.saturating_sub(back))
                    .copied()
                    .unwrap_or(0)
            }
        }
    }

    /// Feeds a chunk of the stream.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<Finding>) {
        let mut i = 0usize;
        let len = chunk.len();
        // Exact decoding resumes here and must reach at least `min_end`.
        while i < len {
            if !self.quiescent() {
                i = self.exact(chunk, i, i + 1, out);
                continue;
            }
            let prev = [
                self.before(chunk, i, 3),
                self.before(chunk, i, 2),
                self.before(chunk, i, 1),
            ];
            let Some(mut s) = next_flag(self.isa, chunk, i, prev_x_bits(prev), None) else {
                break;
            };
            // Separators before the first digit do nothing while no run is open.
            while chunk.get(s).is_some_and(|&b| crate::chars::is_ascii_sep(b)) {
                s += 1;
            }
            let p = s;
            let b1 = self.before(chunk, s, 1);
            let b2 = self.before(chunk, s, 2);
            let ch = |b: u8| if b < 0x80 { u32::from(b) } else { REPLACEMENT };
            let at = self.offset + s;
            self.chars.set_history(
                (ch(b2), at.saturating_sub(2)),
                (ch(b1), at.saturating_sub(1)),
            );
            i = self.exact(chunk, s, p + 1, out);
        }
        self.remember_tail(chunk);
        self.offset += len;
    }

    /// Decodes bytes exactly from `i` until at least `min_end` and the machine is idle.
    fn exact(
        &mut self,
        chunk: &[u8],
        mut i: usize,
        min_end: usize,
        out: &mut Vec<Finding>,
    ) -> usize {
        while let Some(&b) = chunk.get(i) {
            let at = self.offset + i;
            self.byte(b, at, at + 1, 0, out);
            i += 1;
            if i >= min_end && self.quiescent() {
                break;
            }
        }
        i
    }

    fn remember_tail(&mut self, chunk: &[u8]) {
        for &b in chunk.iter().rev().take(3).rev() {
            self.tail = [self.tail[1], self.tail[2], b];
        }
    }

    /// Ends the stream.
    pub(crate) fn finish(&mut self, out: &mut Vec<Finding>) {
        let o = self.utf8.finish();
        for _ in 0..o.bad {
            self.chars
                .push(REPLACEMENT, o.bad_start, self.offset, 0, None, out);
        }
        self.chars.flush(None, out);
    }

    /// Ends decoded input fed through [`Raw::byte`] (nested fallback).
    pub(crate) fn finish_bytes(&mut self, end: usize, out: &mut Vec<Finding>) {
        let o = self.utf8.finish();
        for _ in 0..o.bad {
            self.chars.push(REPLACEMENT, o.bad_start, end, 0, None, out);
        }
        self.chars.flush(None, out);
    }
}
