//! ST-01 (condition 1-2-1): a console session opens and its first full
//! update request is answered.

use serde_json::{json, Value};

use super::support::ms;
use super::support::{
    closed_outcome, ms_between, open_error_json, open_failure_outcome, round_ms, session_json, Ev,
    Timeline, Tracked, REOPEN_INTERVAL,
};
use super::{CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::{BoxFuture, CloseHow};
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

/// ST-01: Session: transport, protocol version, security and a valid screen description.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::St01,
    condition: ConditionId::C1_2_1,
    title: "Session: transport, protocol version, security and a valid screen description",
    requirement: Requirement {
        ja: "指令台として端末に接続し、セッション（トランスポート、プロトコル版、認証、画面情報）が確立して、最初の全画面要求に応答があること。",
        en: "A console connects and a session opens: transport, protocol version, security and a valid description of the screen; the first full update request is answered.",
    },
    needs: &[],
    lane: Lane::Screen,
    phase: Phase::Transfer,
    budget: st01_budget,
    run: st01,
};

fn st01_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    sc.screen.connect_timeout_ms
}

fn st01(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(st01_run(ctx))
}

async fn st01_run(ctx: &CheckCtx) -> Outcome {
    let sc = &ctx.scenario.screen;
    let tl = Timeline::new();
    let mut t = match Tracked::open_retrying(
        ctx.screen.as_ref(),
        "ST-01",
        ms(sc.connect_timeout_ms),
        ms(sc.exclusivity_timeout_ms),
        REOPEN_INTERVAL,
        &tl,
    )
    .await
    {
        Ok(t) => t,
        Err(f) => {
            return open_failure_outcome(
                &format!("no session with {}", ctx.screen.target()),
                &f,
                json!({
                    "target": ctx.screen.target(),
                    "open_error": open_error_json(&f.error),
                    "attempts": f.attempts,
                    "timeline": tl.evidence(),
                }),
            )
        }
    };
    let info = t.info().clone();
    let mut evidence = json!({
        "session": session_json(&t),
        "attempts": t.attempts,
    });
    let outcome = match t.request(false, None).await {
        Err(_) => {
            let reason = t.gone_reason().await;
            closed_outcome(
                "session ended before a full update could be requested",
                &reason,
                Value::Null,
            )
        }
        Ok(sent) => match t.next_update(sent.at + ms(sc.update_timeout_ms)).await {
            Ok(u) => {
                let first_ms = round_ms(ms_between(sent.at, u.at));
                evidence["first_update"] = json!({
                    "ms": first_ms,
                    "rects": u.rect_count,
                    "bytes": u.bytes,
                });
                Outcome::pass(
                    format!(
                        "session over {} ({} {}, security {}), screen {}x{} \"{}\"; first full update in {first_ms} ms",
                        info.transport, info.protocol, info.version, info.security, info.width, info.height, info.name
                    ),
                    Value::Null,
                )
            }
            Err(Ev::Closed { reason, .. }) => closed_outcome(
                "the session ended after ServerInit, before its first full update",
                &reason,
                Value::Null,
            ),
            Err(_) => Outcome::fail(
                format!(
                    "no answer to the first full update request within {} ms",
                    sc.update_timeout_ms
                ),
                Value::Null,
            ),
        },
    };
    t.close(CloseHow::Clean).await;
    evidence["timeline"] = tl.evidence();
    Outcome {
        evidence,
        ..outcome
    }
}
