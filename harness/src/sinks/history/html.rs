//! The printable comparison page, 「仕様変更に伴う適合状況の報告」
//! (conformity report after a specification change): Japanese first with
//! English beside it, one self-contained file.
//!
//! Screenshots are embedded as `data:` URIs (at most
//! [`MAX_EMBEDDED_BYTES`] in all, PNG files only); the page has no script
//! and loads nothing. Every text taken from the records (details,
//! declaration values, ids, paths) is HTML-escaped.

use std::fmt::Write as _;

use super::compare::{Change, Comparison, VerdictChange};
use super::figures::number;
use super::RunRecord;
use crate::model::png::base64;
use crate::sinks::report::html::escape;
use crate::sinks::report::outputs::{EvidenceIndex, MAX_EMBEDDED_BYTES};

/// The page's heading in Japanese.
pub const TITLE_JA: &str = "仕様変更に伴う適合状況の報告";
/// The page's heading in English.
pub const TITLE_EN: &str = "Conformity report after a specification change";

const CSS: &str = "body{font-family:'Noto Sans CJK JP','Hiragino Sans','Yu Gothic',sans-serif;\
margin:1.5em;color:#111;font-size:10.5pt}h1{font-size:16pt}h2{font-size:13pt;border-bottom:1px solid #444;\
margin-top:1.5em}h3{font-size:11pt}table{border-collapse:collapse;width:100%}th,td{border:1px solid #666;\
padding:3px 5px;vertical-align:top;text-align:left}th{background:#eee}.en{color:#555;font-size:9pt}\
.regression{color:#a00;font-weight:bold}.improvement{color:#063;font-weight:bold}\
.warning{border:3px solid #a00;background:#fee;padding:6px 10px;font-weight:bold}\
.pair{display:flex;gap:8px;page-break-inside:avoid}.pair figure{flex:1;margin:4px}\
figure img{max-width:100%;border:1px solid #999}.pair figure img{width:100%;image-rendering:pixelated}td.num{text-align:right;font-variant-numeric:tabular-nums}\
@media print{body{margin:0}.pair{break-inside:avoid}}";

/// What the page shows.
pub struct Page<'a> {
    /// The earlier run.
    pub old: &'a RunRecord,
    /// The later run.
    pub new: &'a RunRecord,
    /// What the comparison found.
    pub comparison: &'a Comparison,
    /// When a seal did not verify and the comparison was made all the
    /// same (`--unsealed`): one line per run whose seal failed.
    pub unsealed: &'a [String],
}

/// One screenshot of a check in either run, by file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenshotPair {
    /// The check (`OP-01`).
    pub check: String,
    /// The file name (`before.png`).
    pub name: String,
    /// Its path in the earlier run, relative to the run directory.
    pub old: Option<String>,
    /// Its path in the later run.
    pub new: Option<String>,
}

/// The screenshots of both runs, paired by check and file name, in
/// catalog order.
pub fn screenshot_pairs(old: &EvidenceIndex, new: &EvidenceIndex) -> Vec<ScreenshotPair> {
    let mut pairs = Vec::new();
    for id in crate::model::ids::CheckId::ALL {
        let (a, b) = (old.images_of(id.as_str()), new.images_of(id.as_str()));
        let name = |p: &String| p.rsplit('/').next().unwrap_or(p).to_string();
        let mut names: Vec<String> = a.iter().chain(&b).map(name).collect();
        // before.png ahead of after.png; the rest by name.
        names.sort_by_key(|n| (!n.starts_with("before"), !n.starts_with("after"), n.clone()));
        names.dedup();
        for n in names {
            pairs.push(ScreenshotPair {
                check: id.as_str().to_string(),
                old: a.iter().find(|p| name(p) == n).cloned(),
                new: b.iter().find(|p| name(p) == n).cloned(),
                name: n,
            });
        }
    }
    pairs
}

fn verdict_ja(v: &str) -> &'static str {
    match v {
        "pass" => "合格",
        "fail" => "不合格",
        "error" => "エラー",
        "not_applicable" => "対象外",
        "skipped" => "スキップ",
        "inconclusive" => "判定保留",
        "not_run" => "未実施",
        _ => "",
    }
}

fn verdict(v: &str) -> String {
    format!(
        "{} <span class=\"en\">{}</span>",
        verdict_ja(v),
        escape(&v.replace('_', " "))
    )
}

fn change_cell(c: &VerdictChange) -> String {
    let class = match c.change {
        Change::Regression if !c.informational => " class=\"regression\"",
        Change::Improvement => " class=\"improvement\"",
        _ => "",
    };
    let note = if c.informational {
        " <span class=\"en\">(参考 informational)</span>"
    } else {
        ""
    };
    format!(
        "<td{class}>{} <span class=\"en\">{}</span>{note}</td>",
        c.change.ja(),
        c.change.en()
    )
}

/// Renders the page.
pub fn render(p: &Page<'_>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\n\
<title>{TITLE_JA} / {TITLE_EN}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
<h1>{TITLE_JA} <span class=\"en\">{TITLE_EN}</span></h1>\n"
    );
    if !p.unsealed.is_empty() {
        let _ = writeln!(
            s,
            "<div class=\"warning\"><p>封印未検証: 以下の記録は封印と一致しないため、改ざんされていないことを保証できません。\
<br><span class=\"en\">SEALS NOT VERIFIED (--unsealed): the records below do not match their seals; \
nothing on this page is known to be as the runs left it.</span></p><ul>"
        );
        for line in p.unsealed {
            let _ = writeln!(s, "<li>{}</li>", escape(line));
        }
        s.push_str("</ul></div>\n");
    }
    summary(&mut s, p.comparison);
    runs_table(&mut s, p);
    verdict_tables(&mut s, p.comparison);
    declaration(&mut s, p.comparison);
    figures(&mut s, p.comparison);
    screenshots(&mut s, p);
    let _ = writeln!(
        s,
        "<p class=\"en\">s301 {} diff — 旧 OLD {} / 新 NEW {}</p>",
        escape(env!("CARGO_PKG_VERSION")),
        escape(&p.old.dir.display().to_string()),
        escape(&p.new.dir.display().to_string())
    );
    s.push_str("</body>\n</html>\n");
    s
}

fn summary(s: &mut String, c: &Comparison) {
    let regressions: Vec<&VerdictChange> = c.regressions().collect();
    let _ = writeln!(s, "<h2>結論 <span class=\"en\">Summary</span></h2>");
    if regressions.is_empty() {
        let _ = writeln!(
            s,
            "<p>退行なし <span class=\"en\">No regression</span> — 改善 improvements: {}</p>",
            c.count(Change::Improvement)
        );
    } else {
        let _ = writeln!(
            s,
            "<p class=\"regression\">退行あり <span class=\"en\">Regressions</span>: {}</p>\n<ul>",
            regressions.len()
        );
        for r in &regressions {
            let _ = writeln!(
                s,
                "<li class=\"regression\">{} ({}): {} → {}</li>",
                escape(&r.id),
                escape(&r.condition),
                verdict(&r.old),
                verdict(&r.new)
            );
        }
        s.push_str("</ul>\n");
    }
    if !c.notes.is_empty() {
        let _ = writeln!(s, "<p>注記 <span class=\"en\">Notes</span></p>\n<ul>");
        for n in &c.notes {
            let _ = writeln!(s, "<li class=\"en\">{}</li>", escape(n));
        }
        s.push_str("</ul>\n");
    }
}

fn runs_table(s: &mut String, p: &Page<'_>) {
    let _ = writeln!(
        s,
        "<h2>比較した試験 <span class=\"en\">Runs compared</span></h2>\n<table>\n\
<tr><th></th><th>旧 <span class=\"en\">OLD</span></th><th>新 <span class=\"en\">NEW</span></th></tr>"
    );
    let row = |f: &dyn Fn(&RunRecord) -> String| (f(p.old), f(p.new));
    let rows: Vec<(&str, &str, (String, String))> = vec![
        ("記録", "directory", row(&|r| r.dir.display().to_string())),
        ("実行ID", "run id", row(&|r| r.report.run.id.clone())),
        (
            "開始 (日本時間)",
            "started (JST)",
            row(&|r| r.started_jst()),
        ),
        ("端末ベンダー", "vendor", row(&|r| r.terminal("vendor"))),
        ("端末機種", "model", row(&|r| r.terminal("model"))),
        (
            "端末版数",
            "terminal version",
            row(&|r| r.terminal("version")),
        ),
        (
            "シナリオ",
            "scenario",
            row(&|r| r.report.run.scenario.clone()),
        ),
        ("シード", "seed", row(&|r| r.report.run.seed.to_string())),
        (
            "実施範囲",
            "scope",
            row(&|r| {
                if r.report.run.partial {
                    "partial"
                } else {
                    "full"
                }
                .to_string()
            }),
        ),
        (
            "状態",
            "status",
            row(&|r| r.report.run.status.as_str().to_string()),
        ),
        ("封印", "seal", row(&|r| r.seal.describe())),
    ];
    for (ja, en, (a, b)) in rows {
        let _ = writeln!(
            s,
            "<tr><th>{ja} <span class=\"en\">{en}</span></th><td>{}</td><td>{}</td></tr>",
            escape(&a),
            escape(&b)
        );
    }
    s.push_str("</table>\n");
}

fn verdict_tables(s: &mut String, c: &Comparison) {
    let _ = writeln!(
        s,
        "<h2>条件の判定 <span class=\"en\">Conditions</span></h2>\n<table>\n\
<tr><th>条件 <span class=\"en\">condition</span></th><th>観点 <span class=\"en\">viewpoint</span></th>\
<th>旧 <span class=\"en\">OLD</span></th><th>新 <span class=\"en\">NEW</span></th><th>変化 <span class=\"en\">change</span></th></tr>"
    );
    for v in &c.conditions {
        let text = crate::model::ids::conditions()
            .iter()
            .find(|t| t.no == v.id);
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{} <span class=\"en\">{}</span></td><td>{}</td><td>{}</td>{}</tr>",
            escape(&v.id),
            escape(text.map_or("", |t| t.viewpoint_ja.as_str())),
            escape(text.map_or("", |t| t.viewpoint_en.as_str())),
            verdict(&v.old),
            verdict(&v.new),
            change_cell(v)
        );
    }
    s.push_str("</table>\n");
    let changed: Vec<&VerdictChange> = c
        .checks
        .iter()
        .filter(|v| v.change != Change::Unchanged)
        .collect();
    let _ = writeln!(
        s,
        "<h2>チェックの判定 <span class=\"en\">Checks</span></h2>\n\
<p class=\"en\">変化のあったもののみ (退行を先に) / changed checks only, regressions first; 変化なし unchanged: {}</p>",
        c.checks.len() - changed.len()
    );
    if changed.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "<table>\n<tr><th>チェック <span class=\"en\">check</span></th><th>旧 <span class=\"en\">OLD</span></th>\
<th>新 <span class=\"en\">NEW</span></th><th>変化 <span class=\"en\">change</span></th>\
<th>新の詳細 <span class=\"en\">NEW detail</span></th></tr>"
    );
    for v in changed {
        let _ = writeln!(
            s,
            "<tr><td>{} ({})</td><td>{}</td><td>{}</td>{}<td>{}</td></tr>",
            escape(&v.id),
            escape(&v.condition),
            verdict(&v.old),
            verdict(&v.new),
            change_cell(v),
            escape(&v.detail)
        );
    }
    s.push_str("</table>\n");
}

fn declaration(s: &mut String, c: &Comparison) {
    let _ = writeln!(
        s,
        "<h2>宣言の変更 <span class=\"en\">Declaration changes</span></h2>"
    );
    if c.declaration.is_empty() {
        let _ = writeln!(s, "<p>変更なし <span class=\"en\">no change</span></p>");
        return;
    }
    let _ = writeln!(
        s,
        "<table>\n<tr><th>項目 <span class=\"en\">key</span></th><th>旧 <span class=\"en\">OLD</span></th>\
<th>新 <span class=\"en\">NEW</span></th></tr>"
    );
    let absent = "<span class=\"en\">(なし absent)</span>".to_string();
    for d in &c.declaration {
        let cell = |v: &Option<String>| v.as_deref().map_or(absent.clone(), escape);
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&d.key),
            cell(&d.old),
            cell(&d.new)
        );
    }
    s.push_str("</table>\n");
}

fn figures(s: &mut String, c: &Comparison) {
    let _ = writeln!(
        s,
        "<h2>測定値 <span class=\"en\">Measured figures</span></h2>"
    );
    if c.figures.is_empty() {
        let _ = writeln!(
            s,
            "<p>記録なし <span class=\"en\">neither run recorded a figure</span></p>"
        );
        return;
    }
    let _ = writeln!(
        s,
        "<table>\n<tr><th>測定値 <span class=\"en\">figure</span></th><th>単位 <span class=\"en\">unit</span></th>\
<th>旧 <span class=\"en\">OLD</span></th><th>新 <span class=\"en\">NEW</span></th><th>差 <span class=\"en\">change</span></th></tr>"
    );
    for r in &c.figures {
        let f = &r.figure;
        let _ = writeln!(
            s,
            "<tr><td>{} {} <span class=\"en\">{}</span></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(f.check.as_str()),
            escape(f.ja),
            escape(f.en),
            escape(f.unit),
            number(r.old),
            number(r.new),
            escape(&r.change_text())
        );
    }
    s.push_str("</table>\n");
}

fn screenshots(s: &mut String, p: &Page<'_>) {
    let pairs = screenshot_pairs(&p.old.evidence, &p.new.evidence);
    let _ = writeln!(
        s,
        "<h2>画面の証跡 <span class=\"en\">Screenshots, side by side</span></h2>"
    );
    if pairs.is_empty() {
        let _ = writeln!(
            s,
            "<p>画面の証跡なし <span class=\"en\">neither run kept a screenshot</span></p>"
        );
        return;
    }
    let mut budget = MAX_EMBEDDED_BYTES;
    for pair in pairs {
        let _ = writeln!(
            s,
            "<h3>{} — {}</h3>\n<div class=\"pair\">",
            escape(&pair.check),
            escape(&pair.name)
        );
        for (side_ja, side_en, rec, rel) in [
            ("旧", "OLD", p.old, &pair.old),
            ("新", "NEW", p.new, &pair.new),
        ] {
            let caption = format!(
                "{side_ja} <span class=\"en\">{side_en}</span> {}",
                escape(rel.as_deref().unwrap_or("-"))
            );
            let img = rel.as_ref().and_then(|r| embed(rec, r, &mut budget));
            let _ = match (rel, img) {
                (None, _) => writeln!(
                    s,
                    "<figure><figcaption>{side_ja}: なし <span class=\"en\">{side_en}: none</span></figcaption></figure>"
                ),
                (Some(_), Some(data)) => writeln!(
                    s,
                    "<figure><img alt=\"{side_en} {}\" src=\"data:image/png;base64,{data}\"><figcaption>{caption}</figcaption></figure>",
                    escape(&pair.name)
                ),
                (Some(_), None) => writeln!(
                    s,
                    "<figure><figcaption>{caption} (未埋込 <span class=\"en\">not embedded: unreadable, not a PNG, or past the size limit</span>)</figcaption></figure>"
                ),
            };
        }
        s.push_str("</div>\n");
    }
}

/// The base64 of a PNG of `rec`, when it is a regular file, starts like a
/// PNG and fits in what is left of `budget`.
fn embed(rec: &RunRecord, rel: &str, budget: &mut u64) -> Option<String> {
    const MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
    let bytes = crate::config::declaration::read_regular(&rec.dir.join(rel), *budget).ok()?;
    if !bytes.starts_with(MAGIC) {
        return None;
    }
    *budget = budget.saturating_sub(bytes.len() as u64);
    Some(base64(&bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::model::ids::CheckId;
    use crate::model::verdict::Verdict;
    use crate::sinks::history::compare::compare;
    use crate::sinks::history::load;
    use crate::sinks::history::tests::sample_run;

    #[test]
    fn page_escapes_the_records_and_pairs_screenshots() {
        let old = sample_run("history-html-old", |_| {});
        let new = sample_run("history-html-new", |r| {
            let c = r.checks.iter_mut().find(|c| c.id == CheckId::Op01).unwrap();
            c.verdict = Verdict::Fail;
            c.detail = "<script>alert(1)</script>".into();
            r.terminal = serde_json::json!({"terminal": {"version": "\"><img src=x>"}});
        });
        let png = b"\x89PNG\r\n\x1a\nrest";
        for (dir, name) in [
            (&old, "before.png"),
            (&new, "before.png"),
            (&new, "after.png"),
        ] {
            std::fs::create_dir_all(dir.join("evidence/OP-01")).unwrap();
            std::fs::write(dir.join("evidence/OP-01").join(name), png).unwrap();
        }
        std::fs::write(dir_join(&new, "evidence/OP-02/fake.png"), b"not a png").unwrap();
        let (o, n) = (load(&old, None).unwrap(), load(&new, None).unwrap());
        let cmp = compare(&o.report, &n.report);
        let unsealed = vec!["NEW <b>: broken".to_string()];
        let html = render(&Page {
            old: &o,
            new: &n,
            comparison: &cmp,
            unsealed: &unsealed,
        });
        assert!(html.contains(TITLE_JA) && html.contains(TITLE_EN));
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
        assert!(!html.contains("<img src=x>") && !html.contains("<b>:"));
        assert!(html.contains("SEALS NOT VERIFIED"));
        assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 3);
        assert!(
            html.contains("not embedded"),
            "the fake PNG is not embedded"
        );
        assert!(html.contains("class=\"regression\">OP-01 (1-2-2)"));
        let pairs = screenshot_pairs(&o.evidence, &n.evidence);
        let names: Vec<(&str, &str, bool, bool)> = pairs
            .iter()
            .map(|p| {
                (
                    p.check.as_str(),
                    p.name.as_str(),
                    p.old.is_some(),
                    p.new.is_some(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("OP-01", "before.png", true, true),
                ("OP-01", "after.png", false, true),
                ("OP-02", "fake.png", false, true)
            ]
        );
        std::fs::remove_dir_all(&old).unwrap();
        std::fs::remove_dir_all(&new).unwrap();
    }

    fn dir_join(dir: &std::path::Path, rel: &str) -> std::path::PathBuf {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        p
    }
}
