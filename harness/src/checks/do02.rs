//! DO-02 (1-3-1): an update is pushed with the same reportId and a higher
//! revision (`not_applicable` when the terminal declares no revisions).

use std::time::Instant;

use serde_json::{json, Value};

use super::support::data::{
    channel, obtain_pushed_report, problems_line, require_output, MAX_LISTED,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::data::{PushEvent, PushKind, Refusal};
use crate::binding::BoxFuture;
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

/// DO-02: Revisions: an update is pushed with the same reportId and a higher revision.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Do02,
    condition: ConditionId::C1_3_1,
    title: "Revisions: an update is pushed with the same reportId and a higher revision",
    requirement: Requirement {
        ja: "通報データの更新が、同じ reportId で、より大きい revision として送信されること。",
        en: "An update of a report arrives with the same reportId and a higher revision.",
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
        if !dc.decl().revisions {
            return Outcome::not_applicable(
                "data.revisions = false: the terminal declares that it does not push revisions",
            );
        }
        let id = match obtain_pushed_report(ctx, dc, CheckId::Do02).await {
            Ok(id) => id,
            Err(o) => return o,
        };
        let prev = dc.latest_received(&id).map(|r| r.revision).unwrap_or(0);
        let since = dc.next_push_index();
        let start = Instant::now();
        if let Err(t) = dc.announce_update(&id, "DO-02").await {
            return Outcome::fail(t.detail, json!({"reportId": id, "trigger": t.evidence}));
        }
        let want = id.clone();
        let mut pred = |e: &PushEvent| {
            e.is_push()
                && e.report_id.as_deref() == Some(want.as_str())
                && e.revision.is_some_and(|r| r > prev)
        };
        let got = dc.wait_push(since, &mut pred).await;
        let waited = start.elapsed().as_secs_f64() * 1000.0;
        let same: Vec<Value> = dc
            .pushes_since(since)
            .iter()
            .filter(|e| e.report_id.as_deref() == Some(id.as_str()))
            .take(MAX_LISTED)
            .map(|e| json!({"revision": e.revision, "answered": e.answered, "seq": e.seq}))
            .collect();
        let mut ev = json!({"reportId": id, "previous_revision": prev, "waited_ms": waited, "pushes_of_report": same});
        match got {
            None => {
                let lower = same.len();
                Outcome::fail(
                    format!(
                        "no push of report {id} with a revision above {prev} within {} ms after the update trigger{}",
                        dc.push_wait().as_millis(),
                        if lower > 0 { format!(" ({lower} push(es) of it without a higher revision)") } else { String::new() }
                    ),
                    ev,
                )
            }
            Some(e) => {
                ev["update"] = e.evidence.clone();
                let rev = e.revision.unwrap_or(0);
                let note = if e.kind == PushKind::Refused(Refusal::Invalid) {
                    format!(
                        " (answered {}: its schema problems are DO-01's subject: {})",
                        e.answered,
                        problems_line(&e)
                    )
                } else {
                    format!(" (answered {})", e.answered)
                };
                Outcome::pass(
                    format!("report {id} was updated from revision {prev} to {rev}, same reportId, {:.0} ms after the trigger{note}", waited),
                    ev,
                )
            }
        }
    })
}
