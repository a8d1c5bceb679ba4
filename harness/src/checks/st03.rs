//! ST-03 (condition 1-2-1): after the probes change the screen, the image
//! built from incremental updates equals a fresh full update, judged on
//! pixels that do not change on their own (see [`super::support::stimulus`]).

use std::time::Instant;

use crate::binding::screen::Rect;
use serde_json::{json, Value};

use super::support::ms;
use super::support::stimulus::{
    self, damage, timing, trial, trial_error_outcome, Exclusions, Patch, Stimulus,
};
use super::support::{
    auto_probes, closed_outcome, declared_regions_fit, ms_between, no_probe, open_served,
    probe_json, rect_json, round_ms, session_json, Coverage, Ev, Timeline, Tracked, Watch,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::{BoxFuture, CloseHow, CloseReason};
use crate::config::declaration::Declaration;
use crate::config::scenario::{Scenario, ScreenScenario};
use crate::model::ids::{CheckId, ConditionId};

// ---------------------------------------------------------------- ST-03

/// ST-03: Incremental updates: after a change, the incrementally built image equals a fresh full update.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::St03,
    condition: ConditionId::C1_2_1,
    title: "Incremental updates: after a change, the incrementally built image equals a fresh full update",
    requirement: Requirement {
        ja: "プローブで画面が変化した後（入力への反応として判定）、差分更新で組み立てた画像が、静止後に取り直した全画面と一致すること（宣言した ignore 領域と、入力なしに変化する画素を除く）。",
        en: "After the probes change the screen (judged as a reaction to input), the image built from incremental updates equals a fresh full update once the screen is quiet (declared ignore regions and pixels that change on their own excepted).",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Transfer,
    budget: st03_budget,
    run: st03,
};

fn st03_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    let s = &sc.screen;
    budget::add(
        budget::add(
            budget::add(s.connect_timeout_ms, sc.operation.control_ms),
            budget::mul(budget::probes(decl), budget::trial(sc)),
        ),
        budget::add(
            budget::mul(s.update_timeout_ms, 3),
            budget::mul(s.quiet_ms, 4),
        ),
    )
}

pub(super) fn st03(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(st03_run(ctx))
}

async fn st03_run(ctx: &CheckCtx) -> Outcome {
    let sc = &ctx.scenario.screen;
    // One click and one type probe at most: enough to change the screen.
    let mut probes = Vec::new();
    for p in auto_probes(ctx) {
        if !probes
            .iter()
            .any(|q| std::mem::discriminant(*q) == std::mem::discriminant(p))
        {
            probes.push(p);
        }
    }
    if probes.is_empty() {
        return no_probe(
            "click or type",
            "ST-03 needs input to change the screen before it compares incremental and full images",
        );
    }
    let ignore = ctx.declaration.screen.ignore.clone();
    let tl = Timeline::new();
    let mut t = match open_served(ctx, "ST-03", &tl).await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let out = st03_body(ctx, &mut t, &probes, &ignore, sc).await;
    let session = session_json(&t);
    t.close(CloseHow::Clean).await;
    let mut o = out;
    if let Value::Object(m) = &mut o.evidence {
        m.insert("session".into(), session);
        m.insert("timeline".into(), tl.evidence());
        m.insert(
            "probes".into(),
            probes.iter().map(|p| probe_json(p)).collect(),
        );
        m.insert(
            "ignore".into(),
            ignore.iter().map(|r| rect_json(*r)).collect(),
        );
    }
    o
}

async fn st03_body(
    ctx: &CheckCtx,
    t: &mut Tracked,
    probes: &[&crate::config::declaration::Probe],
    ignore: &[Rect],
    sc: &ScreenScenario,
) -> Outcome {
    let screen = t.bounds();
    if let Err(o) = declared_regions_fit(ctx, screen) {
        return o;
    }
    let closed = |what: &str, reason: &CloseReason| closed_outcome(what, reason, json!({}));
    // Change phase: one trial per probe over the whole screen (rest point,
    // control period, input, reaction). What changed on its own in any
    // control period is left out of the final comparison too.
    let mut skip = Exclusions {
        ignore: ignore.to_vec(),
        self_changing: Some(Coverage::of(screen)),
        footprints: Vec::new(),
    };
    let mut trials = Vec::new();
    let mut changed_at: Option<f64> = None;
    for p in probes {
        let Some(stim) = Stimulus::of(p) else {
            continue;
        };
        let tr = match trial(t, &stim, p.from(), screen, ignore, timing(ctx)).await {
            Ok(tr) => tr,
            Err(e) => return trial_error_outcome(e, "ST-03", json!({"trials": trials})),
        };
        trials.push(tr.json());
        if let Some(all) = skip.self_changing.as_mut() {
            merge_marked(all, &tr.control.mask);
        }
        match tr.watch {
            Watch::Changed { at, .. } => {
                changed_at.get_or_insert(round_ms(ms_between(tr.sent.at, at)));
            }
            Watch::Unchanged => {}
            Watch::Closed(r) => return closed("the session ended during the change phase", &r),
        }
    }
    // Let the change finish: incremental updates until nothing outside the
    // excluded pixels changes for quiet_ms.
    let deadline = Instant::now() + ms(sc.update_timeout_ms);
    let mut inc_updates = 0u64;
    let mut inc_rects = 0u64;
    let quiet;
    {
        let Some(mut reference) = Patch::capture(t, screen) else {
            return Outcome::error("the screen has no pixels; cannot judge ST-03", json!({}));
        };
        let mut quiet_until = (Instant::now() + ms(sc.quiet_ms)).min(deadline);
        loop {
            if t.outstanding() == 0 && t.request(true, None).await.is_err() {
                let r = t.gone_reason().await;
                return closed("the session ended during the incremental phase", &r);
            }
            match t.next(quiet_until).await {
                Ev::Update(u) => {
                    inc_updates += 1;
                    inc_rects += u.rect_count as u64;
                    let areas = damage(&u, screen);
                    let moved = t.with_framebuffer(|fb| {
                        let moved = reference.diff(fb, &areas, &skip).is_some();
                        reference.refresh(fb, &areas);
                        moved
                    });
                    if moved {
                        quiet_until = (Instant::now() + ms(sc.quiet_ms)).min(deadline);
                    }
                }
                Ev::Closed { reason, .. } => {
                    return closed("the session ended during the incremental phase", &reason)
                }
                Ev::Timeout => {
                    quiet = quiet_until < deadline;
                    break;
                }
            }
        }
    }
    // A second control period, after the change: what changes on its own
    // now (a blinking cursor that moved with the typed text) may differ
    // between the incremental image and the full update for that reason
    // alone, so it is left out of the comparison too.
    let after =
        match stimulus::control(t, screen, ignore, ms(ctx.scenario.operation.control_ms)).await {
            Ok(c) => c,
            Err(r) => {
                return closed(
                    "the session ended during the control period after the change",
                    &r,
                )
            }
        };
    if after.too_busy() {
        return Outcome::error(after.busy_detail("ST-03"), json!({"trials": trials}));
    }
    if let Some(all) = skip.self_changing.as_mut() {
        merge_marked(all, &after.mask);
    }
    // The one copy of the screen this check keeps: the image built from
    // incremental updates.
    let Some(incremental_image) = Patch::capture(t, screen) else {
        return Outcome::error("the screen has no pixels; cannot judge ST-03", json!({}));
    };
    // A fresh full update. An incremental request may still be outstanding:
    // the answer is recognised either by answering the full request or by
    // repainting the whole screen.
    let sent = match t.request(false, None).await {
        Ok(s) => s,
        Err(_) => {
            let r = t.gone_reason().await;
            return closed("the session ended before the full request", &r);
        }
    };
    let full_deadline = sent.at + ms(sc.update_timeout_ms);
    let mut full_ms = None;
    loop {
        match t.next(full_deadline).await {
            Ev::Update(u) => {
                let mut cov = Coverage::new(screen.w, screen.h);
                for r in &u.damage {
                    if r.paints() {
                        cov.add(r.rect);
                    }
                }
                if u.answers == Some(sent.seq) || cov.uncovered().0 == 0 {
                    full_ms = Some(round_ms(ms_between(sent.at, u.at)));
                    break;
                }
            }
            Ev::Closed { reason, .. } => {
                return closed("the session ended waiting for the full update", &reason)
            }
            Ev::Timeout => break,
        }
    }
    let (excluded, excluded_bbox) = skip
        .self_changing
        .as_ref()
        .map(|m| m.marked())
        .unwrap_or((0, None));
    let phase = json!({
        "trials": trials,
        "incremental_updates": inc_updates,
        "incremental_rects": inc_rects,
        "first_change_ms": changed_at,
        "quiet_reached": quiet,
        "full_update_ms": full_ms,
        "self_changing_excluded": {"pixels": excluded, "bbox": excluded_bbox.map(rect_json)},
        "control_after": after.json(),
    });
    let Some(_) = full_ms else {
        return Outcome::fail(
            format!(
                "no answer to the full update request within {} ms",
                sc.update_timeout_ms
            ),
            json!({"phase": phase}),
        );
    };
    let diff = t.with_framebuffer(|fb| incremental_image.diff(fb, &[screen], &skip));
    match diff {
        Some((n, bbox)) => Outcome::fail(
            format!(
                "the image built from incremental updates differs from a fresh full update in {n} pixels within {bbox}: incremental updates missed a change"
            ),
            json!({"phase": phase, "diff_pixels": n, "diff_bbox": rect_json(bbox)}),
        ),
        None => {
            if changed_at.is_none() {
                return Outcome::error(
                    "the probes caused no change that does not also happen without input; cannot judge ST-03 (declare probes that visibly change the screen)",
                    json!({"phase": phase}),
                );
            }
            Outcome::pass(
                format!(
                    "after the probes the incremental image ({inc_updates} updates) equals a fresh full update"
                ),
                json!({"phase": phase}),
            )
        }
    }
}

/// Adds every pixel marked in `from` to `into`.
fn merge_marked(into: &mut Coverage, from: &Coverage) {
    let (_, Some(b)) = from.marked() else {
        return;
    };
    for y in b.y..b.y + b.h {
        for x in b.x..b.x + b.w {
            if from.contains(x, y) {
                into.mark(x, y);
            }
        }
    }
}
