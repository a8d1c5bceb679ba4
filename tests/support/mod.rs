//! Helpers shared by the root end-to-end tests: running the real binary,
//! scratch directories, reading report.json, and a standalone `s301 mock`
//! child process whose printed declaration is captured.

#![allow(dead_code)] // each test file uses its own subset

pub mod process;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `s301` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_s301");

/// A fresh, empty scratch directory for test `name` of suite `suite`.
pub fn scratch(suite: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("s301-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch directory");
    d
}

/// Runs `s301 ARGS` to completion (stdin closed, no RUST_LOG).
pub fn s301(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("s301 runs")
}

/// Runs `s301 ARGS` with `answers` written to its standard input, which is
/// then closed (`None`: closed at once), killing it if it outlives `limit`
/// (see [`process::wait_bounded`]). Its output, and how long it ran.
pub fn run_answering(args: &[&str], answers: Option<&str>, limit: Duration) -> (Output, Duration) {
    let t0 = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("s301 starts");
    let mut stdin = child.stdin.take().expect("stdin piped");
    if let Some(a) = answers {
        stdin.write_all(a.as_bytes()).expect("answers written");
    }
    drop(stdin);
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout piped")));
    let err = drain(Box::new(child.stderr.take().expect("stderr piped")));
    let status = process::wait_bounded(&mut child, limit);
    let output = Output {
        status,
        stdout: out.join().expect("stdout read"),
        stderr: err.join().expect("stderr read"),
    };
    (output, t0.elapsed())
}

/// The ci scenario's durations with the built-in witness scenario's five
/// questions, each timing out after `timeout_ms`, written into `dir`.
pub fn witnessed_ci(dir: &Path, timeout_ms: u64) -> PathBuf {
    let root = env!("CARGO_MANIFEST_DIR");
    let ci = std::fs::read_to_string(format!("{root}/scenarios/ci.toml")).expect("ci.toml");
    let w =
        std::fs::read_to_string(format!("{root}/scenarios/witness.toml")).expect("witness.toml");
    let steps = &w[w.find("\n[[witness]]").expect("witness steps")..];
    let steps = steps.replace("timeout_ms = 300000", &format!("timeout_ms = {timeout_ms}"));
    let path = dir.join("witnessed-ci.toml");
    std::fs::write(
        &path,
        format!(
            "{}\n{steps}",
            ci.replace("name = \"ci\"", "name = \"ci-witnessed\"")
        ),
    )
    .expect("scenario written");
    path
}

/// Bytes as text, lossily.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The run directory's report.json.
pub fn read_report(dir: &Path) -> Value {
    let bytes = std::fs::read(dir.join("report.json")).expect("report.json");
    serde_json::from_slice(&bytes).expect("report.json is JSON")
}

/// The check `id` of a report.
pub fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    find(report, "checks", id)
}

/// The condition `id` of a report.
pub fn condition<'a>(report: &'a Value, id: &str) -> &'a Value {
    find(report, "conditions", id)
}

fn find<'a>(report: &'a Value, list: &str, id: &str) -> &'a Value {
    report[list]
        .as_array()
        .and_then(|xs| xs.iter().find(|x| x["id"] == id))
        .unwrap_or_else(|| panic!("{id} missing from the report's {list}"))
}

/// A standalone mock process, stopped when dropped.
pub struct MockProcess {
    /// The child, for tests that kill the terminal mid-run.
    pub child: Child,
    /// The declaration the mock printed for itself.
    pub declaration: String,
}

impl Drop for MockProcess {
    /// SIGTERM first, so that a `--tls` mock removes its key directory;
    /// SIGKILL if it has not stopped within 5 s.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let until = std::time::Instant::now() + Duration::from_secs(5);
            while let Ok(None) = self.child.try_wait() {
                if std::time::Instant::now() >= until {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `s301 mock ARGS` and reads its declaration up to the serving
/// line, waiting at most 30 s.
pub fn spawn_mock(args: &[&str]) -> MockProcess {
    let mut child = Command::new(BIN)
        .arg("mock")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("s301 mock starts");
    let stdout = child.stdout.take().expect("mock stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut decl = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("# s301 mock: serving") {
                let _ = tx.send(Some(decl));
                return;
            }
            decl.push_str(&line);
            decl.push('\n');
        }
        let _ = tx.send(None);
    });
    let mut proc = MockProcess {
        child,
        declaration: String::new(),
    };
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Some(decl)) => proc.declaration = decl,
        other => panic!("mock did not print its declaration: {other:?}"),
    }
    proc
}
