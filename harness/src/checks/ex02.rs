//! EX-02 (condition 1-2-1): after the holder leaves, cleanly or by dropping
//! its connection, the next console is served in time.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::support::causal::violations;
use super::support::ms;
use super::support::{
    capped, describe_close, ms_between, open_served, round_ms, Ev, Timeline, Tracked,
    REOPEN_INTERVAL,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::{BoxFuture, CloseHow, OpenError, ScreenBinding};
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

/// EX-02: Release: after the holder leaves, cleanly or by a dropped connection, another console is served.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Ex02,
    condition: ConditionId::C1_2_1,
    title: "Release: after the holder leaves, cleanly or by a dropped connection, another console is served",
    requirement: Requirement {
        ja: "画面提供中の指令台が離脱した後（正常な切断でも接続断でも）、次の指令台が期限内に画面提供されること。",
        en: "After the holder leaves, cleanly or by dropping its connection, the next console is served in time.",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Exclusivity,
    budget: ex02_budget,
    run: ex02,
};

fn ex02_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    let s = &sc.screen;
    budget::mul(
        budget::add(
            s.connect_timeout_ms,
            budget::add(s.exclusivity_timeout_ms, s.update_timeout_ms),
        ),
        4,
    )
}

fn ex02(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(ex02_run(ctx))
}

/// How one EX-02 phase went.
enum PhaseEnd {
    Served,
    Fail(String),
    Error(String),
}

async fn ex02_run(ctx: &CheckCtx) -> Outcome {
    let mut phases = Vec::new();
    for (name, how) in [("clean", CloseHow::Clean), ("dropped", CloseHow::Drop)] {
        let tl = Timeline::new();
        let (end, facts) = ex02_phase(ctx, name, how, &tl).await;
        let mut facts = facts;
        facts.insert("phase".into(), json!(name));
        facts.insert("timeline".into(), tl.evidence());
        phases.push(Value::Object(facts));
        let evidence = || json!({"phases": phases.clone()});
        match end {
            PhaseEnd::Served => {}
            PhaseEnd::Fail(why) => {
                return Outcome::fail(format!("phase {name}: {why}"), evidence())
            }
            PhaseEnd::Error(why) => {
                return Outcome::error(format!("phase {name}: {why}"), evidence())
            }
        }
    }
    Outcome::pass(
        "after the holder left, cleanly and by a dropped connection, the next console was served in time",
        json!({"phases": phases}),
    )
}

async fn ex02_phase(
    ctx: &CheckCtx,
    name: &str,
    how: CloseHow,
    tl: &Timeline,
) -> (PhaseEnd, serde_json::Map<String, Value>) {
    let sc = &ctx.scenario.screen;
    let mut facts = serde_json::Map::new();
    let a = match open_served(ctx, &format!("{name}/A"), tl).await {
        Ok(a) => a,
        Err(o) => {
            let end = match o.verdict {
                crate::model::verdict::Verdict::Error => PhaseEnd::Error(o.detail),
                _ => PhaseEnd::Fail(format!("holder A could not be served: {}", o.detail)),
            };
            return (end, facts);
        }
    };
    a.keep_screenshot(ctx, &format!("{name}-A-before-leaving"));
    let mut logs = vec![a.close(how).await];
    let left = Instant::now();
    let deadline = left + ms(sc.exclusivity_timeout_ms);
    let mut attempts = 0u32;
    let mut last_refusal = String::new();
    let binding: &dyn ScreenBinding = ctx.screen.as_ref();
    let end = loop {
        attempts += 1;
        let now = Instant::now();
        let budget = ms(sc.connect_timeout_ms).min(deadline.saturating_duration_since(now));
        let label = format!("{name}/B#{attempts}");
        match Tracked::open(binding, &label, budget.max(Duration::from_millis(1)), tl).await {
            Err(f) => match &f.error {
                OpenError::Refused { stage, reason } => {
                    last_refusal = format!("refused at {stage}: {reason}");
                }
                OpenError::Harness(e) => break PhaseEnd::Error(format!("harness error: {e}")),
                other => break PhaseEnd::Fail(format!("console B could not open: {other}")),
            },
            Ok(mut b) => {
                let sent = b.request(false, None).await;
                let r = match sent {
                    Ok(s) => b.next_update(s.at + ms(sc.update_timeout_ms)).await,
                    Err(_) => Err(Ev::Closed {
                        reason: b.gone_reason().await,
                        seq: crate::binding::seq::next(),
                    }),
                };
                match r {
                    Ok(u) => {
                        facts.insert("served_ms".into(), json!(round_ms(ms_between(left, u.at))));
                        b.keep_screenshot(ctx, &format!("{name}-B-served"));
                        logs.push(b.close(CloseHow::Clean).await);
                        break PhaseEnd::Served;
                    }
                    Err(Ev::Closed { reason, .. }) if reason.harness_side() => {
                        logs.push(b.close(CloseHow::Clean).await);
                        break PhaseEnd::Error("the harness closed console B".into());
                    }
                    Err(Ev::Closed { reason, .. }) => {
                        last_refusal =
                            format!("closed after ServerInit: {}", describe_close(&reason));
                        logs.push(b.close(CloseHow::Clean).await);
                    }
                    Err(_) => {
                        logs.push(b.close(CloseHow::Clean).await);
                        break PhaseEnd::Fail(format!(
                            "console B was admitted but not answered within {} ms",
                            sc.update_timeout_ms
                        ));
                    }
                }
            }
        }
        if Instant::now() + REOPEN_INTERVAL >= deadline {
            break PhaseEnd::Fail(format!(
                "no console was served within {} ms after the holder left ({}); last attempt {last_refusal}",
                sc.exclusivity_timeout_ms,
                match how {
                    CloseHow::Clean => "closed cleanly",
                    CloseHow::Drop => "connection dropped",
                }
            ));
        }
        tokio::time::sleep(REOPEN_INTERVAL).await;
    };
    facts.insert("attempts".into(), json!(attempts));
    facts.insert("last_refusal".into(), json!(last_refusal));
    let v = violations(&logs);
    facts.insert("violations".into(), capped(&v));
    let end = match (end, v.first()) {
        (PhaseEnd::Served, Some(first)) => {
            PhaseEnd::Fail(format!("two consoles served at once: {first}"))
        }
        (e, _) => e,
    };
    (end, facts)
}
