//! `report.json`: serialization and an atomic write, so that a reader (or a
//! crash) never sees half a report.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Report;

/// The report file's name inside the run directory.
pub const REPORT_FILE: &str = "report.json";

/// The report as pretty-printed JSON with a trailing newline.
pub fn to_string(report: &Report) -> String {
    // Serializing plain data with string keys cannot fail; if it ever did,
    // say so in the file rather than panic.
    let mut s = serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\": \"report serialization failed: {e}\"}}"));
    s.push('\n');
    s
}

/// Writes `report.json` into `dir` (created if missing) atomically and
/// returns its path.
pub fn write_report(dir: &Path, report: &Report) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(REPORT_FILE);
    write_atomic(&path, to_string(report).as_bytes())?;
    Ok(path)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory is written, flushed to disk and renamed over `path`, then the
/// directory entry is flushed too.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".to_string());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable. Not every platform lets a directory be
    // opened and synced; the data is already safe in the file by now.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
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
    fn write_report_creates_the_run_directory() {
        let base = scratch_dir("create");
        let dir = base.join("runs").join("x");
        let r = Report::from_outcome(&crate::report::tests::sample_outcome());
        let path = write_report(&dir, &r).unwrap();
        assert!(path.ends_with("runs/x/report.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"));
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn write_into_a_missing_parent_fails_cleanly() {
        let r = write_atomic(Path::new("/nonexistent-s301/dir/report.json"), b"x");
        assert!(r.is_err());
    }
}
