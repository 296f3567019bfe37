//! Text, XML and anything else: the scanner's raw mode over the bytes.

use outscope_config::Inspection;
use outscope_scanner::Scanner;

use super::builtin;
use super::plan::{Plan, Syntax};

pub fn plan(body: &[u8], policy: &Inspection, raw: &Scanner) -> Plan {
    let findings = raw.scan(body);
    let mut plan = Plan::default();
    builtin::plan_findings(&findings, policy, &mut plan, |_| Syntax::Bare, |_| b"");
    plan
}
