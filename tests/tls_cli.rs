//! End to end over TLS with the real binary: `s301 mock --tls
//! --tls-client-auth` prints a declaration with a `[tls]` section, and
//! `s301 run --require-encryption` against it passes TLS-01 with the
//! version, the suite and its CRYPTREC status in report.json.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod support;

use support::{check, condition, read_report, scratch, spawn_mock, text, BIN};

use std::process::Command;

#[test]
fn mutual_tls_mock_passes_tls01_with_encryption_required() {
    let dir = scratch("tls-cli", "mtls");
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let push_to = format!("https://127.0.0.1:{port}/s3-01/v1/reports");
    let mock = spawn_mock(&["--tls", "--tls-client-auth", "--push-to", &push_to]);
    let decl = &mock.declaration;
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
    std::fs::write(&path, decl).unwrap();
    let out_dir = dir.join("run");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ci.toml");
    let out = Command::new(BIN)
        .args(["run", "--terminal", path.to_str().unwrap()])
        .args(["--scenario", scenario, "--only", "ST-01,DO-01,DR-03,TLS-01"])
        .args(["--require-encryption", "--seed", "5"])
        .args(["--out", out_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = read_report(&out_dir);
    let tls01 = check(&report, "TLS-01");
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
    let row = condition(&report, "2-2-1");
    assert_eq!(row["informational"], true, "{row}");
    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
}
