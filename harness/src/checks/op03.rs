//! OP-03 (condition 1-2-2): input from a console that is not being served
//! is never applied: after a control period on the holder, nothing outside
//! what changed on its own changes once the other console's input is
//! written.

use std::time::Instant;

use crate::binding::screen::Rect;
use serde_json::{json, Value};

use super::support::stimulus::{self, Exclusions, Patch};
use super::support::{
    closed_outcome, declared_regions_fit, describe_close, find_probe, no_probe, open_served,
    probe_json, probe_region, rect_json, serve_full, session_json, union_of, Timeline, Tracked,
    Watch,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::{BoxFuture, CloseHow, OpenError};
use crate::config::declaration::{Declaration, Exclusivity, Probe};
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

use super::support::operate::{unsupported, with_context};

fn ms(v: u64) -> std::time::Duration {
    CheckCtx::ms(v)
}

/// OP-03: Input from a console that is not served is never applied.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Op03,
    condition: ConditionId::C1_2_2,
    title: "Input from a console that is not served is never applied",
    requirement: Requirement {
        ja: "画面提供されていない指令台からの入力が適用されないこと。保持側を入力なしで観察した後、他方の入力以降に、入力なしでも変化した部分以外が変化しないこと。",
        en: "Input from a console that is not being served is never applied: after a control period on the holder, nothing but what changed on its own changes once the other console's input is written.",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Operation,
    budget: op03_budget,
    run: op03,
};

fn op03_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    let (s, o) = (&sc.screen, &sc.operation);
    budget::add(
        budget::mul(s.connect_timeout_ms, 2),
        budget::add(
            budget::add(o.unserved_watch_ms, o.control_ms),
            budget::mul(budget::probes(decl), o.change_timeout_ms),
        ),
    )
}

fn op03(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(op03_run(ctx))
}

fn change_json(w: &Watch) -> Value {
    match w {
        Watch::Changed { pixels, bbox, .. } => {
            json!({"changed": true, "pixels": pixels, "bbox": rect_json(*bbox)})
        }
        Watch::Unchanged => json!({"changed": false}),
        Watch::Closed(r) => json!({"changed": false, "closed": describe_close(r)}),
    }
}

async fn op03_run(ctx: &CheckCtx) -> Outcome {
    if let Some(o) = unsupported(ctx) {
        return o;
    }
    let pointer = find_probe(ctx, "pointer");
    let typing = find_probe(ctx, "type");
    let probes: Vec<&Probe> = pointer.into_iter().chain(typing).collect();
    if probes.is_empty() {
        return no_probe(
            "click, move or type",
            "OP-03 sends input from a console that is not served",
        );
    }
    let tl = Timeline::new();
    let mut a = match open_served(ctx, "A", &tl).await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let session = session_json(&a);
    let o = match declared_regions_fit(ctx, a.bounds()) {
        Ok(()) => op03_body(ctx, &mut a, &probes, &tl).await,
        Err(o) => o,
    };
    a.close(CloseHow::Clean).await;
    let mut o = with_context(o, &tl, Some(session));
    o.evidence["probes"] = probes.iter().map(|p| probe_json(p)).collect();
    o.evidence["policy"] = json!(ctx.declaration.screen.exclusivity.as_str());
    o
}

/// The holder's watch while another console tries to operate: what changed
/// on its own during the control period is excluded, anything else that
/// changes after the other console's first input was written is input
/// wrongly applied.
struct HolderWatch {
    region: Rect,
    before: Option<Patch>,
    skip: Exclusions,
}

impl HolderWatch {
    /// Controls `holder` for the scenario's control period; the error is the
    /// outcome to return (a closed session, or a region too busy to judge).
    async fn start(
        ctx: &CheckCtx,
        holder: &mut Tracked,
        regions: &[Rect],
        ev: &mut Value,
    ) -> Result<HolderWatch, Outcome> {
        let ignore = &ctx.declaration.screen.ignore;
        let region = union_of(regions).unwrap_or_else(|| holder.bounds());
        let period = CheckCtx::ms(ctx.scenario.operation.control_ms);
        let control = match stimulus::control(holder, region, ignore, period).await {
            Ok(c) => c,
            Err(r) => {
                return Err(closed_outcome(
                    "the holder ended during the control period",
                    &r,
                    ev.clone(),
                ))
            }
        };
        ev["control"] = control.json();
        if control.too_busy() {
            return Err(Outcome::error(control.busy_detail("OP-03"), ev.clone()));
        }
        let before = Patch::capture(holder, region);
        Ok(HolderWatch {
            region,
            before,
            skip: Exclusions {
                ignore: ignore.clone(),
                self_changing: Some(control.mask),
                footprints: Vec::new(),
            },
        })
    }

    /// Watches the holder for `period` after `first_input`.
    async fn watch(
        &mut self,
        holder: &mut Tracked,
        first_input: crate::binding::Seq,
        period: std::time::Duration,
    ) -> Watch {
        let Some(before) = self.before.as_mut() else {
            return Watch::Unchanged;
        };
        let sent = super::support::Sent {
            seq: first_input,
            at: Instant::now(),
        };
        stimulus::react(
            holder,
            self.region,
            before,
            sent,
            &self.skip,
            Instant::now() + period,
        )
        .await
    }
}

/// Sends every probe from `from`; returns the sequence number before the
/// first write and how many probes went out.
async fn try_operate(from: &mut Tracked, probes: &[&Probe]) -> (crate::binding::Seq, usize) {
    let first = crate::binding::seq::next();
    let mut sent = 0usize;
    for p in probes {
        match from.perform(p).await {
            Ok(_) => sent += 1,
            Err(_) => break,
        }
    }
    (first, sent)
}

async fn op03_body(ctx: &CheckCtx, a: &mut Tracked, probes: &[&Probe], tl: &Timeline) -> Outcome {
    let sc = &ctx.scenario.screen;
    let op = &ctx.scenario.operation;
    let screen = a.bounds();
    let regions: Vec<Rect> = probes.iter().map(|p| probe_region(p, screen)).collect();
    let period = ms(op.unserved_watch_ms);
    let mut ev = json!({"regions": regions.iter().map(|r| rect_json(*r)).collect::<Vec<_>>()});
    match ctx.declaration.screen.exclusivity {
        Exclusivity::Refuse => {
            let mut hw = match HolderWatch::start(ctx, a, &regions, &mut ev).await {
                Ok(h) => h,
                Err(o) => return o,
            };
            let b_res =
                Tracked::open(ctx.screen.as_ref(), "B", ms(sc.exclusivity_timeout_ms), tl).await;
            let mut b = match b_res {
                Err(f) => {
                    if let OpenError::Harness(e) = &f.error {
                        return Outcome::error(format!("harness error opening console B: {e}"), ev);
                    }
                    ev["b"] = json!({"admitted": false, "open": f.error.to_string()});
                    None
                }
                Ok(b) => Some(b),
            };
            let mut first = crate::binding::seq::next();
            let mut sent_inputs = 0usize;
            if let Some(bt) = b.as_mut() {
                (first, sent_inputs) = try_operate(bt, probes).await;
                ev["b"] = json!({"admitted": true, "probes_sent": sent_inputs});
            }
            let w = hw.watch(a, first, period).await;
            ev["watch"] = change_json(&w);
            a.keep_screenshot(ctx, "A-holder-after-watch");
            if let Some(bt) = b.take() {
                bt.keep_screenshot(ctx, "B-unserved-after-watch");
                let served = bt.served();
                ev["b"]["served"] = json!(served);
                bt.close(CloseHow::Clean).await;
            }
            match w {
                Watch::Changed { pixels, bbox, .. } => Outcome::fail(
                    format!("input from console B, which was not served, was applied: holder A's screen changed in {pixels} pixels within {bbox}"),
                    ev,
                ),
                Watch::Closed(r) => closed_outcome("holder A ended while B tried to operate", &r, ev),
                Watch::Unchanged => {
                    let how = if sent_inputs == 0 {
                        "console B was refused before it could send input"
                    } else {
                        "console B's input was not applied"
                    };
                    Outcome::pass(
                        format!("{how}; holder A's screen stayed unchanged for {} ms", op.unserved_watch_ms),
                        ev,
                    )
                }
            }
        }
        Exclusivity::Takeover => {
            let b_res =
                Tracked::open(ctx.screen.as_ref(), "B", ms(sc.exclusivity_timeout_ms), tl).await;
            let mut b = match b_res {
                Ok(b) => b,
                Err(f) => {
                    let o = match f.error {
                        OpenError::Harness(e) => format!("harness error opening console B: {e}"),
                        other => format!("takeover declared, but console B could not open ({other}); cannot judge OP-03"),
                    };
                    return Outcome::error(o, ev);
                }
            };
            let o = op03_takeover(ctx, a, &mut b, tl, probes, &regions, ev).await;
            b.close(CloseHow::Clean).await;
            o
        }
    }
}

async fn op03_takeover(
    ctx: &CheckCtx,
    a: &mut Tracked,
    b: &mut Tracked,
    tl: &Timeline,
    probes: &[&Probe],
    regions: &[Rect],
    mut ev: Value,
) -> Outcome {
    let op = &ctx.scenario.operation;
    let period = ms(op.unserved_watch_ms);
    // B's whole image first: the holder watch compares against it.
    if let Err(o) = serve_full(ctx, b, tl).await {
        return Outcome::error(
            format!(
                "takeover declared, but console B was not served ({}); cannot judge OP-03",
                o.detail
            ),
            ev,
        );
    }
    let mut hw = match HolderWatch::start(ctx, b, regions, &mut ev).await {
        Ok(h) => h,
        Err(o) => return o,
    };
    // The displaced console tries to operate, if its connection still takes
    // writes (the terminal should have closed it).
    let mut first = crate::binding::seq::next();
    let mut sent_inputs = 0usize;
    if !a.is_closed() {
        (first, sent_inputs) = try_operate(a, probes).await;
    }
    ev["a"] = json!({"closed_seen": a.is_closed(), "probes_sent": sent_inputs});
    let w = hw.watch(b, first, period).await;
    ev["watch"] = change_json(&w);
    b.keep_screenshot(ctx, "B-holder-after-watch");
    a.keep_screenshot(ctx, "A-displaced-after-watch");
    match w {
        Watch::Changed { pixels, bbox, .. } => Outcome::fail(
            format!("input from displaced console A was applied: new holder B's screen changed in {pixels} pixels within {bbox}"),
            ev,
        ),
        Watch::Closed(r) => closed_outcome("new holder B ended while A tried to operate", &r, ev),
        Watch::Unchanged => {
            let how = if sent_inputs == 0 {
                "displaced console A was closed before it could send input"
            } else {
                "displaced console A's input was not applied"
            };
            Outcome::pass(
                format!("{how}; B's screen stayed unchanged for {} ms", op.unserved_watch_ms),
                ev,
            )
        }
    }
}
