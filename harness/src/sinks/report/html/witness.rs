//! The witness's part of report.html: every question with its answer,
//! comment, who and when.

use std::fmt::Write as _;

use super::{escape, jst, verdict_cell};
use crate::sinks::report::outputs::EvidenceIndex;
use crate::sinks::report::Report;

/// The witness section, when the run asked questions.
pub(super) fn section(s: &mut String, r: &Report, _ev: &EvidenceIndex) {
    let any = r.conditions.iter().any(|c| !c.witness.is_empty());
    if !any {
        return;
    }
    let _ = writeln!(
        s,
        "<section>\n<h2>立会者による確認 <span class=\"en\">Witness confirmations</span></h2>\n\
<table class=\"wit\">\n<colgroup><col class=\"id\"><col class=\"q\"><col class=\"a\"><col class=\"c\"><col class=\"who\"></colgroup>\n\
<tr><th>No.</th><th>質問 <span class=\"en\">question</span></th><th>回答</th><th>コメント</th><th>回答者・時刻（日本時間）</th></tr>"
    );
    for c in &r.conditions {
        for w in &c.witness {
            let when = match (&w.asked_at, &w.answered_at) {
                (Some(q), Some(a)) => {
                    format!("質問 {}<br>回答 {}", escape(&jst(q)), escape(&jst(a)))
                }
                (Some(q), None) => format!("質問 {}<br>回答なし", escape(&jst(q))),
                (None, _) => "質問せず <span class=\"en\">not asked</span>".to_string(),
            };
            let _ = writeln!(
                s,
                "<tr><td>{id}<br><span class=\"en\">{cond}</span></td><td>{qja}<br><span class=\"en\">{qen}</span>{shot}</td><td>{a}</td><td>{comment}</td><td>{who}<br>{when}</td></tr>",
                id = escape(&w.id),
                cond = escape(c.id.as_str()),
                qja = escape(&w.question_ja),
                qen = escape(&w.question_en),
                shot = w
                    .screenshot
                    .as_deref()
                    .map(|p| format!("<br><span class=\"en\">証跡 evidence: {}</span>", escape(p)))
                    .unwrap_or_default(),
                a = verdict_cell(w.answer.as_str(), w.answer.as_ja()),
                comment = w.comment.as_deref().map(escape).unwrap_or_else(|| "-".into()),
                who = escape(w.operator.as_deref().unwrap_or("-")),
            );
        }
    }
    let _ = writeln!(s, "</table>\n</section>");
}
