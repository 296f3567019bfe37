//! Durations written as strings: `250ms`, `10s`, `5m`, `1h`, or sums such as `1m30s`.

use std::time::Duration;

/// What the operator should write instead. Never repeats the value.
pub(crate) const EXPECTED: &str =
    "expected a duration such as \"250ms\", \"10s\", \"5m\" or \"1h\" (units: ms, s, m, h)";

/// Parses a duration; `None` when the text is not one (or overflows).
pub(crate) fn parse(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let (number, tail) = rest.split_at(digits);
        let number: u64 = number.parse().ok()?;
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60)?),
            "h" => Duration::from_secs(number.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
        rest = tail;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[test]
    fn accepts_each_unit_and_sums() {
        assert_eq!(parse("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse("1s500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(parse("0s"), Some(Duration::ZERO));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in [
            "", "10", "s", "10 s", " 10s", "10sec", "1.5s", "-1s", "10S", "1d", "10s ",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rejects_overflow_instead_of_wrapping() {
        assert_eq!(parse("99999999999999999999s"), None);
        assert_eq!(parse("18446744073709551615h"), None);
        assert_eq!(parse("18446744073709551615s18446744073709551615s"), None);
    }
}
