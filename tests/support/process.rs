//! Process helpers for the end-to-end tests that stop `s301` from outside:
//! sending signals, waiting with a bound, collecting output while the
//! child runs, and the record invariant every such test checks.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{text, BIN};

/// A spawned `s301` whose stdout and stderr are read on threads, line by
/// line, into `lines` (stderr lines prefixed with `E: `).
pub struct Running {
    /// The child.
    pub child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

/// Spawns `s301 ARGS` with `envs` set (stdin closed, no RUST_LOG).
pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("S301_TEST_KILL_AT")
        .env_remove("S301_TEST_HOLD_AT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("s301 starts");
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().expect("stdout is piped");
    let err = child.stderr.take().expect("stderr is piped");
    let tx2 = tx.clone();
    std::thread::spawn(move || forward(out, "", &tx));
    std::thread::spawn(move || forward(err, "E: ", &tx2));
    Running {
        child,
        lines: rx,
        seen: Vec::new(),
    }
}

fn forward(r: impl Read, prefix: &str, tx: &std::sync::mpsc::Sender<String>) {
    for line in BufReader::new(r).lines() {
        let Ok(line) = line else { break };
        if tx.send(format!("{prefix}{line}")).is_err() {
            break;
        }
    }
}

impl Running {
    /// Waits at most `limit` for a line (stdout, or stderr with `E: `)
    /// that `when` accepts; panics with everything seen otherwise.
    pub fn wait_for_line(&mut self, limit: Duration, when: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + limit;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if when(&l) {
                        return l;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "the awaited line never came within {limit:?}:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    /// Sends `SIG` (`INT`, `TERM`, `HUP`, `KILL`) to the child.
    pub fn signal(&self, sig: &str) {
        signal(self.child.id(), sig);
    }

    /// Waits at most `limit` for the child to exit (killing it and
    /// panicking otherwise) and returns its status and everything it printed.
    pub fn finish(mut self, limit: Duration) -> (ExitStatus, String) {
        let status = wait_bounded(&mut self.child, limit);
        // The reader threads end when the pipes close; gather what is left.
        let until = Instant::now() + Duration::from_secs(10);
        while let Ok(l) = self
            .lines
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            self.seen.push(l);
        }
        (status, self.seen.join("\n"))
    }
}

/// Sends `SIG` to process `pid` with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(sent.success(), "kill -{sig} {pid} failed");
}

/// Waits at most `limit` for `child`; kills it and panics on timeout.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let until = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return s,
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("pid {} did not exit within {limit:?}", child.id());
            }
            Err(e) => panic!("waiting for pid {}: {e}", child.id()),
        }
    }
}

/// Every file below `dir` whose name ends in `.tmp`.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".tmp") {
                out.push(p);
            }
        }
    }
    out
}

/// What a run directory's record says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// There is no report.json.
    Absent,
    /// report.json says `aborted` (with a reason).
    Aborted,
    /// report.json says `completed`, and `s301 verify` passes.
    CompletedAndSealed,
}

/// The invariant of a run record: report.json, when there is one, is
/// readable JSON; if it says `completed`, `s301 verify DIR` (with `pubkey`
/// when given) passes; otherwise it says `aborted` and gives a reason.
/// Panics with `context` when the directory breaks it.
pub fn assert_honest(dir: &Path, pubkey: Option<&Path>, context: &str) -> RecordState {
    let path = dir.join("report.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return RecordState::Absent,
        Err(e) => panic!("{context}: {}: {e}", path.display()),
    };
    let r: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{context}: report.json is not JSON: {e}"));
    match r["run"]["status"].as_str() {
        Some("completed") => {
            let mut args = vec!["verify".to_string(), dir.display().to_string()];
            if let Some(k) = pubkey {
                args.push("--pubkey".into());
                args.push(k.display().to_string());
            }
            let v = Command::new(BIN)
                .args(&args)
                .output()
                .expect("s301 verify runs");
            assert_eq!(
                v.status.code(),
                Some(0),
                "{context}: report.json says completed but the seal does not verify:\n{}{}",
                text(&v.stdout),
                text(&v.stderr)
            );
            RecordState::CompletedAndSealed
        }
        Some("aborted") => {
            let reason = r["run"]["abort_reason"].as_str().unwrap_or("");
            assert!(
                !reason.is_empty(),
                "{context}: aborted without a reason: {}",
                r["run"]
            );
            RecordState::Aborted
        }
        other => panic!("{context}: run.status is {other:?}"),
    }
}
