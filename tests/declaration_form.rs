//! The whole 適合宣言 end to end with the real binary: a declaration with
//! every `[conformity]` answer run against the mock gives declaration.xlsx,
//! .csv and .md with the 15 rows of 【参考①】 in order (the xlsx read back
//! with calamine, rows 1-2-1 and 2-7 compared cell by cell); row 2-2-1 three
//! ways (plaintext against a declared 採用, TLS with a listed suite, no
//! answers); the seal covering the new files; `s301 init`'s template; and
//! the printable page through Chromium (A4 landscape, the row texts found).

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use calamine::{Data, Reader, Xlsx};
use support::{read_report, run_answering, s301, scratch, spawn_mock, text, witnessed_ci, BIN};

const CI_SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ci.toml");
const FORM: &str = include_str!("../harness/data/declaration-form.toml");

const ROW_IDS: [&str; 15] = [
    "1-1-1", "1-1-2", "1-2-1", "1-2-2", "1-3-1", "1-3-2", "2-1", "2-2-1", "2-2-2", "2-3", "2-4-1",
    "2-4-2", "2-5", "2-6", "2-7",
];
const VENDOR_ROWS: [&str; 11] = [
    "1-1-1", "1-1-2", "2-1", "2-2-1", "2-2-2", "2-3", "2-4-1", "2-4-2", "2-5", "2-6", "2-7",
];

/// The form's data: columns and, per row id, the row table.
fn form() -> (Vec<String>, BTreeMap<String, toml::Table>) {
    let t: toml::Table = toml::from_str(FORM).unwrap();
    let cols = t["columns_ja"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let mut rows = BTreeMap::new();
    for r in t["row"].as_array().unwrap() {
        let r = r.as_table().unwrap().clone();
        let s = |k: &str| r[k].as_str().unwrap().to_string();
        let id = if s("lv3") == "-" {
            format!("{}-{}", s("lv1"), s("lv2"))
        } else {
            format!("{}-{}-{}", s("lv1"), s("lv2"), s("lv3"))
        };
        rows.insert(id, r);
    }
    (cols, rows)
}

/// The seven official cells of a row: Lv.1, Lv.2, Lv.3, 項目, 観点, 条件, 補足.
fn official(row: &toml::Table) -> Vec<String> {
    [
        "lv1",
        "lv2",
        "lv3",
        "item_ja",
        "viewpoint_ja",
        "condition_ja",
        "note_ja",
    ]
    .iter()
    .map(|k| row[*k].as_str().unwrap().to_string())
    .collect()
}

/// The `[conformity]` part answering every vendor row; 2-2-1 says 採用.
fn every_answer() -> String {
    let mut s = String::from(
        "\n[conformity]\ndeclarant = \"Example 株式会社 品質保証部 山田太郎\"\ndate = \"2026-12-01\"\ndepartment = \"○○市消防局\"\n",
    );
    for id in VENDOR_ROWS {
        s.push_str(&format!(
            "\n[conformity.row.\"{id}\"]\nadoption = \"採用\"\ncontent = \"{id} の適合内容\"\ndocuments = \"{id} の関連文書 https://example.invalid/{id}\"\n"
        ));
    }
    s
}

/// Parses RFC 4180 CSV (quoted fields may hold commas, quotes, line breaks).
fn parse_csv(s: &str) -> Vec<Vec<String>> {
    let s = s
        .strip_prefix('\u{feff}')
        .expect("the CSV starts with a BOM");
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    rows
}

/// A sheet of the workbook as a grid, every merged region's value copied
/// into each of its cells (as a person reading the sheet sees it).
fn sheet(path: &Path, name: &str) -> Vec<Vec<String>> {
    let mut wb: Xlsx<_> = calamine::open_workbook(path).unwrap();
    let range = wb.worksheet_range(name).unwrap();
    let merges = wb.worksheet_merge_cells(name).unwrap().unwrap();
    let (h, w) = (
        range.end().unwrap().0 as usize + 1,
        range.end().unwrap().1 as usize + 1,
    );
    let mut grid = vec![vec![String::new(); w]; h];
    for (r, row) in grid.iter_mut().enumerate() {
        for (c, cell) in row.iter_mut().enumerate() {
            if let Some(Data::String(s)) = range.get_value((r as u32, c as u32)) {
                *cell = s.clone();
            }
        }
    }
    for m in merges {
        let v = grid[m.start.0 as usize][m.start.1 as usize].clone();
        for row in grid
            .iter_mut()
            .take(m.end.0 as usize + 1)
            .skip(m.start.0 as usize)
        {
            for cell in row
                .iter_mut()
                .take(m.end.1 as usize + 1)
                .skip(m.start.1 as usize)
            {
                *cell = v.clone();
            }
        }
    }
    grid
}

/// The form rows of the 適合宣言 sheet (after the column header row, group
/// title rows left out), as (row id, 11 cells).
fn xlsx_rows(path: &Path, cols: &[String]) -> Vec<(String, Vec<String>)> {
    let grid = sheet(path, "適合宣言");
    let head = grid
        .iter()
        .position(|r| r.len() >= cols.len() && r[..cols.len()] == *cols)
        .expect("the column header row");
    grid[head + 1..]
        .iter()
        // A group title spans every column: all its cells read the same.
        .filter(|r| !r.iter().all(|c| *c == r[0]))
        .map(|r| {
            let id = if r[2] == "-" {
                format!("{}-{}", r[0], r[1])
            } else {
                format!("{}-{}-{}", r[0], r[1], r[2])
            };
            (id, r[..cols.len()].to_vec())
        })
        .collect()
}

fn run_with(dir: &Path, decl: &str, extra: &[&str]) -> (Option<i32>, String) {
    let path = dir.join("terminal.toml");
    std::fs::write(&path, decl).unwrap();
    let out_dir = dir.join("run");
    let out = Command::new(BIN)
        .args(["run", "--terminal", path.to_str().unwrap()])
        .args(["--scenario", CI_SCENARIO, "--seed", "5"])
        .args(["--out", out_dir.to_str().unwrap()])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.code(), text(&out.stdout) + &text(&out.stderr))
}

fn verify(dir: &Path) -> (Option<i32>, String) {
    let o = s301(&["verify", dir.to_str().unwrap()]);
    (o.status.code(), text(&o.stdout) + &text(&o.stderr))
}

#[test]
fn every_answer_against_the_mock_fills_all_fifteen_rows_in_every_format() {
    let dir = scratch("declaration-form", "round-trip");
    let mock = spawn_mock(&[]);
    let decl = format!("{}{}", mock.declaration, every_answer());
    let (code, out) = run_with(&dir, &decl, &[]);
    assert_eq!(code, Some(0), "{out}");
    let run = dir.join("run");
    let report = read_report(&run);
    let run_id = report["run"]["id"].as_str().unwrap().to_string();
    let (cols, form_rows) = form();

    // CSV: the header and the 15 rows in order, 11 columns each.
    let csv = parse_csv(&std::fs::read_to_string(run.join("declaration.csv")).unwrap());
    assert_eq!(csv[0], cols);
    assert_eq!(csv.len(), 16);
    let csv_ids: Vec<String> = csv[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.len(), 11, "{r:?}");
            id_of(r)
        })
        .collect();
    assert_eq!(csv_ids, ROW_IDS);

    // xlsx: the same rows, the same cells.
    let xlsx = xlsx_rows(&run.join("declaration.xlsx"), &cols);
    let xlsx_ids: Vec<&str> = xlsx.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(xlsx_ids, ROW_IDS);
    for ((id, cells), csv_row) in xlsx.iter().zip(&csv[1..]) {
        assert_eq!(cells, csv_row, "row {id}: xlsx and csv differ");
        assert_eq!(
            cells[..7],
            official(&form_rows[id])[..],
            "row {id}: official text"
        );
    }

    // Row 1-2-1, every cell: the official text, then the run's answer.
    let (_, r121) = &xlsx[2];
    assert_eq!(r121[7], "採用");
    assert!(r121[8].starts_with("RFB 3.8 / ws"), "{}", r121[8]);
    assert!(
        r121[8].contains("合格 passed: ST-01, ST-02, ST-03, ST-04, EX-01"),
        "{}",
        r121[8]
    );
    assert_eq!(
        r121[9].split("; 証跡").next().unwrap(),
        format!(
            "接続試験の記録 report.json（ラン {run_id}、チェック ST-01, ST-02, ST-03, ST-04, EX-01, EX-02, EX-03, EX-04）"
        )
    );
    assert!(r121[9].contains("evidence/ST-02/（"), "{}", r121[9]);
    assert_eq!(r121[10], "");

    // Row 2-7, every cell.
    let (_, r27) = &xlsx[14];
    let expected: Vec<String> = official(&form_rows["2-7"])
        .into_iter()
        .chain([
            "採用".to_string(),
            "【事業者の申告・本試験では未検証】2-7 の適合内容".to_string(),
            "2-7 の関連文書 https://example.invalid/2-7".to_string(),
            String::new(),
        ])
        .collect();
    assert_eq!(*r27, expected);

    // 2-2-1: the vendor said 採用, the run was plaintext: the conflict shows.
    let (_, r221) = &xlsx[7];
    assert_eq!(r221[7], "否採用");
    assert!(
        r221[10].starts_with("申告と試験結果の不一致"),
        "{}",
        r221[10]
    );
    assert!(
        r221[10].contains("screen: 平文 plaintext（ws://"),
        "{}",
        r221[10]
    );
    assert!(r221[8].contains("2-2-1 の適合内容"), "{}", r221[8]);
    assert!(
        r221[6].contains("https://www.cryptrec.go.jp/list.html"),
        "補足 keeps the URL"
    );

    // Markdown: header, 15 rows under their two groups, the check sheet.
    let md = std::fs::read_to_string(run.join("declaration.md")).unwrap();
    for needle in [
        "- 宣言者 Declarant: Example 株式会社 品質保証部 山田太郎",
        "- 宣言日 Date: 2026-12-01",
        "- 提出先 Department: ○○市消防局",
        "- 専用端末 型番・版 Terminal model / version: mock-terminal / 0.1.0",
        &run_id,
    ] {
        assert!(md.contains(needle), "{needle} missing:\n{md}");
    }
    let (form_md, sheet_md) = md.split_once("【参考②】").unwrap();
    let md_rows: Vec<&str> = form_md
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Lv.1"))
        .collect();
    assert_eq!(md_rows.len(), 15);
    let sec = form_md.find("## 2 セキュリティ対策").unwrap();
    assert!(
        form_md[sec..].contains("| 2 | 2 | 1 |"),
        "2-2-1 under セキュリティ対策"
    );
    assert!(!form_md[..sec].contains("| 2 | 2 | 1 |"));
    assert_eq!(
        sheet_md
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| No."))
            .count(),
        15
    );

    // The check sheet in the workbook: every row, how it is confirmed.
    let cs = sheet(&run.join("declaration.xlsx"), "チェック観点");
    let by_id = |id: &str| cs.iter().find(|r| r[0] == id).unwrap().clone();
    assert!(by_id("1-2-1")[4].starts_with("本試験の証跡で確認"));
    assert!(
        by_id("1-2-1")[5].starts_with("適合 (pass)"),
        "{:?}",
        by_id("1-2-1")
    );
    assert!(by_id("2-7")[4].starts_with("事業者の文書で確認"));
    assert_eq!(
        by_id("2-7")[5],
        "添付 attached: 2-7 の関連文書 https://example.invalid/2-7"
    );
    assert_eq!(
        by_id("2-7")[2],
        form_rows["2-7"]["check_ja"].as_str().unwrap()
    );

    // The seal covers the new files: tampering with either is found.
    let (code, out) = verify(&run);
    assert_eq!(code, Some(0), "{out}");
    for name in ["declaration.xlsx", "declaration.html"] {
        let path = run.join(name);
        let original = std::fs::read(&path).unwrap();
        let mut changed = original.clone();
        let at = changed.len() / 2;
        changed[at] ^= 0x01;
        std::fs::write(&path, &changed).unwrap();
        let (code, out) = verify(&run);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains(&format!("changed: {name}")), "{out}");
        std::fs::write(&path, &original).unwrap();
    }
    assert_eq!(verify(&run).0, Some(0));

    // `s301 report` gives the same bytes again.
    let again = dir.join("again.xlsx");
    let o = s301(&[
        "report",
        run.to_str().unwrap(),
        "--format",
        "xlsx",
        "-o",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(run.join("declaration.xlsx")).unwrap()
    );
    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
}

fn id_of(r: &[String]) -> String {
    if r[2] == "-" {
        format!("{}-{}", r[0], r[1])
    } else {
        format!("{}-{}-{}", r[0], r[1], r[2])
    }
}

#[test]
fn a_tls_run_with_a_listed_suite_shows_the_suite_as_evidence_of_2_2_1() {
    let dir = scratch("declaration-form", "tls");
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let push_to = format!("https://127.0.0.1:{port}/s3-01/v1/reports");
    let mock = spawn_mock(&["--tls", "--tls-client-auth", "--push-to", &push_to]);
    let decl = format!(
        "{}\n[conformity.row.\"2-2-1\"]\nadoption = \"採用\"\ncontent = \"TLS 1.3 で暗号化\"\ndocuments = \"設計書\"\n",
        mock.declaration
    );
    let (code, out) = run_with(&dir, &decl, &["--only", "ST-01,DO-01,TLS-01"]);
    assert_eq!(code, Some(0), "{out}");
    let run = dir.join("run");
    let report = read_report(&run);
    let tls01 = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "TLS-01")
        .unwrap();
    assert_eq!(tls01["verdict"], "pass", "{tls01}");
    let suite = tls01["evidence"]["transports"][0]["tls"]["suite"]
        .as_str()
        .unwrap()
        .to_string();
    let (cols, _) = form();
    let rows = xlsx_rows(&run.join("declaration.xlsx"), &cols);
    let (_, r221) = rows.iter().find(|(id, _)| id == "2-2-1").unwrap();
    assert_eq!(r221[7], "採用", "{r221:?}");
    assert!(
        r221[8].contains(&format!(
            "screen: TLSv1_3 {suite}（電子政府推奨暗号リストに該当）"
        )),
        "{}",
        r221[8]
    );
    assert!(
        r221[9].contains("設計書") && r221[9].contains("TLS-01"),
        "{}",
        r221[9]
    );
    assert_eq!(r221[10], "");
    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_answers_the_form_is_still_whole_and_the_vendor_rows_read_not_declared() {
    let dir = scratch("declaration-form", "no-answers");
    let out_dir = dir.join("run");
    let o = s301(&[
        "run",
        "--scenario",
        CI_SCENARIO,
        "--seed",
        "5",
        "--only",
        "ST-01,TLS-01",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    let csv = parse_csv(&std::fs::read_to_string(out_dir.join("declaration.csv")).unwrap());
    assert_eq!(csv.len(), 16);
    for r in &csv[1..] {
        let id = id_of(r);
        if VENDOR_ROWS.contains(&id.as_str()) {
            assert_eq!(r[7], "未申告", "{id}");
            assert!(r[8].starts_with("未申告 (not declared)"), "{id}: {}", r[8]);
        } else {
            // Tested rows: never 採用 on a narrowed run, and say why.
            assert_eq!(r[7], "否採用", "{id}");
            assert!(
                r[10].starts_with("判定保留") || r[10].starts_with("未実施"),
                "{id}: {}",
                r[10]
            );
        }
    }
    let r221 = csv.iter().find(|r| id_of(r) == "2-2-1").unwrap();
    assert!(r221[8].contains("screen: 平文 plaintext"), "{}", r221[8]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The value of `key = "..."` in the first table `[table]` of `decl`.
fn value_in(decl: &str, table: &str, key: &str) -> String {
    let start = decl.find(&format!("[{table}]")).unwrap();
    decl[start..]
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")))
        .unwrap()
        .trim_matches('"')
        .to_string()
}

#[test]
fn init_writes_a_template_that_names_its_placeholders_and_runs_once_filled() {
    let dir = scratch("declaration-form", "init");
    let path = dir.join("terminal.toml");
    let o = s301(&["init", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let template = std::fs::read_to_string(&path).unwrap();
    for id in VENDOR_ROWS {
        assert!(
            template.contains(&format!("[conformity.row.\"{id}\"]")),
            "{id}"
        );
    }
    for part in [
        "[terminal]",
        "[screen]",
        "[operation]",
        "[data]",
        "[harness]",
        "# [tls]",
    ] {
        assert!(template.contains(part), "{part}");
    }

    // Never over an existing file.
    let o = s301(&["init", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("already exists"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), template);

    // As written: refused at the first placeholder, with its line.
    let out_dir = dir.join("run");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--terminal",
            path.to_str().unwrap(),
            "--scenario",
            CI_SCENARIO,
            "--out",
            out_dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        s301(&args)
    };
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    let line = template
        .lines()
        .position(|l| l.starts_with("vendor = "))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("terminal.toml:{line}:")) && err.contains("terminal.vendor"),
        "{err}"
    );
    assert!(
        err.contains("conformity.row.2-7.documents"),
        "the rest are listed: {err}"
    );

    // Filled in (URLs, listen address and probes from a running mock).
    let mock = spawn_mock(&[]);
    let m = &mock.declaration;
    let fills = [
        ("url", value_in(m, "screen", "url")),
        ("base_url", value_in(m, "data", "base_url")),
        ("listen", value_in(m, "harness", "listen")),
        ("declarant", "山田".to_string()),
        ("date", "2026-12-01".to_string()),
    ];
    let mut filled = String::new();
    for l in template.lines() {
        let key = l.split(" = ").next().unwrap_or("");
        let l = match fills.iter().find(|(k, _)| *k == key) {
            Some((k, v)) if l.contains("<<") => format!("{k} = \"{v}\""),
            _ if l.contains("\"<<") => {
                let open = l.find("\"<<").unwrap();
                format!("{}\"記入済み {key}\"", &l[..open])
            }
            _ => l.to_string(),
        };
        filled.push_str(&l);
        filled.push('\n');
    }
    let filled = filled
        .replace(
            "x = 100\ny = 100\nwatch = [0, 0, 400, 300]",
            "x = 512\ny = 498\nwatch = [32, 256, 960, 464]",
        )
        .replace("watch = [0, 0, 400, 300]", "watch = [32, 48, 960, 192]");
    assert!(!filled.contains("\"<<"), "{filled}");
    std::fs::write(&path, &filled).unwrap();
    let o = run(&["--only", "ST-01,OP-01,DO-01", "--seed", "5"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let md = std::fs::read_to_string(out_dir.join("declaration.md")).unwrap();
    assert!(md.contains("- 宣言者 Declarant: 山田"), "{md}");
    assert!(
        md.contains("【事業者の申告・本試験では未検証】記入済み content"),
        "{md}"
    );
    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tool(name: &str) -> Option<std::path::PathBuf> {
    ["/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Runs a command, killing it if it outlives `limit`.
fn bounded(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn the_printable_declaration_prints_a4_landscape_with_its_row_texts() {
    let (Some(chrome), Some(pdfinfo), Some(pdftotext)) = (
        tool("chromium").or_else(|| tool("chromium-browser")),
        tool("pdfinfo"),
        tool("pdftotext"),
    ) else {
        assert!(
            std::env::var("CI").is_err(),
            "chromium or poppler-utils missing but CI is set: .ci/run must install them"
        );
        eprintln!("skipped: chromium or poppler-utils is not installed");
        return;
    };
    let dir = scratch("declaration-form", "print");
    let mock = spawn_mock(&[]);
    let decl = format!("{}{}", mock.declaration, every_answer());
    let (code, out) = run_with(&dir, &decl, &["--only", "ST-01,OP-01"]);
    assert_eq!(code, Some(0), "{out}");
    drop(mock);
    let html = dir.join("run/declaration.html");
    let pdf = dir.join("declaration.pdf");
    let profile = dir.join("profile");
    bounded(
        Command::new(&chrome)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-pdf-header-footer",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--print-to-pdf={}", pdf.display()))
            .arg(format!("file://{}", html.display())),
        Duration::from_secs(120),
    );
    let info = text(&bounded(Command::new(&pdfinfo).arg(&pdf), Duration::from_secs(30)).stdout);
    let size = info
        .lines()
        .find_map(|l| l.strip_prefix("Page size:"))
        .unwrap_or_else(|| panic!("no page size in {info}"));
    let dims: Vec<f64> = size
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        (dims[0] - 842.0).abs() < 1.5 && (dims[1] - 595.0).abs() < 1.5,
        "A4 landscape is 842 x 595 pt: {size}"
    );
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap();
    assert!((2..=12).contains(&pages), "{pages} pages");
    let words = text(
        &bounded(
            Command::new(&pdftotext).arg(&pdf).arg("-"),
            Duration::from_secs(30),
        )
        .stdout,
    );
    // Set horizontally, no column squeezed to a character a line: hardly a
    // line of the text holds a single Japanese character (vertical text, or
    // a one-character column, would give hundreds).
    let lone = words
        .lines()
        .filter(|l| {
            let l = l.trim();
            l.chars().count() == 1 && !l.is_ascii() && l != "☐"
        })
        .count();
    assert!(lone <= 5, "{lone} lines of one character:\n{words}");
    // The row texts are there (each needle fits one line of its column).
    for needle in [
        "適合宣言書",
        "標準インターフェイスの前提条件",
        "セキュリティ対策",
        "職員への通知など",
        "伝送データの暗号",
        "否採用の理由",
        "【参考②】消防本部のチェック観点",
        "本試験の証跡で確認",
        "2-7 の適合内容",
        "https://www.cryptrec.go.jp",
    ] {
        assert!(
            words.contains(needle),
            "{needle} not found in the PDF's text:\n{words}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_witness_answer_is_the_reason_in_the_declaration_with_who_and_when() {
    let dir = scratch("declaration-form", "witness");
    let scenario = witnessed_ci(&dir, 300_000);
    let out_dir = dir.join("run");
    let (out, _) = run_answering(
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
            "--out",
            out_dir.to_str().unwrap(),
        ],
        Some("pass\nfail 画面が黒い\npass\npass\npass\n"),
        Duration::from_secs(300),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = read_report(&out_dir);
    let w = report["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "1-2-1")
        .unwrap()["witness"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["answer"] == "fail")
        .unwrap()
        .clone();
    let (id, question, at) = (
        w["id"].as_str().unwrap(),
        w["question_ja"].as_str().unwrap(),
        // The department reads the time in JST.
        s301_harness::model::time::jst_display(w["answered_at"].as_str().unwrap()).unwrap(),
    );
    let (cols, _) = form();
    let rows = xlsx_rows(&out_dir.join("declaration.xlsx"), &cols);
    let csv = parse_csv(&std::fs::read_to_string(out_dir.join("declaration.csv")).unwrap());
    let md = std::fs::read_to_string(out_dir.join("declaration.md")).unwrap();
    let html = std::fs::read_to_string(out_dir.join("declaration.html")).unwrap();
    let (_, x121) = rows.iter().find(|(rid, _)| rid == "1-2-1").unwrap();
    let c121 = csv.iter().find(|r| id_of(r) == "1-2-1").unwrap();
    assert_eq!(x121, c121);
    assert_eq!(c121[7], "否採用");
    let reason = &c121[10];
    assert!(reason.starts_with("不適合"), "{reason}");
    let expected = format!(
        "立会確認 {id}「{question}」への回答: 満たさない (fail)、コメント: 画面が黒い、確認者: 佐藤 花子、回答日時: {at}"
    );
    assert!(reason.contains(&expected), "{expected}\nnot in\n{reason}");
    assert!(md.contains("画面が黒い") && md.contains("佐藤 花子"));
    assert!(
        md.contains("- 試験実施者・立会者 Operator / witness: 山田 太郎 / 佐藤 花子"),
        "{md}"
    );
    assert!(
        html.contains(&expected),
        "declaration.html lacks the witness answer"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn init_interactive_writes_the_answers_in_place_of_their_placeholders() {
    use std::io::Write as _;
    let dir = scratch("declaration-form", "init-interactive");
    let path = dir.join("t.toml");
    let mut child = Command::new(BIN)
        .args(["init", path.to_str().unwrap(), "--interactive"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // vendor, service, model, version, screen url; the rest left empty.
    stdin
        .write_all(
            "Example 株式会社\nNet119\nT-100\n2.1\nws://192.0.2.10:5901/s3-01/v1/screen\n\n"
                .as_bytes(),
        )
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("サービス名"),
        "the questions are asked"
    );
    let t = std::fs::read_to_string(&path).unwrap();
    for line in [
        "vendor = \"Example 株式会社\"",
        "service = \"Net119\"",
        "model = \"T-100\"",
        "version = \"2.1\"",
        "url = \"ws://192.0.2.10:5901/s3-01/v1/screen\"",
    ] {
        assert!(t.contains(line), "{line} missing:\n{t}");
    }
    // The first placeholder left is now the data API's URL.
    let o = s301(&["run", "--terminal", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("data.base_url: still a placeholder"),
        "{}",
        text(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
