//! ST-02 (condition 1-2-1): full-screen updates. Where the binding offers
//! [`crate::binding::EncodingControl`], one round per encoding set
//! (preference list, then each encoding alone); otherwise one full-screen
//! round, and the sweep is reported not applicable.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{json, Value};

use super::support::ms;
use super::support::{
    capped, describe_close, ms_between, open_console, rect_json, round_ms, session_json, Coverage,
    Ev, Timeline, Tracked, FULL_ASKS,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::screen::{valid_size, Rect};
use crate::binding::{BoxFuture, CloseHow, CloseReason, DamageKind, EncodingControl, EncodingSet};
use crate::config::declaration::Declaration;
use crate::config::scenario::{Scenario, ScreenScenario};
use crate::model::ids::{CheckId, ConditionId};

/// ST-02: Full screen: a non-incremental request is answered in time by in-bounds, requested, decodable rectangles covering every pixel.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::St02,
    condition: ConditionId::C1_2_1,
    title: "Full screen: a non-incremental request is answered in time by in-bounds, requested, decodable rectangles covering every pixel",
    requirement: Requirement {
        ja: "全画面の要求に対し、期限内に、画面内に収まり、要求した符号化方式で、復号できる矩形によって、全画素が描画されること（画面の記録を残す）。",
        en: "A full-screen request is answered in time with in-bounds, requested, decodable rectangles that together paint every pixel (the screenshot is kept).",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Transfer,
    budget: st02_budget,
    run: st02,
};

fn st02_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    budget::console(sc)
}

/// Key of the full-screen screenshot ST-02 keeps in [`super::Shared::images`].
pub const SCREENSHOT_KEY: &str = "ST-02/full";

fn st02(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(st02_run(ctx))
}

/// What one ST-02 round saw.
struct Round {
    name: String,
    requested: EncodingSet,
    seen: BTreeMap<String, u64>,
    updates: u64,
    rects: u64,
    bytes: u64,
    ms: Option<f64>,
    violations: Vec<String>,
    uncovered: u64,
    uncovered_bbox: Option<Rect>,
    /// Full update requests sent: more than one when the answers left
    /// pixels unpainted (at most [`FULL_ASKS`]).
    asks: u32,
    /// The round could not finish (session ended, no answer in time).
    fatal: Option<String>,
    /// The session ended by the harness's own doing.
    harness_fault: bool,
}

impl Round {
    fn new(requested: EncodingSet) -> Self {
        Round {
            name: requested.name.clone(),
            requested,
            seen: BTreeMap::new(),
            updates: 0,
            rects: 0,
            bytes: 0,
            ms: None,
            violations: Vec::new(),
            uncovered: 0,
            uncovered_bbox: None,
            asks: 0,
            fatal: None,
            harness_fault: false,
        }
    }

    fn failed(&self) -> bool {
        self.fatal.is_some() || !self.violations.is_empty() || self.uncovered > 0
    }

    /// The first problem, in one line.
    fn problem(&self) -> Option<String> {
        if let Some(f) = &self.fatal {
            return Some(f.clone());
        }
        if let Some(v) = self.violations.first() {
            let more = self.violations.len() - 1;
            return Some(if more > 0 {
                format!("{v} (and {more} more)")
            } else {
                v.clone()
            });
        }
        if self.uncovered > 0 {
            let bbox = self
                .uncovered_bbox
                .map(|r| format!(" within {r}"))
                .unwrap_or_default();
            return Some(format!(
                "the answers to {} full update request(s) left {} pixels unpainted{bbox}",
                self.asks, self.uncovered
            ));
        }
        None
    }

    fn json(&self) -> Value {
        json!({
            "round": self.name,
            "encodings_requested": self.requested.ids,
            "encodings_seen": self.seen,
            "updates": self.updates,
            "rects": self.rects,
            "bytes": self.bytes,
            "ms": self.ms.map(round_ms),
            "violations": capped(&self.violations),
            "uncovered_pixels": self.uncovered,
            "uncovered_bbox": self.uncovered_bbox.map(rect_json),
            "full_requests": self.asks,
            "fatal": self.fatal,
        })
    }
}

async fn st02_run(ctx: &CheckCtx) -> Outcome {
    let sc = &ctx.scenario.screen;
    let tl = Timeline::new();
    let mut t = match open_console(ctx, "ST-02", &tl).await {
        Ok(t) => t,
        Err(o) => return o,
    };
    // The encoding sweep runs only where the binding can choose encodings;
    // otherwise the one full-screen round is judged alone.
    let control = ctx.screen.encodings();
    let plan: Vec<EncodingSet> = match control {
        Some(c) => std::iter::once(c.preference()).chain(c.sweep()).collect(),
        None => vec![EncodingSet {
            name: "full screen".into(),
            ids: Vec::new(),
        }],
    };
    let mut rounds: Vec<Round> = Vec::new();
    for (i, set) in plan.into_iter().enumerate() {
        let mut round = Round::new(set);
        if i > 0 && t.set_encodings(&round.requested).await.is_err() {
            let reason = t.gone_reason().await;
            round.harness_fault = reason.harness_side();
            round.fatal = Some(format!(
                "the session ended before SetEncodings: {}",
                describe_close(&reason)
            ));
        } else {
            full_round(&mut t, &mut round, sc, control).await;
        }
        if i == 0 && round.fatal.is_none() {
            // Encoded straight from the console's framebuffer: no copy.
            t.with_framebuffer(|fb| {
                ctx.shared
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .images
                    .insert(SCREENSHOT_KEY.into(), fb)
            });
        }
        let stop = round.fatal.is_some();
        rounds.push(round);
        if stop {
            break;
        }
    }
    let session = session_json(&t);
    t.close(CloseHow::Clean).await;
    let mut evidence = json!({
        "session": session,
        "rounds": rounds.iter().map(Round::json).collect::<Vec<_>>(),
        "screenshot": SCREENSHOT_KEY,
        "timeline": tl.evidence(),
    });
    if control.is_none() {
        evidence["encoding_sweep"] = json!({
            "applicable": false,
            "reason": NO_SWEEP,
        });
    }
    if rounds.iter().any(|r| r.harness_fault) {
        return Outcome::error(
            "the harness closed the ST-02 session itself; cannot judge",
            evidence,
        );
    }
    let failed: Vec<&Round> = rounds.iter().filter(|r| r.failed()).collect();
    match failed.first() {
        None => {
            let total_ms: f64 = rounds.iter().filter_map(|r| r.ms).sum();
            let detail = match control {
                Some(c) => format!(
                    "{} full-update rounds ({}) all in bounds, in requested encodings, covering the screen; {} ms in all",
                    rounds.len(),
                    c.describe_sweep(),
                    round_ms(total_ms)
                ),
                None => format!(
                    "the full-update round is in bounds and covers the screen in {} ms; the encoding sweep did not run: not applicable ({NO_SWEEP})",
                    round_ms(total_ms)
                ),
            };
            Outcome::pass(detail, evidence)
        }
        Some(r) => {
            let others = if failed.len() > 1 {
                format!(" ({} rounds failed)", failed.len())
            } else {
                String::new()
            };
            Outcome::fail(
                format!(
                    "round \"{}\": {}{others}",
                    r.name,
                    r.problem().unwrap_or_default()
                ),
                evidence,
            )
        }
    }
}

/// Why ST-02 sweeps no encodings on a binding without [`EncodingControl`].
pub const NO_SWEEP: &str = "the screen binding has no encodings to choose";

/// Asks for the whole screen and judges the answer into `round`; with
/// `control`, every rectangle must be in an encoding it permits.
async fn full_round(
    t: &mut Tracked,
    round: &mut Round,
    sc: &ScreenScenario,
    control: Option<&dyn EncodingControl>,
) {
    let screen = t.bounds();
    let sent = match t.request(false, None).await {
        Ok(s) => s,
        Err(_) => {
            let reason = t.gone_reason().await;
            round.harness_fault = reason.harness_side();
            round.fatal = Some(format!(
                "the session ended before the request: {}",
                describe_close(&reason)
            ));
            return;
        }
    };
    round.asks = 1;
    let deadline = sent.at + ms(sc.update_timeout_ms);
    let mut cov = Coverage::new(screen.w, screen.h);
    let mut until = deadline;
    loop {
        match t.next(until).await {
            Ev::Update(u) => {
                round.updates += 1;
                round.rects += u.rect_count as u64;
                round.bytes += u.bytes;
                round.ms.get_or_insert(ms_between(sent.at, u.at));
                for r in &u.damage {
                    let used = r.encoding.as_deref();
                    if let Some(name) = used {
                        *round.seen.entry(name.to_string()).or_default() += 1;
                    }
                    if r.kind == DamageKind::Resize {
                        if valid_size(r.rect.w, r.rect.h) {
                            cov = Coverage::new(r.rect.w, r.rect.h);
                        }
                        continue;
                    }
                    if let (Some(c), Some(name)) = (control, used) {
                        if !c.permits(&round.requested, name) {
                            round.violations.push(format!(
                                "rectangle {} sent in {name}, which was not requested",
                                r.rect
                            ));
                        }
                    }
                    if !r.paints() {
                        continue;
                    }
                    if r.in_bounds {
                        cov.add(r.rect);
                    } else {
                        round.violations.push(format!(
                            "rectangle {} reaches outside the {}x{} screen",
                            r.rect,
                            cov.width(),
                            cov.height()
                        ));
                    }
                }
                let (n, bbox) = cov.uncovered();
                round.uncovered = n;
                round.uncovered_bbox = bbox;
                if n == 0 {
                    // The round's time is to the update that completed the image.
                    round.ms = Some(ms_between(sent.at, u.at));
                    return;
                }
                // The answers are used up with pixels unpainted (TigerVNC can
                // answer with the pointer's shape alone): ask again.
                if t.outstanding() == 0 && round.asks < FULL_ASKS {
                    if t.request(false, None).await.is_err() {
                        continue;
                    }
                    round.asks += 1;
                    until = deadline;
                    continue;
                }
                // More updates may complete the answer; wait a quiet period.
                until = (Instant::now() + ms(sc.quiet_ms)).min(deadline);
            }
            Ev::Closed { reason, .. } => {
                round.harness_fault = reason.harness_side();
                round.fatal = Some(match &reason {
                    CloseReason::Violation { detail } => {
                        format!("the answer could not be decoded: {detail}")
                    }
                    other => format!("the session ended: {}", describe_close(other)),
                });
                return;
            }
            Ev::Timeout => {
                if round.updates == 0 {
                    round.fatal = Some(format!(
                        "no answer to the full update request within {} ms",
                        sc.update_timeout_ms
                    ));
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_fails_on_unpainted_pixels_and_names_them() {
        let mut r = Round::new(EncodingSet {
            name: "RRE only".into(),
            ids: vec![2, -223],
        });
        assert!(!r.failed());
        r.uncovered = 12;
        r.uncovered_bbox = Some(Rect::new(10, 20, 4, 3));
        assert!(r.failed());
        let p = r.problem().unwrap_or_default();
        assert!(p.contains("12 pixels") && p.contains("4x3+10+20"), "{p}");
    }

    #[test]
    fn a_round_reports_its_first_violation_and_how_many_more() {
        let mut r = Round::new(EncodingSet {
            name: "ZRLE only".into(),
            ids: vec![16, -223],
        });
        r.violations
            .push("rectangle 16x16+0+0 sent in Hextile".into());
        r.violations
            .push("rectangle 16x16+16+0 sent in Hextile".into());
        let p = r.problem().unwrap_or_default();
        assert!(
            p.starts_with("rectangle 16x16+0+0") && p.contains("1 more"),
            "{p}"
        );
        let j = r.json();
        assert_eq!(j["violations"]["total"], 2);
    }
}
