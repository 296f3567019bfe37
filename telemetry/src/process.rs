//! The standard `process_*` metrics (the names client libraries use, so stock
//! dashboards work), read from `/proc/self` at scrape time. On systems without
//! `/proc`, or if a file cannot be read or parsed, the affected metrics are omitted.

use std::fs;

use crate::encode::{Collect, Encoder, Kind};

/// `/proc` reports CPU times in USER_HZ ticks, fixed at 100 for the user ABI on the
/// architectures outscope ships for.
const USER_HZ: f64 = 100.0;

/// Collects `process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
/// `process_threads` and `process_start_time_seconds`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessCollector;

/// What one scrape read; `None` where a source was missing.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub threads: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
}

impl ProcessStats {
    /// Reads `/proc/self/{stat,status,limits,fd}` and `/proc/stat`.
    pub fn read() -> Self {
        let read = |p: &str| fs::read_to_string(p).ok();
        let stat = read("/proc/self/stat").and_then(|s| parse_stat(&s));
        let boot = read("/proc/stat").and_then(|s| parse_boot_time(&s));
        let status = read("/proc/self/status");
        let status_kb = |key| status.as_deref().and_then(|s| parse_status_field(s, key));
        Self {
            cpu_seconds: stat.map(|s| s.cpu_ticks as f64 / USER_HZ),
            start_time_seconds: stat
                .zip(boot)
                .map(|(s, b)| b as f64 + s.start_ticks as f64 / USER_HZ),
            resident_bytes: status_kb("VmRSS:").map(|kb| kb as f64 * 1024.0),
            virtual_bytes: status_kb("VmSize:").map(|kb| kb as f64 * 1024.0),
            threads: status_kb("Threads:").map(|n| n as f64),
            open_fds: fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as f64),
            max_fds: read("/proc/self/limits")
                .and_then(|s| parse_max_open_files(&s))
                .map(|n| n as f64),
        }
    }
}

impl Collect for ProcessCollector {
    fn collect(&self, enc: &mut Encoder<'_>) {
        let s = ProcessStats::read();
        let all = [
            (
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                Kind::Counter,
                s.cpu_seconds,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                Kind::Gauge,
                s.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                Kind::Gauge,
                s.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                Kind::Gauge,
                s.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                Kind::Gauge,
                s.max_fds,
            ),
            (
                "process_threads",
                "Number of OS threads in the process.",
                Kind::Gauge,
                s.threads,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                Kind::Gauge,
                s.start_time_seconds,
            ),
        ];
        for (name, help, kind, value) in all {
            if let Some(v) = value {
                enc.family(name, help, kind);
                enc.sample_f64(name, &[], v);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    cpu_ticks: u64,
    start_ticks: u64,
}

/// `/proc/self/stat`: the command name (field 2) is in parentheses and may contain
/// spaces or `)`, so fields are counted from the last `)`. utime and stime are fields
/// 14 and 15, starttime field 22.
fn parse_stat(s: &str) -> Option<Stat> {
    let after = &s[s.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: field(14)?.checked_add(field(15)?)?,
        start_ticks: field(22)?,
    })
}

/// `btime <seconds>` from `/proc/stat`.
fn parse_boot_time(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
}

/// A numeric field of `/proc/self/status` (`VmRSS:   1234 kB` gives 1234).
fn parse_status_field(s: &str, key: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.split_whitespace().next()?.parse().ok())
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn parse_max_open_files(s: &str) -> Option<u64> {
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let s = "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                 250 50 0 0 20 0 7 0 123456 9999999 2222 18446744073709551615";
        assert_eq!(
            parse_stat(s),
            Some(Stat {
                cpu_ticks: 300,
                start_ticks: 123456
            })
        );
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_limits_and_boot_time_parse() {
        let status = "Name:\toutscope\nVmSize:\t  123456 kB\nVmRSS:\t    2048 kB\nThreads:\t5\n";
        assert_eq!(parse_status_field(status, "VmRSS:"), Some(2048));
        assert_eq!(parse_status_field(status, "Threads:"), Some(5));
        assert_eq!(parse_status_field(status, "VmSwap:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_open_files(limits), Some(1024));
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process_on_linux() {
        let s = ProcessStats::read();
        assert!(s.resident_bytes.is_some_and(|v| v > 0.0), "{s:?}");
        assert!(s.open_fds.is_some_and(|v| v >= 3.0), "{s:?}");
        assert!(s.threads.is_some_and(|v| v >= 1.0), "{s:?}");
        assert!(s.max_fds.is_some(), "{s:?}");
        let start = s.start_time_seconds.unwrap_or(0.0);
        assert!(
            start > 1.5e9,
            "start time is a plausible Unix time: {start}"
        );
    }
}
