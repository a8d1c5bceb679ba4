//! The witness's part of report.html: every question with its answer,
//! comment, who and when, and the reasons a condition was not adopted
//! (否採用の理由), failed checks and failed or missing answers alike.

use std::fmt::Write as _;

use super::{escape, jst, verdict_cell};
use crate::model::verdict::{ConditionVerdict, Verdict, WitnessAnswer};
use crate::sinks::report::outputs::EvidenceIndex;
use crate::sinks::report::{ConditionRecord, Report};

/// Why `c` is not adopted, one line each, Japanese first: its checks that
/// failed, errored or could not run, then its witness answers that failed
/// or never came. Empty for a condition with nothing to say.
pub(super) fn reasons(r: &Report, c: &ConditionRecord) -> Vec<String> {
    let mut out = Vec::new();
    if c.verdict == ConditionVerdict::Skipped {
        out.push("未実施: この条件の確認項目は選択されなかった (not tested)".to_string());
        return out;
    }
    for k in r.checks.iter().filter(|k| k.condition == c.id) {
        let counts = match k.verdict {
            Verdict::Fail | Verdict::Error => true,
            // Skipped for a prerequisite or an abort; a deselected check says nothing.
            Verdict::Skipped => !k.deselected(),
            Verdict::Pass | Verdict::NotApplicable => false,
        };
        if counts {
            out.push(format!(
                "{}（{}）{}: {}",
                k.id,
                crate::checks::def(k.id).title,
                k.verdict.as_ja(),
                k.detail
            ));
        }
    }
    for w in &c.witness {
        match w.answer {
            WitnessAnswer::Fail => out.push(format!(
                "立会確認 {}「{}」に不適合と回答: {}（{}、{}）",
                w.id,
                w.question_ja,
                w.comment.as_deref().unwrap_or("コメントなし"),
                w.operator.as_deref().unwrap_or("回答者不明"),
                w.answered_at.as_deref().map(jst).unwrap_or_default()
            )),
            WitnessAnswer::Error => out.push(format!(
                "立会確認 {}「{}」の回答なし: {}",
                w.id,
                w.question_ja,
                w.comment.as_deref().unwrap_or("-")
            )),
            WitnessAnswer::Pass | WitnessAnswer::NotApplicable => {}
        }
    }
    if out.is_empty() && c.verdict == ConditionVerdict::Inconclusive {
        out.push("判定保留: 判定に足る結果が得られなかった (inconclusive)".to_string());
    }
    out
}

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
