//! Checks of condition 1-2-2 (操作受付機能, accepting operation): pointer
//! input (OP-01), keyboard input (OP-02), input from a console that is not
//! served is never applied (OP-03), and input-to-screen latency (OP-04).
//!
//! The probes come from the declaration's `[[operation.probe]]`; only `click`
//! and `type` probes can be sent automatically.

use std::time::Instant;

use s301_rfb::{Framebuffer, Rect};
use serde_json::{json, Value};

use super::screen::{
    closed_outcome, describe_close, find_probe, harness_side, ms_between, no_probe, open_served,
    percentile, probe_json, probe_region, rect_json, round_ms, session_json, settle, union_of,
    watch_change, Ev, Timeline, Tracked, Watch,
};
use super::{CheckCtx, CheckDef, Outcome};
use crate::binding::{BoxFuture, CloseHow, OpenError};
use crate::catalog::CheckId;
use crate::declaration::{Exclusivity, Probe};

/// The checks of this condition.
pub fn checks() -> Vec<CheckDef> {
    vec![
        CheckDef {
            id: CheckId::Op01,
            needs: &[CheckId::St01],
            run: op01,
        },
        CheckDef {
            id: CheckId::Op02,
            needs: &[CheckId::St01],
            run: op02,
        },
        CheckDef {
            id: CheckId::Op03,
            needs: &[CheckId::St01],
            run: op03,
        },
        CheckDef {
            id: CheckId::Op04,
            needs: &[CheckId::St01],
            run: op04,
        },
    ]
}

fn ms(v: u64) -> std::time::Duration {
    CheckCtx::ms(v)
}

/// The OP checks fail outright when the declaration says the terminal takes
/// no operation: 1-2-2 is mandatory.
fn unsupported(ctx: &CheckCtx) -> Option<Outcome> {
    (!ctx.declaration.operation.supported).then(|| {
        Outcome::fail(
            "the declaration says operation is not supported ([operation] supported = false), but condition 1-2-2 requires it",
            json!({"operation.supported": false}),
        )
    })
}

/// Adds the timeline and session to an outcome's evidence.
fn with_context(mut o: Outcome, tl: &Timeline, session: Option<Value>) -> Outcome {
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
    Box::pin(input_changes(ctx, "click", "OP-01"))
}

fn op02(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(input_changes(ctx, "type", "OP-02"))
}

/// Sends the probe of `kind` from a served console and waits for its watch
/// region to change.
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
    let o = probe_once(ctx, &mut t, probe).await;
    t.close(CloseHow::Clean).await;
    with_context(o, &tl, Some(session))
}

async fn probe_once(ctx: &CheckCtx, t: &mut Tracked, probe: &Probe) -> Outcome {
    let op = &ctx.scenario.operation;
    let ignore = &ctx.declaration.screen.ignore;
    let region = probe_region(probe, t.bounds());
    let before = t.snapshot();
    if t.request(true, Some(region)).await.is_err() {
        let r = t.gone_reason().await;
        return closed_outcome("the session ended before the probe", &r, Value::Null);
    }
    let sent = match t.perform(probe).await {
        Ok(Some(s)) => s,
        Ok(None) => return no_probe("click or type", "a manual probe cannot be sent"),
        Err(_) => {
            let r = t.gone_reason().await;
            return closed_outcome("the session ended while sending the probe", &r, Value::Null);
        }
    };
    let until = sent.at + ms(op.change_timeout_ms);
    let base = json!({"probe": probe_json(probe), "region": rect_json(region)});
    match watch_change(t, &before, &[region], ignore, until).await {
        Watch::Changed {
            at, pixels, bbox, ..
        } => {
            let took = round_ms(ms_between(sent.at, at));
            crate::record::snapshot_around(ctx, "before", &before, bbox);
            crate::record::snapshot_around(ctx, "after", &t.snapshot(), bbox);
            let mut ev = base;
            ev["ms_to_change"] = json!(took);
            ev["changed_pixels"] = json!(pixels);
            ev["changed_bbox"] = rect_json(bbox);
            Outcome::pass(
                format!(
                    "the {} probe changed {region} in {took} ms ({pixels} pixels within {bbox})",
                    kind_of(probe)
                ),
                ev,
            )
        }
        Watch::Unchanged => {
            crate::record::snapshot_around(ctx, "before", &before, region);
            crate::record::snapshot_around(ctx, "after", &t.snapshot(), region);
            Outcome::fail(
                format!(
                    "{} from the serving console: region {region} did not change within {} ms",
                    describe_probe(probe),
                    op.change_timeout_ms
                ),
                base,
            )
        }
        Watch::Closed(reason) => closed_outcome(
            &format!("the session ended after {}", describe_probe(probe)),
            &reason,
            base,
        ),
    }
}

fn kind_of(p: &Probe) -> &'static str {
    match p {
        Probe::Click { .. } => "click",
        Probe::Move { .. } => "move",
        Probe::Type { .. } => "type",
        Probe::Manual { .. } => "manual",
    }
}

fn describe_probe(p: &Probe) -> String {
    match p {
        Probe::Click { x, y, .. } => format!("a click at ({x}, {y})"),
        Probe::Move { x, y, .. } => format!("a pointer move to ({x}, {y})"),
        Probe::Type { text, .. } => format!("typing {text:?}"),
        Probe::Manual { prompt, .. } => format!("the manual step {prompt:?}"),
    }
}

// ---------------------------------------------------------------- OP-03

fn op03(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(op03_run(ctx))
}

/// Watches `t` for `period` with an incremental request outstanding; returns
/// the change seen (if any) in `regions` outside `ignore`.
async fn watch_period(
    t: &mut Tracked,
    regions: &[Rect],
    ignore: &[Rect],
    period: std::time::Duration,
) -> Watch {
    let before: Framebuffer = t.snapshot();
    let until = Instant::now() + period;
    match watch_change(t, &before, regions, ignore, until).await {
        Watch::Changed {
            at,
            seq,
            pixels,
            bbox,
        } => {
            // Keep watching to the end so the whole change is measured.
            let rest = until.saturating_duration_since(Instant::now());
            settle(t, regions, ignore, rest, until).await;
            let now = t.snapshot();
            match super::screen::region_diff(&before, &now, regions, ignore) {
                Some((p, b)) => Watch::Changed {
                    at,
                    seq,
                    pixels: p,
                    bbox: b,
                },
                None => Watch::Changed {
                    at,
                    seq,
                    pixels,
                    bbox,
                },
            }
        }
        other => other,
    }
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
    let click = find_probe(ctx, "click");
    let typing = find_probe(ctx, "type");
    let probes: Vec<&Probe> = click.into_iter().chain(typing).collect();
    if probes.is_empty() {
        return no_probe(
            "click or type",
            "OP-03 sends input from a console that is not served",
        );
    }
    let tl = Timeline::new();
    let mut a = match open_served(ctx, "A", &tl).await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let session = session_json(&a);
    let o = op03_body(ctx, &mut a, &probes, &tl).await;
    a.close(CloseHow::Clean).await;
    let mut o = with_context(o, &tl, Some(session));
    o.evidence["probes"] = probes.iter().map(|p| probe_json(p)).collect();
    o.evidence["policy"] = json!(ctx.declaration.screen.exclusivity.as_str());
    o
}

async fn op03_body(ctx: &CheckCtx, a: &mut Tracked, probes: &[&Probe], tl: &Timeline) -> Outcome {
    let sc = &ctx.scenario.screen;
    let op = &ctx.scenario.operation;
    let ignore = ctx.declaration.screen.ignore.clone();
    let screen = a.bounds();
    let regions: Vec<Rect> = probes.iter().map(|p| probe_region(p, screen)).collect();
    let period = ms(op.unserved_watch_ms);
    let mut ev = json!({"regions": regions.iter().map(|r| rect_json(*r)).collect::<Vec<_>>()});
    // Control first: without any input the holder's screen must keep still
    // for the watch period, or a change seen later proves nothing.
    let control = watch_period(a, &regions, &ignore, period).await;
    ev["control"] = change_json(&control);
    match &control {
        Watch::Changed { bbox, .. } => {
            return Outcome::error(
                format!("screen changes on its own (within {bbox}, no input sent); cannot judge OP-03 (declare such regions under [screen] ignore)"),
                ev,
            )
        }
        Watch::Closed(r) => return closed_outcome("holder A ended during the control watch", r, ev),
        Watch::Unchanged => {}
    }
    match ctx.declaration.screen.exclusivity {
        Exclusivity::Refuse => {
            let before = a.snapshot();
            if a.outstanding() == 0 && a.request(true, union_of(&regions)).await.is_err() {
                let r = a.gone_reason().await;
                return closed_outcome("holder A ended", &r, ev);
            }
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
            let mut sent_inputs = 0usize;
            if let Some(bt) = b.as_mut() {
                for p in probes {
                    match bt.perform(p).await {
                        Ok(_) => sent_inputs += 1,
                        Err(_) => break,
                    }
                }
                ev["b"] = json!({"admitted": true, "probes_sent": sent_inputs});
            }
            let until = Instant::now() + period;
            let w = watch_change(a, &before, &regions, &ignore, until).await;
            ev["watch"] = change_json(&w);
            crate::record::snapshot(ctx, "A-holder-after-watch", a.snapshot());
            if let Some(bt) = b.take() {
                crate::record::snapshot(ctx, "B-unserved-after-watch", bt.snapshot());
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
            let o = op03_takeover(ctx, a, &mut b, probes, &regions, &ignore, ev).await;
            b.close(CloseHow::Clean).await;
            o
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn op03_takeover(
    ctx: &CheckCtx,
    a: &mut Tracked,
    b: &mut Tracked,
    probes: &[&Probe],
    regions: &[Rect],
    ignore: &[Rect],
    mut ev: Value,
) -> Outcome {
    let sc = &ctx.scenario.screen;
    let op = &ctx.scenario.operation;
    let period = ms(op.unserved_watch_ms);
    let served = match b.request(false, None).await {
        Ok(s) => b.next_update(s.at + ms(sc.update_timeout_ms)).await,
        Err(_) => Err(Ev::Closed {
            reason: b.gone_reason().await,
            seq: crate::binding::seq::next(),
        }),
    };
    match served {
        Ok(_) => {}
        Err(Ev::Closed { reason, .. }) if harness_side(&reason) => {
            return Outcome::error("the harness closed console B; cannot judge OP-03", ev)
        }
        Err(other) => {
            let why = match other {
                Ev::Closed { reason, .. } => describe_close(&reason),
                _ => format!("no update within {} ms", sc.update_timeout_ms),
            };
            return Outcome::error(
                format!(
                    "takeover declared, but console B was not served ({why}); cannot judge OP-03"
                ),
                ev,
            );
        }
    }
    let before = b.snapshot();
    if b.outstanding() == 0 && b.request(true, union_of(regions)).await.is_err() {
        let r = b.gone_reason().await;
        return closed_outcome("new holder B ended", &r, ev);
    }
    // The displaced console tries to operate, if its connection still takes
    // writes (the terminal should have closed it).
    let mut sent_inputs = 0usize;
    if !a.is_closed() {
        for p in probes {
            match a.perform(p).await {
                Ok(_) => sent_inputs += 1,
                Err(_) => break,
            }
        }
    }
    ev["a"] = json!({"closed_seen": a.is_closed(), "probes_sent": sent_inputs});
    let until = Instant::now() + period;
    let w = watch_change(b, &before, regions, ignore, until).await;
    ev["watch"] = change_json(&w);
    crate::record::snapshot(ctx, "B-holder-after-watch", b.snapshot());
    crate::record::snapshot(ctx, "A-displaced-after-watch", a.snapshot());
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

// ---------------------------------------------------------------- OP-04

fn op04(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(op04_run(ctx))
}

async fn op04_run(ctx: &CheckCtx) -> Outcome {
    if let Some(o) = unsupported(ctx) {
        return o;
    }
    let Some(probe) = find_probe(ctx, "type").or_else(|| find_probe(ctx, "click")) else {
        return no_probe(
            "type or click",
            "OP-04 times input-to-screen changes with one",
        );
    };
    let tl = Timeline::new();
    let mut t = match open_served(ctx, "OP-04", &tl).await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let session = session_json(&t);
    let o = op04_body(ctx, &mut t, probe).await;
    t.close(CloseHow::Clean).await;
    with_context(o, &tl, Some(session))
}

async fn op04_body(ctx: &CheckCtx, t: &mut Tracked, probe: &Probe) -> Outcome {
    let op = &ctx.scenario.operation;
    let sc = &ctx.scenario.screen;
    let ignore = ctx.declaration.screen.ignore.clone();
    let region = probe_region(probe, t.bounds());
    let chars: Vec<char> = match probe {
        Probe::Type { text, .. } => text.chars().collect(),
        _ => Vec::new(),
    };
    let mut samples: Vec<Value> = Vec::new();
    let mut latencies: Vec<f64> = Vec::new();
    let mut missed = 0u32;
    for i in 0..op.latency_samples {
        // Let earlier reactions finish before the next probe.
        let settle_until = Instant::now() + ms(op.change_timeout_ms.max(sc.quiet_ms));
        let (_, quiet) = settle(t, &[region], &ignore, ms(sc.quiet_ms), settle_until).await;
        if !quiet && !t.is_closed() {
            return Outcome::error(
                format!(
                    "region {region} kept changing without input (never quiet for {} ms); cannot time input latency (declare such regions under [screen] ignore)",
                    sc.quiet_ms
                ),
                json!({"samples": samples}),
            );
        }
        if let Some(r) = t.close_reason() {
            let r = r.clone();
            return closed_outcome(
                &format!("the session ended before sample {i}"),
                &r,
                json!({"samples": samples}),
            );
        }
        let before = t.snapshot();
        if t.outstanding() == 0 && t.request(true, Some(region)).await.is_err() {
            let r = t.gone_reason().await;
            return closed_outcome("the session ended", &r, json!({"samples": samples}));
        }
        let (sent, what) = match probe {
            Probe::Type { .. } => {
                let ch = chars
                    .get(i as usize % chars.len().max(1))
                    .copied()
                    .unwrap_or(' ');
                (t.type_char(ch).await, format!("{ch:?}"))
            }
            Probe::Click { x, y, .. } => (t.click(*x, *y).await, format!("click ({x}, {y})")),
            Probe::Manual { .. } | Probe::Move { .. } => {
                return no_probe(
                    "type or click",
                    "a manual probe cannot be timed automatically",
                )
            }
        };
        let Ok(sent) = sent else {
            let r = t.gone_reason().await;
            return closed_outcome(
                &format!("the session ended at sample {i}"),
                &r,
                json!({"samples": samples}),
            );
        };
        let until = sent.at + ms(op.change_timeout_ms);
        match watch_change(t, &before, &[region], &ignore, until).await {
            Watch::Changed { at, .. } => {
                let l = ms_between(sent.at, at);
                latencies.push(l);
                samples.push(json!({"sample": i, "input": what, "ms": round_ms(l)}));
            }
            Watch::Unchanged => {
                missed += 1;
                samples.push(json!({"sample": i, "input": what, "ms": null, "missed": true}));
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
