//! Run records read back: one run directory ([`load`]), every run under a
//! folder ([`list`]), and two runs set side by side ([`compare`], printed
//! by [`html`]).
//!
//! After installation the vendor reports to the department whenever the
//! service stops meeting a condition, after each specification change and
//! at regular intervals. Each of those reports sets a new run beside an
//! earlier one, so this module reads what `s301 run` left behind and never
//! writes into a run directory.
//!
//! A record is read through the same types that wrote it
//! ([`crate::sinks::report::Report`]); only the format named by
//! [`crate::sinks::report::FORMAT`] is read. The seal is checked exactly as
//! `s301 verify` does ([`crate::sinks::integrity::verify`]).

pub mod compare;
pub mod figures;
pub mod html;
pub mod list;

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use serde_json::Value;
use time::{OffsetDateTime, UtcOffset};

use crate::sinks::integrity::{self, Difference, IntegrityError, SignatureCheck};
use crate::sinks::report::outputs::EvidenceIndex;
use crate::sinks::report::{json::REPORT_FILE, Report, FORMAT};

/// Largest `report.json` read back (the same bound as `s301 report`).
pub const MAX_REPORT_BYTES: u64 = 256 * 1024 * 1024;

/// Japan Standard Time, UTC+9 (Japan keeps no daylight saving time).
pub const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// One run directory, read back.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The run directory as given.
    pub dir: PathBuf,
    /// Its `report.json`.
    pub report: Report,
    /// The state of its seal.
    pub seal: Seal,
    /// Its evidence files (screenshots, transcript slices).
    pub evidence: EvidenceIndex,
}

impl RunRecord {
    /// A figure of the declared terminal (`vendor`, `model`, `version`,
    /// `service`), or `-`.
    pub fn terminal(&self, key: &str) -> String {
        terminal_field(&self.report.terminal, key)
    }

    /// When the run started, in JST (`2026-11-28 02:15:00 JST`), or the
    /// recorded text when it is not a valid time.
    pub fn started_jst(&self) -> String {
        jst(&self.report.run.started_at).unwrap_or_else(|| self.report.run.started_at.clone())
    }

    /// True when the run was stopped before its end (`run.status`).
    pub fn aborted(&self) -> bool {
        self.report.run.status == crate::run::runner::RunStatus::Aborted
    }
}

/// A field of the declaration's `[terminal]` table, as text (`-` when absent).
pub fn terminal_field(terminal: &Value, key: &str) -> String {
    match terminal.pointer(&format!("/terminal/{key}")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_string(),
        Some(v) => v.to_string(),
    }
}

/// What became of a run directory's seal, checked as `s301 verify` checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seal {
    /// Every file matches the manifest; the signature is valid, or was not
    /// asked for (no key given).
    Verified(SignatureCheck),
    /// Files differ from the manifest, or the signature does not verify.
    Broken {
        /// The files added, removed or changed.
        differences: Vec<Difference>,
        /// What the signature check found.
        signature: SignatureCheck,
    },
    /// There is no `manifest.json`: the run was never sealed (killed
    /// outright) or the manifest was removed.
    Unsealed,
    /// The manifest (or the signature file) cannot be read or is malformed.
    Unreadable(String),
}

impl Seal {
    /// Checks `dir` against its manifest, and the signature with `key`.
    pub fn check(dir: &Path, key: Option<&VerifyingKey>) -> Seal {
        match integrity::verify(dir, key) {
            Ok(v) if v.is_ok() => Seal::Verified(v.signature),
            Ok(v) => Seal::Broken {
                differences: v.differences,
                signature: v.signature,
            },
            Err(IntegrityError::NoManifest { .. }) => Seal::Unsealed,
            Err(e) => Seal::Unreadable(e.to_string()),
        }
    }

    /// True when the record is as it was sealed.
    pub fn is_verified(&self) -> bool {
        matches!(self, Seal::Verified(_))
    }

    /// A short code: `verified`, `broken`, `unsealed` or `unreadable`.
    pub fn code(&self) -> &'static str {
        match self {
            Seal::Verified(_) => "verified",
            Seal::Broken { .. } => "broken",
            Seal::Unsealed => "unsealed",
            Seal::Unreadable(_) => "unreadable",
        }
    }

    /// The signature's state: `valid`, `unchecked` (present, no key given),
    /// `none`, `missing` (a key was given), `malformed`, `invalid`, or
    /// `unknown` when the manifest itself could not be checked.
    pub fn signature_code(&self) -> &'static str {
        match self {
            Seal::Verified(s) | Seal::Broken { signature: s, .. } => match s {
                SignatureCheck::Valid => "valid",
                SignatureCheck::NotChecked { present: true } => "unchecked",
                SignatureCheck::NotChecked { present: false } => "none",
                SignatureCheck::Missing => "missing",
                SignatureCheck::Malformed(_) => "malformed",
                SignatureCheck::Invalid(_) => "invalid",
            },
            Seal::Unsealed | Seal::Unreadable(_) => "unknown",
        }
    }

    /// One line for a person: what holds and, when it does not, what is wrong.
    pub fn describe(&self) -> String {
        let sig = |s: &SignatureCheck| match s {
            SignatureCheck::Valid => "signature valid".to_string(),
            SignatureCheck::NotChecked { present: true } => {
                "signature present, not checked (no --pubkey)".to_string()
            }
            SignatureCheck::NotChecked { present: false } => "not signed".to_string(),
            SignatureCheck::Missing => {
                format!(
                    "signature missing ({} not found)",
                    integrity::SIGNATURE_FILE
                )
            }
            SignatureCheck::Malformed(why) => format!("signature malformed: {why}"),
            SignatureCheck::Invalid(why) => format!("signature invalid: {why}"),
        };
        match self {
            Seal::Verified(s) => format!("verified: every file matches manifest.json, {}", sig(s)),
            Seal::Broken {
                differences,
                signature,
            } => {
                let mut line = String::from("BROKEN: ");
                if !differences.is_empty() {
                    let shown: Vec<String> =
                        differences.iter().take(3).map(|d| d.to_string()).collect();
                    let more = differences.len().saturating_sub(shown.len());
                    line.push_str(&format!(
                        "{} difference(s) from manifest.json ({}{})",
                        differences.len(),
                        shown
                            .iter()
                            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                            .collect::<Vec<_>>()
                            .join("; "),
                        if more > 0 {
                            format!("; {more} more")
                        } else {
                            String::new()
                        }
                    ));
                    line.push_str(", ");
                }
                line.push_str(&sig(signature));
                line
            }
            Seal::Unsealed => format!(
                "UNSEALED: no {} (the run was never sealed, or the manifest was removed)",
                integrity::MANIFEST_FILE
            ),
            Seal::Unreadable(why) => format!("UNREADABLE seal: {why}"),
        }
    }
}

/// Why a directory could not be read as a run record.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path does not exist or cannot be looked up.
    #[error("{}: {}; give the path of a run directory (the folder holding report.json)", path.display(), crate::config::declaration::io_reason(source))]
    Missing {
        /// The path given.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The path is a file (or something else), not a directory.
    #[error("{}: not a directory; give the run directory, not a file in it", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The directory holds neither `report.json` nor `manifest.json`.
    #[error("{}: not a run directory: it holds neither report.json nor manifest.json", path.display())]
    NotARun {
        /// The directory.
        path: PathBuf,
    },
    /// `report.json` is missing, unreadable or not a report.
    #[error("{}: unreadable record: {reason}", path.display())]
    Unreadable {
        /// The directory.
        path: PathBuf,
        /// What is wrong, naming the file.
        reason: String,
    },
    /// `report.json` is a report of another format version.
    #[error("{}: report format \"{found}\"; this s301 reads \"{FORMAT}\" records only (compare it with the s301 version that wrote it)", path.display())]
    Format {
        /// The directory.
        path: PathBuf,
        /// The `format` the report names.
        found: String,
    },
}

impl LoadError {
    /// True when the path is simply not a run directory (listings skip it
    /// with a note instead of listing it as unreadable).
    pub fn not_a_run(&self) -> bool {
        matches!(
            self,
            LoadError::Missing { .. } | LoadError::NotADirectory { .. } | LoadError::NotARun { .. }
        )
    }
}

/// Reads the run directory `dir`: its report (only [`FORMAT`]) and, with
/// `key` for signed runs, the state of its seal.
pub fn load(dir: &Path, key: Option<&VerifyingKey>) -> Result<RunRecord, LoadError> {
    let report = read_report(dir)?;
    Ok(RunRecord {
        dir: dir.to_path_buf(),
        report,
        seal: Seal::check(dir, key),
        evidence: EvidenceIndex::scan(dir),
    })
}

/// Reads and parses `dir/report.json`, refusing what is not a run
/// directory, unreadable or of another format.
pub fn read_report(dir: &Path) -> Result<Report, LoadError> {
    let meta = std::fs::metadata(dir).map_err(|source| LoadError::Missing {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(LoadError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let path = dir.join(REPORT_FILE);
    let has = |name: &str| std::fs::symlink_metadata(dir.join(name)).is_ok();
    if !has(REPORT_FILE) && !has(integrity::MANIFEST_FILE) {
        return Err(LoadError::NotARun {
            path: dir.to_path_buf(),
        });
    }
    let unreadable = |reason: String| LoadError::Unreadable {
        path: dir.to_path_buf(),
        reason,
    };
    let bytes = crate::config::declaration::read_regular(&path, MAX_REPORT_BYTES)
        .map_err(|e| unreadable(e.to_string()))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| unreadable(format!("{REPORT_FILE} is not JSON: {e}")))?;
    match value.get("format").and_then(Value::as_str) {
        Some(f) if f == FORMAT => {}
        Some(f) => {
            return Err(LoadError::Format {
                path: dir.to_path_buf(),
                found: f.to_string(),
            })
        }
        None => {
            return Err(unreadable(format!(
                "{REPORT_FILE} has no \"format\" member: not an s301 report"
            )))
        }
    }
    serde_json::from_value(value)
        .map_err(|e| unreadable(format!("{REPORT_FILE} is not a valid {FORMAT} report: {e}")))
}

/// Parses an RFC 3339 time as the record writes it.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// An RFC 3339 time shown in Japan Standard Time: `2026-11-28 02:15:00 JST`.
pub fn jst(rfc3339: &str) -> Option<String> {
    let t = parse_time(rfc3339)?.to_offset(JST);
    Some(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} JST",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// `s` with control characters (escape sequences, carriage returns ...)
/// replaced, so text from a record cannot drive the reader's terminal.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
pub(crate) mod tests {
    use super::*;
    use crate::sinks::report::json::{self, tests::scratch_dir};
    use crate::sinks::report::tests::sample_outcome;

    /// A sealed run directory holding the sample report, changed by `edit`.
    pub(crate) fn sample_run(name: &str, edit: impl FnOnce(&mut Report)) -> PathBuf {
        let dir = scratch_dir(name);
        let mut r = Report::from_outcome(&sample_outcome());
        edit(&mut r);
        json::write_report(&dir, &r).unwrap();
        integrity::seal(&dir, None).unwrap();
        dir
    }

    #[test]
    fn jst_is_nine_hours_ahead_across_midnight() {
        assert_eq!(
            jst("2026-11-27T17:15:00.123Z").as_deref(),
            Some("2026-11-28 02:15:00 JST")
        );
        assert_eq!(
            jst("2026-12-31T15:00:00Z").as_deref(),
            Some("2027-01-01 00:00:00 JST")
        );
        assert_eq!(jst("yesterday"), None);
    }

    #[test]
    fn a_sealed_run_loads_and_verifies_and_a_change_breaks_it() {
        let dir = sample_run("history-load", |_| {});
        let rec = load(&dir, None).unwrap();
        assert!(rec.seal.is_verified(), "{}", rec.seal.describe());
        assert_eq!(rec.seal.signature_code(), "none");
        std::fs::write(dir.join("extra.txt"), b"x").unwrap();
        let seal = Seal::check(&dir, None);
        assert_eq!(seal.code(), "broken");
        assert!(
            seal.describe().contains("added: extra.txt"),
            "{}",
            seal.describe()
        );
        std::fs::remove_file(dir.join(integrity::MANIFEST_FILE)).unwrap();
        assert_eq!(Seal::check(&dir, None), Seal::Unsealed);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_is_not_a_readable_run_is_told_apart() {
        let dir = scratch_dir("history-not-runs");
        std::fs::create_dir_all(&dir).unwrap();
        let e = load(&dir.join("absent"), None).unwrap_err();
        assert!(e.not_a_run() && e.to_string().contains("absent"), "{e}");
        std::fs::write(dir.join("file"), b"x").unwrap();
        assert!(matches!(
            load(&dir.join("file"), None),
            Err(LoadError::NotADirectory { .. })
        ));
        assert!(matches!(load(&dir, None), Err(LoadError::NotARun { .. })));
        std::fs::write(dir.join("report.json"), b"{\"format\":").unwrap();
        let e = load(&dir, None).unwrap_err();
        assert!(!e.not_a_run() && e.to_string().contains("not JSON"), "{e}");
        std::fs::write(dir.join("report.json"), b"{\"format\":\"s301-report/9\"}").unwrap();
        let e = load(&dir, None).unwrap_err();
        assert!(e.to_string().contains("s301-report/9"), "{e}");
        std::fs::write(dir.join("report.json"), b"{\"format\":\"s301-report/1\"}").unwrap();
        let e = load(&dir, None).unwrap_err();
        assert!(e.to_string().contains("not a valid"), "{e}");
        std::fs::remove_file(dir.join("report.json")).unwrap();
        std::fs::write(dir.join("manifest.json"), b"{}").unwrap();
        let e = load(&dir, None).unwrap_err();
        assert!(
            !e.not_a_run() && e.to_string().contains("report.json"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(printable("ok\u{1b}[31m\r"), "ok\u{fffd}[31m\u{fffd}");
    }
}
