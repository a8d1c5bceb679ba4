//! `report.json`: serialization and an atomic write, so that a reader (or a
//! crash) never sees half a report.

use std::path::{Path, PathBuf};

use super::Report;

pub use crate::model::files::{exit_removing_temps, stage, write_atomic, Staged};

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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
pub(crate) mod tests {
    use super::*;

    pub(crate) use crate::model::files::tests::scratch_dir;

    #[test]
    fn write_report_creates_the_run_directory() {
        let base = scratch_dir("create");
        let dir = base.join("runs").join("x");
        let r = Report::from_outcome(&crate::sinks::report::tests::sample_outcome());
        let path = write_report(&dir, &r).unwrap();
        assert!(path.ends_with("runs/x/report.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"));
        std::fs::remove_dir_all(base).unwrap();
    }
}
