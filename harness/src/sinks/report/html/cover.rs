//! The first page of report.html: what a department signs. 総合判定, the
//! terminal and the people, the date in JST, the condition table and the
//! signature and seal boxes.

use std::fmt::Write as _;

use super::{escape, jst, terminal_field, verdict_cell, witness};
use crate::model::verdict::{ConditionVerdict, Verdict};
use crate::sinks::report::{Overall, Report};

/// Writes the cover page.
pub(super) fn render(s: &mut String, r: &Report) {
    let _ = writeln!(
        s,
        "<section class=\"cover\">\n<h1>専用端末 接続試験記録 <span class=\"en\">Dedicated terminal connection test record</span></h1>"
    );
    overall(s, r);
    people(s, r);
    conditions(s, r);
    signatures(s);
    let _ = writeln!(s, "</section>");
}

fn overall(s: &mut String, r: &Report) {
    let o = r.overall();
    let note = match o {
        Overall::Pass => "判定対象のすべての条件に適合した。",
        Overall::Fail => "適合しない条件がある（確認項目の不合格、または立会者の不適合の回答）。",
        Overall::Inconclusive => {
            "判定できない条件がある、または試験が中断された。適合とはみなさない。"
        }
    };
    let _ = writeln!(
        s,
        "<div class=\"overall {cls}\">総合判定 <span class=\"en\">overall result</span>: <b>{ja}</b> <span class=\"en\">{en}</span><div class=\"note\">{note}{partial}</div></div>",
        cls = o.as_str(),
        ja = o.as_ja(),
        en = o.as_str(),
        partial = if r.run.partial {
            " 一部の確認項目のみ実施（--only/--skip）: 適合の記録としては不完全。<span class=\"en\">Partial run: not a full conformance record.</span>"
        } else {
            ""
        }
    );
}

fn people(s: &mut String, r: &Report) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let when = format!("{} 〜 {}", jst(&r.run.started_at), jst(&r.run.finished_at));
    let rows: [(&str, &str, String); 10] = [
        ("事業者（ベンダー）", "vendor", terminal_field(r, "vendor")),
        ("緊急通報サービス", "service", terminal_field(r, "service")),
        (
            "専用端末の機種",
            "terminal model",
            terminal_field(r, "model"),
        ),
        (
            "専用端末の版数",
            "terminal version",
            terminal_field(r, "version"),
        ),
        ("消防本部", "fire department", opt(&r.run.department)),
        ("試験実施者", "test operator", opt(&r.run.operator)),
        ("立会者", "witness", opt(&r.run.witness)),
        ("試験日時（日本時間）", "date and time (JST)", when),
        ("実行ID", "run id", r.run.id.clone()),
        (
            "状態",
            "status",
            match r.run.status {
                crate::run::runner::RunStatus::Completed => "完了 completed".to_string(),
                crate::run::runner::RunStatus::Aborted => format!(
                    "中断 aborted: {}",
                    r.run.abort_reason.as_deref().unwrap_or("-")
                ),
            },
        ),
    ];
    // Two facts a row, so that the first page keeps room for the signatures.
    let _ = writeln!(s, "<table class=\"kv2\">");
    for pair in rows.chunks(2) {
        s.push_str("<tr>");
        for (ja, en, v) in pair {
            let _ = write!(
                s,
                "<th>{ja}<br><span class=\"en\">{en}</span></th><td>{}</td>",
                escape(v)
            );
        }
        if pair.len() == 1 {
            s.push_str("<th></th><td></td>");
        }
        s.push_str("</tr>\n");
    }
    let _ = writeln!(s, "</table>");
}

fn conditions(s: &mut String, r: &Report) {
    let _ = writeln!(
        s,
        "<div class=\"keep\">\n<h2>条件ごとの判定 <span class=\"en\">Result per condition</span></h2>\n<table class=\"conds\">\n\
<colgroup><col class=\"no\"><col class=\"name\"><col class=\"verdict\"><col class=\"checks\"><col class=\"wit\"><col class=\"why\"></colgroup>\n\
<tr><th>No.</th><th>観点</th><th>判定</th><th>確認項目</th><th>立会確認</th><th>否採用の理由</th></tr>"
    );
    for c in &r.conditions {
        let mine: Vec<_> = r.checks.iter().filter(|k| k.condition == c.id).collect();
        let passed = mine.iter().filter(|k| k.verdict == Verdict::Pass).count();
        let mut checks = vec![format!(
            "{}件中 {passed}件合格 <span class=\"en\">{passed} of {} passed</span>",
            mine.len(),
            mine.len()
        )];
        // Deselected checks are not results; the condition's verdict says "not tested".
        let shown =
            |k: &&&crate::sinks::report::CheckRecord| k.verdict != Verdict::Pass && !k.deselected();
        checks.extend(mine.iter().filter(shown).map(|k| {
            format!(
                "{} {}",
                escape(k.id.as_str()),
                verdict_cell(k.verdict.as_str(), k.verdict.as_ja())
            )
        }));
        let answers: Vec<String> = c
            .witness
            .iter()
            .map(|w| {
                format!(
                    "{} {}",
                    escape(&w.id),
                    verdict_cell(w.answer.as_str(), w.answer.as_ja())
                )
            })
            .collect();
        let why = witness::reasons(r, c);
        let _ = writeln!(
            s,
            "<tr><td>{id}{info}</td><td>{ja}<br><span class=\"en\">{en}</span></td><td>{v}</td><td>{checks}</td><td>{answers}</td><td>{why}</td></tr>",
            id = escape(c.id.as_str()),
            info = if c.informational {
                "<br>参考"
            } else {
                ""
            },
            ja = escape(&c.name_ja),
            en = escape(&c.name_en),
            v = verdict_cell(c.verdict.as_str(), c.verdict.as_ja()),
            checks = checks.join("<br>"),
            answers = if answers.is_empty() {
                "-".to_string()
            } else {
                answers.join("<br>")
            },
            why = if c.verdict == ConditionVerdict::Pass || why.is_empty() {
                "-".to_string()
            } else {
                cover_reasons(&why)
            }
        );
    }
    let _ = writeln!(s, "</table>\n</div>");
}

/// Reasons shown on the first page: at most [`COVER_REASONS`], each cut
/// to [`COVER_REASON_CHARS`]; the witness table and the check sections
/// below hold them whole.
fn cover_reasons(why: &[String]) -> String {
    let mut lines: Vec<String> = why
        .iter()
        .take(COVER_REASONS)
        .map(|w| {
            if w.chars().count() > COVER_REASON_CHARS {
                let cut: String = w.chars().take(COVER_REASON_CHARS).collect();
                format!("{}…", escape(&cut))
            } else {
                escape(w)
            }
        })
        .collect();
    if why.len() > COVER_REASONS {
        lines.push(format!(
            "ほか {} 件（詳細は後のページ） <span class=\"en\">{} more below</span>",
            why.len() - COVER_REASONS,
            why.len() - COVER_REASONS
        ));
    }
    lines.join("<br>")
}

/// How many reasons per condition the first page shows.
const COVER_REASONS: usize = 3;
/// How long each reason on the first page may be, in characters.
const COVER_REASON_CHARS: usize = 110;

fn signatures(s: &mut String) {
    let _ = writeln!(s, "<div class=\"signs\">");
    for (ja, en) in [
        ("試験実施者", "test operator"),
        ("立会者", "witness"),
        ("消防本部確認", "fire department"),
    ] {
        let _ = writeln!(
            s,
            "<div class=\"sign\"><div class=\"seal\">印</div><div class=\"role\">{ja} <span class=\"en\">{en}</span></div>\
<div class=\"field\">所属</div><div class=\"field\">氏名</div><div class=\"field\">日付</div></div>"
        );
    }
    let _ = writeln!(s, "</div>");
}
