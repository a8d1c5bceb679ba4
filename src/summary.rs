//! The end-of-run summary: each condition with its 観点 and verdict, the
//! checks that did not pass, and where the report is.

use std::fmt::Write;
use std::path::Path;

use s301_harness::model::lang::Lang;
use s301_harness::model::verdict::{SkipReason, Verdict};
use s301_harness::run::runner::{RunOutcome, RunStatus};

use crate::text::{one_line, pad};

/// Longest detail shown per check in the summary.
const DETAIL_CHARS: usize = 200;

/// The summary text, in `lang` first. `report` is the report path, or the
/// reason it could not be written.
pub fn render(o: &RunOutcome, target: &str, report: Result<&Path, &str>, lang: Lang) -> String {
    let t = |en: &'static str, ja: &'static str| lang.pick(en, ja);
    let mut s = String::new();
    let _ = writeln!(s);
    let status = match o.status {
        RunStatus::Completed => t("completed", "完了"),
        RunStatus::Aborted => t("aborted", "中断"),
    };
    let partial = if o.info.partial {
        t(
            " (partial: --only/--skip used, not a full conformance record)",
            "（一部のみ: --only/--skip を使用。適合の記録としては不完全）",
        )
    } else {
        ""
    };
    let _ = match lang {
        Lang::En => writeln!(
            s,
            "s301 run {} against {target}: {status}{partial}",
            o.info.id
        ),
        Lang::Ja => writeln!(
            s,
            "s301 試験 {}（対象 {target}）: {status}{partial}",
            o.info.id
        ),
    };
    let _ = match lang {
        Lang::En => writeln!(
            s,
            "scenario {}, seed {}, {:.1} s",
            o.info.scenario,
            o.info.seed,
            o.duration_ms as f64 / 1000.0
        ),
        Lang::Ja => writeln!(
            s,
            "シナリオ {}、シード {}、{:.1} 秒",
            o.info.scenario,
            o.info.seed,
            o.duration_ms as f64 / 1000.0
        ),
    };
    let _ = writeln!(s);
    let _ = writeln!(s, "{}", t("Conditions", "条件"));
    for c in &o.conditions {
        let text = c.id.text();
        let _ = writeln!(
            s,
            "  {} {}  {} / {}",
            pad(c.verdict.label(lang), 14),
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
        let _ = writeln!(
            s,
            "{}",
            t("Checks that did not pass", "合格しなかった確認項目")
        );
        for c in problems {
            let _ = writeln!(
                s,
                "  {} {}  {}",
                c.id,
                pad(c.verdict.label(lang), 7),
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
        let _ = match lang {
            Lang::En => writeln!(s, "Aborted: {not_run} check(s) did not run."),
            Lang::Ja => writeln!(s, "中断: {not_run} 件の確認項目は実行されなかった。"),
        };
    }
    let _ = writeln!(s);
    match report {
        Ok(p) => {
            let _ = writeln!(s, "{}: {}", t("Report", "記録"), p.display());
        }
        Err(e) => {
            let _ = writeln!(
                s,
                "{}: {e}",
                t("Report: NOT WRITTEN", "記録: 書き込めなかった")
            );
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
        let s = render(
            &outcome(),
            "mock",
            Ok(Path::new("runs/RUN/report.json")),
            Lang::En,
        );
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
    fn summary_in_japanese_names_verdicts_in_japanese() {
        let s = render(
            &outcome(),
            "mock",
            Ok(Path::new("runs/RUN/report.json")),
            Lang::Ja,
        );
        assert!(s.contains("  不適合         1-2-1  画面転送機能"), "{s}");
        assert!(s.contains("  適合           1-2-2"), "{s}");
        assert!(s.contains("合格しなかった確認項目"), "{s}");
        assert!(s.contains("  EX-01 不合格   two consoles"), "{s}");
        assert!(s.contains("記録: runs/RUN/report.json"), "{s}");
        assert!(s.contains("シード 9"), "{s}");
    }

    #[test]
    fn summary_says_when_the_report_is_missing() {
        let s = render(&outcome(), "mock", Err("disk full"), Lang::En);
        assert!(s.contains("Report: NOT WRITTEN: disk full"), "{s}");
    }
}
