//! DR-02 (1-3-2): requests at seeded moments (before a report exists, while
//! pushes are under way, while the screen lane runs, and in a burst of
//! concurrent requests) are all answered correctly within the request
//! timeout.
//!
//! "Correct" for one answer, judged against what the harness had
//! acknowledged *before the request was sent* (a later push may legitimately
//! be reflected already):
//! - a report the harness holds an acknowledgement for: the report, the
//!   same reportId, a revision not older than the acknowledged one, and,
//!   when that revision was pushed, the same content (`dispatch` aside: it is
//!   the harness's own input and is not pushed);
//! - a report announced by the hook whose push is not acknowledged yet: the
//!   report as above with any revision, or "not found" with an error (the
//!   report may not exist at the terminal's API before it is output);
//! - an id the terminal never issued: "not found" with an error;
//! - the list: every acknowledged report with a revision not older than the
//!   acknowledged one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

use super::support::data::{
    channel, instead_of, judge_get, judge_list, known_report, trigger_name,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::data::{Asked, Expected, ListEntry, PushEvent, Reply};
use crate::binding::{BoxFuture, Seq};
use crate::config::declaration::{Declaration, Trigger};
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};

/// DR-02: Requests at seeded random moments are all answered correctly in time.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Dr02,
    condition: ConditionId::C1_3_2,
    title: "Requests at seeded random moments are all answered correctly in time",
    requirement: Requirement {
        ja: "シード付きのランダムな時点（通報前、送信中、画面転送中、同時の集中要求）での要求すべてに、期限内に正しく応答すること。",
        en: "Requests at seeded random moments (before any report, during pushes, during screen transfer, in concurrent bursts) are all answered correctly in time.",
    },
    needs: &[],
    lane: Lane::Data,
    phase: Phase::Data,
    budget: time_budget,
    run,
};

fn time_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    let d = &sc.data;
    budget::add(
        budget::add(budget::push(sc, decl), d.window_ms),
        budget::mul(
            u64::from(d.random_requests.saturating_add(d.burst)),
            d.request_timeout_ms,
        ),
    )
}

/// One request's answer: for a report or for the list.
enum Asking {
    One(Asked<Value>),
    List(Asked<Vec<ListEntry>>),
}

impl Asking {
    /// When it was sent and how long it took, or why there was no answer.
    fn timing(&self) -> Result<(Seq, f64), &crate::binding::data::NoAnswer> {
        match self {
            Asking::One(r) => r.as_ref().map(|a| (a.sent, a.elapsed_ms)),
            Asking::List(r) => r.as_ref().map(|a| (a.sent, a.elapsed_ms)),
        }
    }

    /// The binding's word for the answer, if there was one.
    fn wire(&self) -> Option<&str> {
        match self {
            Asking::One(r) => r.as_ref().ok().map(|a| a.wire.as_str()),
            Asking::List(r) => r.as_ref().ok().map(|a| a.wire.as_str()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Target {
    Known,
    Pending,
    List,
    Unknown(String),
}

impl Target {
    fn label(&self) -> &'static str {
        match self {
            Target::Known => "report",
            Target::Pending => "announced_report",
            Target::List => "list",
            Target::Unknown(_) => "unknown_report",
        }
    }
}

struct Planned {
    at_ms: u64,
    target: Target,
    phase: &'static str,
    /// Sent as soon as push number `k` of the window has started (rather
    /// than at `at_ms`), so it lands while that push is under way.
    with_push: Option<usize>,
}

#[derive(Default)]
struct Flags {
    pushing: std::sync::atomic::AtomicUsize,
}

fn run(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let dc = match channel(ctx) {
            Ok(d) => d,
            Err(o) => return o,
        };
        let sc = dc.scenario().clone();
        let (id, source) = match known_report(ctx, &*dc, CheckId::Dr02).await {
            Ok(x) => x,
            Err(o) => return o,
        };
        let mut rng = ctx.rng(CheckId::Dr02);
        let window = sc.window_ms.max(1);
        let burst = sc.burst.max(20);
        let unknown: Vec<String> = (0..3)
            .map(|_| format!("s301-none-{:016x}", rng.random::<u64>()))
            .collect();
        let hook = dc.decl().trigger == Trigger::Hook;

        // The plan, fixed before anything is sent, so a seed replays it.
        let mut plan: Vec<Planned> = vec![
            Planned {
                at_ms: 0,
                target: Target::List,
                phase: "before_report",
                with_push: None,
            },
            Planned {
                at_ms: 0,
                target: Target::Unknown(unknown[0].clone()),
                phase: "before_report",
                with_push: None,
            },
        ];
        if hook {
            plan.push(Planned {
                at_ms: 0,
                target: Target::Pending,
                phase: "before_report",
                with_push: None,
            });
        }
        let pushes: Vec<u64> = if hook {
            let mut p: Vec<u64> = (0..3).map(|_| rng.random_range(0..window)).collect();
            p.sort_unstable();
            p
        } else {
            Vec::new()
        };
        for _ in 0..sc.random_requests {
            let at_ms = rng.random_range(0..window);
            let roll = rng.random_range(0..100u32);
            let target = match roll {
                0..=49 => Target::Known,
                50..=74 => Target::List,
                75..=84 => Target::Unknown(unknown[1 + (roll as usize % 2)].clone()),
                _ if hook => Target::Pending,
                _ => Target::Known,
            };
            plan.push(Planned {
                at_ms,
                target,
                phase: "random",
                with_push: None,
            });
        }
        for (k, at_ms) in pushes.iter().enumerate() {
            for target in [Target::Known, Target::List] {
                plan.push(Planned {
                    at_ms: *at_ms,
                    target,
                    phase: "during_push",
                    with_push: Some(k),
                });
            }
        }
        let burst_at = rng.random_range(window / 4..=(window * 3 / 4).max(window / 4));
        for _ in 0..burst {
            let target = if rng.random_bool(0.7) {
                Target::Known
            } else {
                Target::List
            };
            plan.push(Planned {
                at_ms: burst_at,
                target,
                phase: "burst",
                with_push: None,
            });
        }
        let plan_ev: Vec<Value> = plan
            .iter()
            .map(|p| json!({"at_ms": p.at_ms, "target": p.target.label(), "phase": p.phase, "with_push": p.with_push}))
            .collect();

        let flags = Arc::new(Flags::default());
        let (push_started, push_started_rx) = tokio::sync::watch::channel(0usize);
        let pending: Arc<std::sync::Mutex<Option<String>>> = Arc::new(std::sync::Mutex::new(None));
        let start = tokio::time::Instant::now();
        let push_timeout = Duration::from_millis(sc.push_timeout_ms);

        // "Before a report exists": a fresh report is announced and asked
        // for at once, before its push can have been acknowledged.
        if hook {
            match dc.announce_new("DR-02").await {
                Ok(Some(p)) => *pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(p),
                Ok(None) => {}
                Err(t) => {
                    return Outcome::fail(
                        format!("DR-02 could not announce a fresh report: {}", t.detail),
                        json!({"trigger": t.evidence}),
                    )
                }
            }
        }

        // The push driver: updates of the known report at the planned moments.
        let driver = {
            let dc = dc.clone();
            let flags = flags.clone();
            let id = id.clone();
            let pushes = pushes.clone();
            let revisions = dc.decl().revisions;
            tokio::spawn(async move {
                let mut log = Vec::new();
                let deadline = start + Duration::from_millis(window) + push_timeout;
                for at in pushes {
                    tokio::time::sleep_until(start + Duration::from_millis(at)).await;
                    let since = dc.next_push_index();
                    flags
                        .pushing
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    push_started.send_modify(|n| *n += 1);
                    tokio::task::yield_now().await;
                    let t0 = Instant::now();
                    let announced = if revisions {
                        dc.announce_update(&id, "DR-02")
                            .await
                            .map(|_| Some(id.clone()))
                    } else {
                        dc.announce_new("DR-02").await
                    };
                    let got = match announced {
                        Ok(Some(target)) => {
                            let left =
                                deadline.saturating_duration_since(tokio::time::Instant::now());
                            let mut pred = |e: &PushEvent| {
                                e.is_acked() && e.report_id.as_deref() == Some(target.as_str())
                            };
                            dc.wait_push_within(since, left, &mut pred).await
                        }
                        _ => None,
                    };
                    flags
                        .pushing
                        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    log.push(json!({
                        "planned_ms": at,
                        "acked": got.as_ref().map(|e| json!({"revision": e.revision, "seq": e.seq})),
                        "took_ms": t0.elapsed().as_secs_f64() * 1000.0,
                    }));
                }
                log
            })
        };

        // The requests.
        let mut tasks = tokio::task::JoinSet::new();
        for (i, p) in plan.into_iter().enumerate() {
            let dc = dc.clone();
            let flags = flags.clone();
            let pending = pending.clone();
            let id = id.clone();
            let mut started_rx = push_started_rx.clone();
            let wait_cap = Duration::from_millis(window) + push_timeout;
            tasks.spawn(async move {
                match p.with_push {
                    Some(k) => {
                        let _ =
                            tokio::time::timeout(wait_cap, started_rx.wait_for(|n| *n > k)).await;
                    }
                    None => tokio::time::sleep_until(start + Duration::from_millis(p.at_ms)).await,
                }
                let pend = pending.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let (target_id, is_pending) = match &p.target {
                    Target::Known => (Some(id.clone()), false),
                    Target::Pending => match pend {
                        Some(x) => (Some(x), true),
                        None => (Some(id.clone()), false),
                    },
                    Target::Unknown(u) => (Some(u.clone()), false),
                    Target::List => (None, false),
                };
                let acked_all = dc.acked_all();
                let mut acked_before: BTreeMap<String, u64> = BTreeMap::new();
                for k in [
                    Some(id.clone()),
                    pending.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                ]
                .into_iter()
                .flatten()
                {
                    if let Some(r) = acked_all.get(&k) {
                        acked_before.insert(k, *r);
                    }
                }
                // A report nothing was received for yet may still be unknown
                // to the terminal's API ("not found" allowed); once pushed, it must answer.
                let is_pending = match &target_id {
                    Some(t) if matches!(p.target, Target::Known | Target::Pending) => {
                        dc.latest_received(t).is_none()
                    }
                    _ => is_pending,
                };
                let screen = dc.screen_lane_active();
                let pushing = flags.pushing.load(std::sync::atomic::Ordering::SeqCst) > 0;
                let sent_ms = start.elapsed().as_secs_f64() * 1000.0;
                let reply = match &target_id {
                    Some(t) => Asking::One(dc.get_report(t).await),
                    None => Asking::List(dc.list_reports().await),
                };
                (
                    i,
                    p,
                    target_id,
                    is_pending,
                    acked_before,
                    screen,
                    pushing,
                    sent_ms,
                    reply,
                )
            });
        }
        let limit = Duration::from_millis(window)
            + push_timeout
            + Duration::from_millis(sc.request_timeout_ms)
            + Duration::from_secs(5);
        let mut results = Vec::new();
        let collected = tokio::time::timeout(limit, async {
            while let Some(r) = tasks.join_next().await {
                if let Ok(r) = r {
                    results.push(r);
                }
            }
        })
        .await;
        if collected.is_err() {
            tasks.abort_all();
        }
        let pushes_ev =
            match tokio::time::timeout(push_timeout + Duration::from_secs(2), driver).await {
                Ok(Ok(l)) => json!(l),
                _ => json!("push driver did not finish"),
            };
        results.sort_by_key(|r| r.0);

        // Judge, now that every push of the window has been received.
        let timeout_ms = sc.request_timeout_ms as f64;
        let mut wrong = Vec::new();
        let mut rows = Vec::new();
        let (mut n_push, mut n_screen, mut n_burst, mut n_before, mut max_ms) = (0, 0, 0, 0, 0f64);
        for (i, p, target_id, is_pending, acked_before, screen, pushing, sent_ms, reply) in &results
        {
            let verdict: Result<String, String> = match reply.timing() {
                Err(e) => Err(format!("no answer: {e}")),
                Ok((_, elapsed_ms)) if elapsed_ms > timeout_ms => Err(format!(
                    "answered after {elapsed_ms:.0} ms, over the {timeout_ms} ms bound"
                )),
                Ok(_) => match (reply, &p.target) {
                    (Asking::List(Ok(r)), _) => {
                        judge_list(&*dc, acked_before, r).map(|n| format!("{n} listed"))
                    }
                    (Asking::One(Ok(r)), Target::Unknown(_)) => match &r.reply {
                        Reply::NotFound { problem: None } => Ok(r.wire.clone()),
                        Reply::NotFound { problem: Some(p) } => Err(p.clone()),
                        _ => Err(format!(
                            "unknown reportId {}",
                            instead_of(&*dc, r, Expected::NotFound)
                        )),
                    },
                    (Asking::One(Ok(r)), _) => {
                        let t = target_id.clone().unwrap_or_default();
                        judge_get(&*dc, &t, acked_before.get(&t).copied(), *is_pending, r).map(
                            |rev| {
                                rev.map(|x| format!("revision {x}"))
                                    .unwrap_or_else(|| format!("{} (not yet output)", r.wire))
                            },
                        )
                    }
                    (Asking::One(Err(e)), _) | (Asking::List(Err(e)), _) => {
                        Err(format!("no answer: {e}"))
                    }
                },
            };
            if *pushing {
                n_push += 1;
            }
            if *screen {
                n_screen += 1;
            }
            if p.phase == "burst" {
                n_burst += 1;
            }
            if p.phase == "before_report" {
                n_before += 1;
            }
            if let Ok((_, elapsed_ms)) = reply.timing() {
                max_ms = max_ms.max(elapsed_ms);
            }
            let (ok, what) = match &verdict {
                Ok(s) => (true, s.clone()),
                Err(s) => (false, s.clone()),
            };
            if !ok {
                wrong.push(format!("#{i} {} {}: {what}", p.phase, p.target.label()));
            }
            rows.push(json!({
                "i": i, "phase": p.phase, "target": p.target.label(), "id": target_id,
                "planned_ms": p.at_ms, "sent_ms": sent_ms, "during_push": pushing, "during_screen": screen,
                "acked_before": acked_before, "answered": reply.wire(),
                "elapsed_ms": reply.timing().ok().map(|t| t.1), "sent_seq": reply.timing().ok().map(|t| t.0),
                "ok": ok, "result": what,
            }));
        }
        let planned = plan_ev.len();
        let ev = json!({
            "seed": ctx.seed,
            "reportId": id,
            "report_source": source,
            "announced_report": pending.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            "window_ms": window,
            "burst": burst,
            "burst_at_ms": burst_at,
            "trigger": trigger_name(&*dc),
            "plan": plan_ev,
            "pushes": pushes_ev,
            "requests": rows,
            "counts": {"planned": planned, "answered": results.len(), "during_push": n_push, "during_screen": n_screen, "burst": n_burst, "before_report": n_before},
            "max_elapsed_ms": max_ms,
        });
        if results.len() < planned {
            return Outcome::fail(
                format!(
                    "only {} of {planned} requests completed within {} ms",
                    results.len(),
                    limit.as_millis()
                ),
                ev,
            );
        }
        if !wrong.is_empty() {
            let n = wrong.len();
            let head: Vec<String> = wrong.into_iter().take(3).collect();
            return Outcome::fail(
                format!(
                    "{n} of {planned} requests were not answered correctly in time: {}",
                    head.join("; ")
                ),
                ev,
            );
        }
        Outcome::pass(
            format!(
                "all {planned} requests answered correctly within {} ms (max {max_ms:.0} ms): {n_before} before a report existed, {n_push} during pushes, {n_screen} during screen transfer, a burst of {n_burst}",
                sc.request_timeout_ms
            ),
            ev,
        )
    })
}
