//! Why a condition is not adopted (否採用の理由), in Japanese: the one
//! place that words it, for the 適合宣言 (every format) and for
//! report.html's first page alike.
//!
//! The first line says what happened, so that no reader takes a missing
//! test for a failure or a failure for a missing test:
//! - 不適合: a check failed, or the witness answered that the condition fails;
//! - 判定保留: a check could not be judged (error, a failed prerequisite, an
//!   abort), or some of the condition's checks were left out of the run;
//! - 未実施: none of the condition's checks ran;
//! - 対象外: every check was ruled out by the declaration.
//!
//! The checks and witness answers behind it follow, one line each.

use crate::checks;
use crate::model::time::jst_display;
use crate::model::verdict::{ConditionVerdict, Verdict};
use crate::sinks::report::{CheckRecord, ConditionRecord, Report};
use crate::sinks::witness::{WitnessAnswer, WitnessRecord};

fn answer_ja(a: WitnessAnswer) -> &'static str {
    match a {
        WitnessAnswer::Pass => "満たす (pass)",
        WitnessAnswer::Fail => "満たさない (fail)",
        WitnessAnswer::NotApplicable => "該当しない (n/a)",
        WitnessAnswer::Error => "回答できず (error)",
    }
}

/// One witness answer in Japanese: which question, the answer, the comment,
/// who and when (JST).
pub fn witness_ja(w: &WitnessRecord) -> String {
    let at = w
        .answered_at
        .as_deref()
        .map(|t| jst_display(t).unwrap_or_else(|| t.to_string()));
    format!(
        "立会確認 {}「{}」への回答: {}、コメント: {}、確認者: {}、回答日時: {}",
        w.id,
        w.question_ja,
        answer_ja(w.answer),
        w.comment.as_deref().unwrap_or("なし"),
        w.operator.as_deref().unwrap_or("記録なし"),
        at.as_deref().unwrap_or("記録なし"),
    )
}

fn check_ja(k: &CheckRecord) -> String {
    format!(
        "{}（{}）{}: {}",
        k.id.as_str(),
        k.verdict.as_ja(),
        checks::def(k.id).requirement.ja,
        k.detail
    )
}

/// Why `c` is not adopted, one line each (the first says what happened);
/// empty when it is adopted: it passed with every one of its checks
/// selected.
pub fn not_adopted(r: &Report, c: &ConditionRecord) -> Vec<String> {
    let checks: Vec<&CheckRecord> = r.checks.iter().filter(|k| k.condition == c.id).collect();
    let bad = |pred: &dyn Fn(&CheckRecord) -> bool| -> Vec<String> {
        checks
            .iter()
            .filter(|k| pred(k))
            .map(|k| check_ja(k))
            .collect()
    };
    let mut parts: Vec<String> = Vec::new();
    match c.verdict {
        ConditionVerdict::Pass => {
            let left_out: Vec<&str> = checks
                .iter()
                .filter(|k| k.deselected())
                .map(|k| k.id.as_str())
                .collect();
            if left_out.is_empty() {
                return Vec::new();
            }
            parts.push(format!(
                "判定保留: この条件のチェックの一部（{}）を実施していないため、採用とはしない。",
                left_out.join(", ")
            ));
        }
        ConditionVerdict::Fail => {
            parts.push("不適合: 次の確認を満たさなかった。".to_string());
            parts.extend(bad(&|k| matches!(k.verdict, Verdict::Fail)));
        }
        ConditionVerdict::Inconclusive => {
            parts.push(
                "判定保留: 次のチェックまたは立会確認が判定できなかったため、採用とはしない（不適合と判定したものではない）。"
                    .to_string(),
            );
            parts.extend(bad(&|k| {
                matches!(k.verdict, Verdict::Error)
                    || (k.verdict == Verdict::Skipped && !k.deselected())
            }));
        }
        ConditionVerdict::Skipped => parts.push(format!(
            "未実施: この条件のチェックはラン {} で実施していないため、採用とはしない（不適合と判定したものではない）。",
            r.run.id
        )),
        ConditionVerdict::NotApplicable => parts.push(
            "対象外: 宣言によりこの条件のチェックがすべて対象外となったため、採用とはしない。"
                .to_string(),
        ),
    }
    parts.extend(
        c.witness
            .iter()
            .filter(|w| matches!(w.answer, WitnessAnswer::Fail | WitnessAnswer::Error))
            .map(witness_ja),
    );
    parts
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::sinks::report::tests::sample_outcome;

    #[test]
    fn a_passing_condition_has_no_reason_and_a_failed_one_says_why() {
        let outcome = sample_outcome();
        let mut r = Report::from_outcome(&outcome);
        let pass = r
            .conditions
            .iter()
            .find(|c| c.id.as_str() == "1-2-2")
            .unwrap();
        assert!(not_adopted(&r, pass).is_empty());
        let rec = WitnessRecord {
            id: "W-03".into(),
            check: None,
            question_ja: "操作は反映されましたか？".into(),
            question_en: "Did the input show?".into(),
            answer: WitnessAnswer::Fail,
            comment: Some("反応しない".into()),
            screenshot: None,
            operator: Some("佐藤".into()),
            asked_at: None,
            answered_at: Some("2026-12-02T01:00:30.000Z".into()),
            via: None,
        };
        crate::sinks::witness::apply(
            &mut r,
            &outcome,
            vec![(crate::model::ids::ConditionId::C1_2_2, rec)],
        );
        let c = r
            .conditions
            .iter()
            .find(|c| c.id.as_str() == "1-2-2")
            .unwrap();
        let why = not_adopted(&r, c);
        assert_eq!(why[0], "不適合: 次の確認を満たさなかった。");
        assert!(
            why[1].ends_with(
                "コメント: 反応しない、確認者: 佐藤、回答日時: 2026年12月02日 10:00:30 JST"
            ),
            "{why:?}"
        );
    }
}
