//! `s301 report DIR --format html|junit|md|csv|xlsx|declaration-html [--output FILE]`: produces
//! one output of a run directory again from its `report.json` and
//! `evidence/`, without a terminal.
//!
//! The output goes to stdout, or to `--output FILE`. It is never written
//! into the run directory itself unless asked, so a sealed record stays
//! as it was sealed.
//!
//! Exit status: 0 written; 1 the directory holds no readable report or the
//! output could not be written; 2 an unknown format.

use std::process::ExitCode;

use s301_harness::sinks::report::outputs::{self, EvidenceIndex, Format};

use crate::cli::ReportArgs;
use crate::{EXIT_FAIL, EXIT_PASS, EXIT_USAGE};

/// Runs `s301 report`.
pub fn run(args: &ReportArgs) -> ExitCode {
    let Some(format) = Format::parse(&args.format) else {
        eprintln!(
            "s301: error: unknown format \"{}\"; known formats: html, junit, md, csv, xlsx, declaration-html",
            args.format
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let report = match outputs::load_report(&args.dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("s301 report: {e}");
            return ExitCode::from(EXIT_FAIL);
        }
    };
    let ev = EvidenceIndex::scan(&args.dir);
    let bytes = match outputs::render(format, &report, &ev) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("s301 report: {e}");
            return ExitCode::from(EXIT_FAIL);
        }
    };
    match &args.output {
        Some(path) => match s301_harness::sinks::report::json::write_atomic(path, &bytes) {
            Ok(()) => {
                eprintln!("s301 report: wrote {}", path.display());
                ExitCode::from(EXIT_PASS)
            }
            Err(e) => {
                eprintln!("s301 report: {}: {e}", path.display());
                ExitCode::from(EXIT_FAIL)
            }
        },
        None => {
            crate::out_bytes(&bytes);
            ExitCode::from(EXIT_PASS)
        }
    }
}
