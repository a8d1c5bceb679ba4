//! What the runner tells its sinks, and what a run comes to: one event
//! stream ([`RunEvent`] to every [`RunSink`]) and the [`RunOutcome`] it
//! ends with. Condition verdicts come from the one judge,
//! [`ConditionVerdict::judge`].

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::abort::AbortSignal;
use super::select::Selection;
use crate::model::ids::{CheckId, ConditionId};
use crate::model::verdict::{ConditionVerdict, SkipReason, Verdict};

/// The detail of a check left out by `--only`/`--skip`.
pub const DESELECTED_DETAIL: &str = "not selected (--only/--skip)";

/// The result of one check in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// The check.
    pub id: CheckId,
    /// Its verdict.
    pub verdict: Verdict,
    /// One line a person can act on.
    pub detail: String,
    /// How long it ran (0 if it did not run).
    pub duration_ms: u64,
    /// What the check recorded.
    pub evidence: Value,
    /// Why it was skipped, when `verdict` is `Skipped`.
    pub skip: Option<SkipReason>,
}

impl CheckResult {
    pub(super) fn skipped(id: CheckId, why: SkipReason) -> CheckResult {
        let detail = match &why {
            SkipReason::Deselected => DESELECTED_DETAIL.to_string(),
            SkipReason::Prerequisite(what) => format!("prerequisite {what}"),
            SkipReason::Aborted => "run aborted before this check ran".to_string(),
        };
        CheckResult {
            id,
            verdict: Verdict::Skipped,
            detail,
            duration_ms: 0,
            evidence: Value::Null,
            skip: Some(why),
        }
    }
}

/// A condition's verdict in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionResult {
    /// The condition.
    pub id: ConditionId,
    /// Its verdict, judged on the selected checks.
    pub verdict: ConditionVerdict,
    /// Its checks, in catalog order.
    pub checks: Vec<CheckId>,
}

/// Whether the run went to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every selected check ran (or was skipped for a prerequisite).
    Completed,
    /// The run was stopped; some checks were cancelled or never ran.
    Aborted,
}

impl RunStatus {
    /// `"completed"` / `"aborted"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Aborted => "aborted",
        }
    }
}

/// What is known when a run starts.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// The run id (`20261127T171500Z-1a2b`).
    pub id: String,
    /// When the run started (UTC).
    pub started_at: OffsetDateTime,
    /// The seed.
    pub seed: u64,
    /// The scenario's name.
    pub scenario: String,
    /// Whether `--only` / `--skip` narrowed the run.
    pub partial: bool,
    /// The harness version.
    pub harness_version: String,
    /// The declaration, secrets removed.
    pub terminal: Value,
    /// The selected checks, in catalog order.
    pub selected: Vec<CheckId>,
    /// Every check of the catalog, in catalog order.
    pub catalog: Vec<CheckId>,
}

/// A finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// What was known at the start.
    pub info: RunInfo,
    /// When it finished (UTC).
    pub finished_at: OffsetDateTime,
    /// Wall time of the whole run.
    pub duration_ms: u64,
    /// Completed or aborted.
    pub status: RunStatus,
    /// Every check of the catalog, in catalog order.
    pub checks: Vec<CheckResult>,
    /// The four conditions, in document order.
    pub conditions: Vec<ConditionResult>,
}

impl RunOutcome {
    /// What the judge is given for `cond` (see [`judged_checks`]).
    pub fn judged(&self, cond: ConditionId) -> Vec<(Verdict, Option<SkipReason>)> {
        judged_checks(&self.checks, cond)
    }

    /// The process exit status for this run: 1 if a condition failed, else
    /// 3 if one is inconclusive or the run was aborted, else 0. Skipped and
    /// not-applicable conditions do not count.
    pub fn exit_code(&self) -> i32 {
        if self
            .conditions
            .iter()
            .any(|c| c.verdict == ConditionVerdict::Fail)
        {
            1
        } else if self.status == RunStatus::Aborted
            || self
                .conditions
                .iter()
                .any(|c| c.verdict == ConditionVerdict::Inconclusive)
        {
            3
        } else {
            0
        }
    }

    /// The result of one check.
    pub fn check(&self, id: CheckId) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// What a sink is told, in order: `RunStarted`, then for each selected check
/// `CheckStarted` (unless it is skipped without running) and
/// `CheckFinished`, then `RunFinished`. The two lanes interleave.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The run begins.
    RunStarted(&'a RunInfo),
    /// A check begins.
    CheckStarted {
        /// The check.
        id: CheckId,
        /// 1-based count of checks started so far, this one included.
        index: usize,
        /// Number of selected checks.
        total: usize,
    },
    /// A check has a result (ran, or skipped for a prerequisite or an abort).
    CheckFinished {
        /// The result.
        result: &'a CheckResult,
        /// 1-based count of checks finished so far, this one included.
        index: usize,
        /// Number of selected checks.
        total: usize,
    },
    /// The run is over.
    RunFinished(&'a RunOutcome),
}

/// Receives run events: progress displays, report writers.
pub trait RunSink: Send {
    /// Called for each event, in order; must not block for long.
    fn on_event(&mut self, event: &RunEvent<'_>);

    /// Called with each check's result before the runner records it and
    /// before any sink sees it in `CheckFinished`: a sink that judges
    /// results (the dead-terminal watch) may amend it here, so that every
    /// output shows the one verdict the run keeps. Default: leaves it.
    fn review(&mut self, _result: &mut CheckResult) {}
}

/// How a run is set up beyond the check context.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The run id.
    pub run_id: String,
    /// Which checks run.
    pub selection: Selection,
    /// Raised to stop the run.
    pub abort: AbortSignal,
    /// Replaces every check's [`time_limit`] (tests, debugging); `None` in
    /// normal runs.
    pub time_limit: Option<Duration>,
}

/// What the judge is given for `cond` from `checks`: each of its checks'
/// verdict and why it was skipped.
pub fn judged_checks(
    checks: &[CheckResult],
    cond: ConditionId,
) -> Vec<(Verdict, Option<SkipReason>)> {
    checks
        .iter()
        .filter(|c| crate::checks::def(c.id).condition == cond)
        .map(|c| (c.verdict, c.skip.clone()))
        .collect()
}

/// The four conditions judged on `checks` (every check of the catalog).
pub(super) fn judge_conditions(checks: &[CheckResult]) -> Vec<ConditionResult> {
    ConditionId::ALL
        .iter()
        .map(|cond| ConditionResult {
            id: *cond,
            verdict: ConditionVerdict::judge(&judged_checks(checks, *cond), &[]),
            checks: checks
                .iter()
                .filter(|c| crate::checks::def(c.id).condition == *cond)
                .map(|c| c.id)
                .collect(),
        })
        .collect()
}

impl RunOutcome {
    /// The run as it stands now, as if it were aborted here: the results
    /// so far, every other selected check skipped as not run. What a
    /// provisional record holds while the run goes on.
    pub fn interim(
        info: &RunInfo,
        results: &std::collections::BTreeMap<CheckId, CheckResult>,
    ) -> RunOutcome {
        let checks: Vec<CheckResult> = info
            .catalog
            .iter()
            .map(|id| match results.get(id) {
                Some(r) => r.clone(),
                None if info.selected.contains(id) => {
                    CheckResult::skipped(*id, SkipReason::Aborted)
                }
                None => CheckResult::skipped(*id, SkipReason::Deselected),
            })
            .collect();
        let now = OffsetDateTime::now_utc();
        RunOutcome {
            info: info.clone(),
            finished_at: now,
            duration_ms: u64::try_from((now - info.started_at).whole_milliseconds()).unwrap_or(0),
            status: RunStatus::Aborted,
            conditions: judge_conditions(&checks),
            checks,
        }
    }
}

/// A run id: the UTC start time to the second, and four hex digits so that
/// two runs in the same second do not collide (`20261127T171500Z-1a2b`).
pub fn new_run_id(now: OffsetDateTime) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{:04x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        rand::random::<u16>()
    )
}

/// A run id for a run starting now.
pub fn fresh_run_id() -> String {
    new_run_id(OffsetDateTime::now_utc())
}

/// A fresh random seed. Kept below 2^53 so that every JSON reader holds it
/// exactly.
pub fn random_seed() -> u64 {
    rand::random::<u64>() >> 11
}
