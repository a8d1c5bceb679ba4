//! The 適合宣言 (declaration of conformity, 【参考①】) and the department's
//! check sheet (【参考②】), filled from a run's record.
//!
//! [`form`] fills all 15 rows (from the run's evidence, from TLS-01 joined
//! with the vendor's statement, or from the vendor's `[conformity]`
//! answers); the other modules write them out:
//! - [`md`]: `declaration.md`, the form and the check sheet as Markdown;
//! - [`csv`]: `declaration.csv`, the form's 11 columns, UTF-8 with a BOM;
//! - [`xlsx`]: `declaration.xlsx`, the form laid out as the official one,
//!   merged Lv cells, A4 landscape, and the check sheet on its own sheet;
//! - [`print`]: `declaration.html`, a printable page (A4 landscape), the
//!   check sheet on a page of its own.
//!
//! [`summary`] writes what was measured for the tested rows.

pub mod csv;
pub mod evidence;
pub mod form;
pub mod md;
pub mod print;
pub mod summary;
pub mod tls;
pub mod xlsx;

/// `declaration.md`.
pub const MD_FILE: &str = "declaration.md";
/// `declaration.csv`.
pub const CSV_FILE: &str = "declaration.csv";
/// `declaration.xlsx`.
pub const XLSX_FILE: &str = "declaration.xlsx";
/// `declaration.html`: the printable form and check sheet.
pub const HTML_FILE: &str = "declaration.html";
