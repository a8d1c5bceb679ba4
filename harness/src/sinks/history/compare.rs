//! Two run records side by side: which condition and check verdicts moved
//! (regressions first), what the declaration changed key by key, and the
//! measured figures of both.
//!
//! How a verdict change is classed ([`Change`]):
//! - a run that did not run a condition or check (left out by
//!   `--only`/`--skip`) is "not run" on that side: nothing is judged from
//!   it, neither regression nor improvement;
//! - anything becoming `fail`, and `pass` becoming anything undecided
//!   (`error`, `inconclusive`, `skipped` for a prerequisite or an abort), is
//!   a regression;
//! - `fail` or undecided becoming `pass` is an improvement;
//! - every other move (to or from `not_applicable`, between undecided
//!   states, `fail` to undecided) is a change, neither better nor worse.
//!
//! The informational condition 2-2-1 and its check are compared and shown
//! like the others but never count as a regression.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::figures::{self, FigureRow};
use crate::model::ids::CheckId;
use crate::sinks::report::Report;

/// The detail the runner gives a check left out by `--only`/`--skip`; the
/// record has no other mark of deselection.
pub const DESELECTED_DETAIL: &str = "not selected (--only/--skip)";

/// How one verdict moved from the earlier run to the later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    /// Worse: it now fails, or no longer passes.
    Regression,
    /// Better: it passes now.
    Improvement,
    /// Different, neither better nor worse.
    Changed,
    /// Run now, not run in the earlier record.
    NotRunBefore,
    /// Run in the earlier record, not run now.
    NotRunNow,
    /// The same.
    Unchanged,
}

impl Change {
    /// Lower-case code (`regression`, `improvement`, `changed`,
    /// `not_run_before`, `not_run_now`, `unchanged`).
    pub fn code(&self) -> &'static str {
        match self {
            Change::Regression => "regression",
            Change::Improvement => "improvement",
            Change::Changed => "changed",
            Change::NotRunBefore => "not_run_before",
            Change::NotRunNow => "not_run_now",
            Change::Unchanged => "unchanged",
        }
    }

    /// The label in Japanese.
    pub fn ja(&self) -> &'static str {
        match self {
            Change::Regression => "退行",
            Change::Improvement => "改善",
            Change::Changed => "変更",
            Change::NotRunBefore => "前回未実施",
            Change::NotRunNow => "今回未実施",
            Change::Unchanged => "変化なし",
        }
    }

    /// The label in English.
    pub fn en(&self) -> &'static str {
        match self {
            Change::Regression => "REGRESSION",
            Change::Improvement => "improvement",
            Change::Changed => "changed",
            Change::NotRunBefore => "not run before",
            Change::NotRunNow => "not run now",
            Change::Unchanged => "unchanged",
        }
    }
}

/// A verdict as compared: what matters for better or worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    NotRun,
    Pass,
    NotApplicable,
    Undecided,
    Fail,
}

fn standing(verdict: &str) -> Standing {
    match verdict {
        "not_run" => Standing::NotRun,
        "pass" => Standing::Pass,
        "fail" => Standing::Fail,
        "not_applicable" => Standing::NotApplicable,
        _ => Standing::Undecided,
    }
}

/// Classes the move from verdict `old` to `new` (report strings, with
/// `not_run` for a condition or check the run left out).
pub fn classify(old: &str, new: &str) -> Change {
    use Standing as S;
    match (standing(old), standing(new)) {
        (S::NotRun, S::NotRun) => Change::Unchanged,
        (S::NotRun, _) => Change::NotRunBefore,
        (_, S::NotRun) => Change::NotRunNow,
        _ if old == new => Change::Unchanged,
        (_, S::Fail) | (S::Pass, S::Undecided) => Change::Regression,
        (S::Fail | S::Undecided, S::Pass) => Change::Improvement,
        _ => Change::Changed,
    }
}

/// One condition's or check's verdict in both runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictChange {
    /// `1-2-2` or `OP-01`.
    pub id: String,
    /// The condition (the id itself for a condition).
    pub condition: String,
    /// Reported for information only (2-2-1): never a regression that counts.
    pub informational: bool,
    /// Verdict in the earlier run (`not_run` when left out).
    pub old: String,
    /// Verdict in the later run (`not_run` when left out).
    pub new: String,
    /// How it moved.
    pub change: Change,
    /// The later run's detail (checks only; empty for conditions).
    pub detail: String,
}

/// One key of the declaration that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclarationChange {
    /// Dotted path: `terminal.version`, `operation.probe[0].x`.
    pub key: String,
    /// The earlier value as compact JSON, `None` when absent.
    pub old: Option<String>,
    /// The later value as compact JSON, `None` when absent.
    pub new: Option<String>,
}

/// Everything a comparison found.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Every condition, regressions first, then in document order.
    pub conditions: Vec<VerdictChange>,
    /// Every check, regressions first, then in catalog order.
    pub checks: Vec<VerdictChange>,
    /// The declaration's keys that differ, `[terminal]` first.
    pub declaration: Vec<DeclarationChange>,
    /// The figures either run recorded.
    pub figures: Vec<FigureRow>,
    /// Circumstances a reader must weigh (another scenario, an aborted run ...).
    pub notes: Vec<String>,
}

impl Comparison {
    /// Regressions that count: conditions and checks outside the
    /// informational condition.
    pub fn regressions(&self) -> impl Iterator<Item = &VerdictChange> {
        self.conditions
            .iter()
            .chain(&self.checks)
            .filter(|c| c.change == Change::Regression && !c.informational)
    }

    /// True when a condition or check got worse (informational ones aside).
    pub fn has_regression(&self) -> bool {
        self.regressions().next().is_some()
    }

    /// How many conditions and checks moved each way.
    pub fn count(&self, change: Change) -> usize {
        self.conditions
            .iter()
            .chain(&self.checks)
            .filter(|c| c.change == change && !c.informational)
            .count()
    }
}

/// Compares the earlier record `old` with the later `new`.
pub fn compare(old: &Report, new: &Report) -> Comparison {
    let cond_verdict = |r: &Report, id: &str| {
        r.conditions
            .iter()
            .find(|c| c.id.as_str() == id)
            .map(|c| match c.verdict.as_str() {
                "skipped" => "not_run".to_string(),
                v => v.to_string(),
            })
            .unwrap_or_else(|| "not_run".to_string())
    };
    let mut cond_ids: Vec<(String, bool)> = Vec::new();
    for c in old.conditions.iter().chain(&new.conditions) {
        if !cond_ids.iter().any(|(id, _)| id == c.id.as_str()) {
            cond_ids.push((c.id.as_str().to_string(), c.id.informational()));
        }
    }
    cond_ids.sort();
    let mut conditions: Vec<VerdictChange> = cond_ids
        .into_iter()
        .map(|(id, informational)| {
            let (o, n) = (cond_verdict(old, &id), cond_verdict(new, &id));
            VerdictChange {
                change: classify(&o, &n),
                condition: id.clone(),
                id,
                informational,
                old: o,
                new: n,
                detail: String::new(),
            }
        })
        .collect();
    let check_verdict = |r: &Report, id: CheckId| {
        r.checks
            .iter()
            .find(|c| c.id == id)
            .map(|c| {
                if c.verdict.as_str() == "skipped" && c.detail == DESELECTED_DETAIL {
                    ("not_run".to_string(), c.detail.clone())
                } else {
                    (c.verdict.as_str().to_string(), c.detail.clone())
                }
            })
            .unwrap_or_else(|| ("not_run".to_string(), String::new()))
    };
    let mut checks: Vec<VerdictChange> = CheckId::ALL
        .iter()
        .map(|id| {
            let (o, _) = check_verdict(old, *id);
            let (n, detail) = check_verdict(new, *id);
            VerdictChange {
                id: id.as_str().to_string(),
                condition: crate::checks::def(*id).condition.as_str().to_string(),
                informational: crate::checks::def(*id).condition.informational(),
                change: classify(&o, &n),
                old: o,
                new: n,
                detail,
            }
        })
        .collect();
    let mut notes = notes(old, new);
    notes.extend(coverage_notes(&conditions, &checks));
    // Stable sorts: within a class, document and catalog order stay.
    conditions.sort_by_key(|c| (c.informational, c.change));
    checks.sort_by_key(|c| (c.informational, c.change));
    Comparison {
        conditions,
        checks,
        declaration: declaration_changes(&old.terminal, &new.terminal),
        figures: figures::rows(old, new),
        notes,
    }
}

/// A condition judged in both runs on different checks: its two verdicts
/// do not rest on the same evidence.
fn coverage_notes(conditions: &[VerdictChange], checks: &[VerdictChange]) -> Vec<String> {
    let mut notes = Vec::new();
    for c in conditions {
        if c.old == "not_run" || c.new == "not_run" {
            continue;
        }
        let ids = |change: Change| {
            checks
                .iter()
                .filter(|k| k.condition == c.id && k.change == change)
                .map(|k| k.id.as_str())
                .collect::<Vec<_>>()
        };
        let (gone, added) = (ids(Change::NotRunNow), ids(Change::NotRunBefore));
        if gone.is_empty() && added.is_empty() {
            continue;
        }
        let mut parts = Vec::new();
        if !gone.is_empty() {
            parts.push(format!("not run in NEW: {}", gone.join(", ")));
        }
        if !added.is_empty() {
            parts.push(format!("not run in OLD: {}", added.join(", ")));
        }
        notes.push(format!(
            "{} was judged on different checks ({})",
            c.id,
            parts.join("; ")
        ));
    }
    notes
}

fn notes(old: &Report, new: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    if old.run.scenario != new.run.scenario {
        notes.push(format!(
            "the runs used different scenarios (\"{}\" and \"{}\"): durations and bounds differ, so figures may not be comparable",
            old.run.scenario, new.run.scenario
        ));
    }
    if old.run.harness_version != new.run.harness_version {
        notes.push(format!(
            "the runs were judged by different harness versions ({} and {})",
            old.run.harness_version, new.run.harness_version
        ));
    }
    for (side, r) in [("OLD", old), ("NEW", new)] {
        if r.run.status == crate::run::runner::RunStatus::Aborted {
            notes.push(format!(
                "{side} run {} was aborted: {}",
                r.run.id,
                r.run
                    .abort_reason
                    .as_deref()
                    .unwrap_or("no reason recorded")
            ));
        }
        if r.run.partial {
            notes.push(format!(
                "{side} run {} is partial (--only/--skip): what it left out is shown as not run",
                r.run.id
            ));
        }
    }
    notes
}

/// Flattens a declaration into dotted keys. Objects nest (`screen.url`),
/// arrays of objects are indexed (`operation.probe[1].text`), and arrays
/// of plain values (a rectangle) stay one value.
pub fn flatten(v: &Value) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, x, out);
                }
            }
            Value::Array(xs) if xs.iter().any(|x| x.is_object() || x.is_array()) => {
                for (i, x) in xs.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), x, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", v, &mut out);
    out
}

/// The keys whose value differs between the two declarations: the
/// `[terminal]` identity first, then the screen, operation, data, harness
/// and TLS settings, then anything else.
pub fn declaration_changes(old: &Value, new: &Value) -> Vec<DeclarationChange> {
    let (a, b) = (flatten(old), flatten(new));
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let rank = |k: &str| {
        let section = k.split(['.', '[']).next().unwrap_or("");
        ["terminal", "screen", "operation", "data", "harness", "tls"]
            .iter()
            .position(|s| *s == section)
            .unwrap_or(usize::MAX)
    };
    let mut changes: Vec<DeclarationChange> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| DeclarationChange {
            key: k.clone(),
            old: a.get(k).cloned(),
            new: b.get(k).cloned(),
        })
        .collect();
    changes.sort_by_key(|c| rank(&c.key));
    changes
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::model::verdict::{ConditionVerdict, Verdict};
    use crate::sinks::report::tests::sample_outcome;
    use serde_json::json;

    #[test]
    fn verdict_moves_are_classed() {
        use Change::*;
        let cases = [
            ("pass", "fail", Regression),
            ("pass", "error", Regression),
            ("pass", "skipped", Regression),
            ("pass", "inconclusive", Regression),
            ("error", "fail", Regression),
            ("not_applicable", "fail", Regression),
            ("fail", "pass", Improvement),
            ("inconclusive", "pass", Improvement),
            ("fail", "error", Changed),
            ("error", "skipped", Changed),
            ("pass", "not_applicable", Changed),
            ("not_applicable", "pass", Changed),
            ("pass", "not_run", NotRunNow),
            ("fail", "not_run", NotRunNow),
            ("not_run", "fail", NotRunBefore),
            ("not_run", "not_run", Unchanged),
            ("fail", "fail", Unchanged),
        ];
        for (o, n, want) in cases {
            assert_eq!(classify(o, n), want, "{o} -> {n}");
        }
    }

    #[test]
    fn regressions_come_first_and_deselected_is_not_run() {
        let mut old = Report::from_outcome(&sample_outcome());
        for c in old
            .checks
            .iter_mut()
            .filter(|c| c.verdict == Verdict::Skipped)
        {
            c.detail = DESELECTED_DETAIL.into();
        }
        let mut new = old.clone();
        let op01 = new
            .checks
            .iter_mut()
            .find(|c| c.id == CheckId::Op01)
            .unwrap();
        op01.verdict = Verdict::Fail;
        op01.detail = "did not change".into();
        new.conditions[1].verdict = ConditionVerdict::Fail;
        // EX-01 failed before and is left out now; 1-2-1 is not run now.
        let ex01 = new
            .checks
            .iter_mut()
            .find(|c| c.id == CheckId::Ex01)
            .unwrap();
        ex01.verdict = Verdict::Skipped;
        ex01.detail = DESELECTED_DETAIL.into();
        new.conditions[0].verdict = ConditionVerdict::Skipped;
        let c = compare(&old, &new);
        assert_eq!(c.conditions[0].id, "1-2-2");
        assert_eq!(c.conditions[0].change, Change::Regression);
        let c121 = c.conditions.iter().find(|x| x.id == "1-2-1").unwrap();
        assert_eq!((c121.old.as_str(), c121.new.as_str()), ("fail", "not_run"));
        assert_eq!(c121.change, Change::NotRunNow);
        assert_eq!(c.checks[0].id, "OP-01");
        assert_eq!(c.checks[0].detail, "did not change");
        let ex = c.checks.iter().find(|x| x.id == "EX-01").unwrap();
        assert_eq!(ex.change, Change::NotRunNow);
        assert!(
            c.notes.iter().all(|n| !n.starts_with("1-2-1")),
            "1-2-1 is not run now"
        );
        // DR checks were deselected in both: unchanged, not run.
        let dr = c.checks.iter().find(|x| x.id == "DR-01").unwrap();
        assert_eq!((dr.old.as_str(), dr.change), ("not_run", Change::Unchanged));
        let names: Vec<&str> = c.regressions().map(|r| r.id.as_str()).collect();
        assert_eq!(names, ["1-2-2", "OP-01"]);
        assert!(c.has_regression());
        assert!(!compare(&new, &old).has_regression());
        assert_eq!(compare(&new, &old).count(Change::Improvement), 2);
    }

    #[test]
    fn a_condition_judged_on_other_checks_is_noted() {
        let old = Report::from_outcome(&sample_outcome());
        let mut new = old.clone();
        let st04 = new
            .checks
            .iter_mut()
            .find(|c| c.id == CheckId::St04)
            .unwrap();
        st04.verdict = Verdict::Skipped;
        st04.detail = DESELECTED_DETAIL.into();
        let c = compare(&old, &new);
        assert!(
            c.notes
                .iter()
                .any(|n| n == "1-2-1 was judged on different checks (not run in NEW: ST-04)"),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn informational_regressions_do_not_count() {
        let mut old = Report::from_outcome(&sample_outcome());
        let tls = old
            .checks
            .iter_mut()
            .find(|c| c.id == CheckId::Tls01)
            .unwrap();
        tls.verdict = Verdict::Pass;
        let mut new = old.clone();
        let tls = new
            .checks
            .iter_mut()
            .find(|c| c.id == CheckId::Tls01)
            .unwrap();
        tls.verdict = Verdict::Fail;
        let c = compare(&old, &new);
        let row = c.checks.iter().find(|x| x.id == "TLS-01").unwrap();
        assert!(row.informational && row.change == Change::Regression);
        assert!(!c.has_regression());
    }

    #[test]
    fn declaration_changes_key_by_key_terminal_first() {
        let old = json!({
            "terminal": {"vendor": "V", "version": "2.4.0"},
            "screen": {"exclusivity": "refuse", "ignore": [[0, 0, 10, 10]]},
            "operation": {"probe": [{"kind": "click", "watch": [1, 2, 3, 4]}]},
            "data": {"input": true}
        });
        let new = json!({
            "terminal": {"vendor": "V", "version": "2.5.0"},
            "screen": {"exclusivity": "takeover", "ignore": []},
            "operation": {"probe": [{"kind": "click", "watch": [1, 2, 3, 5]}, {"kind": "type", "text": "x"}]},
            "aaa": 1
        });
        let ch = declaration_changes(&old, &new);
        let keys: Vec<&str> = ch.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "terminal.version",
                "screen.exclusivity",
                "screen.ignore",
                "screen.ignore[0]",
                "operation.probe[0].watch",
                "operation.probe[1].kind",
                "operation.probe[1].text",
                "data.input",
                "aaa"
            ]
        );
        assert_eq!(ch[0].old.as_deref(), Some("\"2.4.0\""));
        assert_eq!(ch[0].new.as_deref(), Some("\"2.5.0\""));
        let input = ch.iter().find(|c| c.key == "data.input").unwrap();
        assert_eq!(
            (input.old.as_deref(), input.new.as_deref()),
            (Some("true"), None)
        );
        assert!(declaration_changes(&old, &old).is_empty());
    }
}
