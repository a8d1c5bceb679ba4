//! The end-of-run summary: each condition with its 観点 and verdict, the
//! checks that did not pass, and where the report is.

use std::fmt::Write;
use std::path::Path;

use s301_harness::model::verdict::{SkipReason, Verdict};
use s301_harness::run::runner::{RunOutcome, RunStatus};

use crate::text::{one_line, pad};

/// Longest detail shown per check in the summary.
const DETAIL_CHARS: usize = 200;

/// The summary text. `report` is the report path, or the reason it could
/// not be written.
pub fn render(o: &RunOutcome, target: &str, report: Result<&Path, &str>) -> String {
    let mut s = String::new();
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "s301 run {} against {target}: {}{}",
        o.info.id,
        o.status.as_str(),
        if o.info.partial {
            " (partial: --only/--skip used, not a full conformance record)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "scenario {}, seed {}, {:.1} s",
        o.info.scenario,
        o.info.seed,
        o.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "Conditions");
    for c in &o.conditions {
        let text = c.id.text();
        let _ = writeln!(
            s,
            "  {} {}  {} / {}",
            pad(c.verdict.as_str(), 14),
            c.id,
            text.viewpoint_ja,
            text.viewpoint_en
        );
    }
    let problems: Vec<_> = o
        .checks
        .iter()
        .filter(|c| match c.verdict {
            Verdict::Fail | Verdict::Error => true,
            Verdict::Skipped => matches!(c.skip, Some(SkipReason::Prerequisite(_))),
            Verdict::Pass | Verdict::NotApplicable => false,
        })
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Checks that did not pass");
        for c in problems {
            let _ = writeln!(
                s,
                "  {} {}  {}",
                c.id,
                pad(c.verdict.as_str(), 7),
                one_line(&c.detail, DETAIL_CHARS)
            );
        }
    }
    if o.status == RunStatus::Aborted {
        let not_run = o
            .checks
            .iter()
            .filter(|c| c.skip == Some(SkipReason::Aborted))
            .count();
        let _ = writeln!(s);
        let _ = writeln!(s, "Aborted: {not_run} check(s) did not run.");
    }
    let _ = writeln!(s);
    match report {
        Ok(p) => {
            let _ = writeln!(s, "Report: {}", p.display());
        }
        Err(e) => {
            let _ = writeln!(s, "Report: NOT WRITTEN: {e}");
        }
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use s301_harness::model::ids::{CheckId, ConditionId};
    use s301_harness::model::verdict::ConditionVerdict;
    use s301_harness::run::runner::{CheckResult, ConditionResult, RunInfo};

    fn outcome() -> RunOutcome {
        let checks = CheckId::ALL
            .iter()
            .map(|id| CheckResult {
                id: *id,
                verdict: if *id == CheckId::Ex01 {
                    Verdict::Fail
                } else {
                    Verdict::Pass
                },
                detail: if *id == CheckId::Ex01 {
                    "two consoles served at once".into()
                } else {
                    "ok".into()
                },
                duration_ms: 5,
                evidence: serde_json::Value::Null,
                skip: None,
            })
            .collect();
        RunOutcome {
            info: RunInfo {
                id: "RUN".into(),
                started_at: time::OffsetDateTime::UNIX_EPOCH,
                seed: 9,
                scenario: "default".into(),
                partial: false,
                harness_version: "0".into(),
                terminal: serde_json::Value::Null,
                selected: CheckId::ALL.to_vec(),
                catalog: CheckId::ALL.to_vec(),
            },
            finished_at: time::OffsetDateTime::UNIX_EPOCH,
            duration_ms: 1500,
            status: RunStatus::Completed,
            checks,
            conditions: ConditionId::ALL
                .iter()
                .map(|c| ConditionResult {
                    id: *c,
                    verdict: if *c == ConditionId::C1_2_1 {
                        ConditionVerdict::Fail
                    } else {
                        ConditionVerdict::Pass
                    },
                    checks: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn summary_names_conditions_failures_and_report() {
        let s = render(&outcome(), "mock", Ok(Path::new("runs/RUN/report.json")));
        assert!(
            s.contains("  fail           1-2-1  画面転送機能 / Screen transfer"),
            "{s}"
        );
        assert!(
            s.contains("  EX-01 fail     two consoles served at once"),
            "{s}"
        );
        assert!(s.contains("Report: runs/RUN/report.json"), "{s}");
        assert!(s.contains("seed 9"), "{s}");
        assert!(
            !s.contains("ST-01 pass"),
            "passing checks are not listed: {s}"
        );
    }

    #[test]
    fn summary_says_when_the_report_is_missing() {
        let s = render(&outcome(), "mock", Err("disk full"));
        assert!(s.contains("Report: NOT WRITTEN: disk full"), "{s}");
    }
}
