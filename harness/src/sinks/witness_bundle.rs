//! The evidence that answers a witness question, gathered from its check's
//! recorded evidence and the run directory: the images in before-then-after
//! order with the changed region marked, the consoles' timeline, the pushed
//! report as a table, and the request and answer pairs of the data channel.
//!
//! The bundle is read by keys the checks record (`changed_bbox`,
//! `timeline`, `report`, objects with a `request`), not by check id, so a
//! question attached to any check shows what that check kept. It is shown
//! to the witness (browser and standard input) and never judged.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::model::ids::CheckId;

/// Most timeline lines, images and exchanges a bundle carries.
pub const MAX_ITEMS: usize = 200;

/// Most characters of one answer body shown.
pub const MAX_BODY_CHARS: usize = 2000;

/// What a question is shown with.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bundle {
    /// The check whose evidence this is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckId>,
    /// Images relative to the run directory, before ones first, after ones last.
    pub images: Vec<String>,
    /// The changed region `[x, y, w, h]`, to mark on the images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<[u64; 4]>,
    /// The consoles' timeline: `(ms, console, event)`.
    pub timeline: Vec<TimelineItem>,
    /// The pushed report as a table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportTable>,
    /// Requests and their answers.
    pub exchanges: Vec<Exchange>,
}

/// One line of a consoles' timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineItem {
    /// Milliseconds into the check.
    pub ms: f64,
    /// The console's label.
    pub console: String,
    /// What happened.
    pub event: String,
}

/// A pushed report, as a witness reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportTable {
    /// Its id.
    pub report_id: String,
    /// Where (address, coordinates).
    pub location: String,
    /// The category.
    pub category: String,
    /// The summary.
    pub summary: String,
    /// The messages: `(from, text)`.
    pub messages: Vec<(String, String)>,
}

/// A request and the answer it got.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exchange {
    /// What was asked (`GET http://.../reports/ID`).
    pub request: String,
    /// The answer's status, as the binding words it.
    pub status: String,
    /// The answer's body, cut to [`MAX_BODY_CHARS`].
    pub body: String,
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_BODY_CHARS {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_BODY_CHARS).collect();
        t.push('…');
        t
    }
}

/// The images of `evidence/<CHECK>/`, before ones first and after ones last.
pub fn images(run_dir: &Path, check: CheckId) -> Vec<String> {
    let rel = format!("{}/{check}", crate::model::files::EVIDENCE_DIR);
    let Ok(entries) = std::fs::read_dir(run_dir.join(&rel)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png"))
        .collect();
    let rank = |n: &str| {
        if n.contains("before") {
            0
        } else if n.contains("after") {
            2
        } else {
            1
        }
    };
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    names.truncate(MAX_ITEMS);
    names.into_iter().map(|n| format!("{rel}/{n}")).collect()
}

fn report_table(r: &Value) -> Option<ReportTable> {
    let o = r.as_object()?;
    let loc = o.get("location");
    let mut location = text(loc.and_then(|l| l.get("address")));
    if let (Some(lat), Some(lon)) = (
        loc.and_then(|l| l.get("lat")).and_then(Value::as_f64),
        loc.and_then(|l| l.get("lon")).and_then(Value::as_f64),
    ) {
        location = format!("{location} ({lat:.6}, {lon:.6})")
            .trim()
            .to_string();
    }
    let messages = o
        .get("messages")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .take(MAX_ITEMS)
                .map(|x| (text(x.get("from")), cut(&text(x.get("text")))))
                .collect()
        })
        .unwrap_or_default();
    Some(ReportTable {
        report_id: text(o.get("reportId")),
        location,
        category: text(o.get("category")),
        summary: cut(&text(o.get("summary"))),
        messages,
    })
}

fn exchange(v: &Value) -> Option<Exchange> {
    let request = v.get("request")?.as_str()?.to_string();
    let status = match v.get("status") {
        Some(s) => text(Some(s)),
        None => text(v.get("outcome")),
    };
    Some(Exchange {
        request,
        status,
        body: cut(&text(v.get("body"))),
    })
}

/// The bundle for a question attached to `check`, from the evidence that
/// check recorded (`Value::Null` when it has none) and its images in
/// `run_dir`.
pub fn bundle(run_dir: &Path, check: Option<CheckId>, evidence: &Value) -> Bundle {
    let Some(check) = check else {
        return Bundle::default();
    };
    let mark = evidence
        .get("changed_bbox")
        .and_then(Value::as_array)
        .and_then(|a| {
            let v: Vec<u64> = a.iter().filter_map(Value::as_u64).collect();
            <[u64; 4]>::try_from(v).ok()
        });
    let timeline = evidence
        .pointer("/timeline/items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .take(MAX_ITEMS)
                .map(|i| TimelineItem {
                    ms: i.get("ms").and_then(Value::as_f64).unwrap_or(0.0),
                    console: text(i.get("console")),
                    event: text(i.get("event")),
                })
                .collect()
        })
        .unwrap_or_default();
    let report = evidence.get("report").and_then(report_table);
    let mut exchanges = Vec::new();
    if let Some(o) = evidence.as_object() {
        for v in o.values() {
            match v {
                Value::Object(_) => exchanges.extend(exchange(v)),
                Value::Array(a) => exchanges.extend(a.iter().filter_map(exchange)),
                _ => {}
            }
            if exchanges.len() >= MAX_ITEMS {
                break;
            }
        }
    }
    exchanges.truncate(MAX_ITEMS);
    Bundle {
        check: Some(check),
        images: images(run_dir, check),
        mark,
        timeline,
        report,
        exchanges,
    }
}

impl Bundle {
    /// The bundle as lines for standard input's prompt, paths under `run_dir`.
    pub fn lines(&self, run_dir: &Path, lang: crate::model::lang::Lang) -> Vec<String> {
        let t = |en, ja| lang.pick(en, ja).to_string();
        let mut out = Vec::new();
        for i in &self.images {
            out.push(format!(
                "{} {}",
                t("image:", "画像:"),
                run_dir.join(i).display()
            ));
        }
        if let Some([x, y, w, h]) = self.mark {
            out.push(format!(
                "{} {w}x{h} @ ({x}, {y})",
                t("changed region:", "変化した領域:")
            ));
        }
        if !self.timeline.is_empty() {
            out.push(t("timeline:", "経過:"));
            for i in self.timeline.iter().take(24) {
                out.push(format!("  {:>9.1} ms  {:<8} {}", i.ms, i.console, i.event));
            }
        }
        if let Some(r) = &self.report {
            out.push(format!("{} {}", t("report:", "通報:"), r.report_id));
            out.push(format!("  {} {}", t("location:", "場所:"), r.location));
            out.push(format!("  {} {}", t("category:", "種別:"), r.category));
            out.push(format!("  {} {}", t("summary:", "概要:"), r.summary));
            for (from, text) in &r.messages {
                out.push(format!("  [{from}] {text}"));
            }
        }
        for e in self.exchanges.iter().take(12) {
            let body: String = e.body.chars().take(160).collect();
            out.push(format!(
                "{} {} -> {} {}",
                t("request:", "要求:"),
                e.request,
                e.status,
                body
            ));
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_come_before_then_after_and_the_region_is_marked() {
        let dir = std::env::temp_dir().join(format!("s301-bundle-{}", std::process::id()));
        let ev = dir.join("evidence/OP-01");
        std::fs::create_dir_all(&ev).unwrap();
        for n in ["after.png", "before.png", "transcript.jsonl"] {
            std::fs::write(ev.join(n), b"x").unwrap();
        }
        let b = bundle(
            &dir,
            Some(CheckId::Op01),
            &json!({"changed_bbox": [265, 260, 10, 12]}),
        );
        assert_eq!(
            b.images,
            ["evidence/OP-01/before.png", "evidence/OP-01/after.png"]
        );
        assert_eq!(b.mark, Some([265, 260, 10, 12]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn timeline_report_and_exchanges_are_read_from_evidence() {
        let ev = json!({
            "timeline": {"items": [{"console": "B", "event": "open failed: refused", "ms": 210.0, "seq": 58}]},
            "report": {"reportId": "R-1", "category": "fire", "summary": "煙",
                       "location": {"address": "大阪市", "lat": 34.7, "lon": 135.5},
                       "messages": [{"from": "caller", "text": "煙が出ています"}]},
            "get": {"request": "GET /reports/R-1", "status": 200, "body": "{}"},
        });
        let b = bundle(Path::new("/nonexistent"), Some(CheckId::Dr01), &ev);
        assert_eq!(b.timeline[0].console, "B");
        let r = b.report.unwrap();
        assert_eq!(r.location, "大阪市 (34.700000, 135.500000)");
        assert_eq!(r.messages, [("caller".into(), "煙が出ています".into())]);
        assert_eq!(b.exchanges[0].status, "200");
        assert!(bundle(Path::new("/x"), None, &ev).images.is_empty());
    }
}
