//! The human and CI outputs of a run directory, derived from `report.json`
//! and the evidence folders: `junit.xml`, `report.html`, and the 適合宣言 as
//! `declaration.md`, `declaration.csv`, `declaration.xlsx` and the printable
//! `declaration.html` (with the check sheet). [`stage_all`] renders and stages them all at the end of
//! a run, for the seal to put in place; [`write_all`] writes them at once;
//! [`render`] produces one of them again for `s301 report`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{declaration, html, json, junit, Report};

/// The evidence folder inside a run directory.
pub use crate::model::files::EVIDENCE_DIR;

/// Upper bound on the PNG bytes embedded into one `report.html`; images past
/// it are linked instead of embedded, so the page stays printable.
pub const MAX_EMBEDDED_BYTES: u64 = 64 * 1024 * 1024;

/// One output format of `s301 report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `report.html`.
    Html,
    /// `junit.xml`.
    Junit,
    /// `declaration.md`.
    Md,
    /// `declaration.csv`.
    Csv,
    /// `declaration.xlsx`.
    Xlsx,
    /// `declaration.html`: the printable form and check sheet.
    DeclarationHtml,
}

impl Format {
    /// Every format, in the order [`write_all`] writes them.
    pub const ALL: [Format; 6] = [
        Format::Junit,
        Format::Md,
        Format::Csv,
        Format::Xlsx,
        Format::DeclarationHtml,
        Format::Html,
    ];

    /// The file this format is written to in the run directory.
    pub fn file_name(&self) -> &'static str {
        match self {
            Format::Html => html::HTML_FILE,
            Format::Junit => junit::JUNIT_FILE,
            Format::Md => declaration::MD_FILE,
            Format::Csv => declaration::CSV_FILE,
            Format::Xlsx => declaration::XLSX_FILE,
            Format::DeclarationHtml => declaration::HTML_FILE,
        }
    }

    /// Parses `html`, `junit`, `md`, `csv`, `xlsx` or `declaration-html`.
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "html" => Some(Format::Html),
            "junit" | "xml" => Some(Format::Junit),
            "md" | "markdown" => Some(Format::Md),
            "csv" => Some(Format::Csv),
            "xlsx" | "excel" => Some(Format::Xlsx),
            "declaration-html" | "declaration.html" => Some(Format::DeclarationHtml),
            _ => None,
        }
    }
}

/// The evidence files found under `evidence/`: per check id, the files of
/// its folder (relative to the run directory, `/`-separated, sorted).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvidenceIndex {
    /// Check id (`"ST-02"`) to its files.
    pub by_check: BTreeMap<String, Vec<String>>,
    /// Where the run directory is (to read images for embedding); `None`
    /// for an index built in memory.
    pub root: Option<PathBuf>,
}

impl EvidenceIndex {
    /// Scans `dir/evidence/<CHECK>/`; a missing folder gives an empty index.
    /// Only folders named like a check id and plain files are listed.
    pub fn scan(dir: &Path) -> EvidenceIndex {
        let mut by_check = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(dir.join(EVIDENCE_DIR)) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let Some(id) = crate::model::ids::CheckId::parse(&name) else {
                    continue;
                };
                if id.as_str() != name {
                    continue;
                }
                let mut files: Vec<String> = std::fs::read_dir(e.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|f| f.file_type().map(|t| t.is_file()).unwrap_or(false))
                    .map(|f| format!("{EVIDENCE_DIR}/{name}/{}", f.file_name().to_string_lossy()))
                    .collect();
                files.sort();
                by_check.insert(name, files);
            }
        }
        EvidenceIndex {
            by_check,
            root: Some(dir.to_path_buf()),
        }
    }

    /// The files of one check (empty when it has none).
    pub fn files_of(&self, check: &str) -> Vec<String> {
        self.by_check.get(check).cloned().unwrap_or_default()
    }

    /// The PNG screenshots of one check.
    pub fn images_of(&self, check: &str) -> Vec<String> {
        self.files_of(check)
            .into_iter()
            .filter(|f| f.ends_with(".png"))
            .collect()
    }
}

/// Why an output could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// `report.json` is missing, unreadable, too large or no regular file.
    #[error("{0}")]
    Input(crate::config::declaration::InputFileError),
    /// `report.json` is not a report.
    #[error("{path}: not an s301 report: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// The JUnit serializer failed.
    #[error("junit.xml: {0}")]
    Junit(String),
    /// The workbook writer failed.
    #[error("declaration.xlsx: {0}")]
    Xlsx(String),
    /// Writing an output failed.
    #[error("{path}: {}", crate::config::declaration::io_reason(source))]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Renders one output for `report` with the evidence `ev`, as bytes.
pub fn render(format: Format, report: &Report, ev: &EvidenceIndex) -> Result<Vec<u8>, OutputError> {
    Ok(match format {
        Format::Html => html::render(report, ev).into_bytes(),
        Format::Junit => junit::render(report)
            .map_err(|e| OutputError::Junit(e.to_string()))?
            .into_bytes(),
        Format::Md => declaration::md::render(report, ev).into_bytes(),
        Format::Csv => declaration::csv::render(report, ev).into_bytes(),
        Format::Xlsx => {
            declaration::xlsx::render(report, ev).map_err(|e| OutputError::Xlsx(e.to_string()))?
        }
        Format::DeclarationHtml => declaration::print::render(report, ev).into_bytes(),
    })
}

/// Writes every output into `dir` (atomically, one file at a time) and
/// returns their paths.
pub fn write_all(dir: &Path, report: &Report) -> Result<Vec<PathBuf>, OutputError> {
    let mut written = Vec::new();
    for s in stage_all(dir, report)? {
        let path = s.dest().to_path_buf();
        s.commit().map_err(|source| OutputError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// Renders every output and stages it in `dir` (written and flushed under
/// a temporary name, see [`json::stage`]) without putting any in place, in
/// the order of [`Format::ALL`]: the end of a run renames them only once
/// the seal covers them. On an error the outputs staged so far are removed.
pub fn stage_all(dir: &Path, report: &Report) -> Result<Vec<json::Staged>, OutputError> {
    let ev = EvidenceIndex::scan(dir);
    let mut staged = Vec::new();
    for f in Format::ALL {
        let bytes = render(f, report, &ev)?;
        let path = dir.join(f.file_name());
        let s = json::stage(&path, &bytes).map_err(|source| OutputError::Write { path, source })?;
        staged.push(s);
    }
    Ok(staged)
}

/// Reads `dir/report.json` (bounded: a report past 256 MiB is refused).
pub fn load_report(dir: &Path) -> Result<Report, OutputError> {
    let path = dir.join(json::REPORT_FILE);
    let bytes = crate::config::declaration::read_regular(&path, 256 * 1024 * 1024)
        .map_err(OutputError::Input)?;
    serde_json::from_slice(&bytes).map_err(|source| OutputError::Parse {
        path: path.clone(),
        source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::sinks::report::tests::sample_outcome;

    #[test]
    fn write_all_then_regenerate_gives_the_same_files() {
        let dir = json::tests::scratch_dir("outputs-regen");
        let r = Report::from_outcome(&sample_outcome());
        json::write_report(&dir, &r).unwrap();
        std::fs::create_dir_all(dir.join("evidence/ST-02")).unwrap();
        std::fs::write(dir.join("evidence/ST-02/full.png"), b"x").unwrap();
        std::fs::create_dir_all(dir.join("evidence/not-a-check")).unwrap();
        let paths = write_all(&dir, &r).unwrap();
        assert_eq!(paths.len(), Format::ALL.len());
        let ev = EvidenceIndex::scan(&dir);
        assert_eq!(ev.by_check.len(), 1);
        assert_eq!(ev.images_of("ST-02"), ["evidence/ST-02/full.png"]);
        let loaded = load_report(&dir).unwrap();
        for f in Format::ALL {
            let on_disk = std::fs::read(dir.join(f.file_name())).unwrap();
            assert_eq!(render(f, &loaded, &ev).unwrap(), on_disk, "{f:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn staged_outputs_are_not_in_place_until_committed() {
        let dir = json::tests::scratch_dir("outputs-staged");
        let r = Report::from_outcome(&sample_outcome());
        json::write_report(&dir, &r).unwrap();
        let staged = stage_all(&dir, &r).unwrap();
        assert_eq!(staged.len(), Format::ALL.len());
        for f in Format::ALL {
            assert!(!dir.join(f.file_name()).exists(), "{f:?}");
        }
        drop(staged);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["report.json"],
            "dropped staged outputs leave nothing"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn formats_parse_and_unknown_is_refused() {
        assert_eq!(Format::parse("HTML"), Some(Format::Html));
        assert_eq!(Format::parse("junit"), Some(Format::Junit));
        assert_eq!(Format::parse("xlsx"), Some(Format::Xlsx));
        assert_eq!(
            Format::parse("declaration-html"),
            Some(Format::DeclarationHtml)
        );
        assert_eq!(Format::parse("pdf"), None);
    }

    #[test]
    fn missing_report_is_a_read_error_naming_the_file() {
        let dir = json::tests::scratch_dir("outputs-missing");
        let e = load_report(&dir).unwrap_err();
        assert!(e.to_string().contains("report.json"), "{e}");
    }
}
