//! 適合内容 of the tested rows 1-2-1 .. 1-3-2: what the run measured
//! (negotiated RFB version and transport, screen size, exclusivity policy,
//! contention trials, sustained rate, input latency, declared data
//! capabilities, request counts), the checks that passed and the witness's
//! answers.

use serde_json::Value;

use crate::model::ids::ConditionId;
use crate::model::verdict::Verdict;
use crate::sinks::report::outputs::EvidenceIndex;
use crate::sinks::report::{CheckRecord, ConditionRecord, Report};

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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::sinks::report::tests::sample_outcome;

    #[test]
    fn content_names_what_was_measured_and_the_checks_that_passed() {
        let r = Report::from_outcome(&sample_outcome());
        let ev = EvidenceIndex::default();
        let t = conformance_text(&r, &r.conditions[0], &ev);
        assert!(t.contains("RFB 3.8 / ws"), "{t}");
        assert!(t.contains("合格 passed: ST-01"), "{t}");
        assert!(!t.contains("EX-01,"), "EX-01 failed: {t}");
        let skipped = conformance_text(&r, &r.conditions[3], &ev);
        assert_eq!(skipped, "-");
    }
}
