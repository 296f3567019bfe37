//! A streaming UTF-8 decoder that never fails: invalid bytes decode to U+FFFD (a breaker).
//! Positions are carried by the caller so one decoder serves raw bytes (one position per
//! byte) and decoded bytes (percent-decoding, nested JSON) alike.

pub(crate) const REPLACEMENT: u32 = 0xFFFD;

/// Decoder state between bytes.
#[derive(Clone, Copy, Default)]
pub(crate) struct Utf8 {
    /// Continuation bytes still expected.
    need: u8,
    /// Bytes of the current sequence so far.
    have: u8,
    cp: u32,
    start: usize,
    flags: u8,
}

/// What one byte produced: replacement characters (one per byte of an invalid sequence,
/// as the oracle decodes) and up to one character.
#[derive(Clone, Copy, Default)]
pub(crate) struct Out {
    /// Bytes of an invalid sequence, each a replacement character (start of the first).
    pub(crate) bad: u8,
    pub(crate) bad_start: usize,
    /// A decoded character: (code point, start, flags of its bytes).
    pub(crate) ch: Option<(u32, usize, u8)>,
}

impl Utf8 {
    /// True when no sequence is open.
    #[inline]
    pub(crate) fn idle(&self) -> bool {
        self.need == 0
    }

    /// Feeds one byte that starts at `pos`; `flags` are OR-ed into the character's flags.
    #[inline]
    pub(crate) fn byte(&mut self, b: u8, pos: usize, flags: u8) -> Out {
        let mut out = Out::default();
        if self.need > 0 {
            if b & 0xC0 == 0x80 {
                self.cp = (self.cp << 6) | u32::from(b & 0x3F);
                self.have += 1;
                self.need -= 1;
                self.flags |= flags;
                if self.need == 0 {
                    let min = match self.have {
                        2 => 0x80,
                        3 => 0x800,
                        _ => 0x10000,
                    };
                    let cp = self.cp;
                    if cp < min || (0xD800..=0xDFFF).contains(&cp) || cp > 0x10FFFF {
                        out.bad = self.have;
                        out.bad_start = self.start;
                    } else {
                        out.ch = Some((cp, self.start, self.flags));
                    }
                }
                return out;
            }
            // Broken sequence: its bytes become replacements, then `b` starts afresh.
            out.bad = self.have;
            out.bad_start = self.start;
            self.need = 0;
        }
        match b {
            0x00..=0x7F => out.ch = Some((u32::from(b), pos, flags)),
            0xC2..=0xDF => self.open(1, u32::from(b & 0x1F), pos, flags),
            0xE0..=0xEF => self.open(2, u32::from(b & 0x0F), pos, flags),
            0xF0..=0xF4 => self.open(3, u32::from(b & 0x07), pos, flags),
            _ => {
                // Continuation byte without a lead, or a byte that never appears in UTF-8.
                out.bad = out.bad.saturating_add(1);
                if out.bad == 1 {
                    out.bad_start = pos;
                }
            }
        }
        out
    }

    fn open(&mut self, need: u8, cp: u32, pos: usize, flags: u8) {
        self.need = need;
        self.have = 1;
        self.cp = cp;
        self.start = pos;
        self.flags = flags;
    }

    /// Ends the input: an open sequence becomes replacements.
    pub(crate) fn finish(&mut self) -> Out {
        let mut out = Out::default();
        if self.need > 0 {
            out.bad = self.have;
            out.bad_start = self.start;
            self.need = 0;
        }
        out
    }
}
