//! EX-01 (condition 1-2-1): a second console is handled per the declared
//! policy and the two are never served together (judged by
//! [`super::support::causal`]).

use std::time::Instant;

use serde_json::{json, Value};

use super::support::causal::{violations, ConsoleLog};
use super::support::ms;
use super::support::{
    capped, describe_close, ms_between, open_served, round_ms, session_json, Ev, Timeline, Tracked,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::{BoxFuture, CloseHow, OpenError};
use crate::config::declaration::{Declaration, Exclusivity};
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

/// EX-01: Second console: refused (refuse) or takes over (takeover); never two consoles served.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Ex01,
    condition: ConditionId::C1_2_1,
    title: "Second console: refused (refuse) or takes over (takeover); never two consoles served",
    requirement: Requirement {
        ja: "2台目の指令台が、宣言した方針（拒否 refuse または引継ぎ takeover）どおりに期限内に扱われ、2台が同時に画面提供されることがないこと（各更新がどの要求への応答かで判定）。",
        en: "A second console is handled as the declared policy says (refused, or taking over), in time, and the two are never served together, judged by which request each update answers.",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Exclusivity,
    budget: ex01_budget,
    run: ex01,
};

fn ex01_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    let s = &sc.screen;
    budget::mul(
        budget::add(
            s.connect_timeout_ms,
            budget::add(s.exclusivity_timeout_ms, s.update_timeout_ms),
        ),
        2,
    )
}

fn ex01(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(ex01_run(ctx))
}

/// Which of two consoles an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

/// The next event of either console (a closed console is not waited on).
async fn next_of(a: &mut Tracked, b: &mut Tracked, until: Instant) -> (Side, Ev) {
    match (a.is_closed(), b.is_closed()) {
        (true, true) => {
            tokio::time::sleep_until(until.into()).await;
            (Side::A, Ev::Timeout)
        }
        (true, false) => (Side::B, b.next(until).await),
        (false, true) => (Side::A, a.next(until).await),
        (false, false) => tokio::select! {
            ev = a.next(until) => (Side::A, ev),
            ev = b.next(until) => (Side::B, ev),
        },
    }
}

/// What EX-01 found out, filled in by the policy's half.
#[derive(Default)]
struct Ex01 {
    /// Requirements broken (the first one leads the detail).
    findings: Vec<String>,
    /// Measured facts for evidence.
    facts: serde_json::Map<String, Value>,
    /// Every console connection, for the causal judge.
    logs: Vec<ConsoleLog>,
    /// The harness got in its own way.
    harness_problem: Option<String>,
}

impl Ex01 {
    fn fact(&mut self, key: &str, v: Value) {
        self.facts.insert(key.into(), v);
    }

    fn since(&mut self, key: &str, from: Instant) {
        self.fact(key, json!(round_ms(ms_between(from, Instant::now()))));
    }
}

async fn ex01_run(ctx: &CheckCtx) -> Outcome {
    let sc = &ctx.scenario.screen;
    let policy = ctx.declaration.screen.exclusivity;
    let excl = ms(sc.exclusivity_timeout_ms);
    let tl = Timeline::new();
    let mut a = match open_served(ctx, "A", &tl).await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let session = session_json(&a);
    let mut st = Ex01::default();
    // A is served and quiescent (nothing outstanding) when B arrives.
    let b_start = Instant::now();
    let b = Tracked::open(ctx.screen.as_ref(), "B", excl, &tl).await;
    match policy {
        Exclusivity::Refuse => ex01_refuse(ctx, &mut a, b, b_start, &mut st).await,
        Exclusivity::Takeover => ex01_takeover(ctx, &mut a, b, b_start, &mut st).await,
    }
    a.keep_screenshot(ctx, "A-after-decision");
    st.logs.push(a.close(CloseHow::Clean).await);
    let v = violations(&st.logs);
    let evidence = json!({
        "policy": policy.as_str(),
        "session": session,
        "facts": Value::Object(st.facts.clone()),
        "violations": capped(&v),
        "findings": capped(&st.findings),
        "timeline": tl.evidence(),
    });
    if let Some(first) = v.first() {
        return Outcome::fail(format!("two consoles served at once: {first}"), evidence);
    }
    if let Some(f) = st.findings.first() {
        return Outcome::fail(f.clone(), evidence);
    }
    if let Some(h) = st.harness_problem {
        return Outcome::error(
            format!("harness problem; cannot judge EX-01: {h}"),
            evidence,
        );
    }
    let detail = match policy {
        Exclusivity::Refuse => format!(
            "console B was refused ({}) in {} ms and holder A stayed served",
            st.facts
                .get("b_refused")
                .and_then(|r| r.get("stage"))
                .and_then(Value::as_str)
                .unwrap_or("?"),
            st.facts
                .get("b_refused")
                .and_then(|r| r.get("ms"))
                .cloned()
                .unwrap_or(Value::Null)
        ),
        Exclusivity::Takeover => format!(
            "console B was served in {} ms and holder A closed in {} ms",
            st.facts.get("b_served_ms").cloned().unwrap_or(Value::Null),
            st.facts.get("a_closed_ms").cloned().unwrap_or(Value::Null)
        ),
    };
    Outcome::pass(detail, evidence)
}

/// `refuse`: B must be refused before it is served, and A stay served.
async fn ex01_refuse(
    ctx: &CheckCtx,
    a: &mut Tracked,
    b: Result<Tracked, super::support::OpenFailure>,
    b_start: Instant,
    st: &mut Ex01,
) {
    let sc = &ctx.scenario.screen;
    let deadline = b_start + ms(sc.exclusivity_timeout_ms);
    match b {
        Err(f) => match &f.error {
            OpenError::Refused { stage, reason } => {
                let took = round_ms(ms_between(b_start, Instant::now()));
                st.fact(
                    "b_refused",
                    json!({"stage": stage, "reason": reason, "ms": took}),
                );
            }
            OpenError::Harness(e) => st.harness_problem = Some(e.clone()),
            other => st
                .findings
                .push(format!("console B was not refused properly: {other}")),
        },
        Ok(mut b) => {
            st.since("b_admitted_ms", b_start);
            // B keeps one request outstanding: a refusal is a close before
            // any update answers it.
            let asked = b.request(false, None).await.is_ok();
            match b.next_update(deadline).await {
                Ok(_) => st.findings.push(
                    "console B was served while console A held the terminal (refuse policy)".into(),
                ),
                Err(Ev::Closed { reason, .. }) if reason.harness_side() => {
                    st.harness_problem = Some("the harness closed console B".into())
                }
                Err(Ev::Closed { reason, .. }) => {
                    let took = round_ms(ms_between(b_start, Instant::now()));
                    st.fact(
                        "b_refused",
                        json!({"stage": "after_server_init", "reason": describe_close(&reason), "ms": took}),
                    );
                }
                Err(_) => st.findings.push(format!(
                    "console B was admitted{} and neither refused nor served within {} ms",
                    if asked {
                        " and asked for the screen"
                    } else {
                        ""
                    },
                    sc.exclusivity_timeout_ms
                )),
            }
            b.keep_screenshot(ctx, "B-at-decision");
            st.logs.push(b.close(CloseHow::Clean).await);
        }
    }
    // The holder must still be served.
    if let Some(reason) = a.close_reason() {
        let lost = describe_close(reason);
        st.findings
            .push(format!("holder A lost the terminal when B arrived: {lost}"));
        return;
    }
    let answer = match a.request(false, None).await {
        Ok(sent) => a
            .next_update(sent.at + ms(sc.update_timeout_ms))
            .await
            .map(|u| ms_between(sent.at, u.at)),
        Err(_) => Err(Ev::Closed {
            reason: a.gone_reason().await,
            seq: crate::binding::seq::next(),
        }),
    };
    match answer {
        Ok(took) => st.fact("a_answered_after_ms", json!(round_ms(took))),
        Err(Ev::Closed { reason, .. }) => st.findings.push(format!(
            "holder A lost the terminal after B's attempt: {}",
            describe_close(&reason)
        )),
        Err(_) => st.findings.push(format!(
            "holder A was no longer answered after B's attempt (nothing within {} ms)",
            sc.update_timeout_ms
        )),
    }
}

/// `takeover`: B must be served and A closed; A answered after B was
/// served is a violation.
async fn ex01_takeover(
    ctx: &CheckCtx,
    a: &mut Tracked,
    b: Result<Tracked, super::support::OpenFailure>,
    b_start: Instant,
    st: &mut Ex01,
) {
    let sc = &ctx.scenario.screen;
    let deadline = b_start + ms(sc.exclusivity_timeout_ms);
    let mut b = match b {
        Ok(b) => b,
        Err(f) => {
            match &f.error {
                OpenError::Harness(e) => st.harness_problem = Some(e.clone()),
                other => st.findings.push(format!(
                    "takeover declared, but console B could not open: {other}"
                )),
            }
            return;
        }
    };
    st.since("b_admitted_ms", b_start);
    let b_sent = match b.request(false, None).await {
        Ok(s) => s,
        Err(_) => {
            let r = b.gone_reason().await;
            st.findings.push(format!(
                "console B ended before asking for the screen: {}",
                describe_close(&r)
            ));
            st.logs.push(b.close(CloseHow::Clean).await);
            return;
        }
    };
    // B must be admitted within the exclusivity timeout; its whole-screen
    // answer then gets the update timeout like any full update (transfer
    // time is not exclusivity).
    let serve_by = deadline.max(b_sent.at + ms(sc.update_timeout_ms));
    loop {
        if b.is_closed() || (b.served() && a.is_closed()) {
            break;
        }
        let until = if b.served() { deadline } else { serve_by };
        match next_of(a, &mut b, until).await {
            (_, Ev::Timeout) => break,
            (Side::B, Ev::Update(u)) => {
                let took = round_ms(ms_between(b_start, u.at));
                st.facts.entry("b_served_ms").or_insert(json!(took));
            }
            (Side::A, Ev::Closed { reason, .. }) => {
                if reason.harness_side() {
                    st.harness_problem = Some("the harness closed console A".into());
                }
                st.since("a_closed_ms", b_start);
            }
            (Side::B, Ev::Closed { reason, .. }) => {
                if reason.harness_side() {
                    st.harness_problem = Some("the harness closed console B".into());
                } else {
                    st.findings.push(format!(
                        "takeover declared, but console B was closed before being served: {}",
                        describe_close(&reason)
                    ));
                }
            }
            (Side::A, Ev::Update(_)) => {}
        }
    }
    if !b.served() && !b.is_closed() {
        st.findings.push(format!(
            "takeover declared, but console B was not served (admitted, then no update within {} ms of its request)",
            sc.update_timeout_ms
        ));
    }
    if b.served() && !a.is_closed() {
        // A is still open after B was served: an answer to A now proves both
        // were served (the causal judge sees it in the logs).
        match a.request(false, None).await {
            Ok(sent) => {
                let until = deadline
                    .max(sent.at + ms(sc.update_timeout_ms).min(ms(sc.exclusivity_timeout_ms)));
                if let Ev::Closed { .. } = a.next(until).await {
                    st.since("a_closed_ms", b_start);
                }
            }
            Err(_) => {
                a.gone_reason().await;
                st.since("a_closed_ms", b_start);
            }
        }
        if !a.is_closed() {
            st.findings.push(format!(
                "holder A was not closed within {} ms after console B arrived (takeover)",
                sc.exclusivity_timeout_ms
            ));
        }
    }
    b.keep_screenshot(ctx, "B-at-decision");
    st.logs.push(b.close(CloseHow::Clean).await);
}
