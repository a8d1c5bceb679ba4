//! The live witness console in a real browser: headless Chromium, driven
//! through chromedriver (WebDriver), follows a witnessed run against the
//! built-in mock (`s301 run --scenario scenarios/witness.toml
//! --witness-ui ...`). It sees the live picture change where OP-01's probe
//! changed the screen (read from the canvas's pixels), answers every
//! question by clicking (W-03 `fail` with a comment, the rest `pass`), and
//! then finds that failure and its comment in report.json and the exit
//! status.
//!
//! `.ci/run` installs chromium and chromium-driver; outside CI the test
//! says it was skipped when either is absent, under CI their absence fails.
//! The run directory is printed (`witness browser run directory: ...`) and
//! kept under the target directory for the assertions on the other outputs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap: a panic is a failure

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::{json, Value};

const COMMENT: &str = "画面が黒い (browser test)";

fn find(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child on drop (a failed assertion must not leave it running).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The run directory of this test, kept for the assertions on the outputs.
pub fn run_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("witness-browser-run")
}

/// Samples the canvas on every drawn frame: the console shown and a hash
/// of each 32x32 block, so a change can be placed on the screen.
const SAMPLER: &str = r#"
window.__samples = [];
let last = -1;
setInterval(() => {
  const live = window.s301;
  if (!live || live.frames === last) return;
  last = live.frames;
  const c = document.getElementById("screen");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  const bw = Math.ceil(c.width / 32), bh = Math.ceil(c.height / 32);
  const blocks = new Array(bw * bh).fill(2166136261);
  for (let y = 0; y < c.height; y++) {
    for (let x = 0; x < c.width; x++) {
      const i = (y * c.width + x) * 4, b = ((y >> 5) * bw) + (x >> 5);
      blocks[b] = Math.imul(blocks[b] ^ (d[i] | (d[i + 1] << 8) | (d[i + 2] << 16)), 16777619) >>> 0;
    }
  }
  window.__samples.push({ label: document.getElementById("console-label").textContent,
                          w: c.width, h: c.height, bw, blocks });
  if (window.__samples.length > 400) window.__samples.shift();
}, 10);
return true;
"#;

/// Whether two consecutive samples of console OP-01 differ in a block
/// overlapping `bbox` (`[x, y, w, h]`).
fn changed_in(samples: &[Value], bbox: [u64; 4]) -> bool {
    let op: Vec<&Value> = samples
        .iter()
        .filter(|s| s["label"].as_str().unwrap_or("").contains("OP-01"))
        .collect();
    let [x, y, w, h] = bbox;
    op.windows(2).any(|p| {
        let (a, b) = (&p[0], &p[1]);
        if a["w"] != b["w"] || a["h"] != b["h"] {
            return false;
        }
        let bw = a["bw"].as_u64().unwrap_or(0);
        (y / 32..=(y + h.max(1) - 1) / 32).any(|by| {
            (x / 32..=(x + w.max(1) - 1) / 32).any(|bx| {
                a["blocks"][(by * bw + bx) as usize] != b["blocks"][(by * bw + bx) as usize]
            })
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_follows_the_run_and_answers_in_the_browser() {
    let (Some(chromium), Some(driver)) = (
        find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]),
        find(&["/usr/bin/chromedriver"]),
    ) else {
        assert!(
            std::env::var("CI").is_err(),
            "chromium or chromedriver is missing but CI is set: .ci/run must install chromium and chromium-driver"
        );
        eprintln!("skipped: chromium or chromedriver is not installed");
        return;
    };
    let dir = run_dir();
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("witness browser run directory: {}", dir.display());
    let ui_port = free_port();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/witness.toml");
    // The checks the questions are attached to (and their prerequisites).
    let mut run = Reaped(
        Command::new(env!("CARGO_BIN_EXE_s301"))
            .args(["run", "--only", "ST-01,ST-02,OP-01,EX-01,DO-01,DR-01"])
            .arg("--scenario")
            .arg(&scenario)
            .arg("--out")
            .arg(&dir)
            .args([
                "--operator",
                "試験 太郎",
                "--witness",
                "立会 花子",
                "--seed",
                "7",
            ])
            .arg("--witness-ui")
            .arg(format!("127.0.0.1:{ui_port}"))
            // Standard input stays open and silent: every answer comes from the browser.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let stdout = run.0.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });

    let wd_port = free_port();
    let _driver = Reaped(
        Command::new(&driver)
            .arg(format!("--port={wd_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": chromium, "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--window-size=1400,1000"]}),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        let mut b = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        b.capabilities(caps.clone());
        match b.connect(&format!("http://127.0.0.1:{wd_port}")).await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("chromedriver did not start: {e}"),
        }
    };
    let url = format!("http://127.0.0.1:{ui_port}/");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let loaded =
            client.goto(&url).await.is_ok() && client.find(Locator::Css("#screen")).await.is_ok();
        if loaded {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the witness console never answered at {url}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.execute(SAMPLER, vec![]).await.unwrap();

    // Answer each question as it opens: W-03 fails with a comment.
    let ids = ["W-01", "W-02", "W-03", "W-04", "W-05"];
    let mut answered = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    while answered.len() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "questions never opened; answered {answered:?}"
        );
        let left: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|i| !answered.contains(i))
            .collect();
        for id in &left {
            let Ok(card) = client.find(Locator::Id(&format!("q-{id}"))).await else {
                continue;
            };
            // The page redraws a card when its question changes: an element
            // found before the redraw is stale, and the step is tried again.
            if card.attr("data-status").await.ok().flatten().as_deref() != Some("open") {
                continue;
            }
            let (word, comment) = if *id == "W-03" {
                ("fail", Some(COMMENT))
            } else {
                ("pass", None)
            };
            if let Some(c) = comment {
                let Ok(area) = client.find(Locator::Id(&format!("comment-{id}"))).await else {
                    continue;
                };
                if area.clear().await.is_err() || area.send_keys(c).await.is_err() {
                    continue;
                }
            }
            let Ok(button) = client
                .find(Locator::Id(&format!("answer-{id}-{word}")))
                .await
            else {
                continue;
            };
            if button.click().await.is_err() {
                continue;
            }
            answered.insert(*id);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let samples = client
        .execute("return window.__samples;", vec![])
        .await
        .unwrap();

    // The run ends once the record is written: the failure makes it exit 1.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = run.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not end after the answers"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = client.close().await;
    let out = lines.join().unwrap().join("\n");
    assert!(
        out.contains(&format!("http://127.0.0.1:{ui_port}/")),
        "the console's URL is printed at the start:\n{out}"
    );
    assert_eq!(status.code(), Some(1), "{out}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let op01 = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "OP-01")
        .unwrap();
    assert_eq!(op01["verdict"], "pass", "{op01}");
    let bbox: Vec<u64> = op01["evidence"]["changed_bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let bbox: [u64; 4] = bbox.try_into().unwrap();
    let samples = samples.as_array().cloned().unwrap_or_default();
    assert!(
        changed_in(&samples, bbox),
        "the live picture of console OP-01 never changed within {bbox:?} ({} samples)",
        samples.len()
    );

    let cond = |id: &str| {
        report["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    let c122 = cond("1-2-2");
    assert_eq!(c122["verdict"], "fail", "{c122}");
    let w03 = &c122["witness"][0];
    assert_eq!(w03["id"], "W-03");
    assert_eq!(w03["answer"], "fail");
    assert_eq!(w03["comment"], COMMENT);
    assert_eq!(w03["via"], "browser");
    // Recorded as the witness's answer (--witness), not the operator's.
    assert_eq!(w03["operator"], "立会 花子");
    let (asked, answered_at) = (
        w03["asked_at"].as_str().unwrap(),
        w03["answered_at"].as_str().unwrap(),
    );
    assert!(asked <= answered_at, "{asked} > {answered_at}");
    for id in ["1-2-1", "1-3-1", "1-3-2"] {
        let c = cond(id);
        assert_eq!(c["verdict"], "pass", "{c}");
        for w in c["witness"].as_array().unwrap() {
            assert_eq!(w["answer"], "pass", "{w}");
            assert_eq!(w["via"], "browser", "{w}");
        }
    }
    let all: usize = report["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["witness"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(all, 5);

    // The same failure in the summary, report.html and junit.xml.
    assert!(out.contains("  fail           1-2-2"), "{out}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains(COMMENT), "report.html lacks the comment");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains(COMMENT), "junit.xml lacks the comment");
    let s122 = &junit[junit.find("<testsuite name=\"1-2-2 ").unwrap()..];
    let s122 = &s122[..s122.find("</testsuite>").unwrap()];
    assert!(
        s122.contains("<failure") && !s122.contains("failures=\"0\""),
        "{s122}"
    );
    // The 適合宣言 in every format: 1-2-2 否採用 with the comment.
    for name in ["declaration.md", "declaration.csv", "declaration.html"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(text.contains(COMMENT), "{name} lacks the comment");
    }
    let csv = std::fs::read_to_string(dir.join("declaration.csv")).unwrap();
    let at = csv.find("\"操作受付機能\"").unwrap();
    let row_end = csv[at..].find("\"\r\n").map_or(csv.len(), |i| at + i);
    assert!(
        csv[at..row_end].contains("\"否採用\""),
        "{}",
        &csv[at..row_end]
    );
}

#[test]
fn a_bad_or_taken_witness_ui_address_is_a_usage_error_with_nothing_run() {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("witness-ui-usage");
    let _ = std::fs::remove_dir_all(&base);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().map(|a| a.to_string()).unwrap();
    for (addr, says) in [
        ("nonsense", "not an address"),
        (taken.as_str(), "cannot listen"),
    ] {
        let out_dir = base.join(addr.replace([':', '.'], "-"));
        let out = Command::new(env!("CARGO_BIN_EXE_s301"))
            .args(["run", "--witness-ui", addr, "--out"])
            .arg(&out_dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{addr}: {err}");
        assert!(err.contains(says), "{addr}: {err}");
        assert!(!out_dir.exists(), "{addr}: a run directory was made");
    }
}
