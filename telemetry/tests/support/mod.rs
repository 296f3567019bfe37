//! A strict, independent parser for the Prometheus text format 0.0.4, used to check
//! that every line outscope emits is well-formed and the families are coherent.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: String,
    pub samples: Vec<Sample>,
}

/// Parses `text`, panicking with the line number on the first violation.
pub fn parse(text: &str) -> Vec<Family> {
    assert!(text.ends_with('\n'), "exposition must end with a line feed");
    let mut families: Vec<Family> = Vec::new();
    let mut seen_names = HashSet::new();
    let mut seen_series = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        assert!(!line.is_empty(), "line {n}: empty line");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(valid_metric_name(name), "line {n}: bad name {name:?}");
            assert!(
                seen_names.insert(name.to_owned()),
                "line {n}: family {name} repeated"
            );
            unescape_help(help).unwrap_or_else(|e| panic!("line {n}: {e}"));
            families.push(Family {
                name: name.into(),
                help: help.into(),
                ..Family::default()
            });
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("line {n}"));
            let fam = families
                .last_mut()
                .unwrap_or_else(|| panic!("line {n}: TYPE first"));
            assert_eq!(fam.name, name, "line {n}: TYPE does not follow its HELP");
            assert!(
                fam.kind.is_empty() && fam.samples.is_empty(),
                "line {n}: late TYPE"
            );
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "line {n}: bad type {kind}"
            );
            fam.kind = kind.into();
        } else {
            assert!(!line.starts_with('#'), "line {n}: unexpected comment");
            let s = parse_sample(line).unwrap_or_else(|e| panic!("line {n}: {e}: {line}"));
            let fam = families
                .last_mut()
                .unwrap_or_else(|| panic!("line {n}: no family"));
            assert!(!fam.kind.is_empty(), "line {n}: sample before TYPE");
            assert!(
                belongs(&fam.name, &fam.kind, &s.name),
                "line {n}: {} not in {}",
                s.name,
                fam.name
            );
            let mut key = s.labels.clone();
            key.sort();
            assert!(
                seen_series.insert((s.name.clone(), key)),
                "line {n}: duplicate series"
            );
            fam.samples.push(s);
        }
    }
    for f in &families {
        check_family(f);
    }
    families
}

fn belongs(family: &str, kind: &str, sample: &str) -> bool {
    match kind {
        "histogram" => ["_bucket", "_sum", "_count"]
            .iter()
            .any(|suf| sample.strip_suffix(suf) == Some(family)),
        _ => sample == family,
    }
}

fn check_family(f: &Family) {
    if f.kind == "counter" {
        assert!(
            f.name.ends_with("_total"),
            "counter {} lacks _total",
            f.name
        );
        for s in &f.samples {
            assert!(
                s.value >= 0.0 && s.value.is_finite(),
                "{}: {}",
                f.name,
                s.value
            );
            // outscope's own counters count events; process_cpu_seconds_total does not.
            if f.name.starts_with("outscope_") {
                assert_eq!(s.value.fract(), 0.0, "{}: {}", f.name, s.value);
            }
        }
    }
    if f.kind == "histogram" {
        check_histogram(f);
    }
}

/// One histogram series: `(le, cumulative)` buckets, `_count`, whether `_sum` was seen.
type HistogramSeries = (Vec<(f64, f64)>, Option<f64>, bool);

fn check_histogram(f: &Family) {
    // Group by label set without `le`.
    let mut groups: BTreeMap<Vec<(String, String)>, HistogramSeries> = BTreeMap::new();
    for s in &f.samples {
        let base: Vec<_> = s
            .labels
            .iter()
            .filter(|(k, _)| k != "le")
            .cloned()
            .collect();
        let g = groups.entry(base).or_default();
        if s.name.ends_with("_bucket") {
            let le = s
                .label("le")
                .unwrap_or_else(|| panic!("{}: bucket without le", f.name));
            g.0.push((parse_value(le).unwrap(), s.value));
        } else if s.name.ends_with("_count") {
            g.1 = Some(s.value);
        } else {
            g.2 = true;
        }
    }
    for (labels, (buckets, count, has_sum)) in groups {
        assert!(has_sum, "{} {labels:?}: no _sum", f.name);
        let last = buckets
            .last()
            .unwrap_or_else(|| panic!("{}: no buckets", f.name));
        assert_eq!(
            last.0,
            f64::INFINITY,
            "{} {labels:?}: last bucket is not +Inf",
            f.name
        );
        assert_eq!(Some(last.1), count, "{} {labels:?}: +Inf != _count", f.name);
        for w in buckets.windows(2) {
            assert!(w[0].0 < w[1].0, "{}: le not increasing", f.name);
            assert!(w[0].1 <= w[1].1, "{}: buckets not cumulative", f.name);
        }
    }
}

fn valid_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    !s.starts_with("__")
        && matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(r)?;
        labels = parsed;
        rest = after;
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before value")?;
    let mut parts = rest.split(' ');
    let value = parse_value(parts.next().ok_or("no value")?)?;
    if let Some(ts) = parts.next() {
        ts.parse::<i64>().map_err(|_| "bad timestamp")?;
    }
    if parts.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.into(),
        labels,
        value,
    })
}

type Labels = Vec<(String, String)>;

/// Parses labels after `{`; returns them and the text after `}`.
fn parse_labels(mut r: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut names = HashSet::new();
    loop {
        if let Some(after) = r.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = r.find('=').ok_or("label without =")?;
        let lname = &r[..eq];
        if !valid_label_name(lname) {
            return Err(format!("bad label name {lname:?}"));
        }
        if !names.insert(lname.to_owned()) {
            return Err(format!("label {lname} repeated"));
        }
        r = r[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = r.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (_, '\\') => match chars.next().ok_or("dangling backslash")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (i, '"') => break i,
                (_, '\n') => return Err("raw newline in label value".into()),
                (_, c) => value.push(c),
            }
        };
        labels.push((lname.to_owned(), value));
        r = &r[end + 1..];
        if let Some(after) = r.strip_prefix(',') {
            r = after;
        } else if !r.starts_with('}') {
            return Err("expected , or }".into());
        }
    }
}

pub fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if v
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            && !v.is_empty() =>
        {
            v.parse().map_err(|_| format!("bad value {v:?}"))
        }
        _ => Err(format!("bad value {v:?}")),
    }
}

fn unescape_help(h: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = h.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                other => return Err(format!("bad HELP escape {other:?}")),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

/// `name{k="v",..}` → value, for assertions; label order as given.
pub fn series(families: &[Family]) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for f in families {
        for s in &f.samples {
            let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            out.insert(format!("{}{{{}}}", s.name, labels.join(",")), s.value);
        }
    }
    out
}
