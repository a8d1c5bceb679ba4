//! Rows 1-2-1 .. 1-3-2 of the form, from the run: 採否 from the condition's
//! verdict, 適合内容 from what was measured, 関連文書 naming the record and
//! the evidence files, 否採用の理由 in Japanese from the checks that did not
//! pass and the witness's answers.
//!
//! 採用 is written only for a condition that passed with every one of its
//! checks selected. Anything else is 否採用, and the reason opens with what
//! happened, so that no reader takes a missing test for a failure or a
//! failure for a missing test:
//! - 不適合: a check failed, or the witness answered that a condition fails;
//! - 判定保留: a check could not be judged (error, a failed prerequisite, an
//!   abort), or some of the condition's checks were left out of the run;
//! - 未実施: none of the condition's checks ran;
//! - 対象外: every check was ruled out by the declaration.

use crate::model::verdict::ConditionVerdict;
use crate::sinks::report::outputs::{EvidenceIndex, EVIDENCE_DIR};
use crate::sinks::report::{CheckRecord, ConditionRecord, Report};

use super::form::{Confirm, FilledRow, RowText, Source};
use super::summary;
use crate::sinks::report::reasons;

/// The condition this form row is, when the run judges it.
fn condition_of<'a>(r: &'a Report, text: &RowText) -> Option<&'a ConditionRecord> {
    let id = text.id();
    r.conditions.iter().find(|c| c.id.as_str() == id)
}

fn documents(r: &Report, ev: &EvidenceIndex, checks: &[&CheckRecord]) -> String {
    let ids: Vec<&str> = checks.iter().map(|k| k.id.as_str()).collect();
    let mut parts = vec![format!(
        "接続試験の記録 report.json（ラン {}、チェック {}）",
        r.run.id,
        ids.join(", ")
    )];
    // Per check, its evidence folder and how many files it holds: the
    // folder names the evidence without listing every transcript slice.
    let folders: Vec<String> = checks
        .iter()
        .filter_map(|k| {
            let n = ev.files_of(k.id.as_str()).len();
            (n > 0).then(|| format!("{}/{}/（{n} 件）", EVIDENCE_DIR, k.id.as_str()))
        })
        .collect();
    if !folders.is_empty() {
        parts.push(format!("証跡 {}", folders.join(", ")));
    }
    parts.join("; ")
}

fn result_ja(c: &ConditionRecord, adopted: bool) -> &'static str {
    match (c.verdict, adopted) {
        (ConditionVerdict::Pass, true) => "適合 (pass)",
        (ConditionVerdict::Pass, false) => "判定保留: 一部のみ実施 (partial)",
        (ConditionVerdict::Fail, _) => "不適合 (fail)",
        (ConditionVerdict::Inconclusive, _) => "判定保留 (inconclusive)",
        (ConditionVerdict::Skipped, _) => "未実施 (not run)",
        (ConditionVerdict::NotApplicable, _) => "対象外 (not applicable)",
    }
}

/// A tested row (1-2-1 .. 1-3-2) filled from the run.
pub fn tested_row(r: &Report, ev: &EvidenceIndex, text: &'static RowText) -> FilledRow {
    let Some(c) = condition_of(r, text) else {
        // A report from a harness that did not judge this row: say so.
        return FilledRow {
            text,
            adoption: "否採用".to_string(),
            content: "-".to_string(),
            documents: String::new(),
            reason: "未実施: この記録にはこの条件の判定がない。".to_string(),
            source: Source::Run,
            conflict: false,
            confirm: Confirm {
                method: "本試験の証跡で確認 (by this run's evidence)".to_string(),
                basis: "未実施 (not run)".to_string(),
            },
        };
    };
    let checks: Vec<&CheckRecord> = r.checks.iter().filter(|k| k.condition == c.id).collect();
    let why = reasons::not_adopted(r, c);
    let adopted = why.is_empty();
    // The evidence files go in 関連文書, not in 適合内容 as well.
    let content = summary::conformance_text(r, c, &EvidenceIndex::default());
    let documents = documents(r, ev, &checks);
    let confirm = Confirm {
        method: "本試験の証跡で確認 (by this run's evidence)".to_string(),
        basis: format!("{}; {}", result_ja(c, adopted), documents),
    };
    FilledRow {
        text,
        adoption: if adopted { "採用" } else { "否採用" }.to_string(),
        content,
        documents,
        reason: why.join("\n"),
        source: Source::Run,
        conflict: false,
        confirm,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::super::form::{fill, Filled};
    use super::*;
    use crate::model::ids::ConditionId;
    use crate::model::verdict::Verdict;
    use crate::sinks::report::tests::sample_outcome;
    use crate::sinks::witness::{WitnessAnswer, WitnessRecord};

    fn row<'a>(f: &'a Filled, id: &str) -> &'a FilledRow {
        f.rows.iter().find(|x| x.text.id() == id).unwrap()
    }

    #[test]
    fn failed_passed_and_not_run_conditions_read_plainly() {
        let r = Report::from_outcome(&sample_outcome());
        let f = fill(&r, &EvidenceIndex::default());
        let failed = row(&f, "1-2-1");
        assert_eq!(failed.adoption, "否採用");
        assert!(failed.reason.starts_with("不適合"), "{}", failed.reason);
        assert!(
            failed.reason.contains("EX-01（不合格）"),
            "{}",
            failed.reason
        );
        assert!(failed.reason.contains("EX-01 detail"), "{}", failed.reason);
        assert!(
            failed.content.contains("RFB 3.8 / ws"),
            "{}",
            failed.content
        );
        let passed = row(&f, "1-2-2");
        assert_eq!(passed.adoption, "採用");
        assert_eq!(passed.reason, "");
        assert!(passed.documents.contains(&r.run.id), "{}", passed.documents);
        assert!(passed.documents.contains("OP-01"), "{}", passed.documents);
        let not_run = row(&f, "1-3-2");
        assert_eq!(not_run.adoption, "否採用");
        assert!(not_run.reason.starts_with("未実施"), "{}", not_run.reason);
        assert!(not_run.reason.contains("採用とはしない"));
    }

    #[test]
    fn inconclusive_and_partly_selected_conditions_are_never_adopted() {
        let mut r = Report::from_outcome(&sample_outcome());
        let c = r
            .conditions
            .iter_mut()
            .find(|c| c.id == ConditionId::C1_3_1)
            .unwrap();
        c.verdict = ConditionVerdict::Inconclusive;
        let k = r
            .checks
            .iter_mut()
            .find(|k| k.id.as_str() == "DO-02")
            .unwrap();
        k.verdict = Verdict::Error;
        k.detail = "no answer in time".into();
        let k = r
            .checks
            .iter_mut()
            .find(|k| k.id.as_str() == "OP-03")
            .unwrap();
        k.verdict = Verdict::Skipped;
        k.detail = crate::run::events::DESELECTED_DETAIL.into();
        let f = fill(&r, &EvidenceIndex::default());
        let inc = row(&f, "1-3-1");
        assert_eq!(inc.adoption, "否採用");
        assert!(inc.reason.starts_with("判定保留"), "{}", inc.reason);
        assert!(inc.reason.contains("DO-02（判定不能）"), "{}", inc.reason);
        let partial = row(&f, "1-2-2");
        assert_eq!(
            partial.adoption, "否採用",
            "a pass on part of its checks is no 採用"
        );
        assert!(partial.reason.contains("OP-03"), "{}", partial.reason);
    }

    #[test]
    fn a_failing_witness_answer_is_in_the_reason_with_who_and_when() {
        let mut r = Report::from_outcome(&sample_outcome());
        let c = r
            .conditions
            .iter_mut()
            .find(|c| c.id == ConditionId::C1_2_2)
            .unwrap();
        c.verdict = ConditionVerdict::Fail;
        c.witness.push(WitnessRecord {
            id: "W-OP-01".into(),
            check: None,
            question_ja: "画面上のカーソルが動いたか".into(),
            question_en: "Did the cursor move?".into(),
            answer: WitnessAnswer::Fail,
            comment: Some("動かなかった".into()),
            screenshot: None,
            operator: Some("佐藤".into()),
            asked_at: None,
            answered_at: Some("2026-11-27T17:20:00.000Z".into()),
            via: None,
        });
        let f = fill(&r, &EvidenceIndex::default());
        let w = &row(&f, "1-2-2").reason;
        assert_eq!(row(&f, "1-2-2").adoption, "否採用");
        for needle in [
            "W-OP-01",
            "画面上のカーソルが動いたか",
            "満たさない",
            "動かなかった",
            "佐藤",
            "2026年11月28日 02:20:00 JST",
        ] {
            assert!(w.contains(needle), "{needle} missing: {w}");
        }
    }
}
