//! EX-03 (condition 1-2-1): seeded trials of two consoles arriving and
//! leaving at random; exactly one is served each time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

use super::support::causal::{violations, ConsoleLog};
use super::support::{capped, ms_between, percentile, round_ms, Ev, Timeline, Tracked};
use super::support::{ms, ping_rect};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::{BoxFuture, CloseHow, CloseReason, OpenError, ScreenBinding};
use crate::config::declaration::{Declaration, Exclusivity};
use crate::config::scenario::{Scenario, ScreenScenario};
use crate::model::ids::{CheckId, ConditionId};

/// EX-03: Contention: seeded trials of two consoles; never both served, always one.
pub const DEF: CheckDef = CheckDef {
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

/// EX-03: pause between a refused console's attempts.
pub const CONTENTION_RETRY: Duration = Duration::from_millis(20);

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
            if failed.len() < super::support::LIST_CAP {
                let console = |c: &Contender, label: &str| json!({"label": label, "attempts": c.attempts, "served_ms": c.served_ms, "pings": c.pings, "problem": c.problem});
                failed.push(json!({
                    "trial": i,
                    "plan": plan.json(),
                    "reason": reason,
                    "consoles": [console(&ca, &la), console(&cb, &lb)],
                    "violations": capped(&v),
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
}
