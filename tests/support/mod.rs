//! Helpers shared by the root end-to-end tests: a standalone `s301 mock`
//! child process whose printed declaration is captured.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A standalone mock process, killed when dropped.
pub struct MockProcess {
    /// The child, for tests that kill the terminal mid-run.
    pub child: Child,
    /// The declaration the mock printed for itself.
    pub declaration: String,
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `BIN mock ARGS` and reads its declaration up to the serving line,
/// waiting at most 30 s.
pub fn spawn_mock(bin: &str, args: &[&str]) -> MockProcess {
    let mut child = Command::new(bin)
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
