//! End to end over TLS with the real binary: `s301 mock --tls
//! --tls-client-auth` prints a declaration with a `[tls]` section, and
//! `s301 run --require-encryption` against it passes TLS-01 with the
//! version, the suite and its CRYPTREC status in report.json.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_s301");

/// The mock process; killed when dropped.
struct Mock(Child);

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `s301 mock ARGS` and returns it with the declaration it printed.
fn spawn_mock(args: &[&str]) -> (Mock, String) {
    let mut child = Command::new(BIN)
        .arg("mock")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mock = Mock(child);
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
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Some(decl)) => (mock, decl),
        other => panic!("mock did not print its declaration: {other:?}"),
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("s301-tls-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn mutual_tls_mock_passes_tls01_with_encryption_required() {
    let dir = scratch("mtls");
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let push_to = format!("https://127.0.0.1:{port}/s3-01/v1/reports");
    let (mock, decl) = spawn_mock(&["--tls", "--tls-client-auth", "--push-to", &push_to]);
    assert!(decl.contains("url = \"wss://"), "{decl}");
    assert!(decl.contains("base_url = \"https://"), "{decl}");
    for key in [
        "ca",
        "client_cert",
        "client_key",
        "receiver_cert",
        "receiver_key",
    ] {
        assert!(
            decl.contains(&format!("\n{key} = ")),
            "{key} missing:\n{decl}"
        );
    }
    let path = dir.join("terminal.toml");
    std::fs::write(&path, &decl).unwrap();
    let out_dir = dir.join("run");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ci.toml");
    let out = Command::new(BIN)
        .args(["run", "--terminal", path.to_str().unwrap()])
        .args(["--scenario", scenario, "--only", "ST-01,DO-01,DR-03,TLS-01"])
        .args(["--require-encryption", "--seed", "5"])
        .args(["--out", out_dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    let tls01 = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "TLS-01")
        .unwrap();
    assert_eq!(tls01["verdict"], "pass", "{tls01}");
    let transports = tls01["evidence"]["transports"].as_array().unwrap();
    assert_eq!(transports.len(), 3, "{tls01}");
    for t in transports {
        assert_eq!(t["encrypted"], true, "{t}");
    }
    let screen = &transports[0]["tls"];
    assert!(screen["version"].as_str().unwrap().starts_with("TLSv1_"));
    assert!(screen["suite"].as_str().unwrap().starts_with("TLS"));
    assert_eq!(screen["cryptrec"]["listed"], true, "{screen}");
    assert!(screen["cryptrec"]["list"]
        .as_str()
        .unwrap()
        .contains("電子政府推奨暗号リスト"));
    let row = report["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "2-2-1")
        .unwrap();
    assert_eq!(row["informational"], true, "{row}");
    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
}
