//! What the screen-check test suites share: the screen checks in the order
//! the runner's screen lane runs them, and a loop that runs them so, each
//! skipped when a prerequisite did not pass, as the runner does.

use s301_harness::checks::{catalog, CheckCtx, Outcome};
use s301_harness::model::ids::CheckId;
use s301_harness::model::verdict::Verdict;

/// The screen checks in execution order (TLS-01 left out).
pub const ORDER: [CheckId; 12] = [
    CheckId::St01,
    CheckId::St02,
    CheckId::St03,
    CheckId::St04,
    CheckId::Op01,
    CheckId::Op02,
    CheckId::Op03,
    CheckId::Op04,
    CheckId::Ex01,
    CheckId::Ex02,
    CheckId::Ex03,
    CheckId::Ex04,
];

/// Runs [`ORDER`] against `ctx`: a check whose prerequisite did not pass is
/// `skipped`, naming it.
pub async fn run_in_order(ctx: &CheckCtx) -> Vec<(CheckId, Outcome)> {
    let defs = catalog();
    let mut done: Vec<(CheckId, Outcome)> = Vec::new();
    for id in ORDER {
        let def = defs.iter().find(|d| d.id == id).expect("check in catalog");
        let blocked = def.needs.iter().find(|n| {
            done.iter()
                .any(|(d, o)| d == *n && o.verdict != Verdict::Pass)
        });
        let outcome = match blocked {
            Some(n) => Outcome {
                verdict: Verdict::Skipped,
                detail: format!("needs {}", n.as_str()),
                evidence: serde_json::Value::Null,
            },
            None => (def.run)(ctx).await,
        };
        done.push((id, outcome));
    }
    done
}
