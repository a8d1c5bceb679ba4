//! DI-02 (1-3-1, if input is declared): malformed dispatch statuses are
//! refused with an error, and the report's dispatch state stays as it was.

use rand::Rng;
use serde_json::{json, Value};

use super::support::data::{channel, input_not_declared, known_report, now_rfc3339};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::data::{DataBinding, DispatchInput, Expected, Malformation, Reply};
use crate::binding::BoxFuture;
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

/// DI-02: Input: a malformed dispatch status is refused as invalid.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Di02,
    condition: ConditionId::C1_3_1,
    title: "Input: a malformed dispatch status is refused as invalid",
    requirement: Requirement {
        ja: "（入力ありと宣言した場合）不正な形式の出動状況の入力が、不正として拒否されること。",
        en: "If input is declared: a malformed dispatch status is refused as invalid.",
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

/// The report's dispatch member as the terminal answers it now (`Null` when
/// it has none), or `None` when it gives no usable report.
async fn dispatch_now(dc: &dyn DataBinding, id: &str) -> Option<Value> {
    match dc.get_report(id).await.ok()?.reply {
        Reply::Answered(v) => Some(v.get("dispatch").cloned().unwrap_or(Value::Null)),
        _ => None,
    }
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
        let (id, source) = match known_report(ctx, dc, CheckId::Di02).await {
            Ok(x) => x,
            Err(o) => return o,
        };
        let before = dispatch_now(dc, &id).await;
        let mut rng = ctx.rng(CheckId::Di02);
        let tag = format!("s301 DI-02 {:016x}", rng.random::<u64>());
        let at = now_rfc3339();
        let mut tried = Vec::new();
        let mut wrong = Vec::new();
        for how in Malformation::ALL {
            let input = DispatchInput::Malformed {
                how,
                at: at.clone(),
                note: tag.clone(),
            };
            let label = how.label();
            let (ok, why, reply) = match dc.dispatch(&id, &input).await {
                Err(e) => (
                    false,
                    format!("no answer: {e}"),
                    json!({"error": e.evidence}),
                ),
                Ok(a) => match &a.reply {
                    Reply::Rejected { problem: None } => (true, String::new(), a.evidence),
                    Reply::Rejected { problem: Some(p) } => (false, p.clone(), a.evidence),
                    _ => (false, format!("answered {}", a.wire), a.evidence),
                },
            };
            if !ok {
                wrong.push(format!("{label}: {why}"));
            }
            tried.push(json!({"case": label, "ok": ok, "reply": reply}));
        }
        let n = tried.len();
        let after = dispatch_now(dc, &id).await;
        let refused = dc.wire_of(Expected::DispatchRejected);
        let mut ev = json!({"reportId": id, "report_source": source, "cases": tried, "dispatch_before": before, "dispatch_after": after});
        if !wrong.is_empty() {
            return Outcome::fail(
                format!(
                    "malformed dispatch status not refused with {refused} and a JSON error: {}",
                    wrong.join("; ")
                ),
                ev,
            );
        }
        match (&before, &after) {
            (Some(b), Some(a)) if b != a => Outcome::fail(
                format!("every malformed status answered {refused}, but the report's dispatch changed from {b} to {a}"),
                ev,
            ),
            (Some(_), Some(_)) => Outcome::pass(
                format!("all {n} malformed dispatch statuses were refused with {refused} and a JSON error; the report's dispatch is unchanged"),
                ev,
            ),
            _ => {
                ev["note"] = json!("the report could not be read back, so the unchanged state could not be compared (requests are DR-01's subject)");
                Outcome::pass(
                    format!("all {n} malformed dispatch statuses were refused with {refused} and a JSON error"),
                    ev,
                )
            }
        }
    })
}
