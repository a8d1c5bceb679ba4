//! The measured figures a comparison sets side by side: latencies, rates
//! and timings the checks record in their evidence.
//!
//! Each [`Figure`] names a check and where its value sits in that check's
//! evidence (a JSON pointer), or a percentile over a list the check keeps
//! (DR-02's per-request times). A figure is taken only from a check that
//! ran (not skipped, not not-applicable); a figure a check did not record
//! is absent, never zero.

use serde_json::Value;

use crate::model::ids::CheckId;
use crate::model::verdict::Verdict;
use crate::sinks::report::Report;

/// Where a figure's value comes from, inside its check's evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A number at this JSON pointer.
    Pointer(&'static str),
    /// The nearest-rank percentile `q` (1..=100) of the numbers `field`
    /// of the objects in the array at `list`.
    Percentile {
        /// JSON pointer to the array.
        list: &'static str,
        /// The member of each element holding the number.
        field: &'static str,
        /// The percentile.
        q: u8,
    },
}

/// One figure of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figure {
    /// Stable key (`op04.p50_ms`), used in machine-readable output.
    pub key: &'static str,
    /// The check that measures it.
    pub check: CheckId,
    /// What it is, in Japanese.
    pub ja: &'static str,
    /// What it is, in English.
    pub en: &'static str,
    /// Unit (`ms`, `/s`, `B/s`, or empty for a count).
    pub unit: &'static str,
    /// Where the value sits.
    pub source: Source,
}

const fn fig(
    key: &'static str,
    check: CheckId,
    ja: &'static str,
    en: &'static str,
    unit: &'static str,
    pointer: &'static str,
) -> Figure {
    Figure {
        key,
        check,
        ja,
        en,
        unit,
        source: Source::Pointer(pointer),
    }
}

/// Every figure compared, in the order shown.
pub const FIGURES: &[Figure] = &[
    fig(
        "st01.first_update_ms",
        CheckId::St01,
        "最初の全画面更新",
        "first full update",
        "ms",
        "/first_update/ms",
    ),
    fig(
        "st04.updates_per_s",
        CheckId::St04,
        "持続転送の更新頻度",
        "sustained update rate",
        "/s",
        "/updates_per_s",
    ),
    fig(
        "st04.bytes_per_s",
        CheckId::St04,
        "持続転送の転送量",
        "sustained throughput",
        "B/s",
        "/bytes_per_s",
    ),
    fig(
        "st04.latency_p50_ms",
        CheckId::St04,
        "更新応答時間 p50",
        "update latency p50",
        "ms",
        "/latency_ms/p50",
    ),
    fig(
        "st04.latency_p95_ms",
        CheckId::St04,
        "更新応答時間 p95",
        "update latency p95",
        "ms",
        "/latency_ms/p95",
    ),
    fig(
        "ex01.refused_ms",
        CheckId::Ex01,
        "第二指令台の拒否までの時間",
        "second console refused after",
        "ms",
        "/facts/b_refused/ms",
    ),
    fig(
        "ex03.trial_p50_ms",
        CheckId::Ex03,
        "競合試行の所要 p50",
        "contention trial p50",
        "ms",
        "/trial_ms/p50",
    ),
    fig(
        "ex03.trial_max_ms",
        CheckId::Ex03,
        "競合試行の所要 最大",
        "contention trial max",
        "ms",
        "/trial_ms/max",
    ),
    fig(
        "ex03.elapsed_ms",
        CheckId::Ex03,
        "競合試行の合計時間",
        "contention trials in all",
        "ms",
        "/elapsed_ms",
    ),
    fig(
        "ex03.failed_trials",
        CheckId::Ex03,
        "競合試行の失敗数",
        "failed contention trials",
        "",
        "/failed_trials",
    ),
    fig(
        "op04.p50_ms",
        CheckId::Op04,
        "操作の反映遅延 p50",
        "input latency p50",
        "ms",
        "/p50_ms",
    ),
    fig(
        "op04.p95_ms",
        CheckId::Op04,
        "操作の反映遅延 p95",
        "input latency p95",
        "ms",
        "/p95_ms",
    ),
    fig(
        "op04.max_ms",
        CheckId::Op04,
        "操作の反映遅延 最大",
        "input latency max",
        "ms",
        "/max_ms",
    ),
    fig(
        "do01.push_delay_ms",
        CheckId::Do01,
        "通報の送信遅延",
        "push delay after the trigger",
        "ms",
        "/waited_ms",
    ),
    fig(
        "do02.revision_delay_ms",
        CheckId::Do02,
        "更新版の送信遅延",
        "revision push delay",
        "ms",
        "/waited_ms",
    ),
    fig(
        "do03.redelivery_ms",
        CheckId::Do03,
        "503 後の再送までの時間",
        "redelivery after a 503",
        "ms",
        "/retry_after_ms",
    ),
    Figure {
        key: "dr02.p50_ms",
        check: CheckId::Dr02,
        ja: "データ要求の応答時間 p50",
        en: "request latency p50",
        unit: "ms",
        source: Source::Percentile {
            list: "/requests",
            field: "elapsed_ms",
            q: 50,
        },
    },
    Figure {
        key: "dr02.p95_ms",
        check: CheckId::Dr02,
        ja: "データ要求の応答時間 p95",
        en: "request latency p95",
        unit: "ms",
        source: Source::Percentile {
            list: "/requests",
            field: "elapsed_ms",
            q: 95,
        },
    },
    fig(
        "dr02.max_ms",
        CheckId::Dr02,
        "データ要求の応答時間 最大",
        "request latency max",
        "ms",
        "/max_elapsed_ms",
    ),
    fig(
        "dr02.answered",
        CheckId::Dr02,
        "応答されたデータ要求",
        "requests answered",
        "",
        "/counts/answered",
    ),
    fig(
        "dr02.planned",
        CheckId::Dr02,
        "計画したデータ要求",
        "requests planned",
        "",
        "/counts/planned",
    ),
];

impl Figure {
    /// This figure in `report`, when its check ran and recorded it.
    pub fn value(&self, report: &Report) -> Option<f64> {
        let c = report.checks.iter().find(|c| c.id == self.check)?;
        if matches!(c.verdict, Verdict::Skipped | Verdict::NotApplicable) {
            return None;
        }
        match self.source {
            Source::Pointer(p) => c.evidence.pointer(p).and_then(Value::as_f64),
            Source::Percentile { list, field, q } => {
                let items = c.evidence.pointer(list)?.as_array()?;
                let mut xs: Vec<f64> = items
                    .iter()
                    .filter_map(|i| i.get(field).and_then(Value::as_f64))
                    .filter(|x| x.is_finite())
                    .collect();
                percentile(&mut xs, q)
            }
        }
    }

    /// The label with its unit: `入力遅延 p50 / input latency p50 (ms)`.
    pub fn label(&self) -> String {
        let unit = if self.unit.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.unit)
        };
        format!("{} {} / {}{unit}", self.check, self.ja, self.en)
    }
}

/// Nearest-rank percentile `q` of `xs` (sorted in place); `None` when empty.
pub fn percentile(xs: &mut [f64], q: u8) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let q = usize::from(q.clamp(1, 100));
    let rank = (q * xs.len()).div_ceil(100).max(1);
    xs.get(rank - 1).copied()
}

/// A figure of both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureRow {
    /// Which figure.
    pub figure: Figure,
    /// In the earlier run.
    pub old: Option<f64>,
    /// In the later run.
    pub new: Option<f64>,
}

impl FigureRow {
    /// New minus old, when both are known.
    pub fn delta(&self) -> Option<f64> {
        Some(self.new? - self.old?)
    }

    /// The change in percent of the old value, when both are known and
    /// the old one is not zero.
    pub fn percent(&self) -> Option<f64> {
        let old = self.old?;
        (old != 0.0).then(|| self.delta().map(|d| d / old * 100.0))?
    }

    /// The change as text: `+0.7 (+16%)`, `0` when it does not show at
    /// the figures' precision, or `-` when it cannot be told.
    pub fn change_text(&self) -> String {
        let Some(d) = self.delta() else {
            return "-".to_string();
        };
        let n = number(Some(d.abs()));
        if n.chars().all(|c| c == '0' || c == '.') {
            return "0".to_string();
        }
        let sign = if d < 0.0 { '-' } else { '+' };
        match self.percent() {
            Some(p) => format!("{sign}{n} ({p:+.0}%)"),
            None => format!("{sign}{n}"),
        }
    }
}

/// Every figure recorded by at least one of the two runs.
pub fn rows(old: &Report, new: &Report) -> Vec<FigureRow> {
    FIGURES
        .iter()
        .map(|f| FigureRow {
            figure: *f,
            old: f.value(old),
            new: f.value(new),
        })
        .filter(|r| r.old.is_some() || r.new.is_some())
        .collect()
}

/// A figure as text: whole numbers without decimals, others with one
/// (three below 0.1, so a small latency does not read as zero); `-` absent.
pub fn number(v: Option<f64>) -> String {
    let Some(x) = v else {
        return "-".to_string();
    };
    if x != 0.0 && x.abs() < 0.1 {
        return format!("{x:.3}");
    }
    let tenths = (x * 10.0).round() / 10.0;
    if tenths.fract() == 0.0 {
        format!("{tenths:.0}")
    } else {
        format!("{tenths:.1}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::sinks::report::tests::sample_outcome;
    use serde_json::json;

    fn report_with(id: CheckId, verdict: Verdict, evidence: Value) -> Report {
        let mut r = Report::from_outcome(&sample_outcome());
        let c = r.checks.iter_mut().find(|c| c.id == id).unwrap();
        c.verdict = verdict;
        c.evidence = evidence;
        r
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut xs = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&mut xs, 50), Some(3.0));
        assert_eq!(percentile(&mut xs, 95), Some(5.0));
        assert_eq!(percentile(&mut xs, 1), Some(1.0));
        assert_eq!(percentile(&mut [], 50), None);
    }

    #[test]
    fn figures_come_from_checks_that_ran_and_recorded_them() {
        let ev = json!({"p50_ms": 4.3, "p95_ms": 8.9, "max_ms": "n/a"});
        let ran = report_with(CheckId::Op04, Verdict::Fail, ev.clone());
        let skipped = report_with(CheckId::Op04, Verdict::Skipped, ev);
        let p50 = FIGURES.iter().find(|f| f.key == "op04.p50_ms").unwrap();
        let max = FIGURES.iter().find(|f| f.key == "op04.max_ms").unwrap();
        assert_eq!(p50.value(&ran), Some(4.3));
        assert_eq!(max.value(&ran), None, "not a number: absent, not zero");
        assert_eq!(p50.value(&skipped), None);
        let dr = report_with(
            CheckId::Dr02,
            Verdict::Pass,
            json!({"requests": [{"elapsed_ms": 7.0}, {"elapsed_ms": 1.0}, {"x": 1}, {"elapsed_ms": 3.0}]}),
        );
        let p95 = FIGURES.iter().find(|f| f.key == "dr02.p95_ms").unwrap();
        assert_eq!(p95.value(&dr), Some(7.0));
        let rows = rows(&ran, &dr);
        assert!(rows
            .iter()
            .any(|r| r.figure.key == "op04.p50_ms" && r.old == Some(4.3) && r.new.is_none()));
        assert!(rows.iter().all(|r| r.old.is_some() || r.new.is_some()));
    }

    #[test]
    fn changes_read_as_signed_numbers_with_percent() {
        let row = |old, new| FigureRow {
            figure: FIGURES[0],
            old,
            new,
        };
        assert_eq!(row(Some(4.0), Some(5.0)).change_text(), "+1 (+25%)");
        assert_eq!(row(Some(4.0), Some(3.5)).change_text(), "-0.5 (-12%)");
        assert_eq!(row(Some(0.0), Some(0.25)).change_text(), "+0.3");
        assert_eq!(row(Some(2.0), Some(2.0)).change_text(), "0");
        assert_eq!(row(Some(2.0), Some(2.00001)).change_text(), "0");
        assert_eq!(row(None, Some(2.0)).change_text(), "-");
        assert_eq!(number(Some(0.0123)), "0.012");
        assert_eq!(number(Some(37.741107)), "37.7");
        assert_eq!(number(Some(40.000001)), "40");
        assert_eq!(number(Some(0.0)), "0");
    }
}
