//! Checks of condition 1-2-2 (操作受付機能, accepting operation): pointer
//! input (OP-01), keyboard input (OP-02), input from a console that is not
//! served is never applied (OP-03), and input-to-screen latency (OP-04, in
//! [`super::op04`]).
//!
//! The probes come from the declaration's `[[operation.probe]]`; `click`,
//! `move` and `type` probes are sent automatically. Every stimulus is one
//! trial of [`super::stimulus`]: rest point, control period, input, and a
//! reaction counted only where it cannot be the screen changing on its own.

use std::time::Instant;

use crate::binding::screen::Rect;
use serde_json::{json, Value};

use super::screen::{
    closed_outcome, declared_regions_fit, describe_close, find_probe, ms_between, no_probe,
    open_served, probe_json, probe_region, rect_json, round_ms, serve_full, session_json, union_of,
    Timeline, Tracked, Watch,
};
use super::stimulus::{
    self, keep_before_after, timing, trial, trial_error_outcome, Exclusions, Patch, Stimulus,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::{BoxFuture, CloseHow, OpenError};
use crate::catalog::{CheckId, ConditionId};
use crate::declaration::{Declaration, Exclusivity, Probe};
use crate::scenario::Scenario;

/// OP-01: Pointer input from the serving console visibly changes the declared region in time.
pub const OP01: CheckDef = CheckDef {
    id: CheckId::Op01,
    condition: ConditionId::C1_2_2,
    title: "Pointer input from the serving console visibly changes the declared region in time",
    requirement: Requirement {
        ja: "画面提供中の指令台からのポインタ操作（クリックまたは移動）によって、宣言した監視領域が期限内に変化すること（入力への反応として判定）。",
        en: "A pointer probe (click or move) from the serving console changes its watched region in time, judged as a reaction to the input.",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Operation,
    budget: op01_budget,
    run: op01,
};

fn op01_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    budget::add(
        sc.screen.connect_timeout_ms,
        budget::mul(budget::probes(decl), budget::trial(sc)),
    )
}

/// OP-02: Keyboard input from the serving console visibly changes the declared region in time.
pub const OP02: CheckDef = CheckDef {
    id: CheckId::Op02,
    condition: ConditionId::C1_2_2,
    title: "Keyboard input from the serving console visibly changes the declared region in time",
    requirement: Requirement {
        ja: "画面提供中の指令台からのキー入力によって、宣言した監視領域が期限内に変化すること（入力への反応として判定）。",
        en: "A keyboard probe from the serving console changes its watched region in time, judged as a reaction to the input.",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Operation,
    budget: op02_budget,
    run: op02,
};

fn op02_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    budget::add(
        sc.screen.connect_timeout_ms,
        budget::mul(budget::probes(decl), budget::trial(sc)),
    )
}

/// OP-03: Input from a console that is not served is never applied.
pub const OP03: CheckDef = CheckDef {
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

fn ms(v: u64) -> std::time::Duration {
    CheckCtx::ms(v)
}

/// The OP checks fail outright when the declaration says the terminal takes
/// no operation: 1-2-2 is mandatory.
pub(super) fn unsupported(ctx: &CheckCtx) -> Option<Outcome> {
    (!ctx.declaration.operation.supported).then(|| {
        Outcome::fail(
            "the declaration says operation is not supported ([operation] supported = false), but condition 1-2-2 requires it",
            json!({"operation.supported": false}),
        )
    })
}

/// Adds the timeline and session to an outcome's evidence.
pub(super) fn with_context(mut o: Outcome, tl: &Timeline, session: Option<Value>) -> Outcome {
    if !o.evidence.is_object() {
        o.evidence = json!({});
    }
    if let Value::Object(m) = &mut o.evidence {
        if let Some(s) = session {
            m.insert("session".into(), s);
        }
        m.insert("timeline".into(), tl.evidence());
    }
    o
}

// ---------------------------------------------------------- OP-01 / OP-02

fn op01(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(input_changes(ctx, "pointer", "OP-01"))
}

fn op02(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(input_changes(ctx, "type", "OP-02"))
}

/// Runs one trial of the first probe of `kind` from a served console.
async fn input_changes(ctx: &CheckCtx, kind: &str, id: &str) -> Outcome {
    if let Some(o) = unsupported(ctx) {
        return o;
    }
    let Some(probe) = find_probe(ctx, kind) else {
        return no_probe(kind, &format!("{id} sends one from the serving console"));
    };
    let tl = Timeline::new();
    let mut t = match open_served(ctx, id, &tl).await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let session = session_json(&t);
    let o = match declared_regions_fit(ctx, t.bounds()) {
        Ok(()) => probe_once(ctx, &mut t, probe, id).await,
        Err(o) => o,
    };
    t.close(CloseHow::Clean).await;
    with_context(o, &tl, Some(session))
}

async fn probe_once(ctx: &CheckCtx, t: &mut Tracked, probe: &Probe, id: &str) -> Outcome {
    let op = &ctx.scenario.operation;
    let ignore = &ctx.declaration.screen.ignore;
    let region = probe_region(probe, t.bounds());
    let mut ev = json!({"probe": probe_json(probe), "region": rect_json(region)});
    let Some(stim) = Stimulus::of(probe) else {
        return no_probe("click, move or type", "a manual probe cannot be sent");
    };
    let tr = match trial(t, &stim, probe.from(), region, ignore, timing(ctx)).await {
        Ok(tr) => tr,
        Err(e) => return trial_error_outcome(e, id, ev),
    };
    ev["trial"] = tr.json();
    let from = match tr.rest {
        Some((x, y)) => format!(" (pointer from rest point ({x}, {y}))"),
        None => String::new(),
    };
    let note = tr.self_change_note();
    match &tr.watch {
        Watch::Changed {
            at, pixels, bbox, ..
        } => {
            let took = round_ms(ms_between(tr.sent.at, *at));
            if let Some(b) = &tr.before {
                keep_before_after(ctx, t, b, *bbox);
            }
            ev["ms_to_change"] = json!(took);
            ev["changed_pixels"] = json!(pixels);
            ev["changed_bbox"] = rect_json(*bbox);
            Outcome::pass(
                format!(
                    "{}{from} changed {region} in {took} ms ({pixels} pixels within {bbox}){note}",
                    stim.describe()
                ),
                ev,
            )
        }
        Watch::Unchanged => {
            if let Some(b) = &tr.before {
                keep_before_after(ctx, t, b, region);
            }
            Outcome::fail(
                format!(
                    "{} from the serving console{from}: region {region} did not change within {} ms{note}",
                    stim.describe(),
                    op.change_timeout_ms
                ),
                ev,
            )
        }
        Watch::Closed(reason) => closed_outcome(
            &format!("the session ended after {}", stim.describe()),
            reason,
            ev,
        ),
    }
}

// ---------------------------------------------------------------- OP-03

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
        let sent = super::screen::Sent {
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
