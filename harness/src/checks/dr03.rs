//! DR-03 (1-3-2): an unknown reportId is answered "not found" with an error
//! (`404` and a JSON error over HTTP).

use rand::Rng;
use serde_json::json;

use super::support::data::{asked_json, channel, instead_of, listed};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::data::{Expected, Reply, Request};
use crate::binding::BoxFuture;
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

/// DR-03: An unknown reportId is answered as not found, with an error body.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Dr03,
    condition: ConditionId::C1_3_2,
    title: "An unknown reportId is answered as not found, with an error body",
    requirement: Requirement {
        ja: "存在しない reportId への要求に、エラー本文付きで「該当なし」と応答すること。",
        en: "A request for an unknown reportId is answered as not found, with an error body.",
    },
    needs: &[],
    lane: Lane::Data,
    phase: Phase::Data,
    budget: time_budget,
    run,
};

fn time_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    budget::mul(sc.data.request_timeout_ms, 2)
}

fn run(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let dc = match channel(ctx) {
            Ok(d) => d,
            Err(o) => return o,
        };
        let dc = &*dc;
        let mut rng = ctx.rng(CheckId::Dr03);
        let list = dc.list_reports().await;
        let known: Vec<String> = match &list {
            Ok(a) => match &a.reply {
                Reply::Answered(l) => l.iter().filter_map(|e| e.report_id.clone()).collect(),
                _ => Vec::new(),
            },
            Err(_) => Vec::new(),
        };
        let mut ids = Vec::new();
        while ids.len() < 2 {
            let a: u64 = rng.random();
            let b: u64 = rng.random();
            let id = if ids.is_empty() {
                format!("s301-unknown-{a:016x}")
            } else {
                format!(
                    "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                    a >> 32,
                    (a >> 16) & 0xffff,
                    a & 0xfff,
                    b >> 52,
                    b & 0xffff_ffff_ffff
                )
            };
            if !known.contains(&id) {
                ids.push(id);
            }
        }
        let mut cases = Vec::new();
        let mut wrong = Vec::new();
        for id in &ids {
            let r = dc.get_report(id).await;
            let problem = match &r {
                Err(e) => Some(format!("no answer: {e}")),
                Ok(a) => match &a.reply {
                    Reply::NotFound { problem } => problem.clone(),
                    _ => Some(instead_of(dc, a, Expected::NotFound)),
                },
            };
            if let Some(p) = &problem {
                wrong.push(format!("{}: {p}", dc.describe(Request::Get(id))));
            }
            cases.push(json!({"reportId": id, "reply": asked_json(&r), "ok": problem.is_none()}));
        }
        let ev =
            json!({"cases": cases, "list": asked_json(&list), "receiver": listed(dc, u64::MAX)});
        if wrong.is_empty() {
            Outcome::pass(
                format!(
                    "unknown reportIds {} and {} answered {} with a JSON error",
                    ids[0],
                    ids[1],
                    dc.wire_of(Expected::NotFound)
                ),
                ev,
            )
        } else {
            Outcome::fail(wrong.join("; "), ev)
        }
    })
}
