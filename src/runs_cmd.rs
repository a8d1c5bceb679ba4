//! `s301 runs [DIR] [--pubkey FILE] [--json]`: the run directories under a
//! folder (default `runs/`), newest first, each with its start time in
//! JST, terminal, scenario, scope, condition verdicts and whether its seal
//! verifies.
//!
//! Exit status: 0 the folder was listed (whatever the runs in it say);
//! 2 the folder cannot be listed or the key file cannot be used.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use s301_harness::sinks::history::list::{self, Entry, Listing, ListingJson};
use s301_harness::sinks::history::{printable, Seal};
use s301_harness::sinks::integrity::{keys, SignatureCheck};

use crate::text::pad;
use crate::{EXIT_PASS, EXIT_USAGE};

/// `s301 runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The folder holding the run directories (or one run directory).
    #[arg(value_name = "DIR", default_value = "runs")]
    pub dir: PathBuf,
    /// Public key file (from `s301 keygen`): also check each run's manifest.sig.
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
    /// Print the listing as JSON (format s301-runs/1, see docs/records.md).
    #[arg(long)]
    pub json: bool,
}

/// Runs `s301 runs`.
pub fn run(args: &RunsArgs) -> ExitCode {
    let key = match &args.pubkey {
        Some(p) => match keys::load_verifying_key(p) {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("s301 runs: error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        None => None,
    };
    let listing = match list::list(&args.dir, key.as_ref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("s301 runs: error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&ListingJson::new(&listing)) {
            Ok(s) => crate::out(&format!("{s}\n")),
            Err(e) => {
                eprintln!("s301 runs: error: cannot serialize the listing: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    } else {
        crate::out(&render(&listing));
    }
    ExitCode::from(EXIT_PASS)
}

/// The judged conditions, then the informational one, as columns.
const CONDITIONS: [&str; 5] = ["1-2-1", "1-2-2", "1-3-1", "1-3-2", "2-2-1"];

fn short_verdict(v: &str) -> &'static str {
    match v {
        "pass" => "pass",
        "fail" => "FAIL",
        "inconclusive" => "incon.",
        "not_applicable" => "n/a",
        "skipped" => "-",
        _ => "?",
    }
}

fn seal_cell(seal: &Seal) -> &'static str {
    match seal {
        Seal::Verified(SignatureCheck::Valid) => "ok, signed",
        Seal::Verified(SignatureCheck::NotChecked { present: true }) => "ok, sig unchecked",
        Seal::Verified(_) => "ok",
        Seal::Broken { .. } => "BROKEN",
        Seal::Unsealed => "UNSEALED",
        Seal::Unreadable(_) => "UNREADABLE",
    }
}

/// The listing as a table, then a note per run that needs one, then what
/// was skipped.
pub fn render(l: &Listing) -> String {
    let head: Vec<String> = [
        "DIR",
        "RUN",
        "STARTED (JST)",
        "TERMINAL",
        "SCENARIO",
        "SCOPE",
        "RECORD",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(CONDITIONS.iter().map(|c| {
        if *c == "2-2-1" {
            format!("{c}*")
        } else {
            c.to_string()
        }
    }))
    .chain(std::iter::once("SEAL".to_string()))
    .collect();
    let mut rows: Vec<Vec<String>> = vec![head];
    let mut notes: Vec<String> = Vec::new();
    for e in &l.entries {
        let dir = printable(&e.dir().display().to_string());
        let mut row = vec![dir.clone()];
        match e {
            Entry::Run(r) => {
                let run = &r.report.run;
                row.push(printable(&run.id));
                row.push(r.started_jst());
                row.push(printable(&format!(
                    "{} {} {}",
                    r.terminal("vendor"),
                    r.terminal("model"),
                    r.terminal("version")
                )));
                row.push(printable(&run.scenario));
                row.push(if run.partial { "partial" } else { "full" }.to_string());
                // An aborted record must stand out from the completed ones.
                row.push(if r.aborted() { "ABORTED" } else { "completed" }.to_string());
                for c in CONDITIONS {
                    let v = r
                        .report
                        .conditions
                        .iter()
                        .find(|x| x.id.as_str() == c)
                        .map_or("-", |x| short_verdict(x.verdict.as_str()));
                    row.push(v.to_string());
                }
                if r.aborted() {
                    notes.push(format!(
                        "{dir}: ABORTED: {}",
                        printable(run.abort_reason.as_deref().unwrap_or("no reason recorded"))
                    ));
                }
            }
            Entry::Unreadable { reason, .. } => {
                row.extend(["-", "-", "-", "-", "-", "UNREADABLE"].map(String::from));
                row.extend(CONDITIONS.iter().map(|_| "?".to_string()));
                notes.push(format!("{dir}: UNREADABLE record: {}", printable(reason)));
            }
        }
        row.push(seal_cell(e.seal()).to_string());
        if !e.seal().is_verified() {
            notes.push(format!("{dir}: seal {}", printable(&e.seal().describe())));
        }
        rows.push(row);
    }
    let mut s = String::new();
    if l.entries.is_empty() {
        let _ = writeln!(
            s,
            "no run directories under {}",
            printable(&l.dir.display().to_string())
        );
    } else {
        let cols = rows.first().map_or(0, Vec::len);
        let widths: Vec<usize> = (0..cols)
            .map(|i| {
                rows.iter()
                    .map(|r| r.get(i).map_or(0, |c| crate::text::width(c)))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for r in &rows {
            let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| pad(c, *w)).collect();
            let _ = writeln!(s, "{}", line.join("  ").trim_end());
        }
        let _ = writeln!(
            s,
            "(newest first; - not run, incon. inconclusive, * informational; SEAL as `s301 verify` judges it)"
        );
    }
    for n in notes {
        let _ = writeln!(s, "  {n}");
    }
    for k in &l.skipped {
        let _ = writeln!(
            s,
            "  skipped {}: {}",
            printable(&k.path.display().to_string()),
            printable(&k.reason)
        );
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn dir_defaults_to_runs() {
        let Command::Runs(a) = Cli::parse_from(["s301", "runs"]).command else {
            panic!("not runs")
        };
        assert_eq!(a.dir, std::path::PathBuf::from("runs"));
        assert!(!a.json && a.pubkey.is_none());
        let Command::Runs(a) =
            Cli::parse_from(["s301", "runs", "x", "--json", "--pubkey", "k.pub"]).command
        else {
            panic!("not runs")
        };
        assert!(a.json && a.dir.ends_with("x"));
    }
}
