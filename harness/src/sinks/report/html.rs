//! `report.html`: one self-contained, printable page in Japanese with
//! English alongside, for the fire department that witnessed the run.
//!
//! Three parts: the conditions table in the columns of 【参考①】, the
//! evidence of every check with its screenshots embedded as `data:` URIs,
//! and the run's identity. Everything that came from the terminal (details,
//! evidence, declaration values) is untrusted and HTML-escaped; the page has
//! no script and no external resource.

use std::fmt::Write as _;

use serde_json::Value;

use super::declaration_doc;
use super::outputs::{EvidenceIndex, MAX_EMBEDDED_BYTES};
use super::png::base64;
use super::Report;
use crate::model::verdict::Verdict;

/// The file name inside the run directory.
pub const HTML_FILE: &str = "report.html";

/// Evidence JSON shown per check is cut after this many characters.
const EVIDENCE_CHARS: usize = 4000;

const CSS: &str = "body{font-family:'Noto Sans CJK JP','Hiragino Sans','Yu Gothic',sans-serif;\
margin:1.5em;color:#111;font-size:10.5pt}h1{font-size:16pt}h2{font-size:13pt;border-bottom:1px solid #444;\
margin-top:1.5em}h3{font-size:11pt}table{border-collapse:collapse;width:100%}th,td{border:1px solid #666;\
padding:3px 5px;vertical-align:top;text-align:left}th{background:#eee}.en{color:#555;font-size:9pt}\
.pass{color:#063}.fail,.error{color:#a00;font-weight:bold}.skipped,.not_applicable,.inconclusive{color:#850}\
figure{display:inline-block;margin:4px;max-width:48%}figure img{max-width:100%;border:1px solid #999}\
pre{white-space:pre-wrap;word-break:break-all;font-size:8pt;background:#f6f6f6;padding:4px}\
section.check{page-break-inside:avoid}\
@media print{body{margin:0}section.check{break-inside:avoid}details{display:block}a{color:inherit}}";

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

fn verdict_ja(v: &str) -> &'static str {
    match v {
        "pass" => "合格",
        "fail" => "不合格",
        "error" => "エラー",
        "not_applicable" => "対象外",
        "skipped" => "未実施",
        "inconclusive" => "判定保留",
        _ => "",
    }
}

fn verdict_cell(v: &str) -> String {
    format!(
        "<span class=\"{}\">{} <span class=\"en\">{}</span></span>",
        escape(v),
        verdict_ja(v),
        escape(v)
    )
}

/// Renders the page.
pub fn render(r: &Report, ev: &EvidenceIndex) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\n\
<title>s301 接続試験報告書 / Connection test report {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(&r.run.id)
    );
    let _ = writeln!(
        s,
        "<h1>専用端末 接続試験報告書 <span class=\"en\">Dedicated terminal connection test report</span></h1>"
    );
    let _ = writeln!(
        s,
        "<p>実行 Run <b>{}</b> — 状態 status: {}{}</p>",
        escape(&r.run.id),
        escape(r.run.status.as_str()),
        if r.run.partial {
            " — 一部のみ実施 <span class=\"en\">partial run, not a full conformance record</span>"
        } else {
            ""
        }
    );
    conditions_table(&mut s, r, ev);
    checks(&mut s, r, ev);
    identity(&mut s, r);
    s.push_str("</body>\n</html>\n");
    s
}

fn conditions_table(s: &mut String, r: &Report, ev: &EvidenceIndex) {
    let _ = writeln!(
        s,
        "<h2>適合宣言 <span class=\"en\">Conditions (declaration of conformity)</span></h2>\n<table>\n<tr>"
    );
    for c in crate::model::ids::declaration_columns() {
        let _ = write!(s, "<th>{}</th>", escape(c));
    }
    let _ = writeln!(s, "</tr>");
    for (row, cond) in declaration_doc::rows(r, ev).iter().zip(&r.conditions) {
        s.push_str("<tr>");
        for (i, cell) in row.cells.iter().enumerate() {
            let extra = match i {
                2 => format!("<br><span class=\"en\">{}</span>", escape(&cond.name_en)),
                5 => format!("<br>{}", verdict_cell(cond.verdict.as_str())),
                _ => String::new(),
            };
            let _ = write!(s, "<td>{}{extra}</td>", escape(cell));
        }
        let _ = writeln!(s, "</tr>");
    }
    let _ = writeln!(s, "</table>");
}

fn checks(s: &mut String, r: &Report, ev: &EvidenceIndex) {
    let _ = writeln!(
        s,
        "<h2>各チェックの証跡 <span class=\"en\">Evidence of each check</span></h2>"
    );
    let mut embedded: u64 = 0;
    for c in &r.checks {
        let _ = writeln!(
            s,
            "<section class=\"check\" id=\"{id}\">\n<h3>{id} ({cond}) — {v}</h3>\n<p class=\"en\">{title}</p>\n<p>{detail}</p>\n<p class=\"en\">所要 duration {ms} ms</p>",
            id = escape(c.id.as_str()),
            cond = escape(c.condition.as_str()),
            v = verdict_cell(c.verdict.as_str()),
            title = escape(crate::checks::def(c.id).title),
            detail = escape(&c.detail),
            ms = c.duration_ms
        );
        for img in ev.images_of(c.id.as_str()) {
            let name = img.rsplit('/').next().unwrap_or(&img).to_string();
            let data = ev.root.as_ref().and_then(|root| {
                let p = root.join(&img);
                let len = std::fs::metadata(&p).ok()?.len();
                if embedded.saturating_add(len) > MAX_EMBEDDED_BYTES {
                    return None;
                }
                let bytes = std::fs::read(&p).ok()?;
                embedded = embedded.saturating_add(len);
                Some(bytes)
            });
            match data {
                Some(b) => {
                    let _ = writeln!(
                        s,
                        "<figure><img alt=\"{n}\" src=\"data:image/png;base64,{}\"><figcaption>{n}</figcaption></figure>",
                        base64(&b),
                        n = escape(&name)
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "<figure><figcaption>{} (未埋込 <span class=\"en\">not embedded</span>)</figcaption></figure>",
                        escape(&img)
                    );
                }
            }
        }
        let files = ev.files_of(c.id.as_str());
        if !files.is_empty() {
            let _ = writeln!(
                s,
                "<p class=\"en\">証跡ファイル evidence files: {}</p>",
                escape(&files.join(", "))
            );
        }
        if c.verdict != Verdict::Skipped && !c.evidence.is_null() {
            let mut text = serde_json::to_string_pretty(&c.evidence).unwrap_or_default();
            if text.chars().count() > EVIDENCE_CHARS {
                text = text.chars().take(EVIDENCE_CHARS).collect::<String>();
                text.push_str("\n… (以下省略 truncated; see report.json)");
            }
            let _ = writeln!(
                s,
                "<details><summary>記録 <span class=\"en\">recorded evidence</span></summary><pre>{}</pre></details>",
                escape(&text)
            );
        }
        s.push_str("</section>\n");
    }
}

fn identity(s: &mut String, r: &Report) {
    let _ = writeln!(
        s,
        "<h2>実行情報 <span class=\"en\">Run identity</span></h2>\n<table>"
    );
    let term = |k: &str| {
        r.terminal
            .pointer(&format!("/terminal/{k}"))
            .map(|v| match v {
                Value::String(x) => x.clone(),
                o => o.to_string(),
            })
            .unwrap_or_else(|| "-".into())
    };
    let rows: Vec<(&str, &str, String)> = vec![
        ("端末ベンダー", "vendor", term("vendor")),
        ("端末機種", "model", term("model")),
        ("端末版数", "terminal version", term("version")),
        ("サービス", "service", term("service")),
        (
            "画面URL",
            "screen URL",
            r.terminal
                .pointer("/screen/url")
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_string(),
        ),
        ("シナリオ", "scenario", r.run.scenario.clone()),
        ("シード", "seed", r.run.seed.to_string()),
        (
            "ハーネス版数",
            "harness version",
            r.run.harness_version.clone(),
        ),
        (
            "立会者",
            "operator",
            r.run.operator.clone().unwrap_or_else(|| "-".into()),
        ),
        (
            "消防本部",
            "department",
            r.run.department.clone().unwrap_or_else(|| "-".into()),
        ),
        ("開始", "started", r.run.started_at.clone()),
        ("終了", "finished", r.run.finished_at.clone()),
        ("状態", "status", r.run.status.as_str().to_string()),
        (
            "中断理由",
            "abort reason",
            r.run.abort_reason.clone().unwrap_or_else(|| "-".into()),
        ),
        (
            "未実行",
            "never ran",
            if r.run.never_ran.is_empty() {
                "-".into()
            } else {
                r.run.never_ran.join(", ")
            },
        ),
    ];
    for (ja, en, v) in rows {
        let _ = writeln!(
            s,
            "<tr><th>{ja} <span class=\"en\">{en}</span></th><td>{}</td></tr>",
            escape(&v)
        );
    }
    let _ = writeln!(s, "</table>");
}

/// The visible text of a page rendered by [`render`]: tags, the style
/// block and `data:` payloads removed, entities decoded, blank lines
/// dropped. For snapshot tests and quick reading.
pub fn visible_text(html: &str) -> String {
    let stripped = match (html.find("<style>"), html.find("</style>")) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{}", &html[..a], &html[b + "</style>".len()..])
        }
        _ => html.to_string(),
    };
    visible_text_plain(&stripped)
}

fn visible_text_plain(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match (in_tag, ch) {
            (false, '<') => in_tag = true,
            (true, '>') => {
                in_tag = false;
                text.push(' ');
            }
            (false, c) => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::sinks::report::tests::sample_outcome;

    #[test]
    fn page_has_the_declaration_columns_every_check_and_the_identity() {
        let r = Report::from_outcome(&sample_outcome());
        let h = render(&r, &EvidenceIndex::default());
        for c in crate::model::ids::declaration_columns() {
            assert!(h.contains(&format!("<th>{}</th>", escape(c))), "{c}");
        }
        for id in crate::model::ids::CheckId::ALL {
            assert!(h.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(h.contains("シード <span class=\"en\">seed</span></th><td>42</td>"));
        assert!(h.contains("@media print"));
        assert!(!h.contains("<script"));
    }

    #[test]
    fn terminal_supplied_text_is_escaped() {
        let mut r = Report::from_outcome(&sample_outcome());
        r.checks[4].detail = "<script>alert(1)</script>".into();
        r.terminal = serde_json::json!({"terminal": {"vendor": "<img src=x onerror=y>"}});
        r.checks[0].evidence = serde_json::json!({"x": "</pre><script>"});
        let h = render(&r, &EvidenceIndex::default());
        assert!(!h.contains("<script"), "{h}");
        assert!(!h.contains("<img src=x"));
        assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn images_are_embedded_as_data_uris() {
        let dir = crate::model::files::tests::scratch_dir("html-embed");
        std::fs::create_dir_all(dir.join("evidence/ST-02")).unwrap();
        std::fs::write(dir.join("evidence/ST-02/full.png"), b"foo").unwrap();
        let r = Report::from_outcome(&sample_outcome());
        let h = render(&r, &EvidenceIndex::scan(&dir));
        assert!(h.contains("src=\"data:image/png;base64,Zm9v\""), "{h}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn visible_text_drops_tags_style_and_decodes_entities() {
        let t = visible_text("<html><style>a{b:c}</style><p>x &amp; <b>y</b></p>\n<p></p></html>");
        assert_eq!(t, "x & y");
    }
}
