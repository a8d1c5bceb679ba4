//! The run directory (`--out DIR`, by default `runs/<run-id>/`), made ready
//! before anything is loaded or run: it must be a directory s301 can
//! write, and it must start empty, because the seal covers every file in it
//! and an earlier run's files would be sealed as this run's evidence.

use std::path::{Path, PathBuf};

use s301_harness::sinks::integrity::MANIFEST_FILE;
use s301_harness::sinks::report::json::{self, REPORT_FILE};

/// The name of the probe file written (and removed) to test the directory.
const PROBE: &str = ".s301-write-test";

/// Why the run directory cannot be used. Every case is a usage error
/// (exit 2): the operator must pick another directory or fix this one.
#[derive(Debug, thiserror::Error)]
pub enum OutDirError {
    /// The directory already holds entries.
    #[error(
        "{}: the run directory already holds {count} file(s) or folder(s) (for example {example}); \
         a run directory must start empty, because its seal covers every file in it. Choose \
         another --out directory, or pass --force to clear this one first",
        path.display()
    )]
    NotEmpty {
        /// The directory.
        path: PathBuf,
        /// How many entries it holds.
        count: usize,
        /// One of them.
        example: String,
    },
    /// The path exists and is not a directory.
    #[error("{}: exists and is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// `--force` on a directory that holds no run record.
    #[error(
        "{}: --force clears only an earlier run directory (one holding {REPORT_FILE} or \
         {MANIFEST_FILE}), and this one holds neither; nothing was removed",
        path.display()
    )]
    NotARunDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// `--force` would remove a file this run reads.
    #[error(
        "{}: --force would remove {}, which this run reads; nothing was removed",
        path.display(),
        input.display()
    )]
    HoldsInput {
        /// The directory.
        path: PathBuf,
        /// The input inside it.
        input: PathBuf,
    },
    /// The directory (or a parent) cannot be created.
    #[error("cannot create the run directory {}: {source}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// The OS reason.
        source: std::io::Error,
    },
    /// A file cannot be written into it.
    #[error("cannot write into the run directory {}: {source}", path.display())]
    Unwritable {
        /// The directory.
        path: PathBuf,
        /// The OS reason.
        source: std::io::Error,
    },
    /// Reading or clearing it failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS reason.
        source: std::io::Error,
    },
}

/// A run directory made ready by [`prepare`]: it exists, is empty apart
/// from what this run writes, and takes files.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    created: bool,
}

/// Makes `path` ready as this run's directory: creates it when missing,
/// refuses it when it holds anything (unless `force`, which first clears
/// a directory holding an earlier run, never one holding any of `inputs`),
/// and proves it takes a file by writing and removing a probe.
pub fn prepare(path: &Path, force: bool, inputs: &[&Path]) -> Result<RunDir, OutDirError> {
    let io = |source| OutDirError::Io {
        path: path.to_path_buf(),
        source,
    };
    let created = match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => false,
        Ok(_) => {
            return Err(OutDirError::NotADirectory {
                path: path.to_path_buf(),
            })
        }
        // Missing, or not reachable: creating it says why in the OS's words.
        Err(_) => {
            std::fs::create_dir_all(path).map_err(|source| OutDirError::Create {
                path: path.to_path_buf(),
                source,
            })?;
            true
        }
    };
    if !created {
        let entries = entries(path).map_err(io)?;
        if let Some(first) = entries.first() {
            if !force {
                return Err(OutDirError::NotEmpty {
                    path: path.to_path_buf(),
                    count: entries.len(),
                    example: first.to_string_lossy().into_owned(),
                });
            }
            refuse_unless_run_directory(path, inputs)?;
            clear(path).map_err(io)?;
        }
    }
    let dir = RunDir {
        path: path.to_path_buf(),
        created,
    };
    let unwritable = |source| OutDirError::Unwritable {
        path: path.to_path_buf(),
        source,
    };
    json::stage(&path.join(PROBE), b"s301 write test\n")
        .and_then(json::Staged::discard)
        .map_err(unwritable)?;
    Ok(dir)
}

impl RunDir {
    /// Undoes [`prepare`] after a setup error (nothing ran): removes what
    /// this run wrote, and the directory itself if this run created it.
    pub fn discard(self) {
        let result = if self.created {
            std::fs::remove_dir_all(&self.path)
        } else {
            clear(&self.path)
        };
        if let Err(e) = result {
            tracing::warn!("{}: not cleaned up: {e}", self.path.display());
        }
    }
}

/// The names of the entries of `dir`, sorted.
fn entries(dir: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir)? {
        names.push(e?.file_name());
    }
    names.sort();
    Ok(names)
}

/// `--force` clears a directory only when it holds a run record and no
/// file this run is about to read.
fn refuse_unless_run_directory(path: &Path, inputs: &[&Path]) -> Result<(), OutDirError> {
    if !path.join(REPORT_FILE).is_file() && !path.join(MANIFEST_FILE).is_file() {
        return Err(OutDirError::NotARunDirectory {
            path: path.to_path_buf(),
        });
    }
    let Ok(dir) = std::fs::canonicalize(path) else {
        return Ok(());
    };
    for input in inputs {
        if let Ok(i) = std::fs::canonicalize(input) {
            if i.starts_with(&dir) {
                return Err(OutDirError::HoldsInput {
                    path: path.to_path_buf(),
                    input: input.to_path_buf(),
                });
            }
        }
    }
    Ok(())
}

/// Removes every entry of `dir` and nothing outside it: a symbolic link is
/// removed itself, never followed; folders go with their contents.
fn clear(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(e.path())?;
        } else {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("s301-out-dir-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_missing_directory_is_created_and_discarded_again() {
        let base = scratch("missing");
        let dir = base.join("runs/x");
        let d = prepare(&dir, false, &[]).unwrap();
        assert!(dir.is_dir());
        assert_eq!(entries(&dir).unwrap().len(), 0, "the probe is removed");
        d.discard();
        assert!(!dir.exists());
        assert!(base.join("runs").is_dir(), "only the run directory goes");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_directory_holding_files_is_refused_without_force() {
        let dir = scratch("full");
        std::fs::write(dir.join("report.json"), b"{}").unwrap();
        let e = prepare(&dir, false, &[]).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, OutDirError::NotEmpty { count: 1, .. }), "{msg}");
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        assert!(msg.contains("--force"), "{msg}");
        assert!(dir.join("report.json").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn force_clears_a_run_directory_without_following_links() {
        let base = scratch("force");
        let dir = base.join("run");
        let outside = base.join("outside");
        std::fs::create_dir_all(dir.join("evidence/ST-02")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep.txt"), b"keep").unwrap();
        std::fs::write(dir.join("report.json"), b"{}").unwrap();
        std::fs::write(dir.join("evidence/ST-02/full.png"), b"png").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("evidence/link")).unwrap();
        let d = prepare(&dir, true, &[]).unwrap();
        assert_eq!(entries(&d.path).unwrap().len(), 0);
        assert_eq!(std::fs::read(outside.join("keep.txt")).unwrap(), b"keep");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn force_refuses_a_directory_that_is_not_a_run_or_holds_an_input() {
        let dir = scratch("not-a-run");
        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        let e = prepare(&dir, true, &[]).unwrap_err();
        assert!(matches!(e, OutDirError::NotARunDirectory { .. }), "{e}");
        std::fs::write(dir.join("report.json"), b"{}").unwrap();
        let input = dir.join("notes.txt");
        let e = prepare(&dir, true, &[&input]).unwrap_err();
        assert!(matches!(e, OutDirError::HoldsInput { .. }), "{e}");
        assert!(input.exists() && dir.join("report.json").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_in_the_way_is_not_a_directory() {
        let base = scratch("file");
        let f = base.join("file");
        std::fs::write(&f, b"x").unwrap();
        assert!(matches!(
            prepare(&f, false, &[]),
            Err(OutDirError::NotADirectory { .. })
        ));
        let e = prepare(&f.join("run"), false, &[]).unwrap_err();
        assert!(matches!(e, OutDirError::Create { .. }), "{e}");
        assert!(e.to_string().contains("Not a directory"), "{e}");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
