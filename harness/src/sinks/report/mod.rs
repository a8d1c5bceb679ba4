//! Run records: what a finished run leaves behind.
//!
//! [`Report`] is the `report.json` document of the run contract, built from
//! a [`RunOutcome`]; [`json`] serializes and writes it atomically;
//! [`ReportWriter`] is the run sink that does both when the run finishes.
//! Readers of the record (printable report, JUnit, 適合宣言) come later and
//! read [`Report`], not the runner.

pub mod declaration;
pub mod html;
pub mod json;
pub mod junit;
pub mod outputs;
pub use crate::model::png;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::ids::{CheckId, ConditionId};
use crate::model::verdict::{ConditionVerdict, Verdict};
use crate::run::runner::{RunEvent, RunOutcome, RunSink, RunStatus};

/// The `format` member: names this document layout and its version.
pub const FORMAT: &str = "s301-report/1";

/// The `report.json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`FORMAT`].
    pub format: String,
    /// The run itself.
    pub run: RunSection,
    /// The terminal declaration, secrets removed.
    pub terminal: Value,
    /// The four conditions, in document order (present even when skipped).
    pub conditions: Vec<ConditionRecord>,
    /// Every check of the catalog, in catalog order.
    pub checks: Vec<CheckRecord>,
    /// Totals and figures surfaced from the checks' evidence.
    pub metrics: Metrics,
}

/// `run`: identity and circumstances of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSection {
    /// Run id (`20261127T171500Z-1a2b`).
    pub id: String,
    /// RFC 3339, UTC, milliseconds.
    pub started_at: String,
    /// When the run ended, RFC 3339, UTC, milliseconds: when its record was
    /// finished, after the last witness answer.
    pub finished_at: String,
    /// When the last check finished, if witness questions or the record
    /// kept the run going after it (RFC 3339, UTC, milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks_finished_at: Option<String>,
    /// Completed or aborted.
    pub status: RunStatus,
    /// True when `--only`/`--skip` narrowed the run: not a full conformance record.
    pub partial: bool,
    /// The seed; `--seed` with it replays the run's random choices.
    pub seed: u64,
    /// The scenario's name.
    pub scenario: String,
    /// Version of the harness that judged the run.
    pub harness_version: String,
    /// Why the run was aborted (Ctrl-C, the terminal stopped answering, a
    /// failed write), when `status` is `aborted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_reason: Option<String>,
    /// Selected checks (and witness steps) that never ran because the run
    /// was aborted, in catalog order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never_ran: Vec<String>,
    /// The vendor's test operator, 試験実施者 (`--operator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The department's witness, 立会者 (`--witness`), who answered the
    /// witness questions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<String>,
    /// The department the run was made for (`--department`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
}

/// One condition's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionRecord {
    /// `"1-2-1"` etc.
    pub id: ConditionId,
    /// The 観点 in Japanese (画面転送機能 ...).
    pub name_ja: String,
    /// The 観点 in English.
    pub name_en: String,
    /// The verdict.
    pub verdict: ConditionVerdict,
    /// Its checks, in catalog order.
    pub checks: Vec<CheckId>,
    /// Operator confirmations attached to this condition (witnessed runs;
    /// see [`crate::sinks::witness`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witness: Vec<crate::sinks::witness::WitnessRecord>,
    /// Reported for information only (2-2-1): never counted in the
    /// metrics and never moving the exit status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub informational: bool,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// `"ST-01"` etc.
    pub id: CheckId,
    /// The condition it belongs to.
    pub condition: ConditionId,
    /// The verdict.
    pub verdict: Verdict,
    /// One line a person can act on.
    pub detail: String,
    /// How long it ran (0 when it did not).
    pub duration_ms: u64,
    /// What the check recorded (negotiated parameters, timings, offending data).
    pub evidence: Value,
}

impl CheckRecord {
    /// Whether the check was left out by `--only`/`--skip` (a skip that is
    /// no result at all, unlike one for a failed prerequisite or an abort).
    pub fn deselected(&self) -> bool {
        self.verdict == Verdict::Skipped && self.detail == crate::run::events::DESELECTED_DETAIL
    }
}

/// `metrics`: totals, and figures surfaced from the checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Wall time of the whole run.
    pub duration_ms: u64,
    /// Number of checks per verdict (every verdict listed, zeros included).
    pub checks: BTreeMap<String, usize>,
    /// Number of conditions per verdict (every verdict listed).
    pub conditions: BTreeMap<String, usize>,
    /// For each check whose evidence holds a `metrics` object, that object
    /// (rates, byte counts, latency percentiles ...), keyed by check id.
    pub by_check: BTreeMap<String, Value>,
    /// Headline figures picked from the checks' evidence (see [`MEASURED`]),
    /// for checks that ran; a figure a check did not record is left out.
    #[serde(default)]
    pub measured: BTreeMap<String, Value>,
}

/// Figures surfaced into `metrics.measured`: (name, check, JSON pointer into
/// that check's evidence).
pub const MEASURED: &[(&str, CheckId, &str)] = &[
    ("screen.transport", CheckId::St01, "/session/transport"),
    ("screen.rfb_version", CheckId::St01, "/session/version"),
    ("screen.security", CheckId::St01, "/session/security"),
    ("screen.width", CheckId::St01, "/session/width"),
    ("screen.height", CheckId::St01, "/session/height"),
    ("sustain.updates_per_s", CheckId::St04, "/updates_per_s"),
    ("sustain.bytes_per_s", CheckId::St04, "/bytes_per_s"),
    ("sustain.latency_ms", CheckId::St04, "/latency_ms"),
    ("input_latency.p50_ms", CheckId::Op04, "/p50_ms"),
    ("input_latency.p95_ms", CheckId::Op04, "/p95_ms"),
    ("input_latency.max_ms", CheckId::Op04, "/max_ms"),
    ("contention.trials", CheckId::Ex03, "/trials"),
    ("contention.failed_trials", CheckId::Ex03, "/failed_trials"),
    (
        "contention.simultaneous_trials",
        CheckId::Ex03,
        "/simultaneous_trials",
    ),
    ("requests.planned", CheckId::Dr02, "/counts/planned"),
    ("requests.answered", CheckId::Dr02, "/counts/answered"),
    (
        "requests.during_screen",
        CheckId::Dr02,
        "/counts/during_screen",
    ),
    ("requests.max_elapsed_ms", CheckId::Dr02, "/max_elapsed_ms"),
];

const CHECK_VERDICTS: [Verdict; 5] = [
    Verdict::Pass,
    Verdict::Fail,
    Verdict::NotApplicable,
    Verdict::Error,
    Verdict::Skipped,
];

const CONDITION_VERDICTS: [ConditionVerdict; 5] = [
    ConditionVerdict::Pass,
    ConditionVerdict::Fail,
    ConditionVerdict::Inconclusive,
    ConditionVerdict::NotApplicable,
    ConditionVerdict::Skipped,
];

pub use crate::model::time::rfc3339_ms;

/// Rows for the informational conditions (2-2-1), judged on their checks
/// like the others but marked so nothing counts them.
fn informational_rows(o: &RunOutcome) -> Vec<ConditionRecord> {
    let cond = ConditionId::C2_2_1;
    let mine: Vec<&crate::run::runner::CheckResult> = o
        .checks
        .iter()
        .filter(|c| crate::checks::def(c.id).condition == cond)
        .collect();
    if mine.is_empty() {
        return Vec::new();
    }
    let judged = o.judged(cond);
    let text = cond.text();
    vec![ConditionRecord {
        id: cond,
        name_ja: text.viewpoint_ja.clone(),
        name_en: text.viewpoint_en.clone(),
        verdict: ConditionVerdict::judge(&judged, &[]),
        checks: mine.iter().map(|c| c.id).collect(),
        witness: Vec::new(),
        informational: true,
    }]
}

impl Report {
    /// The record of a finished run.
    pub fn from_outcome(o: &RunOutcome) -> Report {
        let conditions = o
            .conditions
            .iter()
            .map(|c| {
                let text = c.id.text();
                ConditionRecord {
                    id: c.id,
                    name_ja: text.viewpoint_ja.clone(),
                    name_en: text.viewpoint_en.clone(),
                    verdict: c.verdict,
                    checks: c.checks.clone(),
                    witness: Vec::new(),
                    informational: false,
                }
            })
            .chain(informational_rows(o))
            .collect();
        let checks: Vec<CheckRecord> = o
            .checks
            .iter()
            .map(|c| CheckRecord {
                id: c.id,
                condition: crate::checks::def(c.id).condition,
                verdict: c.verdict,
                detail: c.detail.clone(),
                duration_ms: c.duration_ms,
                evidence: c.evidence.clone(),
            })
            .collect();
        let mut check_counts: BTreeMap<String, usize> = CHECK_VERDICTS
            .iter()
            .map(|v| (v.as_str().to_string(), 0))
            .collect();
        for c in &o.checks {
            *check_counts
                .entry(c.verdict.as_str().to_string())
                .or_default() += 1;
        }
        let mut condition_counts: BTreeMap<String, usize> = CONDITION_VERDICTS
            .iter()
            .map(|v| (v.as_str().to_string(), 0))
            .collect();
        for c in &o.conditions {
            *condition_counts
                .entry(c.verdict.as_str().to_string())
                .or_default() += 1;
        }
        let by_check = o
            .checks
            .iter()
            .filter_map(|c| match c.evidence.get("metrics") {
                Some(m @ Value::Object(_)) => Some((c.id.to_string(), m.clone())),
                _ => None,
            })
            .collect();
        let measured = MEASURED
            .iter()
            .filter_map(|(name, id, pointer)| {
                let c = o.checks.iter().find(|c| c.id == *id)?;
                if c.verdict == Verdict::Skipped {
                    return None;
                }
                let v = c.evidence.pointer(pointer)?;
                (!v.is_null()).then(|| (name.to_string(), v.clone()))
            })
            .collect();
        Report {
            format: FORMAT.to_string(),
            run: RunSection {
                id: o.info.id.clone(),
                started_at: rfc3339_ms(o.info.started_at),
                finished_at: rfc3339_ms(o.finished_at),
                status: o.status,
                partial: o.info.partial,
                seed: o.info.seed,
                scenario: o.info.scenario.clone(),
                harness_version: o.info.harness_version.clone(),
                abort_reason: None,
                never_ran: o
                    .checks
                    .iter()
                    .filter(|c| c.skip == Some(crate::model::verdict::SkipReason::Aborted))
                    .map(|c| c.id.to_string())
                    .collect(),
                operator: None,
                witness: None,
                department: None,
                checks_finished_at: None,
            },
            terminal: o.info.terminal.clone(),
            conditions,
            checks,
            metrics: Metrics {
                duration_ms: o.duration_ms,
                checks: check_counts,
                conditions: condition_counts,
                by_check,
                measured,
            },
        }
    }
}

/// The run's overall result, 総合判定: what the exit status says and what
/// every output's headline shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overall {
    /// Every judged condition passed (or was not applicable) and the run completed.
    Pass,
    /// A judged condition failed (a check, or a witness's answer).
    Fail,
    /// Nothing failed, but a condition is inconclusive or the run was aborted.
    Inconclusive,
}

impl Overall {
    /// `pass`, `fail` or `inconclusive`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Overall::Pass => "pass",
            Overall::Fail => "fail",
            Overall::Inconclusive => "inconclusive",
        }
    }

    /// 適合, 不適合 or 判定保留.
    pub fn as_ja(&self) -> &'static str {
        match self {
            Overall::Pass => "適合",
            Overall::Fail => "不適合",
            Overall::Inconclusive => "判定保留",
        }
    }
}

impl Report {
    /// The overall result. Informational rows (2-2-1) never move it.
    pub fn overall(&self) -> Overall {
        let judged = || self.conditions.iter().filter(|c| !c.informational);
        if judged().any(|c| c.verdict == ConditionVerdict::Fail) {
            Overall::Fail
        } else if self.run.status == RunStatus::Aborted
            || judged().any(|c| c.verdict == ConditionVerdict::Inconclusive)
        {
            Overall::Inconclusive
        } else {
            Overall::Pass
        }
    }
}

/// Why a provisional `report.json` says the run was aborted: it is only
/// read when the process never got to write the final one.
pub const INTERIM_ABORT_REASON: &str = "the run did not finish: s301 stopped (killed or \
crashed) before it wrote the final record; this is the record as it stood after the last \
finished check, and the checks marked not run never finished";

/// Why a record written when the checks finished is not `completed` yet:
/// the outputs and the seal come after it.
pub const UNSEALED_REASON: &str = "the checks finished, but the record is not sealed yet (the outputs and manifest.json are written after it)";

/// The run sink that writes `report.json` into a directory: a provisional
/// one (marked aborted, see [`INTERIM_ABORT_REASON`]) after every finished
/// check, so a run killed outright still leaves a readable record, then
/// the whole run's verdicts when it finishes, still marked aborted
/// ([`UNSEALED_REASON`]): only sealing the record may mark it completed.
pub struct ReportWriter {
    dir: PathBuf,
    written: Option<std::io::Result<PathBuf>>,
    info: Option<crate::run::runner::RunInfo>,
    results: std::collections::BTreeMap<CheckId, crate::run::runner::CheckResult>,
}

impl ReportWriter {
    /// A writer for the run directory `dir` (created if missing).
    pub fn new(dir: &Path) -> ReportWriter {
        ReportWriter {
            dir: dir.to_path_buf(),
            written: None,
            info: None,
            results: std::collections::BTreeMap::new(),
        }
    }

    /// The path written, or the error, once the run has finished; `None`
    /// before that.
    pub fn take_result(&mut self) -> Option<std::io::Result<PathBuf>> {
        self.written.take()
    }

    /// Writes the provisional record of the run so far.
    fn write_interim(&self) {
        let Some(info) = &self.info else { return };
        let outcome = RunOutcome::interim(info, &self.results);
        let mut report = Report::from_outcome(&outcome);
        report.run.abort_reason = Some(INTERIM_ABORT_REASON.to_string());
        if let Err(e) = json::write_report(&self.dir, &report) {
            tracing::warn!("provisional report.json not written: {e}");
        }
    }
}

impl RunSink for ReportWriter {
    fn on_event(&mut self, event: &RunEvent<'_>) {
        match event {
            RunEvent::RunStarted(info) => {
                self.info = Some((*info).clone());
                self.write_interim();
            }
            RunEvent::CheckFinished { result, .. } => {
                self.results.insert(result.id, (*result).clone());
                self.write_interim();
            }
            RunEvent::CheckStarted { .. } => {}
            RunEvent::RunFinished(outcome) => {
                // Never `completed` from here: a record is completed only
                // once every output and the seal are written (the CLI's
                // record::finish does that). This writer leaves the whole
                // run's verdicts, still marked aborted.
                let mut report = Report::from_outcome(outcome);
                if report.run.status == RunStatus::Completed {
                    report.run.status = RunStatus::Aborted;
                    report.run.abort_reason = Some(UNSEALED_REASON.to_string());
                }
                self.written = Some(json::write_report(&self.dir, &report));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
pub(crate) mod tests {
    use super::*;
    use crate::model::verdict::SkipReason;
    use crate::run::runner::{CheckResult, ConditionResult, RunInfo};
    use serde_json::json;

    pub(crate) fn sample_outcome() -> RunOutcome {
        let t = time::macros::datetime!(2026-11-27 17:15:00.5 UTC);
        let checks: Vec<CheckResult> = CheckId::ALL
            .iter()
            .map(|id| CheckResult {
                id: *id,
                verdict: if *id == CheckId::Ex01 {
                    Verdict::Fail
                } else if crate::checks::def(*id).condition == ConditionId::C1_3_2 {
                    Verdict::Skipped
                } else {
                    Verdict::Pass
                },
                detail: format!("{id} detail"),
                duration_ms: 12,
                evidence: if *id == CheckId::St04 {
                    json!({"metrics": {"updates_per_s": 20.5}, "other": 1, "updates_per_s": 20.5})
                } else if *id == CheckId::St01 {
                    json!({"session": {"version": "3.8", "transport": "ws"}})
                } else {
                    Value::Null
                },
                skip: (crate::checks::def(*id).condition == ConditionId::C1_3_2)
                    .then_some(SkipReason::Deselected),
            })
            .collect();
        let conditions = ConditionId::ALL
            .iter()
            .map(|c| ConditionResult {
                id: *c,
                verdict: match c {
                    ConditionId::C1_2_1 => ConditionVerdict::Fail,
                    ConditionId::C1_3_2 => ConditionVerdict::Skipped,
                    _ => ConditionVerdict::Pass,
                },
                checks: CheckId::ALL
                    .iter()
                    .copied()
                    .filter(|id| crate::checks::def(*id).condition == *c)
                    .collect(),
            })
            .collect();
        RunOutcome {
            info: RunInfo {
                id: "20261127T171500Z-00ff".into(),
                started_at: t,
                seed: 42,
                scenario: "default".into(),
                partial: true,
                harness_version: "0.1.0".into(),
                terminal: json!({"screen": {"url": "ws://x/s3-01/v1/screen"}}),
                selected: vec![],
                catalog: CheckId::ALL.to_vec(),
            },
            finished_at: t + time::Duration::seconds(3),
            duration_ms: 3000,
            status: RunStatus::Completed,
            checks,
            conditions,
        }
    }

    #[test]
    fn report_follows_the_run_contract() {
        let r = Report::from_outcome(&sample_outcome());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["format"], "s301-report/1");
        assert_eq!(v["run"]["started_at"], "2026-11-27T17:15:00.500Z");
        assert_eq!(v["run"]["finished_at"], "2026-11-27T17:15:03.500Z");
        assert_eq!(v["run"]["status"], "completed");
        assert_eq!(v["run"]["partial"], true);
        assert_eq!(v["run"]["seed"], 42);
        let conds = v["conditions"].as_array().unwrap();
        let ids: Vec<&str> = conds.iter().map(|c| c["id"].as_str().unwrap()).collect();
        // The four judged conditions, then 2-2-1 for information.
        assert_eq!(ids, ["1-2-1", "1-2-2", "1-3-1", "1-3-2", "2-2-1"]);
        assert_eq!(conds[4]["informational"], true);
        assert!(conds[0].get("informational").is_none());
        assert_eq!(conds[0]["name_ja"], "画面転送機能");
        assert_eq!(conds[0]["verdict"], "fail");
        assert_eq!(conds[3]["verdict"], "skipped");
        assert_eq!(
            conds[1]["checks"],
            json!(["OP-01", "OP-02", "OP-03", "OP-04"])
        );
        let checks = v["checks"].as_array().unwrap();
        assert_eq!(checks.len(), CheckId::ALL.len());
        assert_eq!(checks[0]["id"], "ST-01");
        assert_eq!(checks[0]["condition"], "1-2-1");
        assert_eq!(checks[4]["verdict"], "fail");
        assert_eq!(
            checks[0].as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "condition",
                "detail",
                "duration_ms",
                "evidence",
                "id",
                "verdict"
            ]
        );
    }

    #[test]
    fn metrics_count_verdicts_and_surface_check_metrics() {
        let r = Report::from_outcome(&sample_outcome());
        assert_eq!(r.metrics.checks["fail"], 1);
        assert_eq!(r.metrics.checks["skipped"], 3);
        assert_eq!(r.metrics.checks["pass"], 17);
        assert_eq!(r.metrics.checks["error"], 0);
        assert_eq!(r.metrics.conditions["pass"], 2);
        assert_eq!(r.metrics.conditions["inconclusive"], 0);
        assert_eq!(
            r.metrics.by_check.get("ST-04"),
            Some(&json!({"updates_per_s": 20.5}))
        );
        assert_eq!(r.metrics.by_check.len(), 1);
        assert_eq!(
            r.metrics.measured.get("screen.rfb_version"),
            Some(&json!("3.8"))
        );
        assert_eq!(
            r.metrics.measured.get("screen.transport"),
            Some(&json!("ws"))
        );
        assert_eq!(
            r.metrics.measured.get("sustain.updates_per_s"),
            Some(&json!(20.5))
        );
        // Figures a check did not record are left out.
        assert!(!r.metrics.measured.contains_key("screen.width"));
        assert!(!r.metrics.measured.contains_key("input_latency.p50_ms"));
        assert_eq!(r.metrics.duration_ms, 3000);
    }

    #[test]
    fn report_round_trips_through_json() {
        let r = Report::from_outcome(&sample_outcome());
        let text = json::to_string(&r);
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn writer_sink_writes_on_run_finished() {
        let dir = json::tests::scratch_dir("writer-sink");
        let mut w = ReportWriter::new(&dir);
        let o = sample_outcome();
        assert!(w.take_result().is_none());
        w.on_event(&RunEvent::RunFinished(&o));
        let path = w.take_result().unwrap().unwrap();
        assert_eq!(path, dir.join("report.json"));
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["run"]["id"], "20261127T171500Z-00ff");
        // The run completed, but nothing sealed the record: it must not
        // say completed.
        assert_eq!(o.status, RunStatus::Completed);
        assert_eq!(v["run"]["status"], "aborted");
        assert!(v["run"]["abort_reason"]
            .as_str()
            .unwrap()
            .contains("not sealed"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
