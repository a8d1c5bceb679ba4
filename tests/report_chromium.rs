//! report.html as a person sees it: headless Chromium (Debian's `chromium`)
//! renders a fixed-seed run's page to PDF and to a screenshot, and the DOM it
//! built must hold the conditions table with its 【参考①】 columns and the
//! embedded screenshots. `.ci/run` installs Chromium; outside CI the test
//! says it was skipped when Chromium is absent, under CI its absence fails.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_s301");

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs Chromium headless with the flags this closed network needs, killing
/// it if it outlives `limit`.
fn headless(chrome: &Path, profile: &Path, args: &[String], limit: Duration) -> Vec<u8> {
    let mut child = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).ok();
        v
    });
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// What poppler-utils says of the printed record: A4 pages, and a first
/// page that holds what a department signs.
fn pdf_is_a4_with_the_signing_page(pdf: &Path) {
    let tool = |name: &str, args: &[&str]| -> Option<String> {
        let mut cmd = Command::new(name);
        cmd.args(args).arg(pdf);
        if name == "pdftotext" {
            cmd.arg("-"); // to standard output
        }
        match cmd.output() {
            Ok(o) => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
            Err(_) => {
                assert!(
                    std::env::var("CI").is_err(),
                    "{name} is missing but CI is set: .ci/run must install poppler-utils"
                );
                eprintln!("skipped the PDF checks: {name} is not installed");
                None
            }
        }
    };
    let Some(info) = tool("pdfinfo", &[]) else {
        return;
    };
    let size = info
        .lines()
        .find(|l| l.starts_with("Page size:"))
        .unwrap_or_default();
    assert!(size.contains("(A4)"), "the record prints on A4: {info}");
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(pages >= 2, "a cover page and the evidence: {info}");
    let first = tool("pdftotext", &["-f", "1", "-l", "1"]).unwrap_or_default();
    for text in [
        "総合判定",
        "適合",
        "事業者",
        "s301",
        "mock-terminal",
        "試験市消防本部",
        "山田 太郎",
        "佐藤 花子",
        "JST",
        "1-2-1",
        "1-2-2",
        "試験実施者",
        "立会者",
        "消防本部確認",
    ] {
        assert!(first.contains(text), "page 1 lacks {text}:\n{first}");
    }
}

#[test]
fn chromium_renders_report_html_with_conditions_table_and_images() {
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var("CI").is_err(),
            "chromium is missing but CI is set: .ci/run must install it"
        );
        eprintln!("skipped: chromium is not installed");
        return;
    };
    let dir = std::env::temp_dir().join(format!("s301-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("run");
    let status = Command::new(BIN)
        .args(["run", "--scenario", "scenarios/ci.toml", "--seed", "5"])
        .args(["--only", "1-2-1,1-2-2"])
        .args(["--operator", "山田 太郎", "--witness", "佐藤 花子"])
        .args(["--department", "試験市消防本部", "--out"])
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "the run against the mock passes");
    let html = out.join("report.html");
    assert!(html.exists(), "report.html written");
    let url = format!("file://{}", html.display());
    let profile = dir.join("profile");
    let limit = Duration::from_secs(90);

    let dom = String::from_utf8_lossy(&headless(
        &chrome,
        &profile,
        &["--dump-dom".into(), url.clone()],
        limit,
    ))
    .into_owned();
    assert!(dom.contains("<table"), "the page has a table");
    for col in [
        "No.",
        "観点",
        "判定",
        "確認項目",
        "立会確認",
        "否採用の理由",
    ] {
        assert!(dom.contains(col), "the conditions table has column {col}");
    }
    for viewpoint in ["画面転送機能", "操作受付機能"] {
        assert!(dom.contains(viewpoint), "the page names {viewpoint}");
    }
    assert!(
        dom.contains("<img") && dom.contains("data:image/png;base64,"),
        "screenshots are embedded as images"
    );

    let pdf = dir.join("report.pdf");
    headless(
        &chrome,
        &profile,
        &[format!("--print-to-pdf={}", pdf.display()), url.clone()],
        limit,
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "a PDF was printed");
    assert!(
        bytes.len() > 10_000,
        "the PDF has content ({} bytes)",
        bytes.len()
    );

    pdf_is_a4_with_the_signing_page(&pdf);

    let png = dir.join("report.png");
    headless(
        &chrome,
        &profile,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2000".into(),
            url,
        ],
        limit,
    );
    let shot = std::fs::read(&png).unwrap();
    assert!(shot.starts_with(b"\x89PNG"), "a screenshot was taken");
    let _ = std::fs::remove_dir_all(&dir);
}
