//! Text, XML and anything else: the scanner's raw mode over the bytes (and markup that
//! hides digits refused, see `markup`).

use outscope_config::Inspection;
use outscope_scanner::Scanner;

use super::builtin;
use super::plan::{Plan, Syntax};

pub fn plan(
    body: &[u8],
    policy: &Inspection,
    raw: &Scanner,
) -> Result<Plan, crate::errors::ProxyError> {
    let findings = raw.scan(body);
    super::markup::refuse_hidden_cards(
        body,
        findings.iter().filter(|f| f.pan().is_some()).count(),
    )?;
    let mut plan = Plan::default();
    builtin::plan_findings(
        body,
        &findings,
        policy,
        &mut plan,
        |_| Syntax::Bare,
        |_| b"",
    );
    Ok(plan)
}
