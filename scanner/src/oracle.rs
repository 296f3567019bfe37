//! The naive oracle: the raw-mode rules in a few obvious lines, with no state machine and
//! no speed. Tests and benches compare the fast scanner against it. Not for production.

use crate::chars::{Class, classify};

/// One oracle finding: kind (`"pan"`, `"track1"`, `"track2"`), byte span, ASCII digits.
pub type OracleFinding = (&'static str, std::ops::Range<usize>, String);

/// Decodes UTF-8 the obvious way: at each position, the shortest prefix (1 to 4 bytes)
/// that is exactly one valid character, else U+FFFD for one byte.
fn decode(input: &[u8]) -> Vec<(u32, usize, usize)> {
    let mut chars = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let one = (1..=4).find_map(|k| {
            let s = std::str::from_utf8(input.get(i..i + k)?).ok()?;
            (s.chars().count() == 1).then(|| (s.chars().next().map_or(0xFFFD, u32::from), k))
        });
        let (c, k) = one.unwrap_or((0xFFFD, 1));
        chars.push((c, i, i + k));
        i += k;
    }
    chars
}

fn digit(c: u32) -> Option<u8> {
    match classify(c) {
        Class::Digit(d) => Some(d),
        _ => None,
    }
}

/// All raw-mode findings of `input`, sorted by span.
pub fn raw(input: &[u8]) -> Vec<OracleFinding> {
    let chars = decode(input);
    let c = |k: usize| chars.get(k).map_or(0, |x| x.0);
    let start = |k: usize| chars.get(k).map_or(0, |x| x.1);
    let end = |k: usize| chars.get(k).map_or(0, |x| x.2);
    let mut out = Vec::new();
    let mut busy_until = 0; // a pending track datum resolves at this character index
    let mut i = 0;
    while i < chars.len() {
        if digit(c(i)).is_none() {
            i += 1;
            continue;
        }
        // Collect the run as groups of character indexes.
        let (mut groups, mut j, mut gap) = (vec![vec![i]], i + 1, 0);
        while j < chars.len() {
            match classify(c(j)) {
                Class::Digit(_) if gap > 0 => groups.push(vec![j]),
                Class::Digit(_) => groups.iter_mut().last().into_iter().for_each(|g| g.push(j)),
                Class::Sep if gap < crate::core::MAX_GAP => {
                    gap += 1;
                    j += 1;
                    continue;
                }
                _ => break,
            }
            gap = 0;
            j += 1;
        }
        // j: the character that ended the run; a breaker there may open track data.
        let last_digit = groups.iter().flatten().last().copied().unwrap_or(i);
        let ender = chars
            .get(j)
            .map(|x| x.0)
            .filter(|&x| classify(x) == Class::Break);
        // Greedy: from each group start, the longest valid candidate.
        let mut g = 0;
        while g < groups.len() {
            let mut best = None;
            for h in g + 1..=groups.len() {
                let idx: Vec<usize> = groups.get(g..h).unwrap_or(&[]).concat();
                let vals: Vec<u8> = idx.iter().filter_map(|&k| digit(c(k))).collect();
                if crate::iin::validate(&vals).is_some() {
                    best = Some((h, idx, vals));
                }
            }
            let Some((h, idx, vals)) = best else {
                g += 1;
                continue;
            };
            let (first, last) = (
                idx.first().copied().unwrap_or(i),
                idx.last().copied().unwrap_or(i),
            );
            let ds: String = vals.iter().map(|d| char::from(b'0' + d)).collect();
            let mut f = ("pan", start(first)..end(last), ds);
            if last == last_digit
                && j >= busy_until
                && let Some((kind, prefix, track_end, resolved)) = track(&chars, i, j, ender)
            {
                busy_until = resolved;
                if let Some(e) = track_end {
                    f.0 = kind;
                    f.1 = prefix.unwrap_or(f.1.start)..e;
                }
            }
            out.push(f);
            g = h;
        }
        i = j;
    }
    out.sort_by_key(|f| (f.1.start, f.1.end));
    out
}

/// Track data after a PAN whose run starts at character `first` and ends at `j` with
/// `ender`: `(kind, start of the sentinel/format code if any, span end, index that resolves
/// it)`; the end is `None` when the shape is incomplete (the PAN stays a plain PAN).
#[allow(clippy::type_complexity)]
fn track(
    chars: &[(u32, usize, usize)],
    first: usize,
    j: usize,
    ender: Option<u32>,
) -> Option<(&'static str, Option<usize>, Option<usize>, usize)> {
    let at = |k: usize| chars.get(k).map_or(0, |c| c.0);
    let before = |n: usize| {
        first
            .checked_sub(n)
            .and_then(|k| chars.get(k))
            .map(|c| (c.0, c.1))
    };
    let mut k = j + 1;
    let (kind, start) = match ender? {
        0x3D => (
            "track2",
            before(1).filter(|p| p.0 == u32::from(b';')).map(|p| p.1),
        ),
        0x5E if before(1).is_some_and(|p| p.0 == u32::from(b'B')) => {
            // Name: up to 26 characters, none a control character, then '^'.
            let mut n = 0;
            while k < chars.len() && at(k) != 0x5E {
                if at(k) < 0x20 || n >= 26 {
                    return Some(("pan", None, None, k));
                }
                n += 1;
                k += 1;
            }
            if k >= chars.len() {
                return Some(("pan", None, None, k));
            }
            k += 1;
            let b = before(1).map(|p| p.1);
            (
                "track1",
                before(2)
                    .filter(|p| p.0 == u32::from(b'%'))
                    .map(|p| p.1)
                    .or(b),
            )
        }
        _ => return None,
    };
    let d0 = k;
    while k < chars.len() && digit(at(k)).is_some() {
        k += 1;
    }
    if k - d0 < 7 {
        return Some((kind, None, None, k));
    }
    let end = match chars.get(k) {
        Some(q) if q.0 == u32::from(b'?') => q.2,
        _ => chars.get(k - 1).map_or(0, |c| c.2),
    };
    Some((kind, start, Some(end), k))
}
