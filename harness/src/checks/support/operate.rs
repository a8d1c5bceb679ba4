//! What the OP checks share: the declaration's `supported` flag, the
//! evidence context, and one trial of a probe from a served console.

use serde_json::{json, Value};

use super::stimulus::{keep_before_after, timing, trial, trial_error_outcome, Stimulus};
use super::*;
use crate::binding::CloseHow;
use crate::checks::{CheckCtx, Outcome};
use crate::config::declaration::Probe;

/// The OP checks fail outright when the declaration says the terminal takes
/// no operation: 1-2-2 is mandatory.
pub fn unsupported(ctx: &CheckCtx) -> Option<Outcome> {
    (!ctx.declaration.operation.supported).then(|| {
        Outcome::fail(
            "the declaration says operation is not supported ([operation] supported = false), but condition 1-2-2 requires it",
            json!({"operation.supported": false}),
        )
    })
}

/// Adds the timeline and session to an outcome's evidence.
pub fn with_context(mut o: Outcome, tl: &Timeline, session: Option<Value>) -> Outcome {
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

/// Runs one trial of the first probe of `kind` from a served console.
pub async fn input_changes(ctx: &CheckCtx, kind: &str, id: &str) -> Outcome {
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
