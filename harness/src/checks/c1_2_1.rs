//! Checks of condition 1-2-1 (画面転送機能, screen transfer): the session
//! (ST-01), full updates (ST-02), incremental updates (ST-03, in
//! [`super::st03`]), sustained transfer (ST-04, in [`super::st04`]), and
//! exclusivity: a second console (EX-01), release
//! (EX-02) and contention (EX-03).
//!
//! Every check drives consoles through the binding's [`crate::binding::Console`]
//! only. Exclusivity is judged causally by [`super::causal`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

use super::causal::{violations, ConsoleLog, Violation};
use super::screen::{
    capped, closed_outcome, describe_close, ms_between, open_console, open_error_json,
    open_failure_outcome, open_served, percentile, rect_json, round_ms, session_json, Coverage, Ev,
    Timeline, Tracked, FULL_ASKS, REOPEN_INTERVAL,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::screen::{valid_size, Rect};
use crate::binding::{
    BoxFuture, CloseHow, CloseReason, DamageKind, EncodingControl, EncodingSet, OpenError,
    ScreenBinding,
};
use crate::catalog::{CheckId, ConditionId};
use crate::declaration::{Declaration, Exclusivity};
use crate::scenario::{Scenario, ScreenScenario};

/// ST-01: Session: transport, RFB version, security and a valid ServerInit.
pub const ST01: CheckDef = CheckDef {
    id: CheckId::St01,
    condition: ConditionId::C1_2_1,
    title: "Session: transport, RFB version, security and a valid ServerInit",
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

/// ST-02: Full screen: a non-incremental request is answered in time by in-bounds, requested, decodable rectangles covering every pixel.
pub const ST02: CheckDef = CheckDef {
    id: CheckId::St02,
    condition: ConditionId::C1_2_1,
    title: "Full screen: a non-incremental request is answered in time by in-bounds, requested, decodable rectangles covering every pixel",
    requirement: Requirement {
        ja: "全画面の要求に対し、期限内に、画面内に収まり、要求した符号化方式で、復号できる矩形によって、全画素が描画されること（画面の記録を残す）。",
        en: "A full-screen request is answered in time with in-bounds, requested, decodable rectangles that together paint every pixel (the screenshot is kept).",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Transfer,
    budget: st02_budget,
    run: st02,
};

fn st02_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    budget::console(sc)
}

/// EX-01: Second console: refused (refuse) or takes over (takeover); never two consoles served.
pub const EX01: CheckDef = CheckDef {
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

/// EX-02: Release: after the holder leaves, cleanly or by a dropped connection, another console is served.
pub const EX02: CheckDef = CheckDef {
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

/// EX-03: Contention: seeded trials of two consoles; never both served, always one.
pub const EX03: CheckDef = CheckDef {
    id: CheckId::Ex03,
    condition: ConditionId::C1_2_1,
    title: "Contention: seeded trials of two consoles; never both served, always one",
    requirement: Requirement {
        ja: "2台の指令台がランダムな時点で接続・離脱するシード付きの試行で、毎回ちょうど1台だけが画面提供されること。",
        en: "In seeded trials of two consoles arriving and leaving at random moments, exactly one is served each time.",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Exclusivity,
    budget: ex03_budget,
    run: ex03,
};

fn ex03_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    let s = &sc.screen;
    budget::mul(
        u64::from(s.contention_trials),
        budget::add(
            s.contention_trial_timeout_ms,
            budget::add(s.contention_max_offset_ms, s.contention_max_hold_ms),
        ),
    )
}

/// The side of the small region used for pings and sustained requests.
pub const PING_SIDE: u16 = 64;

/// EX-03: pause between a refused console's attempts.
pub const CONTENTION_RETRY: Duration = Duration::from_millis(20);

/// Key of the full-screen screenshot ST-02 keeps in [`super::Shared::images`].
pub const SCREENSHOT_KEY: &str = "ST-02/full";

pub(super) fn ms(v: u64) -> Duration {
    CheckCtx::ms(v)
}

/// The small region at the origin that is always answered.
pub(super) fn ping_rect(screen: Rect) -> Rect {
    Rect::new(0, 0, screen.w.min(PING_SIDE), screen.h.min(PING_SIDE))
}

// ---------------------------------------------------------------- ST-01

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

// ---------------------------------------------------------------- ST-02

fn st02(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(st02_run(ctx))
}

/// What one ST-02 round saw.
struct Round {
    name: String,
    requested: EncodingSet,
    seen: BTreeMap<String, u64>,
    updates: u64,
    rects: u64,
    bytes: u64,
    ms: Option<f64>,
    violations: Vec<String>,
    uncovered: u64,
    uncovered_bbox: Option<Rect>,
    /// Full update requests sent: more than one when the answers left
    /// pixels unpainted (at most [`FULL_ASKS`]).
    asks: u32,
    /// The round could not finish (session ended, no answer in time).
    fatal: Option<String>,
    /// The session ended by the harness's own doing.
    harness_fault: bool,
}

impl Round {
    fn new(requested: EncodingSet) -> Self {
        Round {
            name: requested.name.clone(),
            requested,
            seen: BTreeMap::new(),
            updates: 0,
            rects: 0,
            bytes: 0,
            ms: None,
            violations: Vec::new(),
            uncovered: 0,
            uncovered_bbox: None,
            asks: 0,
            fatal: None,
            harness_fault: false,
        }
    }

    fn failed(&self) -> bool {
        self.fatal.is_some() || !self.violations.is_empty() || self.uncovered > 0
    }

    /// The first problem, in one line.
    fn problem(&self) -> Option<String> {
        if let Some(f) = &self.fatal {
            return Some(f.clone());
        }
        if let Some(v) = self.violations.first() {
            let more = self.violations.len() - 1;
            return Some(if more > 0 {
                format!("{v} (and {more} more)")
            } else {
                v.clone()
            });
        }
        if self.uncovered > 0 {
            let bbox = self
                .uncovered_bbox
                .map(|r| format!(" within {r}"))
                .unwrap_or_default();
            return Some(format!(
                "the answers to {} full update request(s) left {} pixels unpainted{bbox}",
                self.asks, self.uncovered
            ));
        }
        None
    }

    fn json(&self) -> Value {
        json!({
            "round": self.name,
            "encodings_requested": self.requested.ids,
            "encodings_seen": self.seen,
            "updates": self.updates,
            "rects": self.rects,
            "bytes": self.bytes,
            "ms": self.ms.map(round_ms),
            "violations": capped(&self.violations),
            "uncovered_pixels": self.uncovered,
            "uncovered_bbox": self.uncovered_bbox.map(rect_json),
            "full_requests": self.asks,
            "fatal": self.fatal,
        })
    }
}

async fn st02_run(ctx: &CheckCtx) -> Outcome {
    let sc = &ctx.scenario.screen;
    let tl = Timeline::new();
    let mut t = match open_console(ctx, "ST-02", &tl).await {
        Ok(t) => t,
        Err(o) => return o,
    };
    // The encoding sweep runs only where the binding can choose encodings;
    // otherwise the one full-screen round is judged alone.
    let control = ctx.screen.encodings();
    let plan: Vec<EncodingSet> = match control {
        Some(c) => std::iter::once(c.preference()).chain(c.sweep()).collect(),
        None => vec![EncodingSet {
            name: "full screen".into(),
            ids: Vec::new(),
        }],
    };
    let mut rounds: Vec<Round> = Vec::new();
    for (i, set) in plan.into_iter().enumerate() {
        let mut round = Round::new(set);
        if i > 0 && t.set_encodings(&round.requested).await.is_err() {
            let reason = t.gone_reason().await;
            round.harness_fault = reason.harness_side();
            round.fatal = Some(format!(
                "the session ended before SetEncodings: {}",
                describe_close(&reason)
            ));
        } else {
            full_round(&mut t, &mut round, sc, control).await;
        }
        if i == 0 && round.fatal.is_none() {
            // Encoded straight from the console's framebuffer: no copy.
            t.with_framebuffer(|fb| {
                ctx.shared
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .images
                    .insert(SCREENSHOT_KEY.into(), fb)
            });
        }
        let stop = round.fatal.is_some();
        rounds.push(round);
        if stop {
            break;
        }
    }
    let session = session_json(&t);
    t.close(CloseHow::Clean).await;
    let mut evidence = json!({
        "session": session,
        "rounds": rounds.iter().map(Round::json).collect::<Vec<_>>(),
        "screenshot": SCREENSHOT_KEY,
        "timeline": tl.evidence(),
    });
    if control.is_none() {
        evidence["encoding_sweep"] = json!({
            "applicable": false,
            "reason": NO_SWEEP,
        });
    }
    if rounds.iter().any(|r| r.harness_fault) {
        return Outcome::error(
            "the harness closed the ST-02 session itself; cannot judge",
            evidence,
        );
    }
    let failed: Vec<&Round> = rounds.iter().filter(|r| r.failed()).collect();
    match failed.first() {
        None => {
            let total_ms: f64 = rounds.iter().filter_map(|r| r.ms).sum();
            let detail = match control {
                Some(c) => format!(
                    "{} full-update rounds ({}) all in bounds, in requested encodings, covering the screen; {} ms in all",
                    rounds.len(),
                    c.describe_sweep(),
                    round_ms(total_ms)
                ),
                None => format!(
                    "the full-update round is in bounds and covers the screen in {} ms; the encoding sweep did not run: not applicable ({NO_SWEEP})",
                    round_ms(total_ms)
                ),
            };
            Outcome::pass(detail, evidence)
        }
        Some(r) => {
            let others = if failed.len() > 1 {
                format!(" ({} rounds failed)", failed.len())
            } else {
                String::new()
            };
            Outcome::fail(
                format!(
                    "round \"{}\": {}{others}",
                    r.name,
                    r.problem().unwrap_or_default()
                ),
                evidence,
            )
        }
    }
}

/// Why ST-02 sweeps no encodings on a binding without [`EncodingControl`].
pub const NO_SWEEP: &str = "the screen binding has no encodings to choose";

/// Asks for the whole screen and judges the answer into `round`; with
/// `control`, every rectangle must be in an encoding it permits.
async fn full_round(
    t: &mut Tracked,
    round: &mut Round,
    sc: &ScreenScenario,
    control: Option<&dyn EncodingControl>,
) {
    let screen = t.bounds();
    let sent = match t.request(false, None).await {
        Ok(s) => s,
        Err(_) => {
            let reason = t.gone_reason().await;
            round.harness_fault = reason.harness_side();
            round.fatal = Some(format!(
                "the session ended before the request: {}",
                describe_close(&reason)
            ));
            return;
        }
    };
    round.asks = 1;
    let deadline = sent.at + ms(sc.update_timeout_ms);
    let mut cov = Coverage::new(screen.w, screen.h);
    let mut until = deadline;
    loop {
        match t.next(until).await {
            Ev::Update(u) => {
                round.updates += 1;
                round.rects += u.rect_count as u64;
                round.bytes += u.bytes;
                round.ms.get_or_insert(ms_between(sent.at, u.at));
                for r in &u.damage {
                    let used = r.encoding.as_deref();
                    if let Some(name) = used {
                        *round.seen.entry(name.to_string()).or_default() += 1;
                    }
                    if r.kind == DamageKind::Resize {
                        if valid_size(r.rect.w, r.rect.h) {
                            cov = Coverage::new(r.rect.w, r.rect.h);
                        }
                        continue;
                    }
                    if let (Some(c), Some(name)) = (control, used) {
                        if !c.permits(&round.requested, name) {
                            round.violations.push(format!(
                                "rectangle {} sent in {name}, which was not requested",
                                r.rect
                            ));
                        }
                    }
                    if !r.paints() {
                        continue;
                    }
                    if r.in_bounds {
                        cov.add(r.rect);
                    } else {
                        round.violations.push(format!(
                            "rectangle {} reaches outside the {}x{} screen",
                            r.rect,
                            cov.width(),
                            cov.height()
                        ));
                    }
                }
                let (n, bbox) = cov.uncovered();
                round.uncovered = n;
                round.uncovered_bbox = bbox;
                if n == 0 {
                    // The round's time is to the update that completed the image.
                    round.ms = Some(ms_between(sent.at, u.at));
                    return;
                }
                // The answers are used up with pixels unpainted (TigerVNC can
                // answer with the pointer's shape alone): ask again.
                if t.outstanding() == 0 && round.asks < FULL_ASKS {
                    if t.request(false, None).await.is_err() {
                        continue;
                    }
                    round.asks += 1;
                    until = deadline;
                    continue;
                }
                // More updates may complete the answer; wait a quiet period.
                until = (Instant::now() + ms(sc.quiet_ms)).min(deadline);
            }
            Ev::Closed { reason, .. } => {
                round.harness_fault = reason.harness_side();
                round.fatal = Some(match &reason {
                    CloseReason::Violation { detail } => {
                        format!("the answer could not be decoded: {detail}")
                    }
                    other => format!("the session ended: {}", describe_close(other)),
                });
                return;
            }
            Ev::Timeout => {
                if round.updates == 0 {
                    round.fatal = Some(format!(
                        "no answer to the full update request within {} ms",
                        sc.update_timeout_ms
                    ));
                }
                return;
            }
        }
    }
}

// ---------------------------------------------------------------- EX-01

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

fn violations_json(v: &[Violation]) -> Value {
    capped(v)
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
    b: Result<Tracked, super::screen::OpenFailure>,
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
    b: Result<Tracked, super::screen::OpenFailure>,
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

// ---------------------------------------------------------------- EX-02

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
                crate::verdict::Verdict::Error => PhaseEnd::Error(o.detail),
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
    facts.insert("violations".into(), violations_json(&v));
    let end = match (end, v.first()) {
        (PhaseEnd::Served, Some(first)) => {
            PhaseEnd::Fail(format!("two consoles served at once: {first}"))
        }
        (e, _) => e,
    };
    (end, facts)
}

// ---------------------------------------------------------------- EX-03

fn ex03(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(ex03_run(ctx))
}

/// One seeded contention trial.
#[derive(Debug, Clone, Copy)]
struct TrialPlan {
    simultaneous: bool,
    offset_ms: [u64; 2],
    hold_ms: [u64; 2],
    leave: [CloseHow; 2],
}

impl TrialPlan {
    fn draw(rng: &mut impl Rng, sc: &ScreenScenario) -> Self {
        let simultaneous = rng.random_ratio(1, 5);
        let mut offset_ms = [0, 0];
        if !simultaneous {
            let late = rng.random_range(0..2usize);
            offset_ms[late] = rng.random_range(1..=sc.contention_max_offset_ms.max(1));
        }
        let mut hold_ms = [0, 0];
        let mut leave = [CloseHow::Clean, CloseHow::Clean];
        for i in 0..2 {
            hold_ms[i] = rng.random_range(0..=sc.contention_max_hold_ms);
            leave[i] = if rng.random_bool(0.5) {
                CloseHow::Clean
            } else {
                CloseHow::Drop
            };
        }
        TrialPlan {
            simultaneous,
            offset_ms,
            hold_ms,
            leave,
        }
    }

    fn json(&self) -> Value {
        json!({
            "simultaneous": self.simultaneous,
            "offset_ms": self.offset_ms,
            "hold_ms": self.hold_ms,
            "leave": self.leave,
        })
    }
}

/// What one contender did in a trial.
#[derive(Default)]
struct Contender {
    attempts: u32,
    served_ms: Option<f64>,
    logs: Vec<ConsoleLog>,
    pings: u64,
    problem: Option<String>,
    harness_error: Option<String>,
}

/// What a contender shows the other one.
#[derive(Default)]
struct Presence {
    /// It has been served.
    served: AtomicBool,
    /// It has an attempt under way (opening, admitted or holding).
    active: AtomicBool,
}

/// One console of a trial: arrive after `offset`, retry every
/// [`CONTENTION_RETRY`] while refused and the other is not served, hold with
/// pings once served, then leave.
///
/// Under `takeover` a console closed before being served was displaced by
/// the other one; retrying while the other is still under way would displace
/// it in turn, and two consoles doing that forever would starve each other by
/// the harness's own doing. So under `takeover` a console only tries again
/// while the other is not under way.
#[allow(clippy::too_many_arguments)]
async fn contend(
    binding: &dyn ScreenBinding,
    sc: &ScreenScenario,
    policy: Exclusivity,
    label: &str,
    plan: (u64, u64, CloseHow),
    start: Instant,
    deadline: Instant,
    presence: (&Presence, &Presence),
    tl: &Timeline,
) -> Contender {
    let (offset, hold, leave) = plan;
    let (me, other) = presence;
    let mut c = Contender::default();
    tokio::time::sleep_until((start + ms(offset)).into()).await;
    loop {
        let now = Instant::now();
        if now >= deadline || other.served.load(Ordering::SeqCst) && c.attempts > 0 {
            break;
        }
        let wait = c.attempts > 0
            && policy == Exclusivity::Takeover
            && other.active.load(Ordering::SeqCst);
        if !wait {
            me.active.store(true, Ordering::SeqCst);
            let done = attempt(
                binding, sc, label, hold, leave, start, deadline, me, tl, &mut c,
            )
            .await;
            if !me.served.load(Ordering::SeqCst) {
                me.active.store(false, Ordering::SeqCst);
            }
            if done {
                break;
            }
        }
        let wake = (Instant::now() + CONTENTION_RETRY).min(deadline);
        tokio::time::sleep_until(wake.into()).await;
    }
    me.active.store(false, Ordering::SeqCst);
    c
}

/// One open attempt of a contender. Returns `true` when the contender is
/// done (served and left, or a problem that ends its trial), `false` when it
/// was refused and may try again.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    binding: &dyn ScreenBinding,
    sc: &ScreenScenario,
    label: &str,
    hold: u64,
    leave: CloseHow,
    start: Instant,
    deadline: Instant,
    me: &Presence,
    tl: &Timeline,
    c: &mut Contender,
) -> bool {
    c.attempts += 1;
    let budget = ms(sc.connect_timeout_ms).min(deadline.saturating_duration_since(Instant::now()));
    let name = format!("{label}#{}", c.attempts);
    let mut t = match Tracked::open(binding, &name, budget, tl).await {
        Ok(t) => t,
        Err(f) => {
            return match f.error {
                OpenError::Refused { .. } | OpenError::Timeout { .. } => false,
                OpenError::Protocol { stage, reason } => {
                    c.problem = Some(format!("{name}: protocol violation at {stage}: {reason}"));
                    true
                }
                OpenError::Harness(e) => {
                    c.harness_error = Some(e);
                    true
                }
            }
        }
    };
    // Being served is what matters here, not the picture: a small
    // non-incremental request is answered as surely as the whole screen,
    // and keeps each trial short.
    let area = ping_rect(t.bounds());
    let got = match t.request(false, Some(area)).await {
        Ok(s) => {
            t.next_update(deadline.min(s.at + ms(sc.update_timeout_ms)))
                .await
        }
        Err(_) => Err(Ev::Closed {
            reason: t.gone_reason().await,
            seq: crate::binding::seq::next(),
        }),
    };
    match got {
        Ok(u) => {
            me.served.store(true, Ordering::SeqCst);
            c.served_ms = Some(round_ms(ms_between(start, u.at)));
            let hold_end = Instant::now() + ms(hold);
            while Instant::now() < hold_end && !t.is_closed() {
                let Ok(s) = t.request(false, Some(area)).await else {
                    break;
                };
                match t.next(deadline.min(s.at + ms(sc.update_timeout_ms))).await {
                    Ev::Update(_) => c.pings += 1,
                    Ev::Closed { .. } => break,
                    Ev::Timeout => {
                        if Instant::now() < deadline {
                            c.problem = Some(format!(
                                "{name}: ping not answered within {} ms",
                                sc.update_timeout_ms
                            ));
                        }
                        break;
                    }
                }
            }
            if t.close_reason().is_some_and(CloseReason::harness_side) {
                c.harness_error = Some(format!("{name}: closed by the harness"));
            }
            c.logs.push(t.close(leave).await);
            true
        }
        Err(Ev::Closed { reason, .. }) => {
            if reason.harness_side() {
                c.harness_error = Some(format!("{name}: closed by the harness"));
            }
            c.logs.push(t.close(CloseHow::Clean).await);
            c.harness_error.is_some()
        }
        Err(_) => {
            c.logs.push(t.close(CloseHow::Clean).await);
            true
        }
    }
}

async fn ex03_run(ctx: &CheckCtx) -> Outcome {
    let sc = &ctx.scenario.screen;
    let mut rng = ctx.rng(CheckId::Ex03);
    let plans: Vec<TrialPlan> = (0..sc.contention_trials)
        .map(|_| TrialPlan::draw(&mut rng, sc))
        .collect();
    let started = Instant::now();
    let mut failed: Vec<Value> = Vec::new();
    let mut failed_count = 0usize;
    let mut first_failure: Option<String> = None;
    let mut both_served = 0u64;
    let mut simultaneous = 0u64;
    let mut trial_ms: Vec<f64> = Vec::new();
    let binding: &dyn ScreenBinding = ctx.screen.as_ref();
    for (i, plan) in plans.iter().enumerate() {
        let tl = Timeline::new();
        let start = Instant::now();
        let deadline = start + ms(sc.contention_trial_timeout_ms);
        let (pa, pb) = (Presence::default(), Presence::default());
        let policy = ctx.declaration.screen.exclusivity;
        let la = format!("trial-{i}/A");
        let lb = format!("trial-{i}/B");
        let (ca, cb) = tokio::join!(
            contend(
                binding,
                sc,
                policy,
                &la,
                (plan.offset_ms[0], plan.hold_ms[0], plan.leave[0]),
                start,
                deadline,
                (&pa, &pb),
                &tl
            ),
            contend(
                binding,
                sc,
                policy,
                &lb,
                (plan.offset_ms[1], plan.hold_ms[1], plan.leave[1]),
                start,
                deadline,
                (&pb, &pa),
                &tl
            ),
        );
        trial_ms.push(ms_between(start, Instant::now()));
        if plan.simultaneous {
            simultaneous += 1;
        }
        if let Some(e) = ca.harness_error.as_ref().or(cb.harness_error.as_ref()) {
            return Outcome::error(
                format!("trial {i}: harness problem; cannot judge EX-03: {e}"),
                json!({"seed": ctx.seed, "trial": i, "plan": plan.json(), "timeline": tl.evidence()}),
            );
        }
        if ca.served_ms.is_some() && cb.served_ms.is_some() {
            both_served += 1;
        }
        let logs: Vec<ConsoleLog> = ca.logs.iter().chain(cb.logs.iter()).cloned().collect();
        let v = violations(&logs);
        let limit = sc.contention_trial_timeout_ms as f64;
        let first_served = [ca.served_ms, cb.served_ms]
            .into_iter()
            .flatten()
            .reduce(f64::min)
            .filter(|ms| *ms <= limit);
        let reason = if let Some(first) = v.first() {
            Some(format!("two consoles served at once: {first}"))
        } else if first_served.is_none() {
            Some(format!(
                "no console was served within {} ms",
                sc.contention_trial_timeout_ms
            ))
        } else {
            ca.problem.clone().or(cb.problem.clone())
        };
        if let Some(reason) = reason {
            failed_count += 1;
            first_failure.get_or_insert_with(|| format!("trial {i}: {reason}"));
            if failed.len() < super::screen::LIST_CAP {
                let console = |c: &Contender, label: &str| json!({"label": label, "attempts": c.attempts, "served_ms": c.served_ms, "pings": c.pings, "problem": c.problem});
                failed.push(json!({
                    "trial": i,
                    "plan": plan.json(),
                    "reason": reason,
                    "consoles": [console(&ca, &la), console(&cb, &lb)],
                    "violations": violations_json(&v),
                    "timeline": tl.evidence(),
                }));
            }
        }
    }
    let evidence = json!({
        "seed": ctx.seed,
        "policy": ctx.declaration.screen.exclusivity.as_str(),
        "trials": plans.len(),
        "simultaneous_trials": simultaneous,
        "trials_with_both_served_in_turn": both_served,
        "failed_trials": failed_count,
        "failures": {"total": failed_count, "items": failed},
        "trial_ms": {
            "p50": percentile(&trial_ms, 50.0).map(round_ms),
            "max": trial_ms.iter().copied().reduce(f64::max).map(round_ms),
        },
        "elapsed_ms": round_ms(ms_between(started, Instant::now())),
    });
    match first_failure {
        Some(f) => Outcome::fail(
            format!(
                "{failed_count} of {} contention trials failed (seed {}); first: {f}",
                plans.len(),
                ctx.seed
            ),
            evidence,
        ),
        None => Outcome::pass(
            format!(
                "{} seeded contention trials (seed {}): never two consoles served, always one",
                plans.len(),
                ctx.seed
            ),
            evidence,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn trial_plans_are_seeded_bounded_and_sometimes_simultaneous() {
        let sc = ScreenScenario::default();
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..1000)
                .map(|_| TrialPlan::draw(&mut rng, &sc))
                .collect::<Vec<_>>()
        };
        let plans = draw(7);
        let again = draw(7);
        let same = plans.iter().zip(&again).all(|(a, b)| {
            a.simultaneous == b.simultaneous
                && a.offset_ms == b.offset_ms
                && a.hold_ms == b.hold_ms
                && a.leave == b.leave
        });
        assert!(same, "the same seed must replay the same trials");
        let simultaneous = plans.iter().filter(|p| p.simultaneous).count();
        assert!(
            (150..=250).contains(&simultaneous),
            "about one trial in five is simultaneous, got {simultaneous} of 1000"
        );
        for p in &plans {
            if p.simultaneous {
                assert_eq!(p.offset_ms, [0, 0]);
            } else {
                // One console arrives first, the other strictly later.
                assert_eq!(p.offset_ms.iter().filter(|o| **o == 0).count(), 1);
            }
            assert!(p
                .offset_ms
                .iter()
                .all(|o| *o <= sc.contention_max_offset_ms));
            assert!(p.hold_ms.iter().all(|h| *h <= sc.contention_max_hold_ms));
        }
        assert!(plans.iter().any(|p| p.leave[0] == CloseHow::Drop));
        assert!(plans.iter().any(|p| p.leave[1] == CloseHow::Clean));
    }

    #[test]
    fn ping_region_fits_tiny_screens() {
        assert_eq!(
            ping_rect(Rect::new(0, 0, 1024, 768)),
            Rect::new(0, 0, 64, 64)
        );
        assert_eq!(ping_rect(Rect::new(0, 0, 40, 30)), Rect::new(0, 0, 40, 30));
    }

    #[test]
    fn a_round_fails_on_unpainted_pixels_and_names_them() {
        let mut r = Round::new(EncodingSet {
            name: "RRE only".into(),
            ids: vec![2, -223],
        });
        assert!(!r.failed());
        r.uncovered = 12;
        r.uncovered_bbox = Some(Rect::new(10, 20, 4, 3));
        assert!(r.failed());
        let p = r.problem().unwrap_or_default();
        assert!(p.contains("12 pixels") && p.contains("4x3+10+20"), "{p}");
    }

    #[test]
    fn a_round_reports_its_first_violation_and_how_many_more() {
        let mut r = Round::new(EncodingSet {
            name: "ZRLE only".into(),
            ids: vec![16, -223],
        });
        r.violations
            .push("rectangle 16x16+0+0 sent in Hextile".into());
        r.violations
            .push("rectangle 16x16+16+0 sent in Hextile".into());
        let p = r.problem().unwrap_or_default();
        assert!(
            p.starts_with("rectangle 16x16+0+0") && p.contains("1 more"),
            "{p}"
        );
        let j = r.json();
        assert_eq!(j["violations"]["total"], 2);
    }
}
