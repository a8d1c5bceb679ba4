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

    /// Judges a condition from its checks' results: `(verdict, skipped for a
    /// reason other than deselection)`. Deselected checks are left out.
    pub fn judge(checks: &[(Verdict, Option<SkipReason>)]) -> ConditionVerdict {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_rules() {
        use ConditionVerdict as C;
        use Verdict as V;
        let desel = Some(SkipReason::Deselected);
        let prereq = Some(SkipReason::Prerequisite("ST-01".into()));
        assert_eq!(C::judge(&[(V::Pass, None), (V::Fail, None)]), C::Fail);
        assert_eq!(
            C::judge(&[(V::Pass, None), (V::Error, None)]),
            C::Inconclusive
        );
        assert_eq!(
            C::judge(&[(V::Pass, None), (V::Skipped, prereq)]),
            C::Inconclusive
        );
        assert_eq!(
            C::judge(&[(V::Pass, None), (V::Skipped, desel.clone())]),
            C::Pass
        );
        assert_eq!(C::judge(&[(V::Skipped, desel.clone())]), C::Skipped);
        assert_eq!(C::judge(&[(V::NotApplicable, None)]), C::NotApplicable);
        assert_eq!(
            C::judge(&[(V::NotApplicable, None), (V::Pass, None)]),
            C::Pass
        );
    }
}
