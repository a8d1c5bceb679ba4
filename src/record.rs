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
    let path = json::write_report(dir, &report)
        .map_err(|e| format!("{}: {e}", dir.join(json::REPORT_FILE).display()))?;
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
    if report
        .conditions
        .iter()
        .any(|c| c.verdict == ConditionVerdict::Fail)
    {
        EXIT_FAIL
    } else if report.run.status == RunStatus::Aborted
        || report
            .conditions
            .iter()
            .any(|c| c.verdict == ConditionVerdict::Inconclusive)
    {
        EXIT_INCONCLUSIVE
    } else {
        EXIT_PASS
    }
}
