//! OP-04 (condition 1-2-2): input-to-screen latency over repeated probes,
//! each sample a trial of [`super::support::stimulus`] (rest point, control period,
//! input, reaction), within the scenario's p50/p95 bounds.

use serde_json::{json, Value};

use super::support::operate::{unsupported, with_context};
use super::support::stimulus::{timing, trial, trial_error_outcome, Stimulus};
use super::support::{
    closed_outcome, declared_regions_fit, find_probe, ms_between, no_probe, open_served,
    percentile, probe_json, probe_region, rect_json, round_ms, session_json, Timeline, Tracked,
    Watch,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::{BoxFuture, CloseHow};
use crate::config::declaration::{Declaration, Probe};
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

// ---------------------------------------------------------------- OP-04

/// OP-04: Input-to-screen latency p50/p95 within the scenario's bound.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Op04,
    condition: ConditionId::C1_2_2,
    title: "Input-to-screen latency p50/p95 within the scenario's bound",
    requirement: Requirement {
        ja: "入力から画面への反映までの遅延の中央値（p50）と95パーセンタイル（p95）が、シナリオの上限以内であること。各標本は入力への反応の試行として判定する。",
        en: "Input-to-screen latency p50 and p95 stay within the scenario's bounds; every sample is a trial judged as a reaction to the input.",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Operation,
    budget: op04_budget,
    run: op04,
};

fn op04_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    budget::add(
        sc.screen.connect_timeout_ms,
        budget::mul(u64::from(sc.operation.latency_samples), budget::trial(sc)),
    )
}

pub(super) fn op04(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(op04_run(ctx))
}

async fn op04_run(ctx: &CheckCtx) -> Outcome {
    if let Some(o) = unsupported(ctx) {
        return o;
    }
    let Some(probe) = find_probe(ctx, "type").or_else(|| find_probe(ctx, "pointer")) else {
        return no_probe(
            "type, click or move",
            "OP-04 times input-to-screen changes with one",
        );
    };
    let tl = Timeline::new();
    let mut t = match open_served(ctx, "OP-04", &tl).await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let session = session_json(&t);
    let o = match declared_regions_fit(ctx, t.bounds()) {
        Ok(()) => op04_body(ctx, &mut t, probe).await,
        Err(o) => o,
    };
    t.close(CloseHow::Clean).await;
    with_context(o, &tl, Some(session))
}

/// The stimulus of OP-04's sample `i`: one character of a type probe's
/// text (in turn), or the whole pointer probe.
fn sample_stimulus(probe: &Probe, i: u32) -> Option<Stimulus> {
    match probe {
        Probe::Type { text, .. } => {
            let chars: Vec<char> = text.chars().collect();
            let ch = chars
                .get(i as usize % chars.len().max(1))
                .copied()
                .unwrap_or(' ');
            Some(Stimulus::Type(ch.to_string()))
        }
        other => Stimulus::of(other),
    }
}

async fn op04_body(ctx: &CheckCtx, t: &mut Tracked, probe: &Probe) -> Outcome {
    let op = &ctx.scenario.operation;
    let ignore = ctx.declaration.screen.ignore.clone();
    let region = probe_region(probe, t.bounds());
    let mut samples: Vec<Value> = Vec::new();
    let mut latencies: Vec<f64> = Vec::new();
    let mut missed = 0u32;
    let mut self_changing: Option<Value> = None;
    for i in 0..op.latency_samples {
        let Some(stim) = sample_stimulus(probe, i) else {
            return no_probe(
                "type, click or move",
                "a manual probe cannot be timed automatically",
            );
        };
        let what = stim.describe();
        let tr = match trial(t, &stim, probe.from(), region, &ignore, timing(ctx)).await {
            Ok(tr) => tr,
            Err(e) => {
                return trial_error_outcome(
                    e,
                    &format!("OP-04 sample {i}"),
                    json!({"samples": samples}),
                )
            }
        };
        if self_changing.is_none() && tr.control.describe().is_some() {
            self_changing = Some(tr.control.json());
        }
        match tr.watch {
            Watch::Changed { at, .. } => {
                let l = ms_between(tr.sent.at, at);
                latencies.push(l);
                samples.push(json!({"sample": i, "input": what, "ms": round_ms(l), "rest_point": tr.rest.map(|(x, y)| [x, y])}));
            }
            Watch::Unchanged => {
                missed += 1;
                samples.push(json!({"sample": i, "input": what, "ms": null, "missed": true, "rest_point": tr.rest.map(|(x, y)| [x, y])}));
            }
            Watch::Closed(r) => {
                return closed_outcome(
                    &format!("the session ended at sample {i}"),
                    &r,
                    json!({"samples": samples}),
                )
            }
        }
    }
    let p50 = percentile(&latencies, 50.0).map(round_ms);
    let p95 = percentile(&latencies, 95.0).map(round_ms);
    let max = latencies.iter().copied().reduce(f64::max).map(round_ms);
    let evidence = json!({
        "probe": probe_json(probe),
        "region": rect_json(region),
        "samples": samples,
        "measured": latencies.len(),
        "missed": missed,
        "p50_ms": p50,
        "p95_ms": p95,
        "max_ms": max,
        "bound_p50_ms": op.latency_p50_ms,
        "bound_p95_ms": op.latency_p95_ms,
        "control_ms": op.control_ms,
        "self_changing": self_changing,
    });
    if missed > 0 {
        return Outcome::fail(
            format!(
                "{missed} of {} probes changed nothing in {region} within {} ms",
                op.latency_samples, op.change_timeout_ms
            ),
            evidence,
        );
    }
    let (Some(p50v), Some(p95v)) = (p50, p95) else {
        return Outcome::error("no latency samples taken (latency_samples = 0)", evidence);
    };
    let over50 = p50v > op.latency_p50_ms as f64;
    let over95 = p95v > op.latency_p95_ms as f64;
    if over50 || over95 {
        return Outcome::fail(
            format!(
                "input-to-screen latency p50 {p50v} ms (bound {}), p95 {p95v} ms (bound {}) over {} probes",
                op.latency_p50_ms, op.latency_p95_ms, latencies.len()
            ),
            evidence,
        );
    }
    Outcome::pass(
        format!(
            "input-to-screen latency p50 {p50v} ms, p95 {p95v} ms over {} probes (bounds {} / {} ms)",
            latencies.len(),
            op.latency_p50_ms,
            op.latency_p95_ms
        ),
        evidence,
    )
}
