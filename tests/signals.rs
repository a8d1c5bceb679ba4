//! End-to-end tests of stop signals sent to the real binary: SIGHUP aborts
//! and seals like Ctrl-C; Ctrl-C before anything is loaded still leaves an
//! aborted, sealed record; a second Ctrl-C quits without leaving temporary
//! files; `s301 mock --tls` keeps its private keys owner-only and removes
//! them on SIGTERM, SIGINT and SIGHUP. Every wait is bounded.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod support;

use support::process::{self, RecordState};
use support::{read_report, scratch, spawn_mock};

use std::path::{Path, PathBuf};
use std::time::Duration;

const CI_SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ci.toml");
const LIMIT: Duration = Duration::from_secs(120);

fn run_args<'a>(out: &'a Path, only: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--scenario",
        CI_SCENARIO,
        "--seed",
        "6",
        "--only",
        only,
        "--out",
        out.to_str().unwrap(),
    ]
}

/// The record is aborted for `why`, lists `never_ran`, and verifies.
fn aborted_and_sealed(dir: &Path, why: &str, output: &str) -> serde_json::Value {
    assert_eq!(
        process::assert_honest(dir, None, output),
        RecordState::Aborted,
        "{output}"
    );
    let r = read_report(dir);
    let reason = r["run"]["abort_reason"].as_str().unwrap();
    assert!(reason.contains(why), "{reason}\n{output}");
    let v = support::s301(&["verify", dir.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", support::text(&v.stdout));
    r
}

#[test]
fn sighup_aborts_the_run_and_seals_the_record_like_ctrl_c() {
    let dir = scratch("signals", "hup").join("run");
    let mut run = process::spawn(&run_args(&dir, "1-2-1,1-2-2"), &[]);
    run.wait_for_line(LIMIT, |l| l.starts_with('[') && l.contains("ST-01"));
    run.signal("HUP");
    let (status, output) = run.finish(LIMIT);
    assert_eq!(status.code(), Some(3), "{output}");
    let r = aborted_and_sealed(&dir, "SIGHUP", &output);
    assert!(
        !r["run"]["never_ran"].as_array().unwrap().is_empty(),
        "{output}"
    );
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

/// Ctrl-C while s301 holds (test hook) before it has read the
/// declaration: the run directory gets a sealed record of a run aborted
/// before any check, every selected check listed as never run.
#[test]
fn ctrl_c_before_the_declaration_is_read_leaves_an_aborted_sealed_record() {
    let base = scratch("signals", "early");
    let mock = spawn_mock(&[]);
    let decl = base.join("terminal.toml");
    std::fs::write(&decl, &mock.declaration).unwrap();
    let dir = base.join("run");
    let mut args = run_args(&dir, "ST-01,ST-02");
    args.extend(["--terminal", decl.to_str().unwrap()]);
    let mut run = process::spawn(&args, &[("S301_TEST_HOLD_AT", "setup")]);
    run.wait_for_line(LIMIT, |l| l.contains("holding at setup"));
    run.signal("INT");
    let (status, output) = run.finish(LIMIT);
    assert_eq!(status.code(), Some(3), "{output}");
    let r = aborted_and_sealed(&dir, "SIGINT", &output);
    assert_eq!(r["run"]["never_ran"], serde_json::json!(["ST-01", "ST-02"]));
    drop(mock);
    let _ = std::fs::remove_dir_all(&base);
}

/// Ctrl-C 10 ms after the process starts, no hook: the handlers are in
/// place by then (about 4 ms on a debug build), so the run ends with a
/// sealed aborted record rather than dying by the signal. A machine too
/// loaded to reach the handlers in 10 ms gets three tries.
#[test]
fn ctrl_c_ten_milliseconds_after_start_still_leaves_an_aborted_record() {
    let base = scratch("signals", "ten-ms");
    for attempt in 0..3 {
        let dir = base.join(format!("run-{attempt}"));
        let run = process::spawn(&run_args(&dir, "ST-01"), &[]);
        std::thread::sleep(Duration::from_millis(10));
        run.signal("INT");
        let (status, output) = run.finish(LIMIT);
        if status.code().is_none() && attempt < 2 {
            eprintln!("attempt {attempt}: died by the signal before the handlers; again");
            continue;
        }
        assert_eq!(status.code(), Some(3), "{output}");
        aborted_and_sealed(&dir, "SIGINT", &output);
        break;
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// A second Ctrl-C while a temporary file of an atomic write is on disk
/// (held there by the test hook until both signals came): the process
/// quits at once and removes it; what report.json there is never says
/// completed.
#[test]
fn a_second_ctrl_c_leaves_no_temporary_files() {
    let base = scratch("signals", "double");
    for (i, point) in ["tmp:declaration.csv", "tmp:report.json"]
        .iter()
        .enumerate()
    {
        let dir = base.join(format!("run-{i}"));
        let hold = format!("{point}@2");
        let mut run = process::spawn(&run_args(&dir, "ST-01"), &[("S301_TEST_HOLD_AT", &hold)]);
        run.wait_for_line(LIMIT, |l| l.contains("holding at"));
        let held = process::temp_files(&dir);
        assert!(!held.is_empty(), "{point}: no temporary file while held");
        run.signal("INT");
        run.wait_for_line(LIMIT, |l| l.contains("interrupted by"));
        run.signal("INT");
        let (status, output) = run.finish(LIMIT);
        assert_eq!(status.code(), Some(3), "{point}: {output}");
        assert!(output.contains("quitting now"), "{point}: {output}");
        let left = process::temp_files(&dir);
        assert!(left.is_empty(), "{point}: left {left:?}\n{output}");
        assert_ne!(
            process::assert_honest(&dir, None, point),
            RecordState::CompletedAndSealed,
            "{output}"
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// The PEM directory named by the `ca = "…/ca.pem"` line of a declaration.
fn pem_dir(declaration: &str) -> PathBuf {
    let line = declaration
        .lines()
        .find(|l| l.starts_with("ca = "))
        .unwrap_or_else(|| panic!("no ca line:\n{declaration}"));
    let path: String = line["ca = ".len()..].trim().trim_matches('"').into();
    Path::new(&path).parent().unwrap().to_path_buf()
}

#[test]
fn mock_tls_keys_are_owner_only_and_removed_on_every_stop_signal() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for sig in ["TERM", "INT", "HUP"] {
        let mut mock = spawn_mock(&["--tls"]);
        let dir = pem_dir(&mock.declaration);
        assert!(
            dir.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("s301-mock-tls-"),
            "{}",
            dir.display()
        );
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for key in ["terminal.key", "client.key", "receiver.key"] {
            assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
        }
        process::signal(mock.child.id(), sig);
        let status = process::wait_bounded(&mut mock.child, Duration::from_secs(30));
        assert_eq!(status.code(), Some(0), "SIG{sig}");
        assert!(!dir.exists(), "SIG{sig}: {} is still there", dir.display());
    }
}
