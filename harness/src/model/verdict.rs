//! Verdicts of checks and of conditions.

use serde::{Deserialize, Serialize};

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The requirement held.
    Pass,
    /// The terminal broke the requirement.
    Fail,
    /// The declaration rules the check out.
    NotApplicable,
    /// The harness or the environment could not decide. Never a pass.
    Error,
    /// The check did not run (deselected, or a prerequisite failed).
    Skipped,
}

impl Verdict {
    /// The lower-case name used in reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NotApplicable => "not_applicable",
            Verdict::Error => "error",
            Verdict::Skipped => "skipped",
        }
    }

    /// The verdict in Japanese, as printed for a reader who reads it first.
    pub fn as_ja(&self) -> &'static str {
        match self {
            Verdict::Pass => "合格",
            Verdict::Fail => "不合格",
            Verdict::NotApplicable => "対象外",
            Verdict::Error => "判定不能",
            Verdict::Skipped => "未実施",
        }
    }

    /// The verdict in `lang`.
    pub fn label(&self, lang: crate::model::lang::Lang) -> &'static str {
        lang.pick(self.as_str(), self.as_ja())
    }
}

/// Why a check was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Left out by `--only` / `--skip`.
    Deselected,
    /// A prerequisite check failed or errored.
    Prerequisite(String),
    /// The run was aborted before the check ran.
    Aborted,
}

/// The verdict of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionVerdict {
    /// Every selected check passed (or was not applicable, with one pass at least).
    Pass,
    /// A check failed.
    Fail,
    /// A check errored, or was skipped because a prerequisite failed.
    Inconclusive,
    /// Every selected check is not applicable.
    NotApplicable,
    /// None of its checks was selected; does not count towards the exit status.
    Skipped,
}

impl ConditionVerdict {
    /// The lower-case name used in reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConditionVerdict::Pass => "pass",
            ConditionVerdict::Fail => "fail",
            ConditionVerdict::Inconclusive => "inconclusive",
            ConditionVerdict::NotApplicable => "not_applicable",
            ConditionVerdict::Skipped => "skipped",
        }
    }

    /// The verdict in Japanese: 適合, 不適合, 判定保留, 対象外, 未実施.
    pub fn as_ja(&self) -> &'static str {
        match self {
            ConditionVerdict::Pass => "適合",
            ConditionVerdict::Fail => "不適合",
            ConditionVerdict::Inconclusive => "判定保留",
            ConditionVerdict::NotApplicable => "対象外",
            ConditionVerdict::Skipped => "未実施",
        }
    }

    /// The verdict in `lang`.
    pub fn label(&self, lang: crate::model::lang::Lang) -> &'static str {
        lang.pick(self.as_str(), self.as_ja())
    }

    /// The one judge of a condition: from its checks' results
    /// (`(verdict, why it was skipped)`; deselected checks are left out)
    /// and the witness's answers to its questions. Every condition verdict
    /// the harness shows or records comes from here.
    ///
    /// - No selected check: `skipped`. A failed check: `fail`. An errored
    ///   check, or one skipped for a failed prerequisite or an abort:
    ///   `inconclusive`. All not applicable: `not_applicable`. Else `pass`.
    /// - Then each witness answer: `fail` makes the condition `fail`
    ///   whatever the checks said; no usable answer (`error`) turns a `pass`
    ///   or `not_applicable` into `inconclusive`; `pass` and
    ///   `not_applicable` change nothing.
    pub fn judge(
        checks: &[(Verdict, Option<SkipReason>)],
        witness: &[WitnessAnswer],
    ) -> ConditionVerdict {
        witness
            .iter()
            .fold(Self::judge_checks(checks), |v, a| match (a, v) {
                (WitnessAnswer::Fail, _) => ConditionVerdict::Fail,
                (
                    WitnessAnswer::Error,
                    ConditionVerdict::Pass | ConditionVerdict::NotApplicable,
                ) => ConditionVerdict::Inconclusive,
                (_, v) => v,
            })
    }

    fn judge_checks(checks: &[(Verdict, Option<SkipReason>)]) -> ConditionVerdict {
        let selected: Vec<_> = checks
            .iter()
            .filter(|(v, why)| {
                !(*v == Verdict::Skipped && matches!(why, Some(SkipReason::Deselected)))
            })
            .collect();
        if selected.is_empty() {
            return ConditionVerdict::Skipped;
        }
        if selected.iter().any(|(v, _)| *v == Verdict::Fail) {
            return ConditionVerdict::Fail;
        }
        if selected
            .iter()
            .any(|(v, _)| matches!(v, Verdict::Error | Verdict::Skipped))
        {
            return ConditionVerdict::Inconclusive;
        }
        if selected.iter().all(|(v, _)| *v == Verdict::NotApplicable) {
            return ConditionVerdict::NotApplicable;
        }
        ConditionVerdict::Pass
    }
}

/// A witness's answer to one question (see `crate::sinks::witness`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WitnessAnswer {
    /// Confirmed.
    Pass,
    /// Not as required: the condition fails.
    Fail,
    /// Does not apply to this installation.
    NotApplicable,
    /// No usable answer (timeout, no input, aborted run).
    Error,
}

impl WitnessAnswer {
    /// `pass`, `fail`, `n/a` or `error`, as the witness types it.
    pub fn as_str(&self) -> &'static str {
        match self {
            WitnessAnswer::Pass => "pass",
            WitnessAnswer::Fail => "fail",
            WitnessAnswer::NotApplicable => "n/a",
            WitnessAnswer::Error => "error",
        }
    }

    /// The answer in Japanese: 確認, 不適合, 該当なし, 回答なし.
    pub fn as_ja(&self) -> &'static str {
        match self {
            WitnessAnswer::Pass => "確認",
            WitnessAnswer::Fail => "不適合",
            WitnessAnswer::NotApplicable => "該当なし",
            WitnessAnswer::Error => "回答なし",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_rules() {
        use ConditionVerdict as C;
        use Verdict as V;
        let desel = Some(SkipReason::Deselected);
        let prereq = Some(SkipReason::Prerequisite("ST-01".into()));
        let judge = |c: &[(V, Option<SkipReason>)]| C::judge(c, &[]);
        assert_eq!(judge(&[(V::Pass, None), (V::Fail, None)]), C::Fail);
        assert_eq!(judge(&[(V::Pass, None), (V::Error, None)]), C::Inconclusive);
        assert_eq!(
            judge(&[(V::Pass, None), (V::Skipped, prereq)]),
            C::Inconclusive
        );
        assert_eq!(
            judge(&[(V::Pass, None), (V::Skipped, desel.clone())]),
            C::Pass
        );
        assert_eq!(judge(&[(V::Skipped, desel.clone())]), C::Skipped);
        assert_eq!(judge(&[(V::NotApplicable, None)]), C::NotApplicable);
        assert_eq!(judge(&[(V::NotApplicable, None), (V::Pass, None)]), C::Pass);
    }

    #[test]
    fn witness_answers_go_through_the_same_judge() {
        use ConditionVerdict as C;
        use Verdict as V;
        use WitnessAnswer as W;
        let pass = [(V::Pass, None)];
        let fail = [(V::Fail, None)];
        let desel = [(V::Skipped, Some(SkipReason::Deselected))];
        assert_eq!(C::judge(&pass, &[W::Pass]), C::Pass);
        assert_eq!(C::judge(&pass, &[W::NotApplicable]), C::Pass);
        assert_eq!(C::judge(&pass, &[W::Pass, W::Fail]), C::Fail);
        assert_eq!(C::judge(&pass, &[W::Error]), C::Inconclusive);
        assert_eq!(
            C::judge(&[(V::NotApplicable, None)], &[W::Error]),
            C::Inconclusive
        );
        assert_eq!(C::judge(&fail, &[W::Pass]), C::Fail);
        assert_eq!(C::judge(&fail, &[W::Error]), C::Fail);
        assert_eq!(C::judge(&desel, &[W::Fail]), C::Fail);
        assert_eq!(C::judge(&desel, &[W::Error]), C::Skipped);
    }
}
