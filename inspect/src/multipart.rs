//! `multipart/form-data` (RFC 7578 / RFC 2046) with byte ranges for every piece: preamble,
//! each part's headers and body, epilogue. Strict CRLF framing: anything else (bare LF,
//! a missing close delimiter, too many parts) is refused, never guessed at.

use std::ops::Range;

/// One part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The header block, without the blank line.
    pub headers: Range<usize>,
    /// `name` of `Content-Disposition: form-data`, if any.
    pub name: Option<String>,
    /// `filename` of `Content-Disposition`, if any.
    pub filename: Option<String>,
    /// The part's `Content-Type`, lower-cased, without parameters.
    pub content_type: Option<String>,
    pub body: Range<usize>,
}

/// A parsed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    pub preamble: Range<usize>,
    pub parts: Vec<Part>,
    pub epilogue: Range<usize>,
}

/// Why a body was refused. No input content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartError(pub &'static str);

impl std::fmt::Display for MultipartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid multipart body: {}", self.0)
    }
}

impl std::error::Error for MultipartError {}

/// The `boundary` parameter of a `multipart/form-data` Content-Type value.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        (!v.is_empty() && v.len() <= 70).then(|| v.to_owned())
    })
}

pub fn parse(input: &[u8], boundary: &str, max_parts: usize) -> Result<Multipart, MultipartError> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let finder = memchr::memmem::Finder::new(delim);
    // The first delimiter may start the body; every later one follows a CRLF.
    let first = if input.starts_with(delim) {
        0
    } else {
        let crlf_delim = [b"\r\n", delim].concat();
        memchr::memmem::find(input, &crlf_delim)
            .map(|i| i + 2)
            .ok_or(MultipartError("no boundary delimiter"))?
    };
    let preamble = 0..first.saturating_sub(2).min(first);
    let mut parts = Vec::new();
    let mut at = first + delim.len();
    loop {
        // After a delimiter: "--" closes; otherwise optional padding then CRLF.
        if input.get(at..at + 2) == Some(b"--") {
            let mut end = at + 2;
            end += padding(&input[end..]);
            let epilogue_start = match input.get(end..end + 2) {
                Some(b"\r\n") => end + 2,
                None | Some(&[]) => end,
                _ if end == input.len() => end,
                _ => return Err(MultipartError("garbage after the close delimiter")),
            };
            return Ok(Multipart {
                preamble,
                parts,
                epilogue: epilogue_start..input.len(),
            });
        }
        at += padding(&input[at..]);
        if input.get(at..at + 2) != Some(b"\r\n") {
            return Err(MultipartError("delimiter not followed by CRLF"));
        }
        at += 2;
        if parts.len() >= max_parts {
            return Err(MultipartError("too many parts"));
        }
        let headers_end = if input[at..].starts_with(b"\r\n") {
            at
        } else {
            memchr::memmem::find(&input[at..], b"\r\n\r\n")
                .map(|i| at + i)
                .ok_or(MultipartError("part headers not terminated"))?
        };
        let headers = at..headers_end;
        let body_start = if headers_end == at {
            at + 2
        } else {
            headers_end + 4
        };
        let next = finder
            .find_iter(&input[body_start..])
            .map(|i| body_start + i)
            .find(|&i| i >= 2 && input.get(i - 2..i) == Some(b"\r\n"))
            .ok_or(MultipartError("no close delimiter"))?;
        let raw_headers = &input[headers.clone()];
        if raw_headers
            .iter()
            .enumerate()
            .any(|(i, b)| *b == b'\n' && (i == 0 || raw_headers[i - 1] != b'\r'))
        {
            return Err(MultipartError("bare LF in part headers"));
        }
        let (name, filename, content_type) = disposition(raw_headers)?;
        parts.push(Part {
            headers,
            name,
            filename,
            content_type,
            body: body_start..next - 2,
        });
        at = next + delim.len();
    }
}

fn padding(s: &[u8]) -> usize {
    s.iter().take_while(|b| matches!(b, b' ' | b'\t')).count()
}

type Disposition = (Option<String>, Option<String>, Option<String>);

fn disposition(headers: &[u8]) -> Result<Disposition, MultipartError> {
    let text =
        std::str::from_utf8(headers).map_err(|_| MultipartError("part headers are not UTF-8"))?;
    let (mut name, mut filename, mut content_type) = (None, None, None);
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (field, value) = line
            .split_once(':')
            .ok_or(MultipartError("malformed part header"))?;
        if line.starts_with([' ', '\t']) {
            return Err(MultipartError("folded part header"));
        }
        if field.eq_ignore_ascii_case("content-disposition") {
            if name.is_some() || filename.is_some() {
                return Err(MultipartError("duplicate Content-Disposition"));
            }
            for param in value.split(';').skip(1) {
                let Some((k, v)) = param.split_once('=') else {
                    continue;
                };
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v)
                    .to_owned();
                match k.trim().to_ascii_lowercase().as_str() {
                    "name" => name = Some(v),
                    "filename" => filename = Some(v),
                    "filename*" => return Err(MultipartError("filename* is not supported")),
                    _ => {}
                }
            }
        } else if field.eq_ignore_ascii_case("content-type") {
            let ct = value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            content_type = Some(ct);
        }
    }
    Ok((name, filename, content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"preamble text\r\n--XyZ\r\nContent-Disposition: form-data; name=\"card[number]\"\r\n\r\n4242424242424242\r\n--XyZ  \r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.json\"\r\nContent-Type: application/json; charset=utf-8\r\n\r\n{\"a\":1}\r\n--XyZ--\r\nepilogue";

    #[test]
    fn parts_preamble_and_epilogue_have_exact_ranges() {
        let m = parse(BODY, "XyZ", 10).unwrap();
        let s = |r: &Range<usize>| String::from_utf8_lossy(&BODY[r.clone()]).into_owned();
        assert_eq!(s(&m.preamble), "preamble text");
        assert_eq!(m.parts.len(), 2);
        assert_eq!(m.parts[0].name.as_deref(), Some("card[number]"));
        assert_eq!(s(&m.parts[0].body), "4242424242424242");
        assert_eq!(m.parts[1].filename.as_deref(), Some("a.json"));
        assert_eq!(m.parts[1].content_type.as_deref(), Some("application/json"));
        assert_eq!(s(&m.parts[1].body), "{\"a\":1}");
        assert_eq!(s(&m.epilogue), "epilogue");
    }

    #[test]
    fn sloppy_framing_is_refused() {
        let bare_lf = b"--b\nContent-Disposition: form-data; name=\"x\"\n\n1\n--b--";
        assert!(parse(bare_lf, "b", 10).is_err());
        let unclosed = b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1";
        assert_eq!(
            parse(unclosed, "b", 10).unwrap_err(),
            MultipartError("no close delimiter")
        );
        let many = b"--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b--";
        assert_eq!(
            parse(many, "b", 1).unwrap_err(),
            MultipartError("too many parts")
        );
        assert_eq!(
            parse(b"no delimiter", "b", 10).unwrap_err(),
            MultipartError("no boundary delimiter")
        );
    }

    #[test]
    fn boundary_parameter_is_read() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(
            boundary("multipart/form-data; charset=x; BOUNDARY=zz").as_deref(),
            Some("zz")
        );
        assert_eq!(boundary("multipart/form-data"), None);
    }
}
