//! DI-01 (1-3-1, if input is declared): a dispatch status is accepted and
//! shows in the next answer for the report. Output-only services are allowed
//! by the condition's 補足, so without `data.input` it is `not_applicable`.

use rand::Rng;
use serde_json::{json, Value};

use super::support::data::{channel, input_not_declared, known_report, now_rfc3339, same_instant};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::data::{
    DispatchInput, DispatchStatus, Expected, Reply, Request, DISPATCH_STATES,
};
use crate::binding::BoxFuture;
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

/// DI-01: Input: a dispatch status is accepted and shows in the next GET.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Di01,
    condition: ConditionId::C1_3_1,
    title: "Input: a dispatch status is accepted and shows in the next GET",
    requirement: Requirement {
        ja: "（入力ありと宣言した場合）出動状況の入力が受け付けられ、次の取得に反映されること。",
        en: "If input is declared: a dispatch status is accepted and shows in the next request for the report.",
    },
    needs: &[],
    lane: Lane::Data,
    phase: Phase::Data,
    budget: time_budget,
    run,
};

fn time_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    budget::push_then_requests(sc, decl, 3)
}

fn run(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let dc = match channel(ctx) {
            Ok(d) => d,
            Err(o) => return o,
        };
        let dc = &*dc;
        if !dc.decl().input {
            return input_not_declared();
        }
        let (id, source) = match known_report(ctx, dc, CheckId::Di01).await {
            Ok(x) => x,
            Err(o) => return o,
        };
        let mut rng = ctx.rng(CheckId::Di01);
        let status = DISPATCH_STATES[rng.random_range(0..DISPATCH_STATES.len())];
        let note = format!("s301 DI-01 {:016x}", rng.random::<u64>());
        let input = DispatchStatus {
            status: status.to_string(),
            at: now_rfc3339(),
            note,
        };
        let sent = json!(input);
        let mut ev = json!({"reportId": id, "report_source": source, "sent": sent});
        let label = dc.describe(Request::Dispatch(&id));
        let input = DispatchInput::Status(input);
        let reply = match dc.dispatch(&id, &input).await {
            Ok(r) => r,
            Err(e) => {
                ev["error"] = e.evidence.clone();
                return Outcome::fail(format!("{label} got no answer: {e}"), ev);
            }
        };
        ev["dispatch_reply"] = reply.evidence.clone();
        if reply.reply != Reply::Answered(()) {
            return Outcome::fail(
                format!(
                    "{label} with a valid status answered {} instead of {}",
                    reply.wire,
                    dc.wire_of(Expected::DispatchAccepted)
                ),
                ev,
            );
        }
        let get = match dc.get_report(&id).await {
            Ok(r) => r,
            Err(e) => {
                ev["error"] = e.evidence.clone();
                return Outcome::fail(
                    format!("the GET after the dispatch input got no answer: {e}"),
                    ev,
                );
            }
        };
        ev["get_reply"] = get.evidence.clone();
        let v = match &get.reply {
            Reply::Answered(v) => v,
            Reply::Malformed { problem } => {
                return Outcome::fail(format!("the GET after the dispatch input: {problem}"), ev)
            }
            _ => {
                return Outcome::fail(
                    format!("the GET after the dispatch input answered {}", get.wire),
                    ev,
                )
            }
        };
        let shown = v.get("dispatch").cloned().unwrap_or(Value::Null);
        ev["shown"] = shown.clone();
        let ok = shown.get("status") == sent.get("status")
            && shown.get("note") == sent.get("note")
            && same_instant(shown.get("at").unwrap_or(&Value::Null), &sent["at"]);
        let accepted = &reply.wire;
        if ok {
            Outcome::pass(
                format!("dispatch status {status:?} was accepted ({accepted}) and the next GET of report {id} shows it"),
                ev,
            )
        } else if shown.is_null() {
            Outcome::fail(
                format!("dispatch status was accepted ({accepted}) but the next GET of report {id} has no \"dispatch\" member"),
                ev,
            )
        } else {
            Outcome::fail(
                format!("dispatch status was accepted ({accepted}) but the next GET of report {id} shows {shown} instead of {sent}"),
                ev,
            )
        }
    })
}
