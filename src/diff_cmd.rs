//! `s301 diff OLD NEW [--html FILE] [--pubkey FILE] [--unsealed]`: sets a
//! run beside an earlier one — verdict changes (regressions first), the
//! declaration key by key, measured figures, screenshots — as text on
//! stdout and, with `--html`, as the printable page
//! 「仕様変更に伴う適合状況の報告」.
//!
//! Both seals must verify (as `s301 verify` checks them) unless
//! `--unsealed` is given; both outputs then say so at the top.
//!
//! Exit status: 0 nothing got worse; 1 a condition or check regressed;
//! 2 usage error: a directory is missing, not a run, unreadable or of
//! another report format, a seal does not verify (without `--unsealed`),
//! the key file cannot be used, or the page cannot be written where asked.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use s301_harness::sinks::history::compare::{compare, Change, Comparison, VerdictChange};
use s301_harness::sinks::history::figures::number;
use s301_harness::sinks::history::html::{self, screenshot_pairs, Page, TITLE_EN, TITLE_JA};
use s301_harness::sinks::history::{self, printable, RunRecord};
use s301_harness::sinks::integrity::keys;

use crate::text::{one_line, pad};
use crate::{EXIT_FAIL, EXIT_PASS, EXIT_USAGE};

/// Longest check detail shown per line.
const DETAIL_CHARS: usize = 160;

/// `s301 diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier run directory.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The later run directory.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Also write the printable comparison page (one self-contained HTML file) here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Public key file (from `s301 keygen`): the runs' signatures must verify with it.
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
    /// Compare even when a seal does not verify; both outputs then say so at the top.
    #[arg(long)]
    pub unsealed: bool,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("s301 diff: error: {msg}");
    ExitCode::from(EXIT_USAGE)
}

/// Runs `s301 diff`.
pub fn run(args: &DiffArgs) -> ExitCode {
    let key = match &args.pubkey {
        Some(p) => match keys::load_verifying_key(p) {
            Ok(k) => Some(k),
            Err(e) => return usage(&e.to_string()),
        },
        None => None,
    };
    let mut loaded = Vec::new();
    for (side, dir) in [("OLD", &args.old), ("NEW", &args.new)] {
        match history::load(dir, key.as_ref()) {
            Ok(r) => loaded.push(r),
            Err(e) => return usage(&format!("{side} {e}")),
        }
    }
    let [old, new] = match <[RunRecord; 2]>::try_from(loaded) {
        Ok(pair) => pair,
        Err(_) => return usage("internal: expected two records"),
    };
    let unsealed: Vec<String> = [("OLD", &old), ("NEW", &new)]
        .iter()
        .filter(|(_, r)| !r.seal.is_verified())
        .map(|(side, r)| format!("{side} {}: {}", r.dir.display(), r.seal.describe()))
        .collect();
    if !unsealed.is_empty() && !args.unsealed {
        return usage(&format!(
            "refusing to compare records whose seal does not verify:\n  {}\n\
Check them with `s301 verify DIR`; give --unsealed to compare anyway (both outputs then say the seals were not verified).",
            printable(&unsealed.join("\n  "))
        ));
    }
    if let Some(path) = &args.html {
        if let Some(dir) = inside_run(path, &[&old.dir, &new.dir]) {
            return usage(&format!(
                "--html {}: that is inside the run directory {}, whose seal it would break; write the page elsewhere",
                path.display(),
                dir.display()
            ));
        }
    }
    let cmp = compare(&old.report, &new.report);
    let text = render(&old, &new, &cmp, &unsealed);
    crate::out(&text);
    if let Some(path) = &args.html {
        let page = html::render(&Page {
            old: &old,
            new: &new,
            comparison: &cmp,
            unsealed: &unsealed,
        });
        if let Err(e) = s301_harness::sinks::report::json::write_atomic(path, page.as_bytes()) {
            return usage(&format!(
                "--html {}: cannot write: {}",
                path.display(),
                s301_harness::config::declaration::io_reason(&e)
            ));
        }
        eprintln!("s301 diff: wrote {}", path.display());
    }
    if cmp.has_regression() {
        ExitCode::from(EXIT_FAIL)
    } else {
        ExitCode::from(EXIT_PASS)
    }
}

/// The run directory among `dirs` that `path` would be written into.
fn inside_run<'a>(path: &Path, dirs: &[&'a PathBuf]) -> Option<&'a PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent = parent.canonicalize().ok()?;
    dirs.iter()
        .copied()
        .find(|d| d.canonicalize().is_ok_and(|d| parent.starts_with(d)))
}

fn run_line(side: &str, r: &RunRecord) -> String {
    let run = &r.report.run;
    printable(&format!(
        "  {side}  {}  run {}, started {}, terminal {} {} {}, scenario {}, {}, {}, seal {}",
        r.dir.display(),
        run.id,
        r.started_jst(),
        r.terminal("vendor"),
        r.terminal("model"),
        r.terminal("version"),
        run.scenario,
        if run.partial { "partial" } else { "full" },
        run.status.as_str(),
        r.seal.code()
    ))
}

fn verdict_line(s: &mut String, v: &VerdictChange, with_detail: bool) {
    let label = if v.informational && v.change == Change::Regression {
        "regression (info)".to_string()
    } else {
        v.change.en().to_string()
    };
    let id = if v.id == v.condition {
        v.id.clone()
    } else {
        format!("{} ({})", v.id, v.condition)
    };
    let mut line = format!(
        "  {} {} {} → {}",
        pad(&label, 17),
        pad(&printable(&id), 14),
        v.old.replace('_', " "),
        v.new.replace('_', " ")
    );
    if v.id == v.condition {
        if let Some(t) = s301_harness::model::ids::conditions()
            .iter()
            .find(|t| t.no == v.id)
        {
            let _ = write!(line, "   {} / {}", t.viewpoint_ja, t.viewpoint_en);
        }
    }
    if with_detail && !v.detail.is_empty() && v.change != Change::NotRunNow {
        let _ = write!(line, "   {}", printable(&one_line(&v.detail, DETAIL_CHARS)));
    }
    let _ = writeln!(s, "{line}");
}

/// The text comparison.
pub fn render(old: &RunRecord, new: &RunRecord, c: &Comparison, unsealed: &[String]) -> String {
    let mut s = String::new();
    let warn = |s: &mut String| {
        for line in unsealed {
            let _ = writeln!(s, "!! SEAL NOT VERIFIED (--unsealed): {}", printable(line));
        }
    };
    let _ = writeln!(s, "s301 diff: {TITLE_JA} / {TITLE_EN}");
    warn(&mut s);
    let _ = writeln!(s, "{}", run_line("OLD", old));
    let _ = writeln!(s, "{}", run_line("NEW", new));
    let regressions: Vec<&str> = c.regressions().map(|r| r.id.as_str()).collect();
    let _ = writeln!(s);
    if regressions.is_empty() {
        let _ = writeln!(
            s,
            "Result: no regression; {} improvement(s)",
            c.count(Change::Improvement)
        );
    } else {
        let _ = writeln!(
            s,
            "Result: {} REGRESSION(S): {}; {} improvement(s)",
            regressions.len(),
            printable(&regressions.join(", ")),
            c.count(Change::Improvement)
        );
    }
    for n in &c.notes {
        let _ = writeln!(s, "  note: {}", printable(n));
    }
    let _ = writeln!(s, "\nConditions");
    for v in &c.conditions {
        verdict_line(&mut s, v, false);
    }
    let changed: Vec<&VerdictChange> = c
        .checks
        .iter()
        .filter(|v| v.change != Change::Unchanged)
        .collect();
    let _ = writeln!(
        s,
        "\nChecks ({} changed, {} unchanged not shown)",
        changed.len(),
        c.checks.len() - changed.len()
    );
    for v in changed {
        verdict_line(&mut s, v, true);
    }
    let _ = writeln!(s, "\nDeclaration ({} key(s) changed)", c.declaration.len());
    let kw = c
        .declaration
        .iter()
        .map(|d| crate::text::width(&d.key))
        .max()
        .unwrap_or(0);
    for d in &c.declaration {
        let _ = writeln!(
            s,
            "  {}  {} → {}",
            pad(&printable(&d.key), kw),
            printable(d.old.as_deref().unwrap_or("(absent)")),
            printable(d.new.as_deref().unwrap_or("(absent)"))
        );
    }
    let _ = writeln!(s, "\nMeasured figures");
    let labels: Vec<String> = c.figures.iter().map(|r| r.figure.label()).collect();
    let lw = labels
        .iter()
        .map(|l| crate::text::width(l))
        .max()
        .unwrap_or(0);
    if !c.figures.is_empty() {
        let _ = writeln!(s, "  {}  {:>10}  {:>10}  change", pad("", lw), "OLD", "NEW");
    }
    for (r, label) in c.figures.iter().zip(&labels) {
        let _ = writeln!(
            s,
            "  {}  {:>10}  {:>10}  {}",
            pad(label, lw),
            number(r.old),
            number(r.new),
            r.change_text()
        );
    }
    let pairs = screenshot_pairs(&old.evidence, &new.evidence);
    let _ = writeln!(
        s,
        "\nScreenshots ({} pair(s); side by side with --html)",
        pairs.len()
    );
    for p in pairs {
        let _ = writeln!(
            s,
            "  {} {}: OLD {}, NEW {}",
            p.check,
            printable(&p.name),
            printable(p.old.as_deref().unwrap_or("none")),
            printable(p.new.as_deref().unwrap_or("none"))
        );
    }
    if !unsealed.is_empty() {
        let _ = writeln!(s);
        warn(&mut s);
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn diff_takes_two_dirs_and_options() {
        let Command::Diff(a) =
            Cli::parse_from(["s301", "diff", "a", "b", "--html", "x.html", "--unsealed"]).command
        else {
            panic!("not diff")
        };
        assert_eq!(
            (a.old.as_path(), a.new.as_path()),
            (Path::new("a"), Path::new("b"))
        );
        assert!(a.unsealed && a.html.is_some() && a.pubkey.is_none());
        assert!(Cli::try_parse_from(["s301", "diff", "a"]).is_err());
    }

    #[test]
    fn html_inside_a_run_directory_is_found() {
        let d = std::env::temp_dir().join(format!("s301-diff-inside-{}", std::process::id()));
        std::fs::create_dir_all(d.join("run/evidence")).unwrap();
        let run = d.join("run");
        assert_eq!(inside_run(&run.join("x.html"), &[&run]), Some(&run));
        assert_eq!(
            inside_run(&run.join("evidence/x.html"), &[&run]),
            Some(&run)
        );
        assert_eq!(inside_run(&d.join("x.html"), &[&run]), None);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
