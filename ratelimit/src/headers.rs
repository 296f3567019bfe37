//! `RateLimit-Policy`, `RateLimit` and `Retry-After` values from decisions.
//!
//! Syntax of draft-ietf-httpapi-ratelimit-headers (-10/-11): each field is a Structured
//! Fields List of Items whose value is a String naming the policy.
//!
//! - `RateLimit-Policy: "per-ip";q=100;w=1` - `q` quota (requests), `w` window in seconds.
//! - `RateLimit: "per-ip";r=0;t=1` - `r` available quota, `t` seconds of the effective window.
//!
//! Mapping from GCRA: `q`/`w` state the sustained rate (`requests` per `per`; a sub-second or
//! fractional `per` is scaled to whole seconds, as `w` has no sub-second precision). When
//! allowed, `r` is the burst still available and `t` the seconds until the bucket is full
//! again. When limited, `r=0` and `t` is the wait before the next request, equal to
//! `Retry-After`, so that `Retry-After` never points before the end of the effective window
//! (the draft's rule). Partition keys (`pk`) are never emitted: they would reveal the key.

use std::fmt::Write as _;
use std::time::Duration;

use crate::{Decision, Policy};

pub const RATELIMIT_POLICY: &str = "ratelimit-policy";
pub const RATELIMIT: &str = "ratelimit";
pub const RETRY_AFTER: &str = "retry-after";

/// All three header values for the limits that applied to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitHeaders {
    pub policy: String,
    pub ratelimit: String,
    /// Seconds; `Some` when any limit refused the request.
    pub retry_after: Option<u64>,
}

/// Renders the headers for `(name, policy, decision)` of each limit applied, in order.
/// `None` when no limit applied.
pub fn render<'a>(
    limits: impl IntoIterator<Item = (&'a str, &'a Policy, &'a Decision)>,
) -> Option<RateLimitHeaders> {
    let mut headers: Option<RateLimitHeaders> = None;
    for (name, policy, decision) in limits {
        let h = headers.get_or_insert_with(|| RateLimitHeaders {
            policy: String::new(),
            ratelimit: String::new(),
            retry_after: None,
        });
        if !h.policy.is_empty() {
            h.policy.push_str(", ");
            h.ratelimit.push_str(", ");
        }
        h.policy.push_str(&policy_item(name, policy));
        h.ratelimit.push_str(&limit_item(name, decision));
        h.retry_after = h.retry_after.max(retry_after_secs(decision));
    }
    headers
}

/// One `RateLimit-Policy` item: `"name";q=Q;w=W`.
pub fn policy_item(name: &str, policy: &Policy) -> String {
    let window = ceil_secs(policy.per).max(1);
    let per = policy.per.as_nanos().max(1);
    let quota = u128::from(policy.requests.get()) * u128::from(window) * 1_000_000_000 / per;
    let mut item = sf_string(name);
    let _ = write!(item, ";q={quota};w={window}");
    item
}

/// One `RateLimit` item: `"name";r=R;t=T`.
pub fn limit_item(name: &str, decision: &Decision) -> String {
    let (remaining, window) = match decision {
        Decision::Allowed {
            remaining, reset, ..
        } => (*remaining, ceil_secs(*reset)),
        Decision::Limited { retry_after, .. } => (0, ceil_secs(*retry_after).max(1)),
    };
    let mut item = sf_string(name);
    let _ = write!(item, ";r={remaining};t={window}");
    item
}

/// `Retry-After` in whole seconds, rounded up and at least 1; `None` when allowed.
pub fn retry_after_secs(decision: &Decision) -> Option<u64> {
    decision.retry_after().map(|wait| ceil_secs(wait).max(1))
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// A Structured Fields String: printable ASCII, with `"` and `\` escaped. Anything else
/// (control or non-ASCII characters) becomes `?`, as the syntax cannot carry it.
fn sf_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;
    use crate::DecidedBy;

    fn policy(requests: u32, per: Duration) -> Policy {
        Policy {
            requests: NonZeroU32::new(requests).unwrap(),
            per,
            burst: NonZeroU32::new(requests).unwrap(),
        }
    }

    fn allowed(remaining: u32, reset: Duration) -> Decision {
        Decision::Allowed {
            remaining,
            reset,
            decided_by: DecidedBy::Local,
        }
    }

    fn limited(retry_after: Duration) -> Decision {
        Decision::Limited {
            retry_after,
            reset: retry_after * 10,
            decided_by: DecidedBy::Redis,
        }
    }

    #[test]
    fn policy_states_quota_and_window() {
        let p = policy(100, Duration::from_secs(1));
        assert_eq!(policy_item("per-ip", &p), r#""per-ip";q=100;w=1"#);
        let p = policy(1000, Duration::from_secs(3600));
        assert_eq!(policy_item("hourly", &p), r#""hourly";q=1000;w=3600"#);
    }

    #[test]
    fn sub_second_periods_scale_to_one_second() {
        assert_eq!(
            policy_item("fast", &policy(5, Duration::from_millis(100))),
            r#""fast";q=50;w=1"#
        );
        assert_eq!(
            policy_item("odd", &policy(3, Duration::from_millis(1500))),
            r#""odd";q=4;w=2"#
        );
    }

    #[test]
    fn allowed_reports_remaining_and_seconds_to_full() {
        let d = allowed(7, Duration::from_millis(1200));
        assert_eq!(limit_item("per-ip", &d), r#""per-ip";r=7;t=2"#);
        assert_eq!(retry_after_secs(&d), None);
    }

    #[test]
    fn limited_reports_zero_and_the_wait() {
        let d = limited(Duration::from_millis(10));
        assert_eq!(limit_item("per-ip", &d), r#""per-ip";r=0;t=1"#);
        assert_eq!(retry_after_secs(&d), Some(1));
        assert_eq!(
            retry_after_secs(&limited(Duration::from_millis(2001))),
            Some(3)
        );
        assert_eq!(retry_after_secs(&limited(Duration::ZERO)), Some(1));
    }

    #[test]
    fn names_are_escaped_structured_strings() {
        let d = allowed(1, Duration::from_secs(1));
        assert_eq!(limit_item(r#"a"b\c"#, &d), r#""a\"b\\c";r=1;t=1"#);
        assert_eq!(limit_item("caf\u{e9}\n", &d), r#""caf??";r=1;t=1"#);
    }

    #[test]
    fn several_limits_form_one_list_and_the_longest_wait_wins() {
        let (a, b) = (
            policy(10, Duration::from_secs(1)),
            policy(100, Duration::from_secs(60)),
        );
        let (da, db) = (
            allowed(3, Duration::from_secs(1)),
            limited(Duration::from_millis(4500)),
        );
        let headers = render([("ip", &a, &da), ("key", &b, &db)]).unwrap();
        assert_eq!(headers.policy, r#""ip";q=10;w=1, "key";q=100;w=60"#);
        assert_eq!(headers.ratelimit, r#""ip";r=3;t=1, "key";r=0;t=5"#);
        assert_eq!(headers.retry_after, Some(5));
        assert_eq!(render(std::iter::empty()), None);
    }
}
