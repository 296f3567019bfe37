//! Strict HTTP/1 framing, judged on the raw bytes.
//!
//! hyper normalises some ambiguous framings before we see a request (it drops a
//! `Content-Length` sent with `Transfer-Encoding`, folds equal duplicate lengths). A proxy
//! must refuse those shapes instead, so this IO wrapper follows the HTTP/1 message
//! framing itself, in lockstep with hyper: it parses each request head as the bytes
//! arrive, judges it, and queues a [`Verdict`] that the connection's service attaches to
//! the request hyper dispatches for that head. Bodies are skipped by their framing so the
//! next head is found. Anything it cannot follow marks the connection untracked, and every
//! later request on it is refused (fail closed).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The judgement on one request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Refused(&'static str),
}

/// Verdicts waiting for their requests, in arrival order.
#[derive(Default)]
pub struct Verdicts {
    queue: Mutex<VecDeque<Verdict>>,
}

impl Verdicts {
    fn push(&self, v: Verdict) {
        if let Ok(mut q) = self.queue.lock() {
            q.push_back(v);
        }
    }

    /// The verdict for the next request hyper dispatched; refused when there is none
    /// (the tracker lost the framing).
    pub fn next(&self) -> Verdict {
        self.queue
            .lock()
            .ok()
            .and_then(|mut q| q.pop_front())
            .unwrap_or(Verdict::Refused("request framing could not be followed"))
    }
}

enum State {
    /// Accumulating a request head.
    Head(Vec<u8>),
    /// Skipping a body of known length.
    Body(u64),
    /// Chunked body: reading a chunk-size line.
    ChunkSize(Vec<u8>),
    /// Chunked body: skipping chunk data, then its CRLF.
    ChunkData(u64),
    ChunkDataEnd(u8),
    /// Chunked body: reading trailer lines until an empty one.
    Trailers(Vec<u8>),
    /// No longer following (upgrade, CONNECT, or bytes that made no sense).
    Untracked,
}

/// Follows HTTP/1 request framing over a byte stream.
pub struct Tracker {
    state: State,
    max_head: usize,
    max_headers: usize,
    verdicts: Arc<Verdicts>,
}

impl Tracker {
    pub fn new(max_head: usize, max_headers: usize, verdicts: Arc<Verdicts>) -> Self {
        Self {
            state: State::Head(Vec::new()),
            max_head,
            max_headers,
            verdicts,
        }
    }

    /// Feeds bytes read from the client.
    pub fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            input = match std::mem::replace(&mut self.state, State::Untracked) {
                State::Untracked => return,
                State::Head(buf) => self.head(buf, input),
                State::Body(n) => {
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(input.len());
                    let left = n - take as u64;
                    self.state = if left == 0 {
                        State::Head(Vec::new())
                    } else {
                        State::Body(left)
                    };
                    &input[take..]
                }
                State::ChunkSize(buf) => self.line(buf, input, false),
                State::ChunkData(n) => {
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(input.len());
                    let left = n - take as u64;
                    self.state = if left == 0 {
                        State::ChunkDataEnd(0)
                    } else {
                        State::ChunkData(left)
                    };
                    &input[take..]
                }
                State::ChunkDataEnd(seen) => {
                    let expect = if seen == 0 { b'\r' } else { b'\n' };
                    match input[0] {
                        b if b == expect && seen == 1 => self.state = State::ChunkSize(Vec::new()),
                        b if b == expect => self.state = State::ChunkDataEnd(1),
                        b'\n' if seen == 0 => self.state = State::ChunkSize(Vec::new()),
                        _ => self.state = State::Untracked,
                    }
                    &input[1..]
                }
                State::Trailers(buf) => self.line(buf, input, true),
            };
        }
    }

    /// Accumulates a head; when complete, judges it and picks the body framing.
    fn head<'a>(&mut self, mut buf: Vec<u8>, input: &'a [u8]) -> &'a [u8] {
        let mut input = input;
        if buf.is_empty() {
            // Empty lines before a request line are tolerated (RFC 9112 §2.2).
            let skip = input
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            input = &input[skip..];
            if input.is_empty() {
                self.state = State::Head(buf);
                return input;
            }
        }
        let start = buf.len().saturating_sub(3);
        buf.extend_from_slice(input);
        let Some(end) = head_end(&buf, start) else {
            if buf.len() > self.max_head {
                self.verdicts
                    .push(Verdict::Refused("request head too large"));
                self.state = State::Untracked;
            } else {
                self.state = State::Head(buf);
            }
            return &[];
        };
        let consumed_from_input = end - (buf.len() - input.len());
        let (verdict, next) = judge(&buf[..end], self.max_headers);
        self.verdicts.push(verdict);
        self.state = if verdict == Verdict::Clean {
            next
        } else {
            State::Untracked
        };
        &input[consumed_from_input..]
    }

    /// Reads one line of a chunked body (size line or trailer line).
    fn line<'a>(&mut self, mut buf: Vec<u8>, input: &'a [u8], trailers: bool) -> &'a [u8] {
        let Some(nl) = memchr::memchr(b'\n', input) else {
            buf.extend_from_slice(input);
            self.state = if buf.len() > 4096 {
                State::Untracked
            } else if trailers {
                State::Trailers(buf)
            } else {
                State::ChunkSize(buf)
            };
            return &[];
        };
        buf.extend_from_slice(&input[..nl]);
        let line = buf.strip_suffix(b"\r").unwrap_or(&buf);
        self.state = if trailers {
            if line.is_empty() {
                State::Head(Vec::new())
            } else {
                State::Trailers(Vec::new())
            }
        } else {
            match chunk_size(line) {
                Some(0) => State::Trailers(Vec::new()),
                Some(n) => State::ChunkData(n),
                None => State::Untracked,
            }
        };
        &input[nl + 1..]
    }
}

/// End of the head (index after the blank line), searching from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(pos) = memchr::memchr(b'\n', buf.get(i..)?) {
        let nl = i + pos;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.split(|b| *b == b';').next()?;
    let digits = digits.strip_suffix(b" ").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, b| {
        Some(acc * 16 + u64::from((*b as char).to_digit(16)?))
    })
}

/// Judges a complete head and returns the state that follows it.
fn judge(head: &[u8], max_headers: usize) -> (Verdict, State) {
    let mut storage = vec![httparse::EMPTY_HEADER; max_headers.max(1)];
    let mut req = httparse::Request::new(&mut storage);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => {
            return (
                Verdict::Refused("request head does not parse"),
                State::Untracked,
            );
        }
    }
    let (mut cls, mut tes) = (Vec::new(), Vec::new());
    let (mut upgrade, mut connection_upgrade) = (false, false);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            cls.push(h.value);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            tes.push(h.value);
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade = true;
        } else if h.name.eq_ignore_ascii_case("connection") {
            connection_upgrade |= h
                .value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
        }
    }
    let refuse = |why| (Verdict::Refused(why), State::Untracked);
    if !cls.is_empty() && !tes.is_empty() {
        return refuse("both Content-Length and Transfer-Encoding");
    }
    if cls.len() > 1 {
        return refuse("more than one Content-Length");
    }
    if tes.len() > 1
        || tes
            .first()
            .is_some_and(|te| !te.eq_ignore_ascii_case(b"chunked"))
    {
        return refuse("Transfer-Encoding other than a single chunked");
    }
    if !tes.is_empty() && req.version == Some(0) {
        return refuse("Transfer-Encoding in HTTP/1.0");
    }
    let next = if req
        .method
        .is_some_and(|m| m.eq_ignore_ascii_case("CONNECT"))
        || (upgrade && connection_upgrade)
    {
        State::Untracked
    } else if !tes.is_empty() {
        State::ChunkSize(Vec::new())
    } else if let Some(cl) = cls.first() {
        if cl.is_empty() || cl.len() > 19 || !cl.iter().all(u8::is_ascii_digit) {
            return refuse("invalid Content-Length");
        }
        let n = cl
            .iter()
            .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
        if n == 0 {
            State::Head(Vec::new())
        } else {
            State::Body(n)
        }
    } else {
        State::Head(Vec::new())
    };
    (Verdict::Clean, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts_for(chunks: &[&[u8]]) -> Vec<Verdict> {
        let v = Arc::new(Verdicts::default());
        let mut t = Tracker::new(8192, 64, v.clone());
        for c in chunks {
            t.feed(c);
        }
        let q = v.queue.lock().unwrap();
        q.iter().copied().collect()
    }

    const CLEAN: Verdict = Verdict::Clean;

    #[test]
    fn pipelined_requests_with_bodies_are_followed() {
        let stream: &[u8] = b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\n\r\n\r\n\rGET /b HTTP/1.1\r\nhost: x\r\n\r\nPOST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nx-trailer: 1\r\n\r\nGET /d HTTP/1.1\r\nhost: x\r\n\r\n";
        assert_eq!(verdicts_for(&[stream]), vec![CLEAN; 4]);
    }

    #[test]
    fn any_split_of_the_stream_gives_the_same_verdicts() {
        let stream: &[u8] = b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabcPOST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /x HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\n";
        let whole = verdicts_for(&[stream]);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[2], Verdict::Refused("more than one Content-Length"));
        for cut in 1..stream.len() {
            assert_eq!(
                verdicts_for(&[&stream[..cut], &stream[cut..]]),
                whole,
                "split at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(verdicts_for(&bytes), whole);
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let cases: &[(&[u8], &str)] = &[
            (b"POST / HTTP/1.1\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n", "both Content-Length and Transfer-Encoding"),
            (b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n", "both Content-Length and Transfer-Encoding"),
            (b"POST / HTTP/1.1\r\ncontent-length: 4\r\ncontent-length: 4\r\n\r\n", "more than one Content-Length"),
            (b"POST / HTTP/1.1\r\ncontent-length: +4\r\n\r\n", "invalid Content-Length"),
            (b"POST / HTTP/1.1\r\ncontent-length: 4, 4\r\n\r\n", "invalid Content-Length"),
            (b"POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n", "Transfer-Encoding other than a single chunked"),
            (b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n", "Transfer-Encoding other than a single chunked"),
            (b"POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n", "Transfer-Encoding in HTTP/1.0"),
            (b"GET / HTTP/1.1\r\nx-folded: a\r\n b\r\n\r\n", "request head does not parse"),
        ];
        for (raw, why) in cases {
            assert_eq!(
                verdicts_for(&[raw]),
                vec![Verdict::Refused(why)],
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn nothing_is_judged_after_a_refusal_or_an_upgrade() {
        assert_eq!(
            verdicts_for(&[b"GET / HTTP/1.1\r\ncontent-length: x\r\n\r\nGET / HTTP/1.1\r\n\r\n"]),
            vec![Verdict::Refused("invalid Content-Length")]
        );
        assert_eq!(
            verdicts_for(&[b"GET / HTTP/1.1\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\nGET / HTTP/1.1\r\n\r\n"]),
            vec![CLEAN]
        );
        let v = Verdicts::default();
        assert_eq!(
            v.next(),
            Verdict::Refused("request framing could not be followed")
        );
    }

    #[test]
    fn oversized_heads_are_refused() {
        let v = Arc::new(Verdicts::default());
        let mut t = Tracker::new(64, 64, v.clone());
        t.feed(b"GET / HTTP/1.1\r\nx: ");
        t.feed(&[b'a'; 100]);
        assert_eq!(v.next(), Verdict::Refused("request head too large"));
    }

    #[test]
    fn chunk_sizes_parse_strictly() {
        assert_eq!(chunk_size(b"1f"), Some(31));
        assert_eq!(chunk_size(b"A;name=v"), Some(10));
        assert_eq!(chunk_size(b"zz"), None);
        assert_eq!(chunk_size(b""), None);
        assert_eq!(chunk_size(b"ffffffffffffffff"), None);
    }
}
