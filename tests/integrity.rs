//! End-to-end tests of run records: a terminal killed mid-run gives an
//! aborted but verifiable record; a signed record detects a changed, added
//! or removed file; witness answers on stdin change their conditions.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod support;

use support::process::{self, RecordState};
use support::{condition, read_report, s301, scratch, text, BIN};

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CI_SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ci.toml");

#[test]
fn killed_terminal_aborts_the_run_and_the_record_still_verifies() {
    let dir = scratch("integrity", "killed");
    let mut mock = support::spawn_mock(&[]);
    let decl = dir.join("terminal.toml");
    std::fs::write(&decl, &mock.declaration).unwrap();
    let out_dir = dir.join("run");
    let mut run = Command::new(BIN)
        .args(["run", "--terminal", decl.to_str().unwrap()])
        .args([
            "--scenario",
            CI_SCENARIO,
            "--seed",
            "5",
            "--only",
            "1-2-1,1-2-2",
        ])
        .args(["--out", out_dir.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once ST-01 has passed the screen lane is on to the next check: kill
    // the terminal then.
    let stdout = run.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("ST-01 pass") {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines.join("\n")
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("ST-01 did not pass against the mock");
    mock.child.kill().unwrap();
    mock.child.wait().unwrap();
    let status = run.wait().unwrap();
    let stdout = reader.join().unwrap();
    assert_eq!(status.code(), Some(3), "{stdout}");
    let r = read_report(&out_dir);
    assert_eq!(r["run"]["status"], "aborted", "{stdout}");
    let reason = r["run"]["abort_reason"].as_str().unwrap();
    assert!(reason.contains("stopped answering"), "{reason}");
    let never_ran = r["run"]["never_ran"].as_array().unwrap();
    assert!(never_ran.iter().any(|c| c == "EX-03"), "{never_ran:?}");
    // No check failed for the terminal's disappearance.
    assert!(
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["verdict"] != "fail"),
        "{stdout}"
    );
    assert!(stdout.contains("Abort reason:"), "{stdout}");
    let v = s301(&["verify", out_dir.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn terminal_unreachable_from_the_start_aborts_instead_of_failing() {
    let dir = scratch("integrity", "unreachable");
    let mock = support::spawn_mock(&[]);
    let decl = dir.join("terminal.toml");
    std::fs::write(&decl, &mock.declaration).unwrap();
    // The declared terminal is gone before the run starts.
    drop(mock);
    let out_dir = dir.join("run");
    let out = s301(&[
        "run",
        "--terminal",
        decl.to_str().unwrap(),
        "--scenario",
        CI_SCENARIO,
        "--only",
        "ST-01,ST-02",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let r = read_report(&out_dir);
    assert_eq!(r["run"]["status"], "aborted");
    assert_eq!(r["run"]["never_ran"], serde_json::json!(["ST-02"]));
    assert_eq!(condition(&r, "1-2-1")["verdict"], "inconclusive");
    assert!(stdout.contains("Never ran: ST-02"), "{stdout}");
    assert_eq!(
        s301(&["verify", out_dir.to_str().unwrap()]).status.code(),
        Some(0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn signed_record_names_changed_added_and_removed_files() {
    let dir = scratch("integrity", "tamper");
    let prefix = dir.join("lab");
    let k = s301(&["keygen", "--out", prefix.to_str().unwrap()]);
    assert!(k.status.success(), "{}", text(&k.stderr));
    let (key, pubkey) = (dir.join("lab.key"), dir.join("lab.pub"));
    let out_dir = dir.join("run");
    let run = s301(&[
        "run",
        "--scenario",
        CI_SCENARIO,
        "--seed",
        "11",
        "--only",
        "ST-01,ST-02",
        "--out",
        out_dir.to_str().unwrap(),
        "--sign-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    let verify = |pk: &Path| {
        let o = s301(&[
            "verify",
            out_dir.to_str().unwrap(),
            "--pubkey",
            pk.to_str().unwrap(),
        ]);
        (o.status.code(), text(&o.stdout) + &text(&o.stderr))
    };
    let (code, out) = verify(&pubkey);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("signature: valid"), "{out}");

    // One byte of the report changed.
    let report = out_dir.join("report.json");
    let original = std::fs::read(&report).unwrap();
    let mut changed = original.clone();
    changed[10] ^= 0x01;
    std::fs::write(&report, &changed).unwrap();
    let (code, out) = verify(&pubkey);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("changed: report.json"), "{out}");
    std::fs::write(&report, &original).unwrap();
    assert_eq!(verify(&pubkey).0, Some(0));

    // A file added, then one removed.
    let extra = out_dir.join("evidence-note.txt");
    std::fs::write(&extra, b"added later").unwrap();
    let (code, out) = verify(&pubkey);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("added:   evidence-note.txt"), "{out}");
    std::fs::remove_file(&extra).unwrap();
    std::fs::remove_file(&report).unwrap();
    let (code, out) = verify(&pubkey);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("removed: report.json"), "{out}");
    std::fs::write(&report, &original).unwrap();

    // Another key, or a missing signature, is not accepted.
    let other = dir.join("other");
    assert!(s301(&["keygen", "--out", other.to_str().unwrap()])
        .status
        .success());
    let (code, out) = verify(&dir.join("other.pub"));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("signature: INVALID"), "{out}");
    std::fs::remove_file(out_dir.join("manifest.sig")).unwrap();
    let (code, out) = verify(&pubkey);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("MISSING"), "{out}");

    // A broken key file is a usage error naming it.
    std::fs::write(dir.join("bad.pub"), b"garbage").unwrap();
    let (code, out) = verify(&dir.join("bad.pub"));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("bad.pub"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn witness_answers_pass_fail_and_eof_change_their_conditions() {
    let dir = scratch("integrity", "witness");
    let scenario = dir.join("witness.toml");
    let ci = std::fs::read_to_string(CI_SCENARIO).unwrap();
    let steps = r#"
[[witness]]
id = "W-1"
condition = "1-2-1"
check = "ST-02"
question_ja = "指令台の画面に専用端末の画面が表示されていますか？"
question_en = "Does the console show the terminal's screen?"
timeout_ms = 20000

[[witness]]
id = "W-2"
condition = "1-2-2"
question_ja = "操作は反映されましたか？"
question_en = "Did the input show on the screen?"
timeout_ms = 20000

[[witness]]
id = "W-3"
condition = "1-2-1"
question_ja = "画面は鮮明ですか？"
question_en = "Is the screen legible?"
timeout_ms = 20000
"#;
    std::fs::write(&scenario, format!("{ci}\n{steps}")).unwrap();
    let out_dir = dir.join("run");
    let mut child = Command::new(BIN)
        .args(["run", "--scenario", scenario.to_str().unwrap()])
        .args(["--seed", "12", "--only", "ST-01,ST-02,OP-01"])
        .args(["--operator", "山田 太郎", "--department", "試験消防本部"])
        .args(["--out", out_dir.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Two answers, then end of input for the third question.
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all("pass 表示あり\nmaybe\nfail 入力が反映されない\n".as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let r = read_report(&out_dir);
    assert_eq!(r["run"]["operator"], "山田 太郎");
    assert_eq!(r["run"]["department"], "試験消防本部");
    let c121 = condition(&r, "1-2-1");
    let c122 = condition(&r, "1-2-2");
    // 1-2-1: a pass, and an unanswered question: inconclusive, not pass.
    assert_eq!(c121["verdict"], "inconclusive", "{c121}");
    let w = c121["witness"].as_array().unwrap();
    assert_eq!(w[0]["answer"], "pass");
    assert_eq!(w[0]["comment"], "表示あり");
    assert_eq!(w[0]["operator"], "山田 太郎");
    assert_eq!(w[1]["id"], "W-3");
    assert_eq!(w[1]["answer"], "error");
    // 1-2-2: the operator's fail fails the condition.
    assert_eq!(c122["verdict"], "fail", "{c122}");
    assert_eq!(c122["witness"][0]["answer"], "fail");
    assert!(stdout.contains("指令台の画面"), "{stdout}");
    let v = s301(&["verify", out_dir.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The points where `S301_TEST_KILL_AT` can stop a run, in the order a run
/// reaches them (see docs/integrity.md, "How a run ends"); the first
/// `tmp:report.json` is inside the write of the first record, before any
/// check. Up to `commit:report.json` the record must say aborted; from
/// there on it must say completed and verify.
const KILL_POINTS: &[&str] = &[
    "tmp:report.json",
    "initial",
    "checks-done",
    "provisional",
    "witness",
    "evidence",
    "tmp:junit.xml",
    "tmp:declaration.md",
    "tmp:declaration.csv",
    "tmp:declaration.xlsx",
    "tmp:declaration.html",
    "tmp:report.html",
    "staged",
    "tmp:manifest.json",
    "manifest",
    "tmp:manifest.sig",
    "signature",
    "commit:junit.xml",
    "commit:declaration.md",
    "commit:declaration.csv",
    "commit:declaration.xlsx",
    "commit:declaration.html",
    "commit:report.html",
    "commit:report.json",
    "sealed",
];

/// A passing, signed run killed at every point of its end: whatever is
/// left on disk never says `completed` unless `s301 verify --pubkey`
/// passes, and says `aborted` (readable JSON, with a reason) otherwise.
#[test]
fn a_run_killed_at_any_point_of_its_end_never_claims_an_unsealed_completion() {
    let dir = scratch("integrity", "kill-points");
    let prefix = dir.join("lab");
    assert!(s301(&["keygen", "--out", prefix.to_str().unwrap()])
        .status
        .success());
    let (key, pubkey) = (dir.join("lab.key"), dir.join("lab.pub"));
    let sealed_from = KILL_POINTS
        .iter()
        .position(|p| *p == "commit:report.json")
        .unwrap();
    for (i, point) in KILL_POINTS.iter().enumerate() {
        let out_dir = dir.join(format!("run-{i}"));
        let run = process::spawn(
            &[
                "run",
                "--scenario",
                CI_SCENARIO,
                "--seed",
                "5",
                "--only",
                "ST-01,ST-02",
                "--out",
                out_dir.to_str().unwrap(),
                "--sign-key",
                key.to_str().unwrap(),
            ],
            &[("S301_TEST_KILL_AT", point)],
        );
        let (status, output) = run.finish(Duration::from_secs(120));
        assert_eq!(status.code(), None, "{point}: not killed:\n{output}");
        assert!(
            output.contains(&format!("killed at {point}")),
            "{point}:\n{output}"
        );
        let state = process::assert_honest(&out_dir, Some(&pubkey), point);
        let expected = if i >= sealed_from {
            RecordState::CompletedAndSealed
        } else if i == 0 {
            // Killed inside the very first write: no record yet, and none claimed.
            RecordState::Absent
        } else {
            RecordState::Aborted
        };
        assert_eq!(state, expected, "{point}:\n{output}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tmpfs mounted for a test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `kib` KiB at `dir`; the mount error when it cannot.
    fn mount(dir: &Path, kib: u32) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if o.status.success() {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(text(&o.stderr))
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `--out` on a file system too small for the record, at several sizes:
/// the run exits non-zero, leaves no temporary file, and its record never
/// says completed without verifying. A size with room to spare passes.
#[test]
fn a_full_disk_never_leaves_a_completed_record_that_does_not_verify() {
    let dir = scratch("integrity", "full-disk");
    // The record of this run takes about 110 KiB (4 KiB pages).
    for kib in [4, 12, 24, 40, 56, 72, 88, 100, 108, 116, 124, 140, 3400] {
        let mnt = dir.join(format!("fs-{kib}k"));
        let fs = match Tmpfs::mount(&mnt, kib) {
            Ok(fs) => fs,
            Err(e) => {
                eprintln!("skipped: cannot mount a tmpfs here (needs root): {e}");
                return;
            }
        };
        let out_dir = mnt.join("run");
        let run = process::spawn(
            &[
                "run",
                "--scenario",
                CI_SCENARIO,
                "--seed",
                "5",
                "--only",
                "ST-01,ST-02",
                "--out",
                out_dir.to_str().unwrap(),
            ],
            &[],
        );
        let (status, output) = run.finish(Duration::from_secs(120));
        let context = format!("{kib} KiB");
        let state = process::assert_honest(&out_dir, None, &context);
        let code = status.code();
        assert!(code.is_some(), "{context}: died by a signal:\n{output}");
        assert_eq!(
            code == Some(0),
            state == RecordState::CompletedAndSealed,
            "{context}: exit {code:?} but the record is {state:?}:\n{output}"
        );
        if kib <= 100 {
            assert_ne!(code, Some(0), "{context}:\n{output}");
        }
        if kib >= 3400 {
            assert_eq!(code, Some(0), "{context}:\n{output}");
        }
        let temps = process::temp_files(&mnt);
        assert!(temps.is_empty(), "{context}: left {temps:?}:\n{output}");
        drop(fs);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
