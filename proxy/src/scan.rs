//! `outscope scan`: data discovery over files for PCI DSS 12.5.2 scope confirmation.
//!
//! Uses the same engine as the proxy (`outscope-scanner`). Prints each finding masked as
//! BIN6 and last4 (`424242******4242`) with file, byte offset, line, brand and key path;
//! never a full card number, never a CVV or other field value. Exit 0 when nothing was
//! found, 1 when something was, 2 on errors (like grep).

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use outscope_scanner::{Finding, Kind, Mode, Scanner};

/// Arguments of `outscope scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files or directories to scan (directories recursively, `-` for stdin, `.gz`
    /// files decompressed).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// One JSON object per finding (JSON lines) instead of text.
    #[arg(long)]
    pub json: bool,
    /// How to read the files: by extension and content (`auto`), or one mode for all.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
}

/// Input format of `outscope scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `.json`, `.jsonl`, `.ndjson` and content starting with `{` or `[` as JSON; the rest raw.
    Auto,
    /// JSON (JSON lines and concatenated documents too).
    Json,
    /// `application/x-www-form-urlencoded` or query strings.
    Form,
    /// Text, logs, XML, anything.
    Raw,
}

/// Totals over a run.
#[derive(Default)]
struct Totals {
    files: u64,
    bytes: u64,
    findings: u64,
    errors: u64,
}

/// Runs the scan; exit 0 nothing found, 1 findings, 2 errors.
pub fn run(args: &ScanArgs) -> ExitCode {
    let started = Instant::now();
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut totals = Totals::default();
    for path in &args.paths {
        if path.as_os_str() == "-" {
            let mut data = Vec::new();
            match io::stdin().lock().read_to_end(&mut data) {
                Ok(_) => scan_bytes(Path::new("-"), &data, args, &mut out, &mut totals),
                Err(e) => report_error(Path::new("-"), &e, &mut totals),
            }
        } else {
            walk(path, args, &mut out, &mut totals);
        }
    }
    if let Err(e) = out.flush()
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        eprintln!("outscope scan: writing output: {e}");
        totals.errors += 1;
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "outscope scan: {} files, {} bytes in {:.3} s ({:.1} MB/s), {} findings, {} errors",
        totals.files,
        totals.bytes,
        secs,
        totals.bytes as f64 / secs / 1e6,
        totals.findings,
        totals.errors
    );
    if totals.errors > 0 {
        ExitCode::from(2)
    } else if totals.findings > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn report_error(path: &Path, e: &io::Error, totals: &mut Totals) {
    eprintln!("outscope scan: {}: {e}", path.display());
    totals.errors += 1;
}

/// Scans a file, or every file under a directory (sorted; symbolic links to directories
/// are not followed, so there are no cycles).
fn walk(path: &Path, args: &ScanArgs, out: &mut impl Write, totals: &mut Totals) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return report_error(path, &e, totals),
    };
    if !meta.is_dir() {
        let result = if path.extension().is_some_and(|e| e == "gz") {
            read_file(path).map(|data| scan_bytes(path, &data, args, out, totals))
        } else {
            scan_file(path, args, out, totals)
        };
        if let Err(e) = result {
            report_error(path, &e, totals);
        }
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) => return report_error(path, &e, totals),
    };
    let mut children: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => {
                let is_link_dir = e.file_type().is_ok_and(|t| t.is_symlink())
                    && std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
                if !is_link_dir {
                    children.push(e.path());
                }
            }
            Err(e) => report_error(path, &e, totals),
        }
    }
    children.sort();
    for child in children {
        walk(&child, args, out, totals);
    }
}

/// Chunk size for streaming raw and form files.
const CHUNK: usize = 1 << 20;

/// Scans a plain file: JSON files are read whole (documents are scanned one by one, like
/// request bodies in the proxy); raw and form files are streamed in 1 MiB chunks.
fn scan_file(
    path: &Path,
    args: &ScanArgs,
    out: &mut impl Write,
    totals: &mut Totals,
) -> io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let mut cur = vec![0u8; CHUNK];
    let n = read_full(&mut file, &mut cur)?;
    cur.truncate(n);
    let mode = mode_for(path, &cur, args.format);
    if n < CHUNK {
        scan_bytes(path, &cur, args, out, totals);
        return Ok(());
    }
    if mode == Mode::Json {
        return scan_json_file(path, file, cur, args, out, totals);
    }
    totals.files += 1;
    let mut stream = Scanner::new(mode).stream();
    let mut lines = StreamLines::default();
    let mut findings = Vec::new();
    let mut at = 0usize;
    loop {
        totals.bytes += cur.len() as u64;
        stream.feed(&cur, &mut findings);
        lines.push_chunk(at, &cur);
        if !emit(path, &mut findings, &mut lines, args, out, totals) {
            return Ok(());
        }
        at += cur.len();
        let mut next = std::mem::take(&mut lines.spare);
        next.resize(CHUNK, 0);
        let n = read_full(&mut file, &mut next)?;
        next.truncate(n);
        lines.spare = std::mem::replace(&mut cur, next);
        if n == 0 {
            break;
        }
    }
    stream.finish(&mut findings);
    emit(path, &mut findings, &mut lines, args, out, totals);
    Ok(())
}

/// A large JSON file, read in chunks and cut at document starts (`{` or `[` at the start
/// of a line); each document is scanned alone, as a request body would be.
fn scan_json_file(
    path: &Path,
    mut file: std::fs::File,
    mut buf: Vec<u8>,
    args: &ScanArgs,
    out: &mut impl Write,
    totals: &mut Totals,
) -> io::Result<()> {
    totals.files += 1;
    let scanner = Scanner::new(Mode::Json);
    let mut base = 0usize; // absolute offset of buf[0]
    let mut base_lines = 0usize; // newlines before base
    let mut eof = false;
    loop {
        // Complete documents end where the last one starts; at the end, everything.
        let cut = if eof {
            buf.len()
        } else {
            last_document_start(&buf).unwrap_or(0)
        };
        if cut > 0 {
            let Some(done) = buf.get(..cut) else { break };
            totals.bytes += cut as u64;
            let mut lines = LineCounter::default();
            for (start, end) in json_documents(done) {
                let Some(doc) = done.get(start..end) else {
                    continue;
                };
                let mut findings = scanner.scan(doc);
                findings.sort_by_key(|f| (f.span.start, f.span.end));
                for f in &findings {
                    let offset = start + f.span.start;
                    let line = base_lines + lines.line_of(done, offset);
                    totals.findings += 1;
                    let abs = base + offset;
                    let written = if args.json {
                        write_json(out, path, abs, line, f)
                    } else {
                        write_text(out, path, abs, line, f)
                    };
                    if let Err(e) = written {
                        if e.kind() != io::ErrorKind::BrokenPipe {
                            eprintln!("outscope scan: writing output: {e}");
                            totals.errors += 1;
                        }
                        return Ok(());
                    }
                }
            }
            base_lines += memchr::memchr_iter(b'\n', done).count();
            base += cut;
            buf.drain(..cut);
        }
        if eof {
            return Ok(());
        }
        let have = buf.len();
        buf.resize(have + CHUNK, 0);
        let n = read_full(&mut file, buf.get_mut(have..).unwrap_or(&mut []))?;
        buf.truncate(have + n);
        eof = n == 0;
    }
    Ok(())
}

/// The start of the last document in `buf` after its first byte: a `{` or `[` right
/// after a newline.
fn last_document_start(buf: &[u8]) -> Option<usize> {
    let mut end = buf.len();
    while let Some(nl) = memchr::memrchr(b'\n', buf.get(..end)?) {
        if nl + 1 < buf.len() && matches!(buf.get(nl + 1), Some(b'{' | b'[')) && nl > 0 {
            return Some(nl + 1);
        }
        end = nl;
    }
    None
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(buf.get_mut(n..).unwrap_or(&mut [])) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes and drains `findings`; false when output failed.
fn emit(
    path: &Path,
    findings: &mut Vec<Finding>,
    lines: &mut StreamLines,
    args: &ScanArgs,
    out: &mut impl Write,
    totals: &mut Totals,
) -> bool {
    findings.sort_by_key(|f| (f.span.start, f.span.end));
    for f in findings.drain(..) {
        let line = lines.line_of(f.span.start);
        totals.findings += 1;
        let written = if args.json {
            write_json(out, path, f.span.start, line, &f)
        } else {
            write_text(out, path, f.span.start, line, &f)
        };
        if let Err(e) = written {
            if e.kind() != io::ErrorKind::BrokenPipe {
                eprintln!("outscope scan: writing output: {e}");
                totals.errors += 1;
            }
            return false;
        }
    }
    true
}

/// Line numbers over a stream: keeps the current and the previous chunk (a finding is
/// completed at most a few hundred bytes after it starts, far less than a chunk), and
/// counts newlines incrementally as findings move forward.
#[derive(Default)]
struct StreamLines {
    prev: Vec<u8>,
    prev_start: usize,
    cur: Vec<u8>,
    cur_start: usize,
    /// Newlines before `prev_start`.
    base: usize,
    /// Newlines before `cursor` (an absolute offset at or after `prev_start`).
    cursor: usize,
    cursor_lines: usize,
    /// A buffer to reuse for the next read.
    spare: Vec<u8>,
}

impl StreamLines {
    fn push_chunk(&mut self, start: usize, chunk: &[u8]) {
        self.base += memchr::memchr_iter(b'\n', &self.prev).count();
        self.prev = std::mem::take(&mut self.cur);
        self.prev_start = self.cur_start;
        self.cur.clear();
        self.cur.extend_from_slice(chunk);
        self.cur_start = start;
        self.cursor = self.prev_start;
        self.cursor_lines = self.base;
    }

    /// Newlines in the absolute range `from..to` of the two kept chunks.
    fn newlines(&self, from: usize, to: usize) -> usize {
        let mut n = 0;
        for (buf, start) in [(&self.prev, self.prev_start), (&self.cur, self.cur_start)] {
            let lo = from.max(start).saturating_sub(start).min(buf.len());
            let hi = to.max(start).saturating_sub(start).min(buf.len());
            n += memchr::memchr_iter(b'\n', buf.get(lo..hi).unwrap_or(&[])).count();
        }
        n
    }

    /// The 1-based line of `offset`, or 0 when it is older than the previous chunk.
    fn line_of(&mut self, offset: usize) -> usize {
        if offset < self.prev_start {
            return 0;
        }
        if offset < self.cursor {
            self.cursor = self.prev_start;
            self.cursor_lines = self.base;
        }
        self.cursor_lines += self.newlines(self.cursor, offset);
        self.cursor = offset;
        self.cursor_lines + 1
    }
}

/// Reads a file, decompressing `.gz`.
fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    if path.extension().is_none_or(|e| e != "gz") {
        // One allocation of the file's size, one read.
        return std::fs::read(path);
    }
    let file = std::fs::File::open(path)?;
    let mut data = Vec::new();
    flate2::read::MultiGzDecoder::new(io::BufReader::new(file)).read_to_end(&mut data)?;
    Ok(data)
}

/// The mode for a file: by `--format`, else by extension (ignoring `.gz`), else by content.
fn mode_for(path: &Path, data: &[u8], format: Format) -> Mode {
    match format {
        Format::Json => return Mode::Json,
        Format::Form => return Mode::Form,
        Format::Raw => return Mode::Raw,
        Format::Auto => {}
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    if matches!(ext.as_deref(), Some("json" | "jsonl" | "ndjson")) {
        return Mode::Json;
    }
    let first = data.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{' | b'[')) {
        Mode::Json
    } else {
        Mode::Raw
    }
}

/// Top-level JSON documents: a new one starts at a `{` or `[` at the start of a line
/// (JSON lines, and pretty-printed documents one after another). Each is scanned alone,
/// so the fast path applies per document as it does per request body in the proxy.
fn json_documents(data: &[u8]) -> Vec<(usize, usize)> {
    let mut docs = Vec::new();
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', data) {
        if matches!(data.get(nl + 1), Some(b'{' | b'[')) {
            docs.push((start, nl + 1));
            start = nl + 1;
        }
    }
    docs.push((start, data.len()));
    docs
}

fn scan_bytes(
    path: &Path,
    data: &[u8],
    args: &ScanArgs,
    out: &mut impl Write,
    totals: &mut Totals,
) {
    totals.files += 1;
    totals.bytes += data.len() as u64;
    let mode = mode_for(path, data, args.format);
    let scanner = Scanner::new(mode);
    let mut lines = LineCounter::default();
    let parts = if mode == Mode::Json {
        json_documents(data)
    } else {
        vec![(0, data.len())]
    };
    for (start, end) in parts {
        let Some(part) = data.get(start..end) else {
            continue;
        };
        let mut findings = scanner.scan(part);
        findings.sort_by_key(|f| (f.span.start, f.span.end));
        for f in &findings {
            let offset = start + f.span.start;
            let line = lines.line_of(data, offset);
            totals.findings += 1;
            let written = if args.json {
                write_json(out, path, offset, line, f)
            } else {
                write_text(out, path, offset, line, f)
            };
            if let Err(e) = written {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    eprintln!("outscope scan: writing output: {e}");
                    totals.errors += 1;
                }
                return;
            }
        }
    }
}

/// Line numbers (1-based) of increasing offsets, counting newlines once.
#[derive(Default)]
struct LineCounter {
    pos: usize,
    line: usize,
}

impl LineCounter {
    fn line_of(&mut self, data: &[u8], offset: usize) -> usize {
        if offset < self.pos {
            *self = LineCounter::default();
        }
        let upto = offset.min(data.len());
        let chunk = data.get(self.pos..upto).unwrap_or(&[]);
        self.line += memchr::memchr_iter(b'\n', chunk).count();
        self.pos = upto;
        self.line + 1
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Pan => "pan",
        Kind::Track1 => "track1",
        Kind::Track2 => "track2",
        Kind::Field(outscope_scanner::Field::Cvv) => "cvv",
        Kind::Field(outscope_scanner::Field::Expiry) => "expiry",
        Kind::Field(outscope_scanner::Field::Cardholder) => "cardholder",
        Kind::Field(outscope_scanner::Field::CardNumber) => "card_number_field",
        Kind::Field(outscope_scanner::Field::TrackData) => "track_data_field",
    }
}

fn write_text(
    out: &mut impl Write,
    path: &Path,
    offset: usize,
    line: usize,
    f: &Finding,
) -> io::Result<()> {
    let kind = kind_name(f.kind);
    let key = f
        .key_path
        .as_deref()
        .map(|k| format!(" {k}"))
        .unwrap_or_default();
    match f.pan() {
        Some(p) => writeln!(
            out,
            "{}:{line}:{offset}: {kind} {} {}{key}",
            path.display(),
            p.brand().name(),
            p.digits().masked()
        ),
        // Field values (CVV, expiry, name) are never printed.
        None => writeln!(out, "{}:{line}:{offset}: {kind}{key}", path.display()),
    }
}

fn write_json(
    out: &mut impl Write,
    path: &Path,
    offset: usize,
    line: usize,
    f: &Finding,
) -> io::Result<()> {
    let mut v = serde_json::json!({
        "file": path.display().to_string(),
        "offset": offset,
        "length": f.span.len(),
        "line": line,
        "kind": kind_name(f.kind),
        "key_path": f.key_path,
        "how": f.how.names(),
    });
    if let (Some(p), Some(obj)) = (f.pan(), v.as_object_mut()) {
        obj.insert("brand".into(), p.brand().name().into());
        obj.insert("masked".into(), p.digits().masked().into());
    }
    serde_json::to_writer(&mut *out, &v).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_documents_split_at_line_starts() {
        let d = b"{\"a\":1}\n{\"b\":\n  {\"c\":2}\n}\n[1]";
        assert_eq!(json_documents(d), [(0, 8), (8, 26), (26, 29)]);
    }

    #[test]
    fn last_document_start_finds_line_starts() {
        assert_eq!(
            last_document_start(b"{\"a\":1}\n{\"b\":2}\n{\"c\""),
            Some(16)
        );
        assert_eq!(last_document_start(b"{\"a\":\n  {\"b\":2}}"), None);
        assert_eq!(last_document_start(b"[1]\n[2]\n"), Some(4));
    }

    #[test]
    fn stream_lines_span_two_chunks() {
        let mut l = StreamLines::default();
        l.push_chunk(0, b"a\nb\n");
        assert_eq!(l.line_of(0), 1);
        assert_eq!(l.line_of(3), 2);
        l.push_chunk(4, b"c\nd");
        assert_eq!(l.line_of(6), 4);
        assert_eq!(l.line_of(2), 2);
        l.push_chunk(8, b"e");
        assert_eq!(l.line_of(8), 4);
        assert_eq!(l.line_of(1), 0);
    }

    #[test]
    fn line_counter_counts_from_one() {
        let mut l = LineCounter::default();
        let d = b"a\nb\nc";
        assert_eq!(l.line_of(d, 0), 1);
        assert_eq!(l.line_of(d, 2), 2);
        assert_eq!(l.line_of(d, 4), 3);
    }

    #[test]
    fn text_output_is_masked() {
        let f = outscope_scanner::scan(b"x 4242424242424242 y", Mode::Raw);
        let mut buf = Vec::new();
        write_text(&mut buf, Path::new("f.txt"), 2, 1, &f[0]).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "f.txt:1:2: pan visa 424242******4242\n"
        );
        let mut buf = Vec::new();
        write_json(&mut buf, Path::new("f.txt"), 2, 1, &f[0]).unwrap();
        let s = String::from_utf8_lossy(&buf);
        assert!(s.contains("\"masked\":\"424242******4242\""), "{s}");
        assert!(!s.contains("4242424242424242"), "{s}");
    }

    #[test]
    fn auto_format_by_extension_and_content() {
        assert_eq!(
            mode_for(Path::new("a.ndjson.gz"), b"x", Format::Auto),
            Mode::Json
        );
        assert_eq!(
            mode_for(Path::new("a.txt"), b"  {\"a\":1}", Format::Auto),
            Mode::Json
        );
        assert_eq!(
            mode_for(Path::new("a.log"), b"hello", Format::Auto),
            Mode::Raw
        );
        assert_eq!(
            mode_for(Path::new("a.json"), b"hello", Format::Form),
            Mode::Form
        );
    }
}
