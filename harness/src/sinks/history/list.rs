//! Every run directory under a folder, newest first, with its verdicts and
//! the state of its seal; and the machine-readable form of that listing
//! ([`ListingJson`], format [`LISTING_FORMAT`]).
//!
//! Entries that are not run directories (files, links, folders without
//! `report.json` or `manifest.json`) are skipped with a note. A run
//! directory whose record cannot be read is listed as unreadable, an
//! aborted run as aborted: neither ever reads as passing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use super::{load, parse_time, LoadError, RunRecord, Seal};

/// The `format` of `s301 runs --json`.
pub const LISTING_FORMAT: &str = "s301-runs/1";

/// Most entries of a folder looked at.
pub const MAX_ENTRIES: usize = 10_000;

/// One run directory of a listing.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A record that could be read (completed or aborted).
    Run(Box<RunRecord>),
    /// A run directory whose `report.json` cannot be used.
    Unreadable {
        /// The directory.
        dir: PathBuf,
        /// Why, naming the file.
        reason: String,
        /// Its seal, checked all the same.
        seal: Seal,
    },
}

impl Entry {
    /// `completed`, `aborted` or `unreadable`.
    pub fn state(&self) -> &'static str {
        match self {
            Entry::Run(r) if r.aborted() => "aborted",
            Entry::Run(_) => "completed",
            Entry::Unreadable { .. } => "unreadable",
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        match self {
            Entry::Run(r) => &r.dir,
            Entry::Unreadable { dir, .. } => dir,
        }
    }

    /// The seal's state.
    pub fn seal(&self) -> &Seal {
        match self {
            Entry::Run(r) => &r.seal,
            Entry::Unreadable { seal, .. } => seal,
        }
    }
}

/// Something under the folder that is not a run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its path.
    pub path: PathBuf,
    /// Why it is not listed.
    pub reason: String,
}

/// The runs under a folder.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The folder.
    pub dir: PathBuf,
    /// Run directories, newest first; unreadable ones after the rest.
    pub entries: Vec<Entry>,
    /// What was not listed, by name.
    pub skipped: Vec<Skipped>,
}

/// Why a folder could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The folder does not exist or cannot be read.
    #[error("{}: {}; give the folder holding the run directories (default runs/)", path.display(), crate::config::declaration::io_reason(source))]
    Read {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The path is not a folder.
    #[error("{}: not a directory; give the folder holding the run directories", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
}

/// Lists the run directories under `dir` (or `dir` alone, when it is a run
/// directory itself), checking each seal with `key` for signed runs.
pub fn list(dir: &Path, key: Option<&VerifyingKey>) -> Result<Listing, ListError> {
    let meta = std::fs::metadata(dir).map_err(|source| ListError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(ListError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let mut listing = Listing {
        dir: dir.to_path_buf(),
        entries: Vec::new(),
        skipped: Vec::new(),
    };
    let is_run = |d: &Path| {
        ["report.json", crate::sinks::integrity::MANIFEST_FILE]
            .iter()
            .any(|f| std::fs::symlink_metadata(d.join(f)).is_ok())
    };
    if is_run(dir) {
        push(&mut listing, dir.to_path_buf(), key);
        return Ok(listing);
    }
    let read = std::fs::read_dir(dir).map_err(|source| ListError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut children: Vec<PathBuf> = Vec::new();
    for e in read {
        let e = e.map_err(|source| ListError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        if children.len() >= MAX_ENTRIES {
            listing.skipped.push(Skipped {
                path: dir.to_path_buf(),
                reason: format!("more than {MAX_ENTRIES} entries: the rest were not looked at"),
            });
            break;
        }
        children.push(e.path());
    }
    children.sort();
    for path in children {
        let kind = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => Some("a symbolic link (not followed)"),
            Ok(m) if !m.is_dir() => Some("not a directory"),
            Ok(_) => None,
            Err(_) => Some("cannot be looked up"),
        };
        if let Some(why) = kind {
            listing.skipped.push(Skipped {
                path,
                reason: why.to_string(),
            });
            continue;
        }
        push(&mut listing, path, key);
    }
    sort_newest_first(&mut listing.entries);
    Ok(listing)
}

fn push(listing: &mut Listing, path: PathBuf, key: Option<&VerifyingKey>) {
    match load(&path, key) {
        Ok(r) => listing.entries.push(Entry::Run(Box::new(r))),
        Err(e) if e.not_a_run() => listing.skipped.push(Skipped {
            path,
            reason: match e {
                LoadError::NotARun { .. } => {
                    "not a run directory (neither report.json nor manifest.json)".to_string()
                }
                other => other.to_string(),
            },
        }),
        Err(e) => {
            let reason = match &e {
                LoadError::Unreadable { reason, .. } => reason.clone(),
                other => other.to_string(),
            };
            listing.entries.push(Entry::Unreadable {
                seal: Seal::check(&path, key),
                dir: path,
                reason,
            });
        }
    }
}

/// Newest start time first; records without a readable start time after
/// them, by directory name, last first.
fn sort_newest_first(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        let t = |e: &Entry| match e {
            Entry::Run(r) => parse_time(&r.report.run.started_at),
            Entry::Unreadable { .. } => None,
        };
        match (t(a), t(b)) {
            (Some(x), Some(y)) => y.cmp(&x).then_with(|| b.dir().cmp(a.dir())),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => b.dir().cmp(a.dir()),
        }
    });
}

/// `s301 runs --json`: the listing, machine-readable.
#[derive(Debug, Clone, Serialize)]
pub struct ListingJson {
    /// Always [`LISTING_FORMAT`].
    pub format: &'static str,
    /// The folder listed.
    pub dir: String,
    /// Run directories, newest first.
    pub runs: Vec<RunJson>,
    /// Entries that are not run directories.
    pub skipped: Vec<SkippedJson>,
}

/// One run of [`ListingJson`].
#[derive(Debug, Clone, Serialize)]
pub struct RunJson {
    /// The run directory.
    pub dir: String,
    /// `completed`, `aborted` or `unreadable`.
    pub record: &'static str,
    /// Why the record is unreadable, or why the run was aborted.
    pub problem: Option<String>,
    /// Run id (`null` when unreadable, like every field below but `seal`).
    pub id: Option<String>,
    /// Start time as recorded (RFC 3339, UTC).
    pub started_at: Option<String>,
    /// Start time in JST (`2026-11-28 02:15:00 JST`).
    pub started_jst: Option<String>,
    /// The declared terminal.
    pub terminal: Option<TerminalJson>,
    /// The scenario's name.
    pub scenario: Option<String>,
    /// True when `--only`/`--skip` narrowed the run.
    pub partial: Option<bool>,
    /// Condition id to its verdict, as recorded.
    pub conditions: BTreeMap<String, ConditionJson>,
    /// The seal.
    pub seal: SealJson,
}

/// The declared terminal's identity.
#[derive(Debug, Clone, Serialize)]
pub struct TerminalJson {
    /// `[terminal] vendor`.
    pub vendor: String,
    /// `[terminal] model`.
    pub model: String,
    /// `[terminal] version`.
    pub version: String,
}

/// A condition's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ConditionJson {
    /// `pass`, `fail`, `inconclusive`, `not_applicable` or `skipped` (not run).
    pub verdict: String,
    /// Reported for information only (2-2-1).
    pub informational: bool,
}

/// The seal, checked as `s301 verify` checks it.
#[derive(Debug, Clone, Serialize)]
pub struct SealJson {
    /// True only when every file matches and the signature (if a key was
    /// given) verifies.
    pub ok: bool,
    /// `verified`, `broken`, `unsealed` or `unreadable`.
    pub status: &'static str,
    /// `valid`, `unchecked`, `none`, `missing`, `malformed`, `invalid` or `unknown`.
    pub signature: &'static str,
    /// One line for a person.
    pub detail: String,
}

/// A skipped entry.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedJson {
    /// Its path.
    pub path: String,
    /// Why it was not listed.
    pub reason: String,
}

impl ListingJson {
    /// The machine-readable form of `l`.
    pub fn new(l: &Listing) -> ListingJson {
        ListingJson {
            format: LISTING_FORMAT,
            dir: l.dir.display().to_string(),
            runs: l.entries.iter().map(run_json).collect(),
            skipped: l
                .skipped
                .iter()
                .map(|s| SkippedJson {
                    path: s.path.display().to_string(),
                    reason: s.reason.clone(),
                })
                .collect(),
        }
    }
}

fn run_json(e: &Entry) -> RunJson {
    let seal = e.seal();
    let seal = SealJson {
        ok: seal.is_verified(),
        status: seal.code(),
        signature: seal.signature_code(),
        detail: seal.describe(),
    };
    let dir = e.dir().display().to_string();
    match e {
        Entry::Unreadable { reason, .. } => RunJson {
            dir,
            record: e.state(),
            problem: Some(reason.clone()),
            id: None,
            started_at: None,
            started_jst: None,
            terminal: None,
            scenario: None,
            partial: None,
            conditions: BTreeMap::new(),
            seal,
        },
        Entry::Run(r) => RunJson {
            dir,
            record: e.state(),
            problem: r.aborted().then(|| {
                r.report
                    .run
                    .abort_reason
                    .clone()
                    .unwrap_or_else(|| "aborted (no reason recorded)".to_string())
            }),
            id: Some(r.report.run.id.clone()),
            started_at: Some(r.report.run.started_at.clone()),
            started_jst: super::jst(&r.report.run.started_at),
            terminal: Some(TerminalJson {
                vendor: r.terminal("vendor"),
                model: r.terminal("model"),
                version: r.terminal("version"),
            }),
            scenario: Some(r.report.run.scenario.clone()),
            partial: Some(r.report.run.partial),
            conditions: r
                .report
                .conditions
                .iter()
                .map(|c| {
                    (
                        c.id.as_str().to_string(),
                        ConditionJson {
                            verdict: c.verdict.as_str().to_string(),
                            informational: c.informational || c.id.informational(),
                        },
                    )
                })
                .collect(),
            seal,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::model::files::tests::scratch_dir;
    use crate::run::runner::RunStatus;
    use crate::sinks::history::tests::sample_run;

    #[test]
    fn runs_are_listed_newest_first_and_the_rest_noted() {
        let root = scratch_dir("history-list");
        std::fs::create_dir_all(&root).unwrap();
        let older = sample_run("history-list-older", |r| {
            r.run.started_at = "2026-11-27T10:00:00.000Z".into();
        });
        let newer = sample_run("history-list-newer", |r| {
            r.run.id = "newer".into();
            r.run.started_at = "2026-11-28T10:00:00.000Z".into();
            r.run.status = RunStatus::Aborted;
            r.run.abort_reason = Some("operator pressed Ctrl-C".into());
        });
        std::fs::rename(&older, root.join("b-older")).unwrap();
        std::fs::rename(&newer, root.join("a-newer")).unwrap();
        std::fs::create_dir_all(root.join("c-garbled")).unwrap();
        std::fs::write(root.join("c-garbled/report.json"), b"not json").unwrap();
        std::fs::create_dir_all(root.join("d-empty")).unwrap();
        std::fs::write(root.join("notes.txt"), b"x").unwrap();
        let l = list(&root, None).unwrap();
        let names: Vec<String> = l
            .entries
            .iter()
            .map(|e| e.dir().file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a-newer", "b-older", "c-garbled"]);
        let states: Vec<&str> = l.entries.iter().map(Entry::state).collect();
        assert_eq!(states, ["aborted", "completed", "unreadable"]);
        assert_eq!(l.entries[2].seal().code(), "unsealed");
        assert!(l.entries[0].seal().is_verified());
        let skipped: Vec<String> = l
            .skipped
            .iter()
            .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(skipped, ["d-empty", "notes.txt"]);
        let j = serde_json::to_value(ListingJson::new(&l)).unwrap();
        assert_eq!(j["format"], LISTING_FORMAT);
        assert_eq!(j["runs"][0]["record"], "aborted");
        assert_eq!(j["runs"][0]["problem"], "operator pressed Ctrl-C");
        assert_eq!(j["runs"][0]["started_jst"], "2026-11-28 19:00:00 JST");
        assert_eq!(j["runs"][1]["conditions"]["1-2-1"]["verdict"], "fail");
        assert_eq!(j["runs"][1]["conditions"]["2-2-1"]["informational"], true);
        assert_eq!(j["runs"][2]["id"], serde_json::Value::Null);
        assert_eq!(j["runs"][2]["seal"]["ok"], false);
        // A run directory given directly is listed alone.
        let one = list(&root.join("b-older"), None).unwrap();
        assert_eq!(one.entries.len(), 1);
        assert!(list(&root.join("notes.txt"), None).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
