//! Just enough DER to read two facts from a certificate: its not-after time (for the expiry
//! metric) and its subject (for client-certificate rate-limit keys). Any malformed input
//! yields `None`; nothing here can panic on peer-supplied bytes.

/// One DER element: tag, content, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((tag, content, rest))
}

/// The fields of `TBSCertificate` from `serialNumber` on.
fn tbs_fields(cert_der: &[u8]) -> Option<&[u8]> {
    let (0x30, cert, _) = element(cert_der)? else {
        return None;
    };
    let (0x30, tbs, _) = element(cert)? else {
        return None;
    };
    // Skip the optional explicit [0] version.
    match element(tbs)? {
        (0xa0, _, rest) => Some(rest),
        _ => Some(tbs),
    }
}

/// `(validity, subject)` contents.
fn validity_and_subject(cert_der: &[u8]) -> Option<(&[u8], &[u8])> {
    let fields = tbs_fields(cert_der)?;
    let (_serial, _, rest) = element(fields)?;
    let (_sig_alg, _, rest) = element(rest)?;
    let (_issuer, _, rest) = element(rest)?;
    let (0x30, validity, rest) = element(rest)? else {
        return None;
    };
    let (0x30, subject, _) = element(rest)? else {
        return None;
    };
    Some((validity, subject))
}

/// The certificate's not-after time as Unix seconds.
pub fn not_after(cert_der: &[u8]) -> Option<i64> {
    let (validity, _) = validity_and_subject(cert_der)?;
    let (_, _, rest) = element(validity)?;
    let (tag, time, _) = element(rest)?;
    parse_time(tag, time)
}

/// The DER bytes of the subject name (content of the SEQUENCE).
pub fn subject_der(cert_der: &[u8]) -> Option<&[u8]> {
    validity_and_subject(cert_der).map(|(_, subject)| subject)
}

fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (year, rest) = match tag {
        0x17 => {
            let yy = digits(text.get(..2)?)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        0x18 => (digits(text.get(..4)?)?, text.get(4..)?),
        _ => return None,
    };
    if rest.len() != 11 || rest[10] != b'Z' {
        return None;
    }
    let field = |i: usize| digits(rest.get(i..i + 2)?);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, min, sec) = (field(4)?, field(6)?, field(8)?);
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_convert_to_unix_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2038, 1, 19), 24_855);
    }

    #[test]
    fn utc_and_generalized_times_parse() {
        assert_eq!(parse_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(parse_time(0x18, b"20380119031407Z"), Some(2_147_483_647));
        assert_eq!(parse_time(0x17, b"7001010000Z"), None);
        assert_eq!(parse_time(0x17, b"70010100000aZ"), None);
    }

    #[test]
    fn truncated_der_yields_none() {
        assert_eq!(not_after(&[0x30, 0x82, 0x01]), None);
        assert_eq!(not_after(&[]), None);
        assert_eq!(subject_der(&[0x30, 0x03, 0x30, 0x01]), None);
    }

    #[test]
    fn reads_not_after_from_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["a.test".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 5, 17);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            not_after(cert.der()),
            Some(days_from_civil(2031, 5, 17) * 86_400)
        );
        assert!(subject_der(cert.der()).is_some());
    }
}
