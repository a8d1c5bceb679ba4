//! End-to-end tests of `s301 runs` and `s301 diff` on real run directories:
//! a short run against a standalone conforming mock, the same checks
//! against a mock with the fault `ignore-input` (declaring a new terminal
//! version, as after a specification change), and a signed run of ST-01
//! alone. The runs are made once and shared by every test; each `s301`
//! call is bounded in time.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{text, BIN};

const CI_SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ci.toml");
/// A short set with figures (ST-04, EX-03, DO-01, DR-02) and screenshots
/// (OP-01, OP-02), about 5 s clean and 12 s with ignore-input.
const CHECKS: &str = "ST-01,ST-04,EX-03,OP-01,OP-02,DO-01,DR-02";
/// Longest any single `s301` call may take.
const LIMIT: Duration = Duration::from_secs(120);

/// Runs `s301 ARGS`, killing it and failing the test past `LIMIT`.
fn s301(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("s301 starts");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("s301 {args:?} did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The shared run directories.
struct Fixture {
    root: PathBuf,
    /// Holds `clean`, `fault` and some entries that are not runs.
    runs: PathBuf,
    clean: PathBuf,
    fault: PathBuf,
    /// ST-01 alone, signed with `key.pub`'s secret key.
    signed: PathBuf,
    pubkey: PathBuf,
}

fn run_against(mock_args: &[&str], decl_edit: &str, out: &Path, extra: &[&str]) {
    let mock = support::spawn_mock(mock_args);
    let decl = out.with_extension("toml");
    let declaration = if decl_edit.is_empty() {
        mock.declaration.clone()
    } else {
        mock.declaration
            .replace("version = \"0.1.0\"", &format!("version = \"{decl_edit}\""))
    };
    std::fs::write(&decl, declaration).unwrap();
    let mut args = vec![
        "run",
        "--terminal",
        p(&decl),
        "--scenario",
        CI_SCENARIO,
        "--seed",
        "1",
        "--out",
        p(out),
    ];
    args.extend_from_slice(extra);
    let r = s301(&args);
    drop(mock);
    assert!(
        matches!(r.status.code(), Some(0 | 1)),
        "{}\n{}",
        text(&r.stdout),
        text(&r.stderr)
    );
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("history");
        let _ = std::fs::remove_dir_all(&root);
        let runs = root.join("runs");
        std::fs::create_dir_all(&runs).unwrap();
        let (clean, fault) = (runs.join("clean"), runs.join("fault"));
        run_against(&[], "", &clean, &["--only", CHECKS]);
        run_against(
            &["--fault", "ignore-input"],
            "0.2.0",
            &fault,
            &["--only", CHECKS],
        );
        std::fs::remove_file(clean.with_extension("toml")).unwrap();
        std::fs::remove_file(fault.with_extension("toml")).unwrap();
        let prefix = root.join("key");
        assert_eq!(
            s301(&["keygen", "--out", p(&prefix)]).status.code(),
            Some(0)
        );
        let signed = root.join("signed");
        run_against(
            &[],
            "",
            &signed,
            &[
                "--only",
                "ST-01",
                "--sign-key",
                p(&prefix.with_extension("key")),
            ],
        );
        // Entries that are not runs, and a run directory with a garbled record.
        std::fs::create_dir_all(runs.join("notes")).unwrap();
        std::fs::write(runs.join("README.txt"), b"runs of the ET-1\n").unwrap();
        std::fs::create_dir_all(runs.join("garbled")).unwrap();
        std::fs::write(runs.join("garbled/report.json"), b"{\"format\": \"s301-rep").unwrap();
        Fixture {
            pubkey: prefix.with_extension("pub"),
            root,
            runs,
            clean,
            fault,
            signed,
        }
    })
}

/// A copy of a run directory (flat evidence folders only, as s301 writes them).
fn copy_run(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    for e in walk(from) {
        let rel = e.strip_prefix(from).unwrap();
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&e, &dest).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The lines of `s` from the one starting with `from` up to (not
/// including) the next blank line.
fn section<'a>(s: &'a str, from: &str) -> Vec<&'a str> {
    s.lines()
        .skip_while(|l| !l.starts_with(from))
        .take_while(|l| !l.is_empty())
        .collect()
}

#[test]
fn diff_of_a_clean_run_against_ignore_input_names_the_regressions() {
    let f = fixture();
    let html = f.root.join("clean-vs-fault.html");
    let out = s301(&["diff", p(&f.clean), p(&f.fault), "--html", p(&html)]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("Result: 3 REGRESSION(S): 1-2-2, OP-01, OP-02;"),
        "{stdout}"
    );
    // Regressions first, then the rest: verdict lines pinned by a snapshot.
    let verdicts = [section(&stdout, "Conditions"), section(&stdout, "Checks")]
        .concat()
        .join("\n");
    insta::assert_snapshot!("diff_clean_vs_ignore_input", verdicts);
    // The declaration's new version, key by key.
    let decl = section(&stdout, "Declaration");
    assert!(
        decl.iter()
            .any(|l| l.contains("terminal.version") && l.contains("\"0.1.0\" → \"0.2.0\"")),
        "{decl:?}"
    );
    assert!(
        decl[1].contains("terminal.version"),
        "terminal first: {decl:?}"
    );
    // Figures of both runs side by side.
    let figures = section(&stdout, "Measured figures").join("\n");
    for f in [
        "ST-04 持続転送の更新頻度",
        "EX-03 競合試行の所要 p50",
        "DO-01 通報の送信遅延",
        "DR-02 データ要求の応答時間 p95",
    ] {
        assert!(figures.contains(f), "{f} missing:\n{figures}");
    }
    // The page: heading, both runs' screenshots of OP-01, the regressions.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<h1>仕様変更に伴う適合状況の報告"), "heading");
    assert!(page.contains("Conformity report after a specification change"));
    for side in ["OLD", "NEW"] {
        for shot in ["before.png", "after.png"] {
            assert!(
                page.contains(&format!(
                    "alt=\"{side} {shot}\" src=\"data:image/png;base64,iVBOR"
                )),
                "{side} OP-01 {shot} not embedded"
            );
        }
    }
    assert!(page.contains("<h3>OP-01 — before.png</h3>"));
    for r in ["1-2-2 (1-2-2)", "OP-01 (1-2-2)", "OP-02 (1-2-2)"] {
        assert!(
            page.contains(&format!("<li class=\"regression\">{r}")),
            "{r} not listed as a regression"
        );
    }
    assert!(!page.contains("src=\"http") && !page.contains("<script") && !page.contains("href="));
    assert!(!page.contains("SEALS NOT VERIFIED"));
}

#[test]
fn diff_the_other_way_round_is_an_improvement() {
    let f = fixture();
    let out = s301(&["diff", p(&f.fault), p(&f.clean)]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("Result: no regression; 3 improvement(s)"),
        "{stdout}"
    );
    assert!(!stdout.contains("REGRESSION"), "{stdout}");
}

#[test]
fn a_tampered_run_is_refused_unless_unsealed() {
    let f = fixture();
    let tampered = f.root.join("tampered");
    copy_run(&f.fault, &tampered);
    // Hide the failures: every "fail" verdict becomes "pass".
    let report = std::fs::read_to_string(tampered.join("report.json")).unwrap();
    let hidden = report.replace("\"verdict\": \"fail\"", "\"verdict\": \"pass\"");
    assert_ne!(report, hidden);
    std::fs::write(tampered.join("report.json"), hidden).unwrap();

    let out = s301(&["diff", p(&f.clean), p(&tampered)]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("refusing to compare") && err.contains("changed: report.json"),
        "{err}"
    );
    assert!(
        err.contains("--unsealed") && err.contains("s301 verify"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let html = f.root.join("tampered.html");
    let out = s301(&[
        "diff",
        p(&f.clean),
        p(&tampered),
        "--unsealed",
        "--html",
        p(&html),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let second = stdout.lines().nth(1).unwrap();
    assert!(
        second.starts_with("!! SEAL NOT VERIFIED (--unsealed): NEW"),
        "{stdout}"
    );
    assert!(
        stdout
            .trim_end()
            .ends_with("changed: report.json), not signed"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    let warning = page
        .find("SEALS NOT VERIFIED")
        .expect("warning on the page");
    assert!(
        warning < page.find("<h2>").unwrap(),
        "the warning comes first"
    );
    let _ = std::fs::remove_dir_all(&tampered);
}

#[test]
fn runs_lists_both_runs_newest_first_with_their_seals() {
    let f = fixture();
    let out = s301(&["runs", p(&f.runs)]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("DIR") && lines[0].contains("STARTED (JST)"));
    let row = |name: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(p(&f.runs.join(name))))
            .unwrap_or_else(|| panic!("{name} not listed:\n{stdout}"))
    };
    assert!(row("fault") < row("clean"), "newest first:\n{stdout}");
    assert!(row("clean") < row("garbled"), "unreadable last:\n{stdout}");
    let fault = lines[row("fault")];
    assert!(fault.contains("s301 mock-terminal 0.2.0") && fault.contains(" partial "));
    assert!(
        fault.contains("pass   FAIL   pass   pass") && fault.ends_with("ok"),
        "{fault}"
    );
    assert!(lines[row("clean")].ends_with("ok"));
    assert!(lines[row("garbled")].contains("UNREADABLE"));
    assert!(
        stdout.contains("garbled: UNREADABLE record: report.json is not JSON"),
        "{stdout}"
    );
    assert!(stdout.contains("notes: not a run directory"), "{stdout}");
    assert!(stdout.contains("README.txt: not a directory"), "{stdout}");

    let out = s301(&["runs", p(&f.runs), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let j: Value = serde_json::from_slice(&out.stdout).expect("runs --json is JSON");
    assert_eq!(j["format"], "s301-runs/1");
    let runs = j["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs[0]["dir"].as_str().unwrap().ends_with("fault"));
    assert_eq!(runs[0]["record"], "completed");
    assert_eq!(runs[0]["terminal"]["version"], "0.2.0");
    assert_eq!(runs[0]["conditions"]["1-2-2"]["verdict"], "fail");
    assert_eq!(runs[0]["conditions"]["1-2-1"]["verdict"], "pass");
    assert_eq!(runs[0]["partial"], true);
    assert_eq!(runs[0]["seal"]["ok"], true);
    assert_eq!(runs[0]["seal"]["signature"], "none");
    assert_eq!(runs[1]["conditions"]["1-2-2"]["verdict"], "pass");
    assert_eq!(runs[2]["record"], "unreadable");
    assert_eq!(runs[2]["seal"]["ok"], false);
    assert_eq!(runs[2]["seal"]["status"], "unsealed");
    assert_eq!(j["skipped"].as_array().unwrap().len(), 2);
    // JST is UTC+9.
    let utc = time::OffsetDateTime::parse(
        runs[0]["started_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let jst = utc.to_offset(time::UtcOffset::from_hms(9, 0, 0).unwrap());
    let want = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} JST",
        jst.year(),
        u8::from(jst.month()),
        jst.day(),
        jst.hour(),
        jst.minute(),
        jst.second()
    );
    assert_eq!(runs[0]["started_jst"], want.as_str());
}

#[test]
fn signed_runs_verify_with_the_key_and_unsigned_ones_do_not() {
    let f = fixture();
    let out = s301(&["runs", p(&f.signed), "--pubkey", p(&f.pubkey), "--json"]);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["runs"][0]["seal"]["signature"], "valid", "{j}");
    assert_eq!(j["runs"][0]["seal"]["ok"], true);
    let out = s301(&["runs", p(&f.signed)]);
    assert!(text(&out.stdout).contains("ok, sig unchecked"));
    // With the key, the unsigned clean run has no valid signature: refused.
    let out = s301(&["diff", p(&f.clean), p(&f.signed), "--pubkey", p(&f.pubkey)]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("OLD") && err.contains("signature missing"),
        "{err}"
    );
}

#[test]
fn a_partial_run_shows_what_it_left_out_as_not_run() {
    let f = fixture();
    // The signed run holds ST-01 only: 1-2-2 and its checks were not run.
    let out = s301(&["diff", p(&f.clean), p(&f.signed)]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(!stdout.contains("REGRESSION"), "{stdout}");
    assert!(
        stdout
            .contains("note: 1-2-1 was judged on different checks (not run in NEW: ST-04, EX-03)"),
        "{stdout}"
    );
    let conditions = section(&stdout, "Conditions").join("\n");
    assert!(
        conditions.contains("not run now       1-2-2          pass → not run"),
        "{conditions}"
    );
    let checks = section(&stdout, "Checks").join("\n");
    assert!(
        checks.contains("not run now       OP-01 (1-2-2)  pass → not run"),
        "{checks}"
    );
    let back = s301(&["diff", p(&f.signed), p(&f.clean)]);
    assert_eq!(back.status.code(), Some(0));
    assert!(text(&back.stdout).contains("not run before    OP-01 (1-2-2)  not run → pass"));
}

#[test]
fn what_cannot_be_compared_is_a_usage_error() {
    let f = fixture();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "diff".into(),
                p(&f.clean).into(),
                p(&f.root.join("absent")).into(),
            ],
            "NEW",
        ),
        (
            vec![
                "diff".into(),
                p(&f.runs.join("notes")).into(),
                p(&f.clean).into(),
            ],
            "not a run directory",
        ),
        (
            vec![
                "diff".into(),
                p(&f.runs.join("garbled")).into(),
                p(&f.clean).into(),
            ],
            "unreadable record",
        ),
        (
            vec![
                "diff".into(),
                p(&f.clean).into(),
                p(&f.fault).into(),
                "--html".into(),
                p(&f.fault.join("diff.html")).into(),
            ],
            "whose seal it would break",
        ),
        (
            vec!["runs".into(), p(&f.root.join("absent")).into()],
            "absent",
        ),
        (
            vec![
                "diff".into(),
                p(&f.clean).into(),
                p(&f.fault).into(),
                "--pubkey".into(),
                p(&f.root.join("nokey.pub")).into(),
            ],
            "nokey.pub",
        ),
        (vec!["diff".into(), p(&f.clean).into()], "NEW"),
    ];
    for (args, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = s301(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
    }
    assert!(!f.fault.join("diff.html").exists());
}
