//! DR-01 (1-3-2): the terminal answers for a report with the latest revision
//! pushed, equal to what was pushed (`dispatch` aside: it is the harness's
//! own input and is not pushed), and its list holds that revision.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::support::data::{
    asked_json, channel, first_difference, instead_of, judge_list, list_entries,
    obtain_pushed_report, revision_in, same_instant, without_dispatch,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::data::{Expected, PushEvent, Reply, Request};
use crate::binding::BoxFuture;
use crate::config::declaration::{Declaration, Trigger};
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

/// DR-01: A request returns the latest revision, equal to what was pushed; the list holds it.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Dr01,
    condition: ConditionId::C1_3_2,
    title: "A request returns the latest revision, equal to what was pushed; the list holds it",
    requirement: Requirement {
        ja: "要求に対し、送信された最新の revision が変更なく返り、一覧にも含まれること。",
        en: "A request returns the latest pushed revision unchanged, and the list of reports contains it.",
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
        let id = match obtain_pushed_report(ctx, dc, CheckId::Dr01).await {
            Ok(id) => id,
            Err(mut o) => {
                o.detail = format!(
                    "{} — DR-01 compares the terminal's answer with what it pushed",
                    o.detail
                );
                return o;
            }
        };
        let mut ev = json!({"reportId": id});
        // A stale answer can only show once there are two revisions.
        let cur = dc.latest_received(&id).map(|r| r.revision).unwrap_or(0);
        if dc.decl().trigger == Trigger::Hook && dc.decl().revisions && cur < 2 {
            let since = dc.next_push_index();
            match dc.announce_update(&id, "DR-01").await {
                Ok(()) => {
                    let want = id.clone();
                    let mut pred = |e: &PushEvent| {
                        e.report_id.as_deref() == Some(want.as_str())
                            && e.revision.is_some_and(|r| r > cur)
                    };
                    let got = dc.wait_push(since, &mut pred).await;
                    ev["update_pushed"] = json!(got.is_some());
                }
                Err(t) => ev["update_trigger"] = json!(t.detail),
            }
        }
        let name = dc.describe(Request::Get(&id));
        let get = dc.get_report(&id).await;
        ev["get"] = asked_json(&get);
        let get = match get {
            Ok(g) => g,
            Err(e) => return Outcome::fail(format!("{name}: {e}"), ev),
        };
        let v = match &get.reply {
            Reply::Answered(v) => v,
            Reply::Malformed { problem } => return Outcome::fail(format!("{name}: {problem}"), ev),
            _ => {
                return Outcome::fail(
                    format!("{name} {}", instead_of(dc, &get, Expected::Report)),
                    ev,
                )
            }
        };
        if v.get("reportId").and_then(Value::as_str) != Some(id.as_str()) {
            return Outcome::fail(
                format!(
                    "{name} returned reportId {}",
                    v.get("reportId").unwrap_or(&Value::Null)
                ),
                ev,
            );
        }
        let Some(g) = revision_in(v) else {
            return Outcome::fail(format!("{name} returned no integer revision >= 1"), ev);
        };
        let mut latest = dc.latest_received(&id);
        if latest.as_ref().is_some_and(|l| g > l.revision) {
            // The terminal already shows a revision whose push may be on its way.
            let want = id.clone();
            let mut pred = |e: &PushEvent| {
                e.report_id.as_deref() == Some(want.as_str()) && e.revision.is_some_and(|r| r >= g)
            };
            let _ = dc
                .wait_push_within(
                    0,
                    Duration::from_millis(dc.scenario().push_timeout_ms),
                    &mut pred,
                )
                .await;
            latest = dc.latest_received(&id);
        }
        let Some(latest) = latest else {
            return Outcome::error("harness error: the pushed report is no longer held", ev);
        };
        ev["latest_pushed_revision"] = json!(latest.revision);
        ev["returned_revision"] = json!(g);
        if g < latest.revision {
            return Outcome::fail(
                format!(
                    "{name} returned revision {g}, but revision {} had been pushed: not the latest",
                    latest.revision
                ),
                ev,
            );
        }
        if g > latest.revision {
            return Outcome::fail(
                format!(
                    "{name} returned revision {g}, which was never pushed (latest pushed: {})",
                    latest.revision
                ),
                ev,
            );
        }
        match &latest.body {
            Some(body) => {
                if let Some(p) = first_difference(&without_dispatch(body), &without_dispatch(v)) {
                    ev["difference_at"] = json!(p);
                    return Outcome::fail(
                        format!(
                            "{name} revision {g} differs from the pushed revision {g} at {p:?}"
                        ),
                        ev,
                    );
                }
            }
            None => {
                ev["note"] = json!(
                "the pushed body was not kept (storage bound), so only the revision was compared"
            )
            }
        }
        let list_name = dc.describe(Request::List);
        let list = dc.list_reports().await;
        ev["list"] = asked_json(&list);
        let list = match list {
            Ok(l) => l,
            Err(e) => return Outcome::fail(format!("{list_name}: {e}"), ev),
        };
        let mut want = BTreeMap::new();
        want.insert(id.clone(), g);
        if let Err(why) = judge_list(dc, &want, &list) {
            return Outcome::fail(format!("{list_name}: {why}"), ev);
        }
        // The list must give the latest revision exactly, and its updatedAt.
        let entry = list_entries(dc, &list).ok().and_then(|l| {
            l.iter()
                .find(|e| e.report_id.as_deref() == Some(id.as_str()))
        });
        let lrev = entry.and_then(|e| e.revision);
        if lrev != Some(g) {
            return Outcome::fail(
                format!("{list_name} lists report {id} with revision {lrev:?}, not the latest {g}"),
                ev,
            );
        }
        let listed_at = entry.and_then(|e| e.updated_at.as_ref());
        match (listed_at, v.get("updatedAt")) {
            (Some(Value::String(_)), None) => {}
            (Some(a @ Value::String(_)), Some(b)) if same_instant(a, b) => {}
            (Some(a), Some(b)) => {
                return Outcome::fail(
                    format!("{list_name} gives report {id} updatedAt {a}, the report says {b}"),
                    ev,
                );
            }
            (None, _) => {
                return Outcome::fail(
                    format!("{list_name}: the entry of report {id} has no updatedAt"),
                    ev,
                )
            }
            (Some(a), None) => {
                return Outcome::fail(
                    format!("{list_name}: updatedAt {a} of report {id} is not a string"),
                    ev,
                )
            }
        }
        Outcome::pass(
            format!("{name} returned revision {g}, the latest pushed, with the same content; the list holds it"),
            ev,
        )
    })
}
