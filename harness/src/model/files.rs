//! Files of a run directory written so that a reader (or a crash) never
//! sees half of one: [`write_atomic`] and [`stage`] write beside the
//! destination and rename, and [`exit_removing_temps`] leaves no temporary
//! file behind when the process quits in the middle.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The folder of a run directory that holds per-check evidence.
pub const EVIDENCE_DIR: &str = "evidence";

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory is written, flushed to disk and renamed over `path`, then the
/// directory entry is flushed too. The temporary file (`.NAME.PID.tmp`) is
/// removed when anything fails, and by [`exit_removing_temps`] when the
/// process quits in the middle.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    stage(path, bytes)?.commit()
}

/// Temporary files of atomic writes in flight: created and not yet renamed
/// or removed. Creating, renaming and removing one happens under this lock,
/// so [`exit_removing_temps`], which takes it for good, sees them all.
static IN_FLIGHT: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn in_flight() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner())
}

/// The bytes of a file written under a temporary name beside its
/// destination and flushed to disk, waiting for [`Staged::commit`] to
/// rename them into place. Dropped uncommitted, the temporary file is
/// removed.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
}

/// Writes `bytes` for `path` under a temporary name in the same directory
/// and flushes them to disk; nothing is at `path` yet. Test hook point
/// `tmp:NAME` (see [`crate::model::hook`]) is reached once the bytes
/// are on disk.
pub fn stage(path: &Path, bytes: &[u8]) -> std::io::Result<Staged> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".to_string());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = {
        let mut set = in_flight();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        set.insert(tmp.clone());
        f
    };
    let staged = Staged {
        tmp,
        dest: path.to_path_buf(),
        done: false,
    };
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    crate::model::hook::point(&format!("tmp:{name}"));
    Ok(staged)
}

impl Staged {
    /// Where the bytes wait.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Where they go.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Renames the bytes into place, then flushes the directory entry.
    pub fn commit(mut self) -> std::io::Result<()> {
        {
            let mut set = in_flight();
            std::fs::rename(&self.tmp, &self.dest)?;
            set.remove(&self.tmp);
            self.done = true;
        }
        // Make the rename itself durable. Not every platform lets a
        // directory be opened and synced; the data is already safe in the
        // file by now.
        if let Some(d) = self.dest.parent() {
            let d = if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            };
            if let Ok(d) = std::fs::File::open(d) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Removes the temporary file, reporting a failure to do so.
    pub fn discard(mut self) -> std::io::Result<()> {
        self.done = true;
        let mut set = in_flight();
        set.remove(&self.tmp);
        std::fs::remove_file(&self.tmp)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let mut set = in_flight();
            let _ = std::fs::remove_file(&self.tmp);
            set.remove(&self.tmp);
        }
    }
}

/// Ends the process with `code` at once, first removing the temporary
/// files of every atomic write in flight, so that a fast exit (a second
/// Ctrl-C) leaves no `.NAME.PID.tmp` behind. Other threads are stopped
/// from creating or renaming one meanwhile: the lock is never released.
pub fn exit_removing_temps(code: i32) -> ! {
    let set = in_flight();
    for tmp in set.iter() {
        let _ = std::fs::remove_file(tmp);
    }
    std::process::exit(code)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
pub(crate) mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, unique per test and process.
    pub(crate) fn scratch_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("s301-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = scratch_dir("atomic");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["report.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_staged_write_is_tracked_until_committed_or_dropped() {
        let dir = scratch_dir("staged");
        std::fs::create_dir_all(&dir).unwrap();
        let tracked = |p: &Path| in_flight().contains(p);
        let a = stage(&dir.join("a.txt"), b"a").unwrap();
        let a_tmp = a.temp_path().to_path_buf();
        assert!(a_tmp.exists() && tracked(&a_tmp));
        assert!(!dir.join("a.txt").exists());
        a.commit().unwrap();
        assert!(!a_tmp.exists() && !tracked(&a_tmp));
        assert_eq!(std::fs::read(dir.join("a.txt")).unwrap(), b"a");
        let b = stage(&dir.join("b.txt"), b"b").unwrap();
        let b_tmp = b.temp_path().to_path_buf();
        drop(b);
        assert!(!b_tmp.exists() && !tracked(&b_tmp));
        assert!(!dir.join("b.txt").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_into_a_missing_parent_fails_cleanly() {
        let r = write_atomic(Path::new("/nonexistent-s301/dir/report.json"), b"x");
        assert!(r.is_err());
    }
}
