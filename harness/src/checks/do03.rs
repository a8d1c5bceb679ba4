//! DO-03 (1-3-1): after the harness refuses a push as unavailable (a
//! transient refusal, `503` over HTTP) the terminal retries and delivers,
//! without delivering the same revision again once acknowledged.

use serde_json::json;

use super::support::data::{
    arriving_json, channel, listed, problems_line, push_trouble, require_output, trigger_name,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::data::{DataBinding, PushEvent, Refusal};
use crate::binding::BoxFuture;
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

/// DO-03: Redelivery: after a refused delivery the terminal retries and delivers, without duplicates.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Do03,
    condition: ConditionId::C1_3_1,
    title: "Redelivery: after a refused delivery the terminal retries and delivers, without duplicates",
    requirement: Requirement {
        ja: "受信側が一時的に受け取れなかった送信を、端末が再送し、重複なく一度だけ届けること。",
        en: "After the harness refuses a delivery as temporarily unavailable, the terminal retries and delivers the report once.",
    },
    needs: &[],
    lane: Lane::Data,
    phase: Phase::Data,
    budget: time_budget,
    run,
};

fn time_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    budget::add(
        budget::mul(budget::push(sc, decl), 2),
        budget::mul(sc.data.request_timeout_ms, 2),
    )
}

/// Cancels a pending refusal when dropped, so it never hits another
/// check's push.
struct RefusalGuard<'a>(&'a dyn DataBinding);

impl Drop for RefusalGuard<'_> {
    fn drop(&mut self) {
        self.0.cancel_refusal();
    }
}

fn run(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let dc = match channel(ctx) {
            Ok(d) => d,
            Err(o) => return o,
        };
        let dc = &*dc;
        if let Err(o) = require_output(dc) {
            return o;
        }
        let push_wait = dc.push_wait();
        let settle =
            std::time::Duration::from_millis((dc.scenario().push_timeout_ms / 5).clamp(300, 2000));
        let since = dc.next_push_index();
        let refusal = dc.refuse_next_push(Refusal::Unavailable);
        let guard = RefusalGuard(dc);
        let announced = match dc.announce_new("DO-03").await {
            Ok(a) => a,
            Err(t) => return Outcome::fail(t.detail, json!({"trigger": t.evidence})),
        };
        let refused = dc
            .wait_push(since, &mut |e: &PushEvent| e.is_injected())
            .await;
        drop(guard);
        let mut ev = json!({"announced": announced, "injected": refusal, "settle_ms": settle.as_millis() as u64});
        let Some(refused) = refused else {
            ev["exchanges"] = listed(dc, since);
            ev["arriving"] = arriving_json(dc);
            let detail = match push_trouble(dc, since) {
                // The binding refuses a broken push before it would refuse it on purpose.
                Some(t) => format!(
                    "no push the harness could answer with {refusal} arrived within {} ms after the {} trigger: {t}",
                    push_wait.as_millis(),
                    trigger_name(dc)
                ),
                None => format!(
                    "no push arrived within {} ms after the {} trigger, so there was nothing to answer {refusal} to",
                    push_wait.as_millis(),
                    trigger_name(dc)
                ),
            };
            return Outcome::fail(detail, ev);
        };
        ev["refused"] = refused.evidence.clone();
        let (Some(id), Some(rev)) = (refused.report_id.clone(), refused.revision) else {
            return Outcome::fail(
                format!("the push answered with {refusal} carried no identifiable reportId and revision, so its redelivery cannot be recognised"),
                ev,
            );
        };
        let want = id.clone();
        let mut redelivery = |e: &PushEvent| {
            e.is_push()
                && !e.is_injected()
                && e.report_id.as_deref() == Some(want.as_str())
                && e.revision.is_some_and(|r| r >= rev)
        };
        let retry = dc
            .wait_push_within(refused.index + 1, push_wait, &mut redelivery)
            .await;
        let Some(delivered) = retry else {
            ev["exchanges"] = listed(dc, refused.index + 1);
            return Outcome::fail(
                format!("report {id} revision {rev} was answered {refusal} and was not pushed again within {} ms", push_wait.as_millis()),
                ev,
            );
        };
        let after_ms = delivered
            .arrived
            .duration_since(refused.arrived)
            .as_secs_f64()
            * 1000.0;
        ev["delivered"] = delivered.evidence.clone();
        ev["retry_after_ms"] = json!(after_ms);
        let drev = delivered.revision.unwrap_or(rev);
        if delivered.is_acked() {
            let mut again = |e: &PushEvent| {
                e.is_push()
                    && e.report_id.as_deref() == Some(want.as_str())
                    && e.revision == Some(drev)
            };
            let dup = dc
                .wait_push_within(delivered.index + 1, settle, &mut again)
                .await;
            if let Some(d) = dup {
                ev["duplicate"] = d.evidence.clone();
                return Outcome::fail(
                    format!("duplicate delivery: report {id} revision {drev} was pushed again after it had been acknowledged (answered {})", d.answered),
                    ev,
                );
            }
        }
        let how = if drev > rev {
            format!("as revision {drev} (newer than the refused {rev})")
        } else {
            format!("(revision {rev})")
        };
        let status_note = if delivered.is_acked() {
            format!("and acknowledged ({})", delivered.answered)
        } else {
            format!(
                "but answered {} ({}; validity is DO-01's subject)",
                delivered.answered,
                problems_line(&delivered)
            )
        };
        Outcome::pass(
            format!(
                "after the refusal ({refusal}), report {id} was pushed again {how} {after_ms:.0} ms later {status_note}; no duplicate within {} ms",
                settle.as_millis()
            ),
            ev,
        )
    })
}
