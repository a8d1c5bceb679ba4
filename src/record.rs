//! Finishing a run's record: the witness questions, the final `report.json`
//! (abort reason, operator, department, witness answers), the outputs
//! derived from it, then the seal (`manifest.json`, and `manifest.sig`
//! with `--sign-key`).
//!
//! `report.json` says `completed` only in a sealed directory. While the
//! record is finished it says `aborted`, with [`SEALING_REASON`]; the
//! outputs and the final `report.json` are staged under temporary names,
//! the seal is written as the directory will be once they are in place,
//! and the final `report.json` is renamed into place last. The order, and
//! the test hook points along it, are in `docs/integrity.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use s301_harness::config::scenario::Scenario;
use s301_harness::model::lang::Lang;
use s301_harness::model::verdict::ConditionVerdict;
use s301_harness::run::runner::{AbortSignal, RunInfo, RunOutcome, RunStatus};
use s301_harness::sinks::integrity::{self, hook, IntegrityError};
use s301_harness::sinks::report::{json, outputs, rfc3339_ms, Overall, Report};
use s301_harness::sinks::witness::{self, WitnessAnswer};

use crate::{EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS};

/// Why `report.json` says aborted before any check ran: what stays when
/// s301 is killed while it loads the declaration and brings up the terminal.
pub const SETUP_REASON: &str = "the run did not start: s301 stopped (killed or crashed) while it loaded the declaration and brought up the terminal, before any check ran";

/// Why `report.json` says aborted while the record is being finished: what
/// stays when s301 is killed, crashes or runs out of disk space after the
/// checks and before the seal is complete. The verdicts in such a record
/// were reached, but its outputs and seal are incomplete.
pub const SEALING_REASON: &str = "the record was not sealed: s301 stopped (killed, crashed or out of disk space) after the checks, while it asked the witness questions or wrote and sealed the record; the verdicts were reached but the record is incomplete";

/// Writes the evidence not yet on disk (screenshots, per-check transcript
/// slices) into the run directory; an error names what could not be written.
pub type Evidence = dyn Fn(&Path) -> Result<(), String>;

/// What the operator gave on the command line, and how the run ended.
pub struct Finish<'a> {
    /// `--operator`.
    pub operator: Option<&'a str>,
    /// `--witness`: the department's witness, who answers the questions.
    pub witness: Option<&'a str>,
    /// `--department`.
    pub department: Option<&'a str>,
    /// `--lang`: the language of the lines printed about the record.
    pub lang: Lang,
    /// Why the run was aborted, when it was.
    pub abort_reason: Option<String>,
    /// `--sign-key`, loaded.
    pub sign_key: Option<&'a SigningKey>,
    /// Writes the remaining evidence, before the outputs that list it.
    pub evidence: Option<&'a Evidence>,
    /// The run's abort signal: raised while witness questions wait, it
    /// stops them (the remaining ones are recorded as not asked).
    pub abort: &'a AbortSignal,
    /// The live witness console (`--witness-ui`), where questions may be
    /// answered too; the first answer, there or on standard input, is kept.
    pub witness_ui: Option<&'a dyn witness::BrowserAnswers>,
}

/// Why a record could not be finished. `report.json` then stays marked
/// aborted.
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    /// `report.json` (provisional or final) could not be written.
    #[error("{}: {source}", path.display())]
    Report {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The seal could not be written or the staged files put in place.
    #[error("the record could not be sealed: {0}")]
    Seal(#[from] IntegrityError),
}

/// A finished (or unfinishable) record.
pub struct Finished {
    /// The record as `report.json` holds it now: the final report when
    /// sealed, else the same marked aborted.
    pub report: Report,
    /// Its path.
    pub path: PathBuf,
    /// Lines about the witness answers, for the summary.
    pub witness_text: String,
    /// The manifest's path, or why the record is not sealed.
    pub sealed: Result<PathBuf, FinishError>,
}

/// `report` as a record that is not sealed yet: marked aborted with
/// `reason`, keeping an abort reason it had.
fn unsealed(report: &Report, reason: &str) -> Report {
    let mut r = report.clone();
    r.run.status = RunStatus::Aborted;
    r.run.abort_reason = Some(match &report.run.abort_reason {
        Some(first) => format!("{reason} (the run itself was aborted: {first})"),
        None => reason.to_string(),
    });
    r
}

/// Marks `report` aborted because a record file could not be written.
fn mark_unwritten(report: &mut Report, what: &str) {
    let why = format!("a record file could not be written: {what}");
    report.run.status = RunStatus::Aborted;
    report.run.abort_reason = Some(match report.run.abort_reason.take() {
        Some(first) => format!("{first}; then {why}"),
        None => why,
    });
}

/// Writes the record of a run that is about to start, for a run killed
/// before its first check: every selected check not run, the run aborted
/// with [`SETUP_REASON`].
pub fn write_initial(dir: &Path, info: &RunInfo) -> std::io::Result<PathBuf> {
    let outcome = RunOutcome::interim(info, &std::collections::BTreeMap::new());
    let mut report = Report::from_outcome(&outcome);
    report.run.abort_reason = Some(SETUP_REASON.to_string());
    json::write_report(dir, &report)
}

/// Asks the scenario's witness steps (unless the run was aborted), then
/// writes and seals the record in the order described in the module
/// documentation. Never panics; what could not be done is in
/// [`Finished::sealed`].
pub fn finish(dir: &Path, outcome: &RunOutcome, scenario: &Scenario, f: &Finish<'_>) -> Finished {
    let mut report = Report::from_outcome(outcome);
    report.run.operator = f.operator.map(str::to_string);
    report.run.witness = f.witness.map(str::to_string);
    report.run.department = f.department.map(str::to_string);
    if outcome.status == RunStatus::Aborted {
        report.run.abort_reason = Some(
            f.abort_reason
                .clone()
                .unwrap_or_else(|| "interrupted (Ctrl-C, SIGTERM or SIGHUP)".to_string()),
        );
    }
    let path = dir.join(json::REPORT_FILE);
    let mut finished = Finished {
        report: unsealed(&report, SEALING_REASON),
        path: path.clone(),
        witness_text: String::new(),
        sealed: Ok(dir.join(integrity::MANIFEST_FILE)),
    };
    let report_err = |source| FinishError::Report {
        path: path.clone(),
        source,
    };
    if let Err(e) = json::write_report(dir, &finished.report) {
        // report.json stays as the run left it after its last check.
        finished.report = unsealed(&report, s301_harness::sinks::report::INTERIM_ABORT_REASON);
        finished.sealed = Err(report_err(e));
        return finished;
    }
    hook::point("provisional");
    if ask_witnesses(dir, outcome, scenario, f, &mut report) {
        finished.report = unsealed(&report, SEALING_REASON);
        if let Err(e) = json::write_report(dir, &finished.report) {
            finished.sealed = Err(report_err(e));
            return finished;
        }
    }
    finished.witness_text = witness_lines(&report, f.lang);
    // The run ends when its record is finished: after the last answer.
    report.run.checks_finished_at = Some(report.run.finished_at.clone());
    report.run.finished_at = rfc3339_ms(time::OffsetDateTime::now_utc());
    hook::point("witness");
    // A record file that cannot be written makes the record incomplete:
    // say so in report.json (aborted, with the reason) and still seal.
    if let Some(evidence) = f.evidence {
        if let Err(e) = evidence(dir) {
            mark_unwritten(&mut report, &e);
        }
    }
    hook::point("evidence");
    // Staged outputs that fail part-way are removed: none may show a
    // verdict the record then does not have.
    let mut staged = match outputs::stage_all(dir, &report) {
        Ok(s) => s,
        Err(e) => {
            mark_unwritten(&mut report, &e.to_string());
            Vec::new()
        }
    };
    match json::stage(&path, json::to_string(&report).as_bytes()) {
        Ok(s) => staged.push(s),
        Err(e) => {
            drop(staged);
            finished.sealed = Err(report_err(e));
            return finished;
        }
    }
    hook::point("staged");
    match integrity::seal_staged(dir, f.sign_key, staged) {
        Ok(manifest) => {
            finished.report = report;
            finished.sealed = Ok(manifest);
            hook::point("sealed");
        }
        Err(e) => {
            let e = FinishError::Seal(e);
            // Say why in report.json too, if the disk still takes it.
            finished.report = unsealed(&report, &e.to_string());
            if let Err(w) = json::write_report(dir, &finished.report) {
                tracing::warn!("report.json keeps the provisional reason: {w}");
                finished.report = unsealed(&report, SEALING_REASON);
            }
            finished.sealed = Err(e);
        }
    }
    finished
}

/// One line per witness answer, for the summary, in `lang`; the
/// verdict-changing answers (fail, error) say so.
fn witness_lines(report: &Report, lang: Lang) -> String {
    let mut text = String::new();
    for c in &report.conditions {
        for w in &c.witness {
            let effect = match w.answer {
                WitnessAnswer::Fail => {
                    lang.pick("  -> the condition fails", "  → この条件は不適合")
                }
                WitnessAnswer::Error => lang.pick(
                    "  -> not confirmed: the condition cannot pass",
                    "  → 未確認のため、この条件は適合とできない",
                ),
                WitnessAnswer::Pass | WitnessAnswer::NotApplicable => "",
            };
            let _ = writeln!(
                text,
                "  {} {} ({}): {}{}{effect}",
                lang.pick("witness", "立会確認"),
                w.id,
                c.id,
                lang.pick(w.answer.as_str(), w.answer.as_ja()),
                w.comment
                    .as_deref()
                    .map(|c| format!("  {c}"))
                    .unwrap_or_default()
            );
        }
    }
    text
}

/// Asks (or records as not asked) every witness step of a selected
/// condition and applies the answers to `report`. An interruption (the
/// abort signal) while questions wait ends the questions: the one waiting
/// and the rest are `error`, and the run is recorded as aborted. False
/// when there was no step to ask or record.
fn ask_witnesses(
    dir: &Path,
    outcome: &RunOutcome,
    scenario: &Scenario,
    f: &Finish<'_>,
    report: &mut Report,
) -> bool {
    let abort = f.abort;
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
        return false;
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
            let evidence = s
                .check
                .and_then(|c| outcome.check(c))
                .map_or(&serde_json::Value::Null, |c| &c.evidence);
            let how = witness::Asking {
                run_dir: dir,
                // The answers are the witness's; without --witness, the operator's.
                who: f.witness.or(f.operator),
                lang: f.lang,
                evidence,
                browser: f.witness_ui,
            };
            let rec = tokio::task::block_in_place(|| {
                witness::ask(s, &how, &answers, &mut out, &cancelled)
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
    witness::apply(report, outcome, records);
    true
}

/// What the summary does not show: the abort reason, the witness answers,
/// the seal.
pub fn epilogue(f: &Finished, lang: Lang) -> String {
    let mut s = String::new();
    if let Some(r) = &f.report.run.abort_reason {
        let _ = writeln!(s, "{}: {r}", lang.pick("Abort reason", "中断の理由"));
    }
    if !f.report.run.never_ran.is_empty() {
        let _ = writeln!(
            s,
            "{}: {}",
            lang.pick("Never ran", "未実施"),
            f.report.run.never_ran.join(", ")
        );
    }
    if !f.witness_text.is_empty() {
        let _ = writeln!(s, "{}", lang.pick("Witness confirmations", "立会者の確認"));
        s.push_str(&f.witness_text);
    }
    // An unsealed record is explained by the summary's report line.
    if let Ok(manifest) = &f.sealed {
        let dir = f.path.parent().unwrap_or(Path::new("."));
        let _ = writeln!(
            s,
            "{}: {}{}",
            lang.pick("Sealed", "封印"),
            manifest.display(),
            if dir.join(integrity::SIGNATURE_FILE).exists() {
                lang.pick(" (signed)", "（署名あり）")
            } else {
                ""
            }
        );
    }
    s
}

/// The exit status for a final report: 1 if a condition failed, else 3 if
/// one is inconclusive or the run was aborted, else 0.
pub fn exit_code(report: &Report) -> u8 {
    match report.overall() {
        Overall::Fail => EXIT_FAIL,
        Overall::Inconclusive => EXIT_INCONCLUSIVE,
        Overall::Pass => EXIT_PASS,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use s301_harness::model::ids::{CheckId, ConditionId};
    use s301_harness::model::verdict::Verdict;
    use s301_harness::run::runner::{CheckResult, ConditionResult, RunInfo};

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

    fn finish_with(dir: &Path, evidence: &Evidence) -> Finished {
        let scenario = Scenario::parse("name = \"t\"\n", "t.toml").unwrap();
        let abort = AbortSignal::new();
        finish(
            dir,
            &passing_outcome(),
            &scenario,
            &Finish {
                operator: Some("op"),
                witness: Some("wit"),
                department: Some("dept"),
                lang: Lang::En,
                abort_reason: None,
                sign_key: None,
                evidence: Some(evidence),
                abort: &abort,
                witness_ui: None,
            },
        )
    }

    fn on_disk(dir: &Path) -> Report {
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
    }

    #[test]
    fn a_sealed_record_holds_the_outputs_and_says_completed() {
        let dir = scratch("sealed");
        let f = finish_with(&dir, &|d| {
            std::fs::create_dir_all(d.join("evidence/ST-02")).map_err(|e| e.to_string())?;
            std::fs::write(d.join("evidence/ST-02/full.png"), b"png").map_err(|e| e.to_string())
        });
        assert!(f.sealed.is_ok(), "{:?}", f.sealed.err());
        assert_eq!(exit_code(&f.report), EXIT_PASS);
        assert_eq!(f.report.run.operator.as_deref(), Some("op"));
        assert_eq!(on_disk(&dir), f.report);
        assert_eq!(f.report.run.status, RunStatus::Completed);
        let v = integrity::verify(&dir, None).unwrap();
        assert!(v.is_ok(), "{v:?}");
        // report.json, the screenshot and every output.
        assert_eq!(v.files, 2 + outputs::Format::ALL.len());
        assert!(
            epilogue(&f, Lang::En).contains("Sealed: "),
            "{}",
            epilogue(&f, Lang::En)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failed_evidence_marks_the_record_aborted_and_still_seals_it() {
        let dir = scratch("failed");
        let f = finish_with(&dir, &|_| Err("evidence/ST-02: disk full".to_string()));
        assert!(f.sealed.is_ok());
        assert_eq!(f.report.run.status, RunStatus::Aborted);
        assert!(f
            .report
            .run
            .abort_reason
            .as_deref()
            .unwrap()
            .contains("disk full"));
        assert_eq!(exit_code(&f.report), EXIT_INCONCLUSIVE);
        assert_eq!(on_disk(&dir).run.status, RunStatus::Aborted);
        assert!(integrity::verify(&dir, None).unwrap().is_ok());
        // The outputs render the aborted record, like report.json.
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(html.contains("aborted"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unsealed_record_keeps_the_first_abort_reason() {
        let mut r = Report::from_outcome(&passing_outcome());
        r.run.abort_reason = Some("interrupted by SIGHUP".into());
        let u = unsealed(&r, SEALING_REASON);
        assert_eq!(u.run.status, RunStatus::Aborted);
        let reason = u.run.abort_reason.unwrap();
        assert!(reason.starts_with("the record was not sealed"), "{reason}");
        assert!(reason.contains("SIGHUP"), "{reason}");
    }

    #[test]
    fn the_initial_record_says_nothing_ran() {
        let dir = scratch("initial");
        let info = passing_outcome().info;
        write_initial(&dir, &info).unwrap();
        let r = on_disk(&dir);
        assert_eq!(r.run.status, RunStatus::Aborted);
        assert_eq!(r.run.abort_reason.as_deref(), Some(SETUP_REASON));
        assert_eq!(r.run.never_ran.len(), info.selected.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
