//! Prometheus text exposition format, version 0.0.4.
//!
//! <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>:
//! one `# HELP` and one `# TYPE` line per family, then its samples; label values escape
//! `\`, `"` and line feed; HELP text escapes `\` and line feed; floats use `+Inf`,
//! `-Inf` and `NaN`.

use std::fmt::Write as _;

use crate::primitives::Histogram;

/// The `Content-Type` of [`Encoder`] output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The family types of the 0.0.4 format that outscope uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// Anything that writes families at scrape time: [`Metrics`](crate::Metrics),
/// [`Health`](crate::Health), and later crates' own metrics (tokenizer, egress check)
/// added with [`AdminState::with_collector`](crate::AdminState::with_collector).
///
/// An implementation writes complete families (HELP, TYPE, samples) whose names start
/// with `outscope_`, are not written by any other collector, and whose label values
/// come from bounded sets.
pub trait Collect: Send + Sync {
    fn collect(&self, enc: &mut Encoder<'_>);
}

/// A label name and value. Names are compile-time constants; values are bounded.
pub type Label<'a> = (&'static str, &'a str);

/// Appends exposition text to a `String`.
#[derive(Debug)]
pub struct Encoder<'a> {
    out: &'a mut String,
}

impl<'a> Encoder<'a> {
    pub fn new(out: &'a mut String) -> Self {
        Self { out }
    }

    /// Starts a family. `name` is the full sample name (counters include `_total`).
    pub fn family(&mut self, name: &str, help: &str, kind: Kind) {
        let _ = write!(self.out, "# HELP {name} ");
        escape_help(self.out, help);
        let _ = writeln!(self.out, "\n# TYPE {name} {}", kind.as_str());
    }

    pub fn sample_u64(&mut self, name: &str, labels: &[Label<'_>], value: u64) {
        self.sample_start(name, "", labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    pub fn sample_f64(&mut self, name: &str, labels: &[Label<'_>], value: f64) {
        self.sample_start(name, "", labels, None);
        self.out.push(' ');
        write_f64(self.out, value);
        self.out.push('\n');
    }

    /// Writes `name_bucket{..,le=".."}` for every bound and `+Inf`, then `_sum`, `_count`.
    pub fn histogram(&mut self, name: &str, labels: &[Label<'_>], h: &Histogram) {
        let snap = h.snapshot();
        let mut le = String::new();
        for (i, cumulative) in snap.cumulative.iter().enumerate() {
            le.clear();
            match h.bounds().get(i) {
                Some(&b) => write_f64(&mut le, b),
                None => le.push_str("+Inf"),
            }
            self.sample_start(name, "_bucket", labels, Some(("le", &le)));
            let _ = writeln!(self.out, " {cumulative}");
        }
        self.sample_start(name, "_sum", labels, None);
        self.out.push(' ');
        write_f64(self.out, snap.sum);
        self.out.push('\n');
        self.sample_start(name, "_count", labels, None);
        let _ = writeln!(self.out, " {}", snap.count());
    }

    fn sample_start(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &[Label<'_>],
        extra: Option<Label<'_>>,
    ) {
        self.out.push_str(name);
        self.out.push_str(suffix);
        let mut all = labels.iter().copied().chain(extra).peekable();
        if all.peek().is_none() {
            return;
        }
        self.out.push('{');
        for (i, (k, v)) in all.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_label_value(self.out, v);
            self.out.push('"');
        }
        self.out.push('}');
    }
}

/// Label values: backslash, double quote and line feed are escaped.
pub fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text: backslash and line feed are escaped (quotes are not).
fn escape_help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Go `ParseFloat`-compatible: `+Inf`, `-Inf`, `NaN`, otherwise Rust's shortest
/// round-trip decimal (`0.005`, `1`, `2.5`).
pub fn write_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Encoder<'_>)) -> String {
        let mut s = String::new();
        f(&mut Encoder::new(&mut s));
        s
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let out = enc(|e| e.sample_u64("m_total", &[("route", "a\\b\"c\nd")], 1));
        assert_eq!(out, "m_total{route=\"a\\\\b\\\"c\\nd\"} 1\n");
    }

    #[test]
    fn help_escapes_backslash_and_newline_but_not_quotes() {
        let out = enc(|e| e.family("m", "say \"hi\"\\\nbye", Kind::Gauge));
        assert_eq!(out, "# HELP m say \"hi\"\\\\\\nbye\n# TYPE m gauge\n");
    }

    #[test]
    fn floats_use_prometheus_spellings() {
        let mut s = String::new();
        for v in [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            0.005,
            1.0,
            1e9,
            -2.5,
        ] {
            write_f64(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "+Inf -Inf NaN 0.005 1 1000000000 -2.5 ");
    }

    #[test]
    fn unlabelled_sample_has_no_braces() {
        assert_eq!(enc(|e| e.sample_f64("up", &[], 1.0)), "up 1\n");
    }
}
