//! The exact engine every mode feeds: decoded characters (with their byte spans) in,
//! PAN and track findings out. It is a streaming state machine, so a result never depends
//! on how the input was cut into chunks.
//!
//! Semantics (the oracle in `oracle.rs` spells the same rules in a few lines):
//! - A *run* is a sequence of digits where consecutive digits are separated by at most
//!   [`MAX_GAP`] separator characters. A breaker, or a longer gap, ends the run.
//! - Separators split a run into *groups*. A PAN candidate starts at a group start, ends at
//!   a group end and has 12 to 19 digits. From the first group of a run, the longest
//!   candidate that passes Luhn and the IIN table is taken; scanning then continues after
//!   it, else at the next group start (greedy, left to right).
//! - Track 2: a PAN directly followed by `=` and at least 7 digits (YYMM + service code);
//!   track 1: `B` before the PAN, `^`, up to 26 name characters, `^`, at least 7 digits.

use crate::chars::{Class, classify};
use crate::finding::{Finding, How, Kind, Pan, PanDigits};
use crate::iin;

/// Most separator characters allowed between two digits of one card number.
pub(crate) const MAX_GAP: u8 = 3;

/// Encoding flags of a decoded character.
pub(crate) const ENC_JSON: u8 = 1;
pub(crate) const ENC_PCT: u8 = 2;

const F_GROUP: u8 = 1;
const F_UNI: u8 = 2;
const F_JSON: u8 = 4;
const F_PCT: u8 = 8;
const F_GAP_JSON: u8 = 16;
const F_GAP_PCT: u8 = 32;

#[derive(Clone, Copy, Default)]
struct Digit {
    val: u8,
    flags: u8,
    start: usize,
    end: usize,
}

#[derive(Clone)]
enum Track {
    None,
    /// After `=`: digits seen so far, end of the last one.
    Two {
        pan: Box<Finding>,
        start: usize,
        digits: u8,
        end: usize,
    },
    /// After the first `^`: name characters seen so far.
    OneName {
        pan: Box<Finding>,
        start: usize,
        chars: u8,
    },
    /// After the second `^`.
    OneDigits {
        pan: Box<Finding>,
        start: usize,
        digits: u8,
        end: usize,
    },
}

/// The character machine.
#[derive(Clone)]
pub(crate) struct Chars {
    buf: [Digit; 20],
    len: usize,
    in_run: bool,
    gap: u8,
    gap_flags: u8,
    dropping: bool,
    /// The two characters before the current one: (code point, byte start).
    hist: [(u32, usize); 2],
    run_prefix: [(u32, usize); 2],
    track: Track,
    /// Flags added to every finding (e.g. nested JSON).
    pub(crate) extra_how: How,
}

impl Default for Chars {
    fn default() -> Self {
        Chars {
            buf: [Digit::default(); 20],
            len: 0,
            in_run: false,
            gap: 0,
            gap_flags: 0,
            dropping: false,
            hist: [(0, 0); 2],
            run_prefix: [(0, 0); 2],
            track: Track::None,
            extra_how: How::PLAIN,
        }
    }
}

impl Chars {
    /// True when nothing is pending: skipping bytes that cannot form a PAN is safe.
    #[inline]
    pub(crate) fn quiescent(&self) -> bool {
        !self.in_run && matches!(self.track, Track::None)
    }

    /// Records a character that was skipped by a fast path (only its identity matters for
    /// track 1 detection, which looks at the two characters before a run).
    #[inline]
    pub(crate) fn set_history(&mut self, prev2: (u32, usize), prev1: (u32, usize)) {
        self.hist = [prev1, prev2];
    }

    /// Records one skipped byte in the history (non-ASCII bytes as U+FFFD).
    #[inline]
    pub(crate) fn shift_history(&mut self, b: u8, pos: usize) {
        let c = if b < 0x80 {
            u32::from(b)
        } else {
            crate::utf8::REPLACEMENT
        };
        self.hist = [(c, pos), self.hist[0]];
    }

    /// Feeds one decoded character spanning `start..end` of the input.
    pub(crate) fn push(
        &mut self,
        c: u32,
        start: usize,
        end: usize,
        enc: u8,
        path: Option<&str>,
        out: &mut Vec<Finding>,
    ) {
        let class = classify(c);
        if !matches!(self.track, Track::None) {
            self.track_step(c, class, start, end, out);
        }
        match class {
            Class::Digit(v) => self.digit(v, c >= 0x80, start, end, enc, path, out),
            Class::Sep => {
                if self.in_run {
                    self.gap += 1;
                    self.gap_flags |= enc;
                    if self.gap > MAX_GAP {
                        self.end_run(None, path, out);
                    }
                }
            }
            Class::Break => {
                if self.in_run {
                    self.end_run(Some(c), path, out);
                }
            }
        }
        self.hist = [(c, start), self.hist[0]];
    }

    /// Ends whatever is pending (end of input, or end of a JSON string/number).
    pub(crate) fn flush(&mut self, path: Option<&str>, out: &mut Vec<Finding>) {
        if self.in_run {
            self.end_run(None, path, out);
        }
        self.resolve_track(false, 0, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn digit(
        &mut self,
        v: u8,
        unicode: bool,
        start: usize,
        end: usize,
        enc: u8,
        path: Option<&str>,
        out: &mut Vec<Finding>,
    ) {
        if self.in_run && self.gap > MAX_GAP {
            self.end_run(None, path, out);
        }
        let group_start = if self.in_run {
            self.gap > 0
        } else {
            self.in_run = true;
            self.run_prefix = self.hist;
            true
        };
        if group_start {
            self.dropping = false;
        }
        let gap_flags = if group_start { self.gap_flags } else { 0 };
        self.gap = 0;
        self.gap_flags = 0;
        if self.dropping {
            return;
        }
        let mut flags = if group_start { F_GROUP } else { 0 };
        if unicode {
            flags |= F_UNI;
        }
        if enc & ENC_JSON != 0 {
            flags |= F_JSON;
        }
        if enc & ENC_PCT != 0 {
            flags |= F_PCT;
        }
        if gap_flags & ENC_JSON != 0 {
            flags |= F_GAP_JSON;
        }
        if gap_flags & ENC_PCT != 0 {
            flags |= F_GAP_PCT;
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = Digit {
                val: v,
                flags,
                start,
                end,
            };
            self.len += 1;
        }
        if self.len >= 20 {
            self.decide(false, None, path, out);
        }
    }

    fn end_run(&mut self, breaker: Option<u32>, path: Option<&str>, out: &mut Vec<Finding>) {
        self.decide(true, breaker, path, out);
        self.in_run = false;
        self.gap = 0;
        self.gap_flags = 0;
        self.dropping = false;
        self.len = 0;
    }

    /// Takes decisions for the candidates starting at the first pending digit, while all
    /// of their possible ends are known.
    fn decide(
        &mut self,
        run_ended: bool,
        breaker: Option<u32>,
        path: Option<&str>,
        out: &mut Vec<Finding>,
    ) {
        while self.len > 0 && (run_ended || self.len >= 20) {
            let len = self.len;
            let mut found = None;
            let mut vals = [0u8; 19];
            for (v, d) in vals.iter_mut().zip(self.buf.iter()) {
                *v = d.val;
            }
            for n in (12..=len.min(19)).rev() {
                let boundary = if n == len {
                    run_ended
                } else {
                    self.buf.get(n).is_some_and(|d| d.flags & F_GROUP != 0)
                };
                if !boundary {
                    continue;
                }
                if let Some(brand) = vals.get(..n).and_then(iin::validate) {
                    found = Some((n, brand));
                    break;
                }
            }
            let consumed = match found {
                Some((n, brand)) => {
                    let f = self.candidate(n, brand, path);
                    let last = n == len && run_ended;
                    self.emit_or_hold(f, last, breaker, out);
                    n
                }
                None => 1,
            };
            let mut k = consumed;
            while k < len && self.buf.get(k).is_some_and(|d| d.flags & F_GROUP == 0) {
                k += 1;
            }
            self.buf.copy_within(k.min(len)..len, 0);
            self.len = len - k.min(len);
            if self.len == 0 && !run_ended {
                self.dropping = true;
            }
        }
    }

    fn candidate(&self, n: usize, brand: crate::Brand, path: Option<&str>) -> Finding {
        let digits = self.buf.get(..n).unwrap_or(&[]);
        let mut vals = [0u8; 19];
        let mut own = 0u8;
        let mut inner = 0u8;
        for (i, (v, d)) in vals.iter_mut().zip(digits).enumerate() {
            *v = d.val;
            own |= d.flags;
            if i > 0 {
                inner |= d.flags;
            }
        }
        let mut how = self.extra_how;
        if inner & F_GROUP != 0 {
            how = how.union(How::SEPARATED);
        }
        if own & F_UNI != 0 {
            how = how.union(How::UNICODE_DIGITS);
        }
        if own & F_JSON != 0 || inner & F_GAP_JSON != 0 {
            how = how.union(How::JSON_ESCAPE);
        }
        if own & F_PCT != 0 || inner & F_GAP_PCT != 0 {
            how = how.union(How::PERCENT_ENCODED);
        }
        let start = digits.first().map_or(0, |d| d.start);
        let end = digits.last().map_or(0, |d| d.end);
        Finding {
            kind: Kind::Pan,
            span: start..end,
            how,
            key_path: path.map(str::to_owned),
            key_span: None,
            pan: Some(Pan {
                digits: PanDigits::from_values(vals.get(..n).unwrap_or(&[])),
                brand,
            }),
            value: None,
        }
    }

    /// Emits a PAN, or holds it when the character that ended its run may open track data.
    fn emit_or_hold(
        &mut self,
        f: Finding,
        last_of_run: bool,
        breaker: Option<u32>,
        out: &mut Vec<Finding>,
    ) {
        if last_of_run && matches!(self.track, Track::None) {
            let [(p0, s0), (p1, s1)] = self.run_prefix;
            match breaker {
                Some(0x3D) => {
                    // '=': track 2, optionally opened by ';'.
                    let start = if p0 == u32::from(b';') {
                        s0
                    } else {
                        f.span.start
                    };
                    let end = f.span.end;
                    self.track = Track::Two {
                        pan: Box::new(f),
                        start,
                        digits: 0,
                        end,
                    };
                    return;
                }
                Some(0x5E) if p0 == u32::from(b'B') => {
                    // '^' after "B<PAN>": track 1, optionally opened by '%'.
                    let start = if p1 == u32::from(b'%') { s1 } else { s0 };
                    self.track = Track::OneName {
                        pan: Box::new(f),
                        start,
                        chars: 0,
                    };
                    return;
                }
                _ => {}
            }
        }
        out.push(f);
    }

    fn track_step(
        &mut self,
        c: u32,
        class: Class,
        start: usize,
        end: usize,
        out: &mut Vec<Finding>,
    ) {
        match &mut self.track {
            Track::None => {}
            Track::Two { digits, end: e, .. } | Track::OneDigits { digits, end: e, .. } => {
                if let Class::Digit(_) = class {
                    *digits = digits.saturating_add(1);
                    *e = end;
                } else {
                    self.resolve_track(c == u32::from(b'?'), end, out);
                }
            }
            Track::OneName { chars, .. } => {
                if c == u32::from(b'^') {
                    let Track::OneName { pan, start: s, .. } =
                        std::mem::replace(&mut self.track, Track::None)
                    else {
                        return;
                    };
                    self.track = Track::OneDigits {
                        pan,
                        start: s,
                        digits: 0,
                        end: start,
                    };
                } else if c < 0x20 || *chars >= 26 {
                    self.resolve_track(false, 0, out);
                } else {
                    *chars += 1;
                }
            }
        }
    }

    /// Ends a pending track: emits track data when complete, else the plain PAN.
    fn resolve_track(&mut self, question_mark: bool, qm_end: usize, out: &mut Vec<Finding>) {
        let (pan, start, digits, end, kind) = match std::mem::replace(&mut self.track, Track::None)
        {
            Track::None => return,
            Track::Two {
                pan,
                start,
                digits,
                end,
            } => (pan, start, digits, end, Kind::Track2),
            Track::OneDigits {
                pan,
                start,
                digits,
                end,
            } => (pan, start, digits, end, Kind::Track1),
            Track::OneName { pan, .. } => (pan, 0, 0, 0, Kind::Pan),
        };
        let mut f = *pan;
        if digits >= 7 && kind != Kind::Pan {
            f.kind = kind;
            f.span = start..if question_mark { qm_end } else { end };
        }
        out.push(f);
    }

    /// A complete candidate from outside the run logic (a normalized JSON number).
    pub(crate) fn number(
        &self,
        vals: &[u8],
        span: std::ops::Range<usize>,
        how: How,
        path: Option<&str>,
        out: &mut Vec<Finding>,
    ) {
        if let Some(brand) = iin::validate(vals) {
            out.push(Finding {
                kind: Kind::Pan,
                span,
                how: how.union(self.extra_how),
                key_path: path.map(str::to_owned),
                key_span: None,
                pan: Some(Pan {
                    digits: PanDigits::from_values(vals),
                    brand,
                }),
                value: None,
            });
        }
    }
}
