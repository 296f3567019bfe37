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
        match read_file(path) {
            Ok(data) => scan_bytes(path, &data, args, out, totals),
            Err(e) => report_error(path, &e, totals),
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

/// Reads a file, decompressing `.gz`.
fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut data = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::MultiGzDecoder::new(io::BufReader::new(file)).read_to_end(&mut data)?;
    } else {
        io::BufReader::new(file).read_to_end(&mut data)?;
    }
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
