//! Scrubbing for what we log: a request path may carry a card number in a segment, so runs
//! of digits long enough to matter are masked before a path reaches a log line.

/// Masks every run of 12 or more digits (the shortest PAN) (separators `-`, `.`, ` `, `%20` inside the run are
/// part of it) with `*`s of the same length. Short numbers (ids, versions) stay readable.
pub fn path_for_log(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let (end, digits) = digit_run(bytes, i);
        if digits >= 12 {
            out.extend(std::iter::repeat_n('*', end - i));
            i = end;
        } else if end > i {
            out.push_str(path.get(i..end).unwrap_or(""));
            i = end;
        } else {
            let ch_len = path
                .get(i..)
                .and_then(|s| s.chars().next())
                .map_or(1, char::len_utf8);
            out.push_str(path.get(i..i + ch_len).unwrap_or(""));
            i += ch_len;
        }
    }
    out
}

/// From `start`, the end of a run of digits and separators, and how many digits it holds.
fn digit_run(bytes: &[u8], start: usize) -> (usize, usize) {
    let (mut i, mut digits, mut end) = (start, 0, start);
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' => {
                digits += 1;
                i += 1;
                end = i;
            }
            b'-' | b'.' | b' ' | b'_' if digits > 0 => i += 1,
            b'%' if digits > 0 && bytes.get(i + 1..i + 3) == Some(b"20") => i += 3,
            _ => break,
        }
    }
    (end, digits)
}

#[cfg(test)]
mod tests {
    use super::path_for_log;

    #[test]
    fn card_numbers_in_paths_are_masked() {
        assert_eq!(
            path_for_log("/v1/cards/4242424242424242/x"),
            "/v1/cards/****************/x"
        );
        assert_eq!(
            path_for_log("/c/4242-4242-4242-4242"),
            "/c/*******************"
        );
        assert_eq!(
            path_for_log("/c/4242%204242%204242%204242"),
            "/c/*************************"
        );
    }

    #[test]
    fn short_numbers_and_text_stay() {
        assert_eq!(path_for_log("/v1/orders/12345"), "/v1/orders/12345");
        assert_eq!(path_for_log("/ünï/2024-01-15"), "/ünï/2024-01-15");
        assert_eq!(path_for_log("/o/12345678901"), "/o/12345678901");
    }
}
