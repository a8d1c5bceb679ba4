//! A witnessed run as a department sees it: every output (the terminal
//! summary, report.json, report.html, junit.xml, the exit status) carries
//! the witness's answer. A `fail` with a comment fails its condition in
//! all of them; a run nobody answers (standard input closed) ends within
//! its timeouts and is inconclusive everywhere, never a pass.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{condition, read_report, run_answering as run, scratch, text, witnessed_ci, BIN};

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The `<testsuite>` element of condition `cond` in junit.xml.
fn suite<'a>(junit: &'a str, cond: &str) -> &'a str {
    let start = junit
        .find(&format!("<testsuite name=\"{cond} "))
        .unwrap_or_else(|| panic!("no suite for {cond}: {junit}"));
    let rest = &junit[start..];
    &rest[..rest.find("</testsuite>").unwrap()]
}

/// The report.html row of the cover's condition table for `cond`.
fn html_row<'a>(html: &'a str, cond: &str) -> &'a str {
    let row = html
        .split("<tr>")
        .find(|r| r.starts_with(&format!("<td>{cond}")))
        .unwrap_or_else(|| panic!("no row for {cond}"));
    &row[..row.find("</tr>").unwrap()]
}

/// The declaration.csv record of the form row whose 観点 is `viewpoint`
/// (a record may span lines: its cells are quoted).
fn csv_row<'a>(csv: &'a str, viewpoint: &str) -> &'a str {
    let cell = format!("\"{viewpoint}\"");
    let at = csv
        .find(&cell)
        .unwrap_or_else(|| panic!("no row {viewpoint}"));
    let start = csv[..at].rfind("\r\n").map_or(0, |i| i + 2);
    let end = csv[at..].find("\"\r\n").map_or(csv.len(), |i| at + i + 1);
    &csv[start..end]
}

#[test]
fn a_failed_answer_with_its_comment_shows_in_every_output() {
    let dir = scratch("witnessed", "fail");
    let scenario = witnessed_ci(&dir, 60_000);
    let out_dir = dir.join("run");
    let (out, _) = run(
        &[
            "run",
            "--scenario",
            scenario.to_str().unwrap(),
            "--seed",
            "21",
            "--operator",
            "山田 太郎",
            "--witness",
            "佐藤 花子",
            "--department",
            "試験市消防本部",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        Some("pass\nfail 画面が黒い\npass\npass\npass\n"),
        Duration::from_secs(300),
    );
    let stdout = text(&out.stdout);
    // The exit status: a failed condition.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );

    // report.json: 1-2-1 fails, the answer is the witness's, with its comment.
    let r = read_report(&out_dir);
    assert_eq!(r["run"]["status"], "completed");
    assert_eq!(r["run"]["witness"], "佐藤 花子");
    assert_eq!(r["run"]["operator"], "山田 太郎");
    let c121 = condition(&r, "1-2-1");
    assert_eq!(c121["verdict"], "fail", "{c121}");
    let w02 = c121["witness"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "W-02")
        .unwrap();
    assert_eq!(w02["answer"], "fail");
    assert_eq!(w02["comment"], "画面が黒い");
    assert_eq!(w02["operator"], "佐藤 花子");
    for other in ["1-2-2", "1-3-1", "1-3-2"] {
        assert_eq!(condition(&r, other)["verdict"], "pass", "{other}");
    }
    // The run ends after the last answer, not when the checks did.
    let finished = r["run"]["finished_at"].as_str().unwrap();
    for c in r["conditions"].as_array().unwrap() {
        for w in c["witness"].as_array().into_iter().flatten() {
            for key in ["asked_at", "answered_at"] {
                let at = w[key].as_str().unwrap();
                assert!(at <= finished, "{key} {at} after finished_at {finished}");
            }
        }
    }
    assert!(r["run"]["checks_finished_at"].as_str().unwrap() <= finished);

    // The terminal summary.
    let conditions = &stdout[stdout.find("\nConditions\n").expect(&stdout)..];
    assert!(conditions.contains("  fail           1-2-1"), "{stdout}");
    assert!(!conditions.contains("  pass           1-2-1"), "{stdout}");
    assert!(
        stdout.contains("witness W-02 (1-2-1): fail  画面が黒い  -> the condition fails"),
        "{stdout}"
    );

    // report.html: 総合判定 is 不適合, the row says why, the table has all.
    let html = read(&out_dir, "report.html");
    assert!(html.contains("総合判定"), "no overall result");
    assert!(
        html.contains("<b>不適合</b>"),
        "overall result is not 不適合"
    );
    let row = html_row(&html, "1-2-1");
    assert!(row.contains("不適合"), "{row}");
    assert!(row.contains("画面が黒い"), "{row}");
    assert!(row.contains("佐藤 花子"), "{row}");
    assert!(
        html.contains("二台目の指令台から接続したとき"),
        "question text"
    );

    // junit.xml: the suite of 1-2-1 has the failure, with the comment.
    let junit = read(&out_dir, "junit.xml");
    let s121 = suite(&junit, "1-2-1");
    assert!(!s121.contains("failures=\"0\""), "{s121}");
    assert!(s121.contains("<failure"), "{s121}");
    assert!(
        s121.contains("witness answered fail: 画面が黒い (by 佐藤 花子"),
        "{s121}"
    );
    assert!(suite(&junit, "1-2-2").contains("failures=\"0\""));

    // The 適合宣言: 1-2-1 is 否採用 with the witness's words, 1-2-2 採用.
    let csv = read(&out_dir, "declaration.csv");
    let row = csv_row(&csv, "画面転送機能");
    assert!(row.contains("\"否採用\""), "{row}");
    assert!(
        row.contains("画面が黒い") && row.contains("佐藤 花子"),
        "{row}"
    );
    assert!(csv_row(&csv, "操作受付機能").contains("\"採用\""));
    let md = read(&out_dir, "declaration.md");
    assert!(
        md.contains("画面が黒い"),
        "declaration.md lacks the comment"
    );

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nobody_answering_is_inconclusive_in_every_output_and_ends_in_time() {
    let dir = scratch("witnessed", "closed");
    let scenario = witnessed_ci(&dir, 300_000);
    let out_dir = dir.join("run");
    let (out, took) = run(
        &[
            "run",
            "--scenario",
            scenario.to_str().unwrap(),
            "--seed",
            "22",
            "--lang",
            "ja",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        None,
        Duration::from_secs(240),
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    // Closed input answers at once: far less than one question's timeout.
    assert!(took < Duration::from_secs(200), "took {took:?}");

    let r = read_report(&out_dir);
    for cond in ["1-2-1", "1-2-2", "1-3-1", "1-3-2"] {
        let c = condition(&r, cond);
        assert_eq!(c["verdict"], "inconclusive", "{cond}: {c}");
        assert!(c["witness"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["answer"] == "error"));
    }
    // The summary, in Japanese: 判定保留 for each, 適合 for none.
    let conditions = &stdout[stdout.find("\n条件\n").expect(&stdout)..];
    for cond in ["1-2-1", "1-2-2", "1-3-1", "1-3-2"] {
        assert!(
            conditions.contains(&format!("  判定保留       {cond}")),
            "{cond}: {stdout}"
        );
        assert!(
            !conditions.contains(&format!("  適合           {cond}")),
            "{stdout}"
        );
    }
    let html = read(&out_dir, "report.html");
    assert!(html.contains("<b>判定保留</b>"), "overall result");
    for cond in ["1-2-1", "1-2-2", "1-3-1", "1-3-2"] {
        let row = html_row(&html, cond);
        assert!(row.contains("判定保留"), "{row}");
        assert!(row.contains("回答なし"), "{row}");
    }
    let junit = read(&out_dir, "junit.xml");
    for cond in ["1-2-1", "1-2-2", "1-3-1", "1-3-2"] {
        let s = suite(&junit, cond);
        assert!(s.contains("<error"), "{cond}: {s}");
        assert!(
            s.contains("condition.verdict\" value=\"inconclusive\""),
            "{s}"
        );
    }
    let csv = read(&out_dir, "declaration.csv");
    for viewpoint in [
        "画面転送機能",
        "操作受付機能",
        "データ入出力機能",
        "データ連携要求の受付機能",
    ] {
        let row = csv_row(&csv, viewpoint);
        assert!(row.contains("\"否採用\""), "{row}");
        assert!(row.contains("判定保留"), "{row}");
    }
    let v: Value = r["metrics"]["conditions"].clone();
    assert_eq!(v["pass"], 0, "{v}");
    assert_eq!(v["inconclusive"], 4, "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn built_in_scenarios_are_found_by_name_from_any_directory() {
    let dir = scratch("witnessed", "by-name");
    let out_dir = dir.join("run");
    let out = Command::new(BIN)
        .args(["run", "--scenario", "ci", "--only", "ST-01", "--seed", "1"])
        .arg("--out")
        .arg(&out_dir)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(read_report(&out_dir)["run"]["scenario"], "ci");

    let out = Command::new(BIN)
        .args(["run", "--scenario", "witnes"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "no built-in scenario is named \"witnes\": use one of default, ci, acceptance, witness"
        ),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
