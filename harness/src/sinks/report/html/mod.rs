//! `report.html`: the record a fire department prints, signs and files.
//! Japanese first, English alongside; one self-contained page with no
//! script and no external resource.
//!
//! Printed (A4 portrait, `@page`), it reads as a document:
//! - the first page ([`cover`]): 総合判定, the terminal's identity, the
//!   department, the operator (試験実施者) and the witness (立会者), the
//!   test's date and time in JST, the condition table and the signature
//!   and seal boxes;
//! - the witness's questions and answers ([`witness`]): every question,
//!   answer, comment, who and when;
//! - each check ([`checks`]): its requirement in Japanese and English from
//!   the check's own definition, its result, and its screenshots embedded
//!   as `data:` URIs in before-then-after order;
//! - the run's identity with the times in UTC as the data holds them.
//!
//! Everything that came from the terminal or a person (details, evidence,
//! declaration values, comments) is untrusted and HTML-escaped.

mod checks;
mod cover;
mod witness;

use std::fmt::Write as _;

use serde_json::Value;

use super::outputs::EvidenceIndex;
use super::Report;
use crate::model::time::jst_display;

/// The file name inside the run directory.
pub const HTML_FILE: &str = "report.html";

const CSS: &str = include_str!("report.css");

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

/// A verdict in Japanese with the record's word beside it, classed for colour.
fn verdict_cell(word: &str, ja: &str) -> String {
    format!(
        "<span class=\"v {}\">{} <span class=\"en\">{}</span></span>",
        escape(&word.replace('/', "")),
        escape(ja),
        escape(word)
    )
}

/// A time of the record as a department reads it (JST), or the text as
/// recorded when it does not parse.
fn jst(rfc3339: &str) -> String {
    jst_display(rfc3339).unwrap_or_else(|| rfc3339.to_string())
}

/// A string from the declaration's `[terminal]` part, or `-`.
fn terminal_field(r: &Report, key: &str) -> String {
    match r.terminal.pointer(&format!("/terminal/{key}")) {
        Some(Value::String(x)) if !x.trim().is_empty() => x.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => "-".into(),
        Some(o) => o.to_string(),
    }
}

/// Renders the page.
pub fn render(r: &Report, ev: &EvidenceIndex) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\n\
<title>専用端末 接続試験記録 / Connection test record {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(&r.run.id)
    );
    cover::render(&mut s, r);
    witness::section(&mut s, r, ev);
    checks::section(&mut s, r, ev);
    identity(&mut s, r);
    s.push_str("</body>\n</html>\n");
    s
}

fn identity(s: &mut String, r: &Report) {
    let _ = writeln!(
        s,
        "<section class=\"keep\">\n<h2>実行情報 <span class=\"en\">Run identity (times in UTC as recorded)</span></h2>\n<table class=\"kv\">"
    );
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<(&str, &str, String)> = vec![
        ("実行ID", "run id", r.run.id.clone()),
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
        ("試験実施者", "operator", opt(&r.run.operator)),
        ("立会者", "witness", opt(&r.run.witness)),
        ("消防本部", "department", opt(&r.run.department)),
        ("開始", "started", r.run.started_at.clone()),
        (
            "確認項目の終了",
            "checks finished",
            opt(&r.run.checks_finished_at),
        ),
        ("終了", "finished", r.run.finished_at.clone()),
        ("状態", "status", r.run.status.as_str().to_string()),
        ("中断理由", "abort reason", opt(&r.run.abort_reason)),
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
    let _ = writeln!(s, "</table>\n</section>");
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
    fn page_has_the_cover_every_check_and_the_identity() {
        let mut r = Report::from_outcome(&sample_outcome());
        r.run.operator = Some("山田".into());
        r.run.witness = Some("佐藤".into());
        r.run.department = Some("試験消防本部".into());
        r.terminal = serde_json::json!({"terminal": {"vendor": "Acme", "service": "Net119", "model": "T-1", "version": "2.0"}});
        let h = render(&r, &EvidenceIndex::default());
        let cover = &h[..h.find("</section>").unwrap()];
        // The sample has a failed check: 総合判定 is 不適合.
        assert!(cover.contains("総合判定"), "{cover}");
        assert!(cover.contains("<b>不適合</b>"), "{cover}");
        for text in [
            "Acme",
            "Net119",
            "T-1",
            "2.0",
            "試験消防本部",
            "山田",
            "佐藤",
            "JST",
            "試験実施者",
            "立会者",
            "消防本部確認",
            "否採用の理由",
        ] {
            assert!(cover.contains(text), "the cover lacks {text}: {cover}");
        }
        for id in crate::model::ids::CheckId::ALL {
            assert!(h.contains(&format!("id=\"{id}\"")), "{id}");
            let req = crate::checks::def(*id).requirement.ja;
            assert!(h.contains(&escape(req)), "{id}'s requirement in Japanese");
        }
        assert!(h.contains("シード <span class=\"en\">seed</span></th><td>42</td>"));
        assert!(h.contains("@page{size:A4"));
        assert!(!h.contains("<script"));
    }

    #[test]
    fn a_failed_witness_answer_shows_in_the_condition_row_and_the_witness_table() {
        let outcome = sample_outcome();
        let mut r = Report::from_outcome(&outcome);
        let rec = crate::sinks::witness::WitnessRecord {
            id: "W-02".into(),
            check: None,
            question_ja: "一台の指令台にだけ表示されましたか？".into(),
            question_en: "Shown on one console only?".into(),
            answer: crate::model::verdict::WitnessAnswer::Fail,
            comment: Some("画面が黒い".into()),
            screenshot: None,
            operator: Some("佐藤".into()),
            asked_at: Some("2026-12-02T01:00:00.000Z".into()),
            answered_at: Some("2026-12-02T01:00:30.000Z".into()),
            via: None,
        };
        crate::sinks::witness::apply(
            &mut r,
            &outcome,
            vec![(crate::model::ids::ConditionId::C1_2_2, rec)],
        );
        let h = render(&r, &EvidenceIndex::default());
        let row = h
            .split("<tr>")
            .find(|row| row.starts_with("<td>1-2-2"))
            .unwrap();
        assert!(row.contains("不適合"), "{row}");
        assert!(row.contains("立会確認 W-02"), "{row}");
        assert!(row.contains("画面が黒い"), "{row}");
        assert!(row.contains("2026年12月02日 10:00:30 JST"), "{row}");
        assert!(h.contains("立会者による確認"));
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
