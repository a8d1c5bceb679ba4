//! End-to-end tests of the `s301` binary: the catalog listing, a full run
//! against the built-in mock, the report's shape, declaration errors, and a
//! faulty standalone mock judged through a declaration file.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod support;

use support::{check, condition, read_report, s301, scratch, text, BIN};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

#[test]
fn checks_lists_the_catalog() {
    let out = s301(&["checks"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    insta::assert_snapshot!("checks", text(&out.stdout));
}

/// One full run against the built-in mock (default scenario, seed 1),
/// shared by the tests that read its outcome.
struct MockRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    report: Value,
}

fn mock_run() -> &'static MockRun {
    static RUN: OnceLock<MockRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = scratch("cli", "mock-run");
        let out = s301(&["run", "--out", dir.to_str().unwrap(), "--seed", "1"]);
        let report = read_report(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        MockRun {
            code: out.status.code(),
            stdout: text(&out.stdout),
            stderr: text(&out.stderr),
            report,
        }
    })
}

#[test]
fn run_against_built_in_mock_passes_the_screen_conditions() {
    let run = mock_run();
    let r = &run.report;
    for id in [
        "ST-01", "ST-02", "ST-03", "ST-04", "EX-01", "EX-02", "EX-03", "OP-01", "OP-02", "OP-03",
        "OP-04",
    ] {
        assert_eq!(
            check(r, id)["verdict"],
            "pass",
            "{id}: {}",
            check(r, id)["detail"]
        );
    }
    assert_eq!(condition(r, "1-2-1")["verdict"], "pass");
    assert_eq!(condition(r, "1-2-2")["verdict"], "pass");
    assert_eq!(r["run"]["seed"], 1);
    assert_eq!(r["run"]["status"], "completed");
    assert_eq!(r["run"]["partial"], false);
    // Progress lines (stdout is a pipe here) and the summary.
    assert!(run.stdout.contains("] ST-01 pass  ("), "{}", run.stdout);
    assert!(run.stdout.contains("1-2-1  画面転送機能"), "{}", run.stdout);
    assert!(run.stdout.contains("Report: "), "{}", run.stdout);
}

#[test]
fn run_against_built_in_mock_exits_zero() {
    let run = mock_run();
    assert_eq!(
        run.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn report_has_the_contract_shape() {
    let mut r = mock_run().report.clone();
    // Which figures are measured is pinned; their values vary run to run.
    if let Some(m) = r["metrics"]["measured"].as_object_mut() {
        for v in m.values_mut() {
            *v = Value::from("[value]");
        }
    }
    insta::assert_json_snapshot!("report_shape", r, {
        ".run.id" => "[run-id]",
        ".run.started_at" => "[time]",
        ".run.finished_at" => "[time]",
        ".run.checks_finished_at" => "[time]",
        ".run.harness_version" => "[version]",
        ".terminal.screen.url" => "[url]",
        ".terminal.data.base_url" => "[url]",
        ".terminal.harness.listen" => "[addr]",
        ".checks[].detail" => "[detail]",
        ".checks[].duration_ms" => "[ms]",
        ".checks[].evidence" => "[evidence]",
        ".metrics.duration_ms" => "[ms]",
        ".metrics.by_check" => "[by-check]",
    });
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

const DECL: &str = r#"[terminal]
vendor = "Example"

[screen]
url = "ws://127.0.0.1:9/s3-01/v1/screen"
exclusivity = "refuse"

[operation]
supported = true
"#;

#[test]
fn unknown_key_in_declaration_exits_2_naming_line_and_key() {
    let dir = scratch("cli", "unknown-key");
    let bad = DECL.replace(
        "exclusivity = \"refuse\"",
        "exclusivity = \"refuse\"\nsharing = true",
    );
    let path = write(&dir, "terminal.toml", &bad);
    let out = s301(&[
        "run",
        "--terminal",
        path.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:7:", path.display())),
        "line 7 expected: {err}"
    );
    assert!(err.contains("screen.sharing"), "{err}");
    assert!(err.contains("unknown field \"sharing\""), "{err}");
    assert!(!dir.join("report.json").exists(), "nothing may run");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wrong_type_in_declaration_exits_2_naming_line_and_key() {
    let dir = scratch("cli", "wrong-type");
    let bad = DECL.replace("supported = true", "supported = \"yes\"");
    let path = write(&dir, "terminal.toml", &bad);
    let out = s301(&[
        "run",
        "--terminal",
        path.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{}:9:", path.display())), "{err}");
    assert!(err.contains("operation.supported"), "{err}");
    assert!(!dir.join("report.json").exists(), "nothing may run");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_check_id_is_a_usage_error() {
    let out = s301(&["run", "--only", "ST-01,XX-99"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("XX-99"), "{err}");
}

/// The scenario's `[screen] max_pixels` reaches the binding: a limit just
/// under the built-in mock's 1024x768 fails ST-01, naming both figures.
#[test]
fn a_screen_over_the_scenarios_max_pixels_fails_st01_naming_size_and_limit() {
    let dir = scratch("cli", "max-pixels");
    let scenario = write(
        &dir,
        "small.toml",
        "name = \"small\"\n[screen]\nmax_pixels = 786431\n",
    );
    let out_dir = dir.join("run");
    let out = s301(&[
        "run",
        "--scenario",
        scenario.to_str().unwrap(),
        "--only",
        "ST-01",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = read_report(&out_dir);
    let st01 = check(&report, "ST-01");
    assert_eq!(st01["verdict"], "fail");
    let detail = st01["detail"].as_str().unwrap();
    for want in [
        "1024x768",
        "786432 pixels",
        "786431 pixels",
        "[screen] max_pixels",
    ] {
        assert!(detail.contains(want), "{want} missing from: {detail}");
    }
    let reason = st01["evidence"]["open_error"]["reason"].as_str().unwrap();
    assert!(reason.contains("786431"), "{reason}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_declaration_file_is_a_usage_error() {
    let out = s301(&["run", "--terminal", "/nonexistent/s301/terminal.toml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent/s301/terminal.toml"), "{err}");
}

#[test]
fn share_screen_mock_fails_ex01_through_a_declaration_file() {
    let dir = scratch("cli", "share-screen");
    let mock = support::spawn_mock(&["--fault", "share-screen"]);
    let path = write(&dir, "terminal.toml", &mock.declaration);
    let out_dir = dir.join("run");
    let out = s301(&[
        "run",
        "--terminal",
        path.to_str().unwrap(),
        "--only",
        "EX-01",
        "--out",
        out_dir.to_str().unwrap(),
        "--seed",
        "3",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let r = read_report(&out_dir);
    assert_eq!(
        check(&r, "EX-01")["verdict"],
        "fail",
        "{}",
        check(&r, "EX-01")
    );
    assert_eq!(condition(&r, "1-2-1")["verdict"], "fail");
    assert_eq!(r["run"]["partial"], true);
    // Deselected checks are skipped; conditions without a selected check too.
    assert_eq!(check(&r, "ST-01")["verdict"], "skipped");
    assert_eq!(condition(&r, "1-3-1")["verdict"], "skipped");
    assert!(stdout.contains("EX-01 fail"), "{stdout}");
    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stall_after_mock_fails_st04_through_a_declaration_file() {
    let dir = scratch("cli", "stall-after");
    // The stall comes well after the first full update, even on a loaded
    // machine, and well before the sustained transfer ends.
    let mock = support::spawn_mock(&["--fault", "stall-after", "--stall-after-ms", "1500"]);
    let path = write(&dir, "terminal.toml", &mock.declaration);
    let out_dir = dir.join("run");
    let scenario_path = write(
        &dir,
        "scenario.toml",
        "name = \"stall\"\n\n[screen]\nsustain_ms = 4000\nupdate_timeout_ms = 2000\n",
    );
    let scenario = scenario_path.to_str().unwrap();
    let out = s301(&[
        "run",
        "--terminal",
        path.to_str().unwrap(),
        "--scenario",
        scenario,
        "--only",
        "ST-01,ST-04",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let r = read_report(&out_dir);
    assert_eq!(check(&r, "ST-01")["verdict"], "pass");
    let st04 = check(&r, "ST-04");
    assert_eq!(st04["verdict"], "fail", "{st04}");
    let detail = st04["detail"].as_str().unwrap_or("");
    assert!(detail.contains("not answered within"), "{detail}");
    // The evidence shows the session answered until the stall.
    assert!(
        st04["evidence"]["answered"].as_u64().unwrap_or(0) > 0,
        "{st04}"
    );
    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts a default run into `dir`, waits (bounded) for a progress line
/// that `when` accepts, sends `signal` (`INT`, `KILL`) and returns the exit
/// status and everything printed.
fn signal_run_when(
    dir: &Path,
    signal: &str,
    when: impl Fn(&str) -> bool + Send + 'static,
) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(BIN)
        .args(["run", "--out", dir.to_str().unwrap(), "--seed", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut signalled = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !signalled && when(&line) {
                signalled = true;
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines.join("\n")
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the awaited progress line never came");
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    (status, reader.join().unwrap())
}

#[test]
fn ctrl_c_aborts_the_run_and_still_writes_the_report() {
    let dir = scratch("cli", "abort");
    // Wait for the first finished check, then interrupt as Ctrl-C would.
    let (status, stdout) = signal_run_when(&dir, "INT", |l| l.starts_with("[ 1/"));
    assert_eq!(status.code(), Some(3), "{stdout}");
    let r = read_report(&dir);
    assert_eq!(r["run"]["status"], "aborted");
    let checks = r["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["detail"] == "run aborted before this check ran"),
        "{stdout}"
    );
    assert!(stdout.contains("Aborted:"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run killed outright (no chance to clean up) still leaves a readable
/// record: report.json as it stood after the last finished check, marked
/// aborted with the reason, and the screenshots of the checks that finished.
#[test]
fn a_killed_run_leaves_a_provisional_record_and_its_screenshots() {
    let dir = scratch("cli", "killed");
    let (status, stdout) = signal_run_when(&dir, "KILL", |l| {
        l.starts_with('[') && l.contains("ST-02") && l.contains("pass")
    });
    assert_eq!(status.code(), None, "killed by a signal: {stdout}");
    let r = read_report(&dir);
    assert_eq!(r["run"]["status"], "aborted", "{}", r["run"]);
    let reason = r["run"]["abort_reason"].as_str().unwrap_or("");
    assert!(reason.contains("did not finish"), "{reason}");
    assert_eq!(check(&r, "ST-02")["verdict"], "pass");
    // The last screen check cannot have finished: ST-04 alone takes 3 s.
    assert_eq!(check(&r, "EX-03")["verdict"], "skipped", "{stdout}");
    let png = std::fs::read(dir.join("evidence/ST-02/full.png")).expect("ST-02 screenshot");
    assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// What `s301 mock` prints is a declaration the mock passes exactly as
/// printed: it says `[data] output = true`, so it must push, and to where
/// the declaration tells the harness to listen.
#[test]
fn standalone_mock_passes_the_data_conditions_with_its_printed_declaration() {
    let dir = scratch("cli", "mock-data");
    let mock = support::spawn_mock(&[]);
    let path = write(&dir, "terminal.toml", &mock.declaration);
    let out_dir = dir.join("run");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ci.toml");
    let out = s301(&[
        "run",
        "--terminal",
        path.to_str().unwrap(),
        "--scenario",
        scenario,
        "--only",
        "1-3-1,1-3-2",
        "--out",
        out_dir.to_str().unwrap(),
        "--seed",
        "4",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "declaration:\n{}\n{stdout}\n{}",
        mock.declaration,
        text(&out.stderr)
    );
    let r = read_report(&out_dir);
    assert_eq!(condition(&r, "1-3-1")["verdict"], "pass");
    assert_eq!(condition(&r, "1-3-2")["verdict"], "pass");
    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Log lines on a piped stderr carry no ANSI colour codes.
#[test]
fn verbose_logs_on_a_pipe_have_no_colour_codes() {
    let dir = scratch("cli", "no-colour");
    let out = Command::new(BIN)
        .args([
            "-v",
            "run",
            "--only",
            "ST-01",
            "--out",
            dir.to_str().unwrap(),
        ])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("INFO"), "-v must log at info level: {err}");
    assert!(!err.contains("\x1b["), "colour codes on a pipe: {err:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `s301 ARGS`, killing it after `secs` seconds: a run that hangs is
/// a failure, not a stuck test suite.
fn s301_bounded(args: &[&str], secs: u64) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "s301 {args:?} still running after {secs} s (stderr: {})",
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let made = Command::new("mkfifo").arg(&p).status().unwrap();
    assert!(made.success(), "mkfifo {}", p.display());
    p
}

fn assert_not_regular(out: &std::process::Output, path: &Path) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}: ", path.display())),
        "the message must name {}: {err}",
        path.display()
    );
    assert!(err.contains("not a regular file"), "{err}");
    assert!(err.contains("named pipe"), "{err}");
}

/// A named pipe given as an input file is refused at once (exit 2, naming
/// it) instead of blocking in open() forever.
#[test]
fn fifo_inputs_are_refused_instead_of_hanging() {
    let dir = scratch("cli", "fifo");
    let fifo = mkfifo(&dir, "input.fifo");
    let f = fifo.to_str().unwrap();
    let out_dir = dir.join("run");
    let o = out_dir.to_str().unwrap();
    for flag in ["--terminal", "--scenario", "--sign-key"] {
        let out = s301_bounded(&["run", flag, f, "--only", "ST-01", "--out", o], 20);
        assert_not_regular(&out, &fifo);
        assert!(
            !out_dir.join("report.json").exists(),
            "{flag}: nothing may run"
        );
    }
    let out = s301_bounded(&["verify", o, "--pubkey", f], 20);
    assert_not_regular(&out, &fifo);
    // A PEM file named by the declaration.
    let decl = DECL.replace("ws://", "wss://") + "\n[tls]\nca = \"input.fifo\"\n";
    let path = write(&dir, "terminal.toml", &decl);
    let out = s301_bounded(
        &["run", "--terminal", path.to_str().unwrap(), "--out", o],
        20,
    );
    assert_not_regular(&out, &fifo);
    let err = text(&out.stderr);
    assert!(err.contains("tls.ca"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Device files are no configuration either: /dev/zero is refused.
#[test]
fn a_device_as_declaration_is_refused() {
    let out = s301_bounded(&["run", "--terminal", "/dev/zero"], 20);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/dev/zero: "), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
}

/// A byte that is not UTF-8 is reported at its line and column, for the
/// declaration and the scenario alike.
#[test]
fn non_utf8_declaration_or_scenario_names_the_line_and_column() {
    let dir = scratch("cli", "non-utf8");
    let mut bad = DECL.as_bytes().to_vec();
    // Line 4 is `[screen]`; a Latin-1 "é" (one byte, 0xE9) follows at column 9.
    let at = DECL.find("[screen]").unwrap() + "[screen]".len();
    bad.insert(at, 0xE9);
    let path = dir.join("terminal.toml");
    std::fs::write(&path, &bad).unwrap();
    let out = s301_bounded(&["run", "--terminal", path.to_str().unwrap()], 20);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:4:9: ", path.display())),
        "line 4, column 9 expected: {err}"
    );
    assert!(err.contains("UTF-8"), "{err}");

    let scenario = dir.join("scenario.toml");
    std::fs::write(&scenario, b"name = \"x\"\n# caf\xe9\n").unwrap();
    let out = s301_bounded(&["run", "--scenario", scenario.to_str().unwrap()], 20);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:2:6: ", scenario.display())),
        "line 2, column 6 expected: {err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// (check id, verdict) pairs as printed.
type Printed = Vec<(String, String)>;

/// The verdict of each check as the progress lines (`[ 1/3] DR-01 error ...`)
/// and the summary's "did not pass" lines show it.
fn printed_verdicts(stdout: &str) -> (Printed, Printed) {
    let mut progress = Vec::new();
    let mut summary = Vec::new();
    let mut in_summary = false;
    for line in stdout.lines() {
        if line.starts_with('[') {
            let mut w = line.split(']').nth(1).unwrap_or("").split_whitespace();
            if let (Some(id), Some(v)) = (w.next(), w.next()) {
                progress.push((id.to_string(), v.to_string()));
            }
        } else if line == "Checks that did not pass" {
            in_summary = true;
        } else if in_summary && line.starts_with("  ") {
            let mut w = line.split_whitespace();
            if let (Some(id), Some(v)) = (w.next(), w.next()) {
                summary.push((id.to_string(), v.to_string()));
            }
        } else {
            in_summary = false;
        }
    }
    (progress, summary)
}

/// The `verdict` property of every test case in junit.xml, by check id.
fn junit_verdicts(xml: &str) -> std::collections::BTreeMap<String, String> {
    let value = |chunk: &str, name: &str| {
        let key = format!("name=\"{name}\" value=\"");
        let at = chunk.find(&key)? + key.len();
        Some(chunk[at..].split('"').next()?.to_string())
    };
    xml.split("<testcase")
        .skip(1)
        .filter_map(|c| Some((value(c, "check")?, value(c, "verdict")?)))
        .collect()
}

/// Every output gives a check the same verdict: the progress line, the
/// summary, report.json and junit.xml. Here the terminal's data side is
/// unreachable, so a data check's result is turned into an error (the run
/// aborts as for a dead terminal) and the outputs must all say so.
#[test]
fn every_output_shows_the_same_verdict_for_each_check() {
    let dir = scratch("cli", "one-verdict");
    let mock = support::spawn_mock(&[]);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let decl: String = mock
        .declaration
        .lines()
        .map(|l| {
            if l.starts_with("base_url = ") {
                format!("base_url = \"http://{closed}/s3-01/v1\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let path = write(&dir, "terminal.toml", &decl);
    let out_dir = dir.join("run");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ci.toml");
    let out = s301(&[
        "run",
        "--terminal",
        path.to_str().unwrap(),
        "--scenario",
        scenario,
        "--only",
        "1-3-2",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let r = read_report(&out_dir);
    let junit = junit_verdicts(&std::fs::read_to_string(out_dir.join("junit.xml")).unwrap());
    let (progress, summary) = printed_verdicts(&stdout);
    assert_eq!(
        progress.len(),
        3,
        "one progress line per selected check: {stdout}"
    );
    assert!(
        progress.iter().any(|(_, v)| v == "error"),
        "a data check errors against a dead data side: {stdout}"
    );
    for (id, v) in progress.iter().chain(&summary) {
        assert_eq!(
            &check(&r, id)["verdict"],
            v.as_str(),
            "{id} in report.json: {stdout}"
        );
    }
    for c in r["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        assert_eq!(
            junit.get(id).map(String::as_str),
            c["verdict"].as_str(),
            "{id} in junit.xml"
        );
        if matches!(c["verdict"].as_str(), Some("fail" | "error")) {
            assert!(
                summary
                    .iter()
                    .any(|(s, v)| s == id && Some(v.as_str()) == c["verdict"].as_str()),
                "{id} missing from the summary: {stdout}"
            );
        }
    }
    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Errors the CLI prints name what to fix in words: no Rust debug output,
/// no operating-system error codes.
fn assert_plain_error(err: &str) {
    for bad in ["os error", "Os {", "Error(", "Some(", "kind:"] {
        assert!(!err.contains(bad), "{bad:?} in {err:?}");
    }
}

#[test]
fn cli_errors_are_plain_words() {
    let out = s301_bounded(&["keygen", "--out", "/nonexistent/s301/dir/k"], 20);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent/s301/dir/k"), "{err}");
    assert!(err.contains("no such file or directory"), "{err}");
    assert_plain_error(&err);

    // A mock asked to listen where something already listens.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = s301_bounded(&["mock", "--listen", &addr], 20);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains(&format!("--listen {addr}")), "{err}");
    assert!(err.contains("address already in use"), "{err}");
    assert_plain_error(&err);
}
