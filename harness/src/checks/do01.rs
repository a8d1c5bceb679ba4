//! DO-01 (1-3-1): a triggered report is pushed in time, well-formed and
//! schema-valid. It leaves the report it received for the later data checks
//! ([`super::support::data::REPORT_KEY`]).

use serde_json::json;

use super::support::data::{
    arriving_json, await_new_push, body_evidence, channel, listed, problems_line, push_trouble,
    refusal_line, require_output, store_report, trigger_name,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::data::{PushKind, Refusal};
use crate::binding::BoxFuture;
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

/// DO-01: A report is pushed in time, well-formed and schema-valid.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Do01,
    condition: ConditionId::C1_3_1,
    title: "A report is pushed in time, well-formed and schema-valid",
    requirement: Requirement {
        ja: "トリガーした通報データが、期限内に、正しい形式でスキーマに適合して送信されること。",
        en: "A triggered report is pushed in time, well-formed and valid against the schema.",
    },
    needs: &[],
    lane: Lane::Data,
    phase: Phase::Data,
    budget: time_budget,
    run,
};

fn time_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    budget::push_then_requests(sc, decl, 2)
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
        let np = match await_new_push(dc, "DO-01").await {
            Ok(n) => n,
            Err(t) => return Outcome::fail(t.detail, json!({"trigger": t.evidence})),
        };
        let mut ev = json!({
            "trigger": trigger_name(dc),
            "announced": np.announced,
            "waited_ms": np.waited_ms,
            "schema": dc.schema_origin(),
            "receiver_url": dc.push_target(),
        });
        let Some(e) = np.event else {
            ev["exchanges"] = listed(dc, np.since);
            ev["arriving"] = arriving_json(dc);
            let detail = match push_trouble(dc, np.since) {
                // Something came, but nothing acceptable: say what.
                Some(t) => format!(
                    "no acceptable report arrived at {} within {} ms after the {} trigger: {t}",
                    dc.push_target(),
                    dc.push_wait().as_millis(),
                    trigger_name(dc)
                ),
                None => format!(
                    "no report was pushed to {} within {} ms after the {} trigger",
                    dc.push_target(),
                    dc.push_wait().as_millis(),
                    trigger_name(dc)
                ),
            };
            return Outcome::fail(detail, ev);
        };
        ev["push"] = e.evidence.clone();
        ev["report"] = body_evidence(dc, &e);
        if let Some(id) = &e.report_id {
            if e.revision.is_some() {
                store_report(ctx, id, CheckId::Do01);
            }
        }
        let what = format!(
            "report {} revision {}",
            e.report_id.as_deref().unwrap_or("(no reportId)"),
            e.revision
                .map(|r| r.to_string())
                .unwrap_or_else(|| "?".into())
        );
        match e.kind {
            PushKind::Accepted | PushKind::Repeated => Outcome::pass(
                format!(
                    "{what} pushed {:.0} ms after the trigger, well-formed and valid against {}",
                    np.waited_ms,
                    dc.schema_origin()
                ),
                ev,
            ),
            PushKind::Refused(Refusal::Invalid) if e.report_id.is_some() => Outcome::fail(
                format!(
                    "{what} was pushed but is not a valid report ({} problem(s)): {}",
                    e.problems.len(),
                    problems_line(&e)
                ),
                ev,
            ),
            PushKind::Refused(
                Refusal::Invalid
                | Refusal::TooLarge
                | Refusal::WrongMediaType
                | Refusal::NoStatedLength
                | Refusal::BrokenBody
                | Refusal::BodyTimeout,
            ) => Outcome::fail(
                format!(
                    "no acceptable report arrived: the push {:.0} ms after the {} trigger was refused with {}",
                    np.waited_ms,
                    trigger_name(dc),
                    refusal_line(&e)
                ),
                ev,
            ),
            PushKind::Refused(Refusal::OlderRevision) => Outcome::fail(
                format!(
                    "{what} is older than a revision already acknowledged: {}",
                    problems_line(&e)
                ),
                ev,
            ),
            PushKind::Injected(_)
            | PushKind::Refused(Refusal::StoreFull | Refusal::Unavailable)
            | PushKind::Stray => Outcome::error(
                format!("harness error: unexpected receiver outcome {:?}", e.kind),
                ev,
            ),
        }
    })
}
