//! ST-04 (condition 1-2-1): the session keeps answering requests for the
//! scenario's duration; a request is answered only by updates that began
//! after it and paint its whole area, and updates sent while no request is
//! open fail the check.

use std::time::Instant;

use serde_json::{json, Value};

use super::support::stimulus::damage;
use super::support::{
    closed_outcome, ms_between, open_served, rect_json, round_ms, session_json, Coverage, Ev,
    Timeline,
};
use super::support::{ms, ping_rect};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::{BoxFuture, CloseHow};
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};
use crate::model::latency::Latencies;

// ---------------------------------------------------------------- ST-04

/// ST-04: Sustained transfer: the session stays up and answers for the scenario's duration.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::St04,
    condition: ConditionId::C1_2_1,
    title: "Sustained transfer: the session stays up and answers for the scenario's duration",
    requirement: Requirement {
        ja: "シナリオの期間中、セッションが維持され、更新要求に応答し続けること。要求の後に始まり要求範囲全体を描画した更新だけを応答とみなし、要求のない間に更新を送り続ける端末は不適合とする。",
        en: "The session keeps answering for the scenario's duration (rate, bytes and latency recorded). A request counts as answered only by updates that began after it and together paint the whole requested area; a terminal that keeps sending updates while no request is open fails.",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Transfer,
    budget: st04_budget,
    run: st04,
};

fn st04_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    budget::add(
        sc.screen.connect_timeout_ms,
        budget::add(sc.screen.sustain_ms, sc.screen.update_timeout_ms),
    )
}

pub(super) fn st04(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(st04_run(ctx))
}

async fn st04_run(ctx: &CheckCtx) -> Outcome {
    let sc = &ctx.scenario.screen;
    let tl = Timeline::new();
    let mut t = match open_served(ctx, "ST-04", &tl).await {
        Ok(t) => t,
        Err(o) => return o,
    };
    // One console, no causal judgement: keeping every answered update for
    // the causal judge would grow with the soak.
    t.forget_answers();
    let area = ping_rect(t.bounds());
    let interval = ms(sc.sustain_interval_ms.max(1));
    let start = Instant::now();
    let end = start + ms(sc.sustain_ms);
    let mut next_tick = start;
    // Bounded however long the soak: exact for short runs, a histogram after.
    let mut latencies = Latencies::new();
    let mut requests = 0u64;
    let mut updates = 0u64;
    let mut unmatched = 0u64;
    let mut bytes = 0u64;
    let mut out_of_bounds = 0u64;
    let mut failure: Option<Outcome> = None;
    // Updates that arrive while no request is open: a terminal that sends
    // them does not wait to be asked, so no update of it can be told to
    // answer a request.
    let mut unasked = 0u64;
    while Instant::now() < end {
        while let Ev::Update(u) = t.next(next_tick).await {
            updates += 1;
            unasked += 1;
            bytes += u.bytes;
        }
        if t.is_closed() {
            let r = t.gone_reason().await;
            failure = Some(closed_outcome(
                &format!(
                    "the session ended after {} ms",
                    round_ms(ms_between(start, Instant::now()))
                ),
                &r,
                Value::Null,
            ));
            break;
        }
        let sent = match t.request(false, Some(area)).await {
            Ok(s) => s,
            Err(_) => {
                let r = t.gone_reason().await;
                failure = Some(closed_outcome(
                    &format!(
                        "the session ended after {} ms",
                        round_ms(ms_between(start, Instant::now()))
                    ),
                    &r,
                    Value::Null,
                ));
                break;
            }
        };
        requests += 1;
        let limit = sent.at + ms(sc.update_timeout_ms);
        // The request is answered once updates that began after it was
        // written have painted the whole of the requested area: a
        // non-incremental request asks for all of it. Updates that began
        // earlier, or that paint less, answer nothing (a terminal that
        // floods updates without reading requests answers none).
        let mut painted = Coverage::of(area);
        let mut stray = 0u64;
        loop {
            match t.next(limit).await {
                Ev::Update(u) => {
                    updates += 1;
                    bytes += u.bytes;
                    out_of_bounds += u.damage.iter().filter(|r| !r.in_bounds).count() as u64;
                    if u.began > sent.seq {
                        for r in damage(&u, area) {
                            painted.add(r);
                        }
                        if painted.uncovered().0 == 0 {
                            latencies.push(ms_between(sent.at, u.at));
                            break;
                        }
                    }
                    unmatched += 1;
                    stray += 1;
                }
                Ev::Closed { reason, .. } => {
                    failure = Some(closed_outcome(
                        &format!(
                            "the session ended after {} ms of sustained transfer",
                            round_ms(ms_between(start, Instant::now()))
                        ),
                        &reason,
                        Value::Null,
                    ));
                    break;
                }
                Ev::Timeout => {
                    let (left, _) = painted.uncovered();
                    let partly = if stray > 0 {
                        format!(
                            " ({stray} updates arrived that did not paint the requested area after the request; {left} of its {} pixels never came)",
                            area.area()
                        )
                    } else {
                        String::new()
                    };
                    failure = Some(Outcome::fail(
                        format!(
                            "request {requests} ({area}) not answered within {} ms{partly}",
                            sc.update_timeout_ms
                        ),
                        Value::Null,
                    ));
                    break;
                }
            }
        }
        if failure.is_some() {
            break;
        }
        next_tick += interval;
        let now = Instant::now();
        if next_tick < now {
            next_tick = now;
        }
    }
    let elapsed = ms_between(start, Instant::now());
    let session = session_json(&t);
    t.close(CloseHow::Clean).await;
    let secs = (elapsed / 1000.0).max(1e-9);
    let evidence = json!({
        "session": session,
        "sustain_ms": sc.sustain_ms,
        "interval_ms": sc.sustain_interval_ms,
        "region": rect_json(area),
        "elapsed_ms": round_ms(elapsed),
        "requests": requests,
        "answered": latencies.len(),
        "updates": updates,
        "unmatched_updates": unmatched,
        "unasked_updates": unasked,
        "updates_per_s": round_ms(updates as f64 / secs),
        "bytes": bytes,
        "bytes_per_s": (bytes as f64 / secs).round(),
        "latency_ms": {
            "p50": latencies.percentile(50.0).map(round_ms),
            "p95": latencies.percentile(95.0).map(round_ms),
            "max": latencies.max().map(round_ms),
        },
        "out_of_bounds_rects": out_of_bounds,
        "timeline": tl.evidence(),
    });
    if failure.is_none() && unasked > 0 {
        failure = Some(Outcome::fail(
            format!(
                "the terminal sent {unasked} updates while no request was open: it does not wait to be asked, so none of its updates can be taken as the answer to a request"
            ),
            Value::Null,
        ));
    }
    match failure {
        Some(f) => Outcome { evidence, ..f },
        None => Outcome::pass(
            format!(
                "session stayed up for {} ms: {} requests answered, p95 latency {} ms",
                round_ms(elapsed),
                latencies.len(),
                latencies.percentile(95.0).map(round_ms).unwrap_or(0.0)
            ),
            evidence,
        ),
    }
}
