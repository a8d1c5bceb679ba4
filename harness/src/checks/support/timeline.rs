//! What happened on the consoles of one check, in causal order: the
//! timeline each check keeps as evidence.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};

use super::{ms_between, round_ms, LIST_CAP, TIMELINE_MAX};
use crate::binding::Seq;

/// One line of a timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    /// Console label.
    pub console: String,
    /// What happened.
    pub event: String,
    /// The causal clock.
    pub seq: u64,
    /// Milliseconds since the timeline started.
    pub ms: f64,
}

#[derive(Default)]
struct TimelineInner {
    entries: Vec<TimelineEntry>,
    total: usize,
}

/// What happened on the consoles of one check, in causal order.
#[derive(Clone)]
pub struct Timeline {
    start: Instant,
    inner: Arc<Mutex<TimelineInner>>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new()
    }
}

impl Timeline {
    /// A timeline starting now.
    pub fn new() -> Self {
        Timeline {
            start: Instant::now(),
            inner: Arc::new(Mutex::new(TimelineInner::default())),
        }
    }

    /// When it started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Milliseconds since the start.
    pub fn ms(&self, at: Instant) -> f64 {
        round_ms(ms_between(self.start, at))
    }

    /// Adds an entry.
    pub fn record(&self, console: &str, event: impl Into<String>, seq: Seq) {
        let ms = self.ms(Instant::now());
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.total += 1;
        if g.entries.len() < TIMELINE_MAX {
            g.entries.push(TimelineEntry {
                console: console.to_string(),
                event: event.into(),
                seq: seq.0,
                ms,
            });
        }
    }

    /// Every entry kept, sorted by the causal clock.
    pub fn entries(&self) -> Vec<TimelineEntry> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut v = g.entries.clone();
        v.sort_by_key(|e| e.seq);
        v
    }

    /// The timeline as evidence: the first [`LIST_CAP`] entries and the total.
    pub fn evidence(&self) -> Value {
        let total = self.inner.lock().unwrap_or_else(|p| p.into_inner()).total;
        let e = self.entries();
        json!({
            "total": total,
            "items": e.iter().take(LIST_CAP).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_is_sorted_by_the_causal_clock() {
        let tl = Timeline::new();
        tl.record("B", "second", Seq(9));
        tl.record("A", "first", Seq(3));
        let e = tl.entries();
        assert_eq!(e[0].console, "A");
        assert_eq!(e[1].seq, 9);
    }
}
