//! Finishing a run's record: the witness questions, the final `report.json`
//! (abort reason, operator, department, witness answers), then the seal
//! (`manifest.json`, and `manifest.sig` with `--sign-key`).
//!
//! Order matters: everything else in the run directory must be written
//! before [`finish`] seals it, because the manifest lists every file and
//! is written last.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use s301_harness::integrity;
use s301_harness::report::{json, Report};
use s301_harness::runner::{AbortSignal, RunOutcome, RunStatus};
use s301_harness::scenario::Scenario;
use s301_harness::verdict::ConditionVerdict;
use s301_harness::witness::{self, WitnessAnswer};

use crate::{EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS};

/// Writes outputs derived from the final `report.json` into the run
/// directory; an error names the file that could not be written.
pub type DerivedOutputs = dyn Fn(&Path, &Report) -> Result<(), String>;

/// What the operator gave on the command line, and how the run ended.
pub struct Finish<'a> {
    /// `--operator`.
    pub operator: Option<&'a str>,
    /// `--department`.
    pub department: Option<&'a str>,
    /// Why the run was aborted, when it was.
    pub abort_reason: Option<String>,
    /// `--sign-key`, loaded.
    pub sign_key: Option<&'a SigningKey>,
    /// Writes the outputs derived from the final report (JUnit, HTML,
    /// declaration ...) into the run directory, before the seal.
    pub derived: Option<&'a DerivedOutputs>,
    /// The run's abort signal: raised while witness questions wait, it
    /// stops them (the remaining ones are recorded as not asked).
    pub abort: &'a AbortSignal,
}

/// The finished record.
pub struct Finished {
    /// The final report, as written.
    pub report: Report,
    /// Its path.
    pub path: PathBuf,
    /// Lines about the witness answers, for the summary.
    pub witness_text: String,
}

/// Asks the scenario's witness steps (unless the run was aborted), writes the
/// final `report.json` atomically and seals the directory. An error names
/// the file that could not be written.
pub fn finish(
    dir: &Path,
    outcome: &RunOutcome,
    scenario: &Scenario,
    f: &Finish<'_>,
) -> Result<Finished, String> {
    let mut report = Report::from_outcome(outcome);
    report.run.operator = f.operator.map(str::to_string);
    report.run.department = f.department.map(str::to_string);
    if outcome.status == RunStatus::Aborted {
        report.run.abort_reason = Some(
            f.abort_reason
                .clone()
                .unwrap_or_else(|| "interrupted (Ctrl-C or SIGTERM)".to_string()),
        );
    }
    ask_witnesses(dir, outcome, scenario, f.operator, f.abort, &mut report);
    let mut witness_text = String::new();
    for c in &report.conditions {
        for w in &c.witness {
            let _ = writeln!(
                witness_text,
                "  witness {} ({}): {}{}",
                w.id,
                c.id,
                match w.answer {
                    WitnessAnswer::Pass => "pass",
                    WitnessAnswer::Fail => "fail",
                    WitnessAnswer::NotApplicable => "n/a",
                    WitnessAnswer::Error => "error",
                },
                w.comment
                    .as_deref()
                    .map(|c| format!("  {c}"))
                    .unwrap_or_default()
            );
        }
    }
    let report_err = |e: std::io::Error| format!("{}: {e}", dir.join(json::REPORT_FILE).display());
    let path = json::write_report(dir, &report).map_err(report_err)?;
    if let Some(derive) = f.derived {
        // A record file that cannot be written makes the record incomplete:
        // say so in report.json (aborted, with the reason) and still seal.
        if let Err(e) = derive(dir, &report) {
            report.run.status = RunStatus::Aborted;
            report.run.abort_reason = Some(format!("a record file could not be written: {e}"));
            json::write_report(dir, &report).map_err(report_err)?;
        }
    }
    integrity::seal(dir, f.sign_key).map_err(|e| e.to_string())?;
    Ok(Finished {
        report,
        path,
        witness_text,
    })
}

/// Asks (or records as not asked) every witness step of a selected
/// condition and applies the answers to `report`. An interruption (the
/// abort signal) while questions wait ends the questions: the one waiting
/// and the rest are `error`, and the run is recorded as aborted.
fn ask_witnesses(
    dir: &Path,
    outcome: &RunOutcome,
    scenario: &Scenario,
    operator: Option<&str>,
    abort: &AbortSignal,
    report: &mut Report,
) {
    let steps: Vec<_> = scenario
        .witness
        .iter()
        .filter(|s| {
            outcome
                .conditions
                .iter()
                .any(|c| c.id == s.condition && c.verdict != ConditionVerdict::Skipped)
        })
        .collect();
    if steps.is_empty() {
        return;
    }
    let mut records = Vec::new();
    if outcome.status == RunStatus::Aborted {
        for s in &steps {
            records.push((s.condition, witness::not_asked(s, "the run was aborted")));
            report.run.never_ran.push(s.id.clone());
        }
    } else {
        let answers = witness::spawn_line_reader(std::io::stdin());
        let mut out = std::io::stdout();
        let cancelled = || abort.is_aborted();
        for s in &steps {
            if abort.is_aborted() {
                records.push((s.condition, witness::not_asked(s, "interrupted")));
                report.run.never_ran.push(s.id.clone());
                continue;
            }
            let rec = tokio::task::block_in_place(|| {
                witness::ask(s, dir, operator, &answers, &mut out, &cancelled)
            });
            records.push((s.condition, rec));
        }
        if abort.is_aborted() {
            report.run.status = RunStatus::Aborted;
            report.run.abort_reason = Some(format!(
                "{} during the witness questions",
                abort.reason().unwrap_or_else(|| "interrupted".to_string())
            ));
        }
    }
    witness::apply(report, records);
}

/// What the summary does not show: the abort reason, the witness answers,
/// the seal.
pub fn epilogue(f: &Finished) -> String {
    let mut s = String::new();
    if let Some(r) = &f.report.run.abort_reason {
        let _ = writeln!(s, "Abort reason: {r}");
    }
    if !f.report.run.never_ran.is_empty() {
        let _ = writeln!(s, "Never ran: {}", f.report.run.never_ran.join(", "));
    }
    if !f.witness_text.is_empty() {
        let _ = writeln!(s, "Witness confirmations");
        s.push_str(&f.witness_text);
    }
    let dir = f.path.parent().unwrap_or(Path::new("."));
    let _ = writeln!(
        s,
        "Sealed: {}{}",
        dir.join(integrity::MANIFEST_FILE).display(),
        if dir.join(integrity::SIGNATURE_FILE).exists() {
            " (signed)"
        } else {
            ""
        }
    );
    s
}

/// The exit status for a final report: 1 if a condition failed, else 3 if
/// one is inconclusive or the run was aborted, else 0.
pub fn exit_code(report: &Report) -> u8 {
    // Informational rows (2-2-1) never move the exit status.
    let judged = || report.conditions.iter().filter(|c| !c.informational);
    if judged().any(|c| c.verdict == ConditionVerdict::Fail) {
        EXIT_FAIL
    } else if report.run.status == RunStatus::Aborted
        || judged().any(|c| c.verdict == ConditionVerdict::Inconclusive)
    {
        EXIT_INCONCLUSIVE
    } else {
        EXIT_PASS
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use s301_harness::catalog::{CheckId, ConditionId};
    use s301_harness::runner::{CheckResult, ConditionResult, RunInfo};
    use s301_harness::verdict::Verdict;

    fn passing_outcome() -> RunOutcome {
        RunOutcome {
            info: RunInfo {
                id: "RUN".into(),
                started_at: time::OffsetDateTime::UNIX_EPOCH,
                seed: 1,
                scenario: "t".into(),
                partial: false,
                harness_version: "0".into(),
                terminal: serde_json::Value::Null,
                selected: CheckId::ALL.to_vec(),
                catalog: CheckId::ALL.to_vec(),
            },
            finished_at: time::OffsetDateTime::UNIX_EPOCH,
            duration_ms: 1,
            status: RunStatus::Completed,
            checks: CheckId::ALL
                .iter()
                .map(|id| CheckResult {
                    id: *id,
                    verdict: Verdict::Pass,
                    detail: "ok".into(),
                    duration_ms: 1,
                    evidence: serde_json::Value::Null,
                    skip: None,
                })
                .collect(),
            conditions: ConditionId::ALL
                .iter()
                .map(|c| ConditionResult {
                    id: *c,
                    verdict: ConditionVerdict::Pass,
                    checks: Vec::new(),
                })
                .collect(),
        }
    }

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("s301-record-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn finish_with(dir: &Path, derived: &DerivedOutputs) -> Finished {
        let scenario = Scenario::parse("name = \"t\"\n", "t.toml").unwrap();
        let abort = AbortSignal::new();
        finish(
            dir,
            &passing_outcome(),
            &scenario,
            &Finish {
                operator: Some("op"),
                department: Some("dept"),
                abort_reason: None,
                sign_key: None,
                derived: Some(derived),
                abort: &abort,
            },
        )
        .unwrap()
    }

    #[test]
    fn derived_outputs_are_written_before_the_seal() {
        let dir = scratch("derived");
        let f = finish_with(&dir, &|d, _| {
            std::fs::write(d.join("junit.xml"), "<testsuites/>").map_err(|e| e.to_string())
        });
        assert_eq!(exit_code(&f.report), EXIT_PASS);
        assert_eq!(f.report.run.operator.as_deref(), Some("op"));
        let v = integrity::verify(&dir, None).unwrap();
        assert!(v.is_ok(), "{v:?}");
        assert_eq!(v.files, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_derived_write_marks_the_record_aborted_and_still_seals_it() {
        let dir = scratch("failed");
        let f = finish_with(&dir, &|_, _| Err("junit.xml: disk full".to_string()));
        assert_eq!(f.report.run.status, RunStatus::Aborted);
        assert!(f
            .report
            .run
            .abort_reason
            .as_deref()
            .unwrap()
            .contains("disk full"));
        assert_eq!(exit_code(&f.report), EXIT_INCONCLUSIVE);
        let on_disk: Report =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(on_disk.run.status, RunStatus::Aborted);
        assert!(integrity::verify(&dir, None).unwrap().is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
