//! The condition summary rows 1-2-1 .. 1-3-2 that `report.html` shows in
//! its conditions table: the condition's verdict with its English gloss,
//! what was measured, and what failed. The 適合宣言 form itself, with all
//! 15 rows and the two 採否 values only, is [`super::form`].

use serde_json::Value;

use crate::model::ids::ConditionId;
use crate::model::verdict::{ConditionVerdict, Verdict};
use crate::sinks::report::outputs::EvidenceIndex;
use crate::sinks::report::{CheckRecord, ConditionRecord, Report};

/// One row of the declaration, every column filled.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The eight columns, in the order of [`crate::model::ids::declaration_columns`].
    pub cells: [String; 8],
}

/// 採否 for a condition verdict: 採用 (conforms), 否採用 (does not), or why
/// neither could be said.
pub fn adoption(v: ConditionVerdict) -> &'static str {
    match v {
        ConditionVerdict::Pass => "採用 (conforms)",
        ConditionVerdict::Fail => "否採用 (does not conform)",
        ConditionVerdict::Inconclusive => "判定保留 (inconclusive)",
        ConditionVerdict::NotApplicable => "対象外 (not applicable)",
        ConditionVerdict::Skipped => "未実施 (not tested)",
    }
}

fn measured<'a>(r: &'a Report, key: &str) -> Option<&'a Value> {
    r.metrics.measured.get(key)
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.as_u64().is_none() && n.as_i64().is_none() => format!("{f:.1}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn checks_of<'a>(r: &'a Report, c: &ConditionRecord) -> Vec<&'a CheckRecord> {
    r.checks.iter().filter(|k| k.condition == c.id).collect()
}

/// The 適合内容 text of one condition, from the evidence.
pub fn conformance_text(r: &Report, c: &ConditionRecord, ev: &EvidenceIndex) -> String {
    let mut parts: Vec<String> = Vec::new();
    let m = |k: &str| measured(r, k).map(show);
    match c.id {
        ConditionId::C1_2_1 => {
            if let (Some(t), Some(v)) = (m("screen.transport"), m("screen.rfb_version")) {
                let sec = m("screen.security").unwrap_or_else(|| "?".into());
                parts.push(format!("RFB {v} / {t} (security {sec})"));
            }
            if let (Some(w), Some(h)) = (m("screen.width"), m("screen.height")) {
                parts.push(format!("画面 screen {w}x{h}"));
            }
            if let Some(p) = r
                .terminal
                .pointer("/screen/exclusivity")
                .and_then(Value::as_str)
            {
                parts.push(format!("排他 exclusivity: {p}"));
            }
            if let Some(t) = m("contention.trials") {
                let failed = m("contention.failed_trials").unwrap_or_else(|| "?".into());
                parts.push(format!("競合試行 contention trials: {t} (failed {failed})"));
            }
            if let Some(u) = m("sustain.updates_per_s") {
                parts.push(format!("継続転送 sustained: {u} updates/s"));
            }
        }
        ConditionId::C1_2_2 => {
            if let (Some(p50), Some(p95)) = (m("input_latency.p50_ms"), m("input_latency.p95_ms")) {
                parts.push(format!("操作遅延 input latency p50 {p50} ms, p95 {p95} ms"));
            }
            if let Some(p) = r
                .terminal
                .pointer("/screen/exclusivity")
                .and_then(Value::as_str)
            {
                parts.push(format!("非保持端末の入力 input from other consoles: {p}"));
            }
        }
        ConditionId::C1_3_1 => {
            if let Some(d) = r.terminal.get("data") {
                let flag = |k: &str| d.get(k).and_then(Value::as_bool).unwrap_or(false);
                parts.push(format!(
                    "宣言 declared: 出力 output: {}, 入力 input: {}, 版管理 revisions: {}",
                    flag("output"),
                    flag("input"),
                    flag("revisions")
                ));
            }
        }
        // Informational (TLS-01): its checks below say what was seen.
        ConditionId::C2_2_1 => {}
        ConditionId::C1_3_2 => {
            if let (Some(a), Some(p)) = (m("requests.answered"), m("requests.planned")) {
                let max = m("requests.max_elapsed_ms").unwrap_or_else(|| "?".into());
                parts.push(format!("要求応答 requests answered {a}/{p} (max {max} ms)"));
            }
        }
    }
    let checks = checks_of(r, c);
    let passed: Vec<&str> = checks
        .iter()
        .filter(|k| k.verdict == Verdict::Pass)
        .map(|k| k.id.as_str())
        .collect();
    if !passed.is_empty() {
        parts.push(format!("合格 passed: {}", passed.join(", ")));
    }
    for w in &c.witness {
        let answer = serde_json::to_value(w.answer)
            .map(|v| show(&v))
            .unwrap_or_default();
        parts.push(format!("立会確認 witness {}: {answer}", w.id));
    }
    let files: Vec<String> = checks
        .iter()
        .flat_map(|k| ev.images_of(k.id.as_str()))
        .collect();
    if !files.is_empty() {
        parts.push(format!("証跡 evidence: {}", files.join(", ")));
    }
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join("; ")
    }
}

/// The 否採用の理由 text: every failed, errored or skipped check with its
/// detail; `-` when there is none.
pub fn rejection_text(r: &Report, c: &ConditionRecord) -> String {
    match c.verdict {
        ConditionVerdict::Pass => return "-".to_string(),
        ConditionVerdict::Skipped => {
            return "未実施: この実行では試験していない (not tested in this run)".to_string()
        }
        _ => {}
    }
    let bad: Vec<String> = checks_of(r, c)
        .iter()
        .filter(|k| match k.verdict {
            Verdict::Fail | Verdict::Error => true,
            // Skipped for a failed prerequisite says why; deselected says nothing.
            Verdict::Skipped => !k.detail.starts_with("not selected"),
            _ => false,
        })
        .map(|k| format!("{} {}: {}", k.id, k.verdict.as_str(), k.detail))
        .collect();
    if bad.is_empty() {
        "-".to_string()
    } else {
        bad.join("; ")
    }
}

/// The four rows, 1-2-1 .. 1-3-2, in document order.
pub fn rows(r: &Report, ev: &EvidenceIndex) -> Vec<Row> {
    r.conditions
        .iter()
        .map(|c| {
            let t = c.id.text();
            Row {
                cells: [
                    c.id.as_str().to_string(),
                    t.item_ja.clone(),
                    t.viewpoint_ja.clone(),
                    t.condition_ja.clone(),
                    t.note_ja.clone(),
                    adoption(c.verdict).to_string(),
                    conformance_text(r, c, ev),
                    rejection_text(r, c),
                ],
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::sinks::report::tests::sample_outcome;

    #[test]
    fn rows_follow_the_declaration_columns_and_fill_from_evidence() {
        let r = Report::from_outcome(&sample_outcome());
        let rows = rows(&r, &EvidenceIndex::default());
        assert_eq!(rows.len(), r.conditions.len());
        assert_eq!(rows[0].cells[0], "1-2-1");
        assert_eq!(rows[0].cells[2], "画面転送機能");
        assert_eq!(rows[0].cells[5], "否採用 (does not conform)");
        assert!(rows[0].cells[6].contains("RFB 3.8 / ws"), "{:?}", rows[0]);
        assert!(rows[0].cells[7].contains("EX-01 fail: EX-01 detail"));
        assert_eq!(rows[1].cells[7], "-");
        assert_eq!(rows[3].cells[5], "未実施 (not tested)");
        assert!(rows[3].cells[7].starts_with("未実施"), "{:?}", rows[3]);
    }
}
