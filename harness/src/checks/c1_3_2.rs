//! Checks of condition 1-3-2 (データ連携要求の受付機能, accepting data requests).
//!
//! - DR-01: `GET reports/{id}` returns the latest revision, equal to what was
//!   pushed, and `GET reports` lists it with that revision.
//! - DR-02: requests at seeded moments (before a report exists, while pushes
//!   are under way, while the screen lane runs, and in a burst of concurrent
//!   requests) are all answered correctly within the request timeout.
//! - DR-03: an unknown reportId answers 404 with a JSON error.
//!
//! "Correct" for one answer, judged against what the receiver had
//! acknowledged *before the request was sent* (a later push may legitimately
//! be reflected already):
//! - a report the harness holds an acknowledgement for: `200`, JSON, the
//!   same reportId, a revision not older than the acknowledged one, and, when
//!   that revision was pushed, the same content (`dispatch` aside: it is the
//!   harness's own input and is not pushed);
//! - a report announced by the hook whose push is not acknowledged yet:
//!   `200` as above with any revision, or `404` with a JSON error (the report
//!   may not exist at the terminal's API before it is output);
//! - an id the terminal never issued: `404` with a JSON error;
//! - the list: `200`, JSON `{"reports": [...]}` holding every acknowledged
//!   report with a revision not older than the acknowledged one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

use super::c1_3_1::{
    channel, known_report, listed, obtain_pushed_report, revision_in, trigger_name,
};
use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::BoxFuture;
use crate::catalog::{CheckId, ConditionId};
use crate::data::{DataChannel, Reply, RequestError};
use crate::declaration::{Declaration, Trigger};
use crate::scenario::Scenario;

/// The first place where `a` and `b` differ, as a JSON pointer (numbers are
/// compared by value, so `2` equals `2.0`), or `None` when equal.
pub fn first_difference(a: &Value, b: &Value) -> Option<String> {
    fn walk(a: &Value, b: &Value, path: &mut String) -> Option<String> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let same =
                    x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q);
                (!same).then(|| path.clone())
            }
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    let d = match (x.get(k), y.get(k)) {
                        (Some(p), Some(q)) => walk(p, q, path),
                        _ => Some(path.clone()),
                    };
                    path.truncate(len);
                    if d.is_some() {
                        return d;
                    }
                }
                None
            }
            (Value::Array(x), Value::Array(y)) => {
                for (i, (p, q)) in x.iter().zip(y.iter()).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    let d = walk(p, q, path);
                    path.truncate(len);
                    if d.is_some() {
                        return d;
                    }
                }
                (x.len() != y.len()).then(|| format!("{path}/{}", x.len().min(y.len())))
            }
            _ => (a != b).then(|| path.clone()),
        }
    }
    walk(a, b, &mut String::new())
}

/// `v` without its `dispatch` member (the harness's own input, not pushed).
fn without_dispatch(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("dispatch");
    }
    v
}

/// What was wrong with a GET of one report, judged against the
/// acknowledgement held before it was sent. `pending` allows a 404.
fn judge_get(
    dc: &DataChannel,
    id: &str,
    acked_before: Option<u64>,
    pending: bool,
    reply: &Reply,
) -> Result<Option<u64>, String> {
    if reply.status == 404 && pending && acked_before.is_none() {
        return reply
            .json_error()
            .map(|_| None)
            .map_err(|e| format!("404 without a JSON error: {e}"));
    }
    if reply.status != 200 {
        return Err(format!("answered {} instead of 200", reply.status));
    }
    let v = reply.json().map_err(|e| e.to_string())?;
    if v.get("reportId").and_then(Value::as_str) != Some(id) {
        return Err(format!(
            "reportId is {} instead of {id:?}",
            v.get("reportId").unwrap_or(&Value::Null)
        ));
    }
    let rev = revision_in(&v).ok_or("no integer revision >= 1")?;
    if let Some(a) = acked_before {
        if rev < a {
            return Err(format!("stale: revision {rev} while revision {a} had been pushed and acknowledged before the request"));
        }
    }
    if let Some(body) = dc.receiver().received(id, rev).and_then(|r| r.body) {
        if let Some(p) = first_difference(&without_dispatch(&body), &without_dispatch(&v)) {
            return Err(format!(
                "revision {rev} differs from the pushed revision {rev} at {p:?}"
            ));
        }
    }
    Ok(Some(rev))
}

/// What was wrong with a list answer, given the acknowledgements held before it was sent.
fn judge_list(acked_before: &BTreeMap<String, u64>, reply: &Reply) -> Result<usize, String> {
    if reply.status != 200 {
        return Err(format!("answered {} instead of 200", reply.status));
    }
    let v = reply.json().map_err(|e| e.to_string())?;
    let list = v
        .get("reports")
        .and_then(Value::as_array)
        .ok_or("no \"reports\" array")?;
    for (id, rev) in acked_before {
        let entry = list
            .iter()
            .find(|e| e.get("reportId").and_then(Value::as_str) == Some(id.as_str()))
            .ok_or_else(|| {
                format!("report {id} (revision {rev} acknowledged) is missing from the list")
            })?;
        match entry
            .get("revision")
            .and_then(crate::data::receiver::revision_of)
        {
            Some(r) if r >= *rev => {}
            Some(r) => {
                return Err(format!(
                "stale: the list gives report {id} revision {r}, but {rev} had been acknowledged"
            ))
            }
            None => {
                return Err(format!(
                    "the list entry of report {id} has no integer revision"
                ))
            }
        }
    }
    Ok(list.len())
}

fn reply_or(r: &Result<Reply, RequestError>) -> Value {
    match r {
        Ok(r) => r.to_json(),
        Err(e) => json!({"error": e}),
    }
}

fn dr01(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let dc = match channel(ctx) {
            Ok(d) => d,
            Err(o) => return o,
        };
        let id = match obtain_pushed_report(ctx, &dc, CheckId::Dr01).await {
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
        let cur = dc
            .receiver()
            .latest_received(&id)
            .map(|r| r.revision)
            .unwrap_or(0);
        if dc.decl().trigger == Trigger::Hook && dc.decl().revisions && cur < 2 {
            let since = dc.receiver().next_index();
            match dc.announce_update(&id, "DR-01").await {
                Ok(()) => {
                    let want = id.clone();
                    let got = dc
                        .wait_push(since, |e| {
                            e.report_id.as_deref() == Some(want.as_str())
                                && e.revision.is_some_and(|r| r > cur)
                        })
                        .await;
                    ev["update_pushed"] = json!(got.is_some());
                }
                Err(t) => ev["update_trigger"] = json!(t.detail),
            }
        }
        let get = dc.client().get_report(&id).await;
        ev["get"] = reply_or(&get);
        let get = match get {
            Ok(g) => g,
            Err(e) => return Outcome::fail(format!("GET reports/{id}: {e}"), ev),
        };
        if get.status != 200 {
            return Outcome::fail(
                format!("GET reports/{id} answered {} instead of 200", get.status),
                ev,
            );
        }
        let v = match get.json() {
            Ok(v) => v,
            Err(e) => return Outcome::fail(format!("GET reports/{id}: {e}"), ev),
        };
        if v.get("reportId").and_then(Value::as_str) != Some(id.as_str()) {
            return Outcome::fail(
                format!(
                    "GET reports/{id} returned reportId {}",
                    v.get("reportId").unwrap_or(&Value::Null)
                ),
                ev,
            );
        }
        let Some(g) = revision_in(&v) else {
            return Outcome::fail(
                format!("GET reports/{id} returned no integer revision >= 1"),
                ev,
            );
        };
        let mut latest = dc.receiver().latest_received(&id);
        if latest.as_ref().is_some_and(|l| g > l.revision) {
            // The terminal already shows a revision whose push may be on its way.
            let want = id.clone();
            let _ = dc
                .receiver()
                .wait_for(
                    0,
                    Duration::from_millis(dc.scenario().push_timeout_ms),
                    |e| {
                        e.report_id.as_deref() == Some(want.as_str())
                            && e.revision.is_some_and(|r| r >= g)
                    },
                )
                .await;
            latest = dc.receiver().latest_received(&id);
        }
        let Some(latest) = latest else {
            return Outcome::error("harness error: the pushed report is no longer held", ev);
        };
        ev["latest_pushed_revision"] = json!(latest.revision);
        ev["returned_revision"] = json!(g);
        if g < latest.revision {
            return Outcome::fail(
                format!("GET reports/{id} returned revision {g}, but revision {} had been pushed: not the latest", latest.revision),
                ev,
            );
        }
        if g > latest.revision {
            return Outcome::fail(
                format!("GET reports/{id} returned revision {g}, which was never pushed (latest pushed: {})", latest.revision),
                ev,
            );
        }
        match &latest.body {
            Some(body) => {
                if let Some(p) = first_difference(&without_dispatch(body), &without_dispatch(&v)) {
                    ev["difference_at"] = json!(p);
                    return Outcome::fail(
                        format!("GET reports/{id} revision {g} differs from the pushed revision {g} at {p:?}"),
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
        let list = dc.client().list_reports().await;
        ev["list"] = reply_or(&list);
        let list = match list {
            Ok(l) => l,
            Err(e) => return Outcome::fail(format!("GET reports: {e}"), ev),
        };
        let mut want = BTreeMap::new();
        want.insert(id.clone(), g);
        if let Err(why) = judge_list(&want, &list) {
            return Outcome::fail(format!("GET reports: {why}"), ev);
        }
        // The list must give the latest revision exactly, and its updatedAt.
        let entry = list.json().ok().and_then(|l| {
            l.get("reports").and_then(Value::as_array).and_then(|a| {
                a.iter()
                    .find(|e| e.get("reportId").and_then(Value::as_str) == Some(id.as_str()))
                    .cloned()
            })
        });
        let entry = entry.unwrap_or(Value::Null);
        let lrev = entry
            .get("revision")
            .and_then(crate::data::receiver::revision_of);
        if lrev != Some(g) {
            return Outcome::fail(
                format!("GET reports lists report {id} with revision {lrev:?}, not the latest {g}"),
                ev,
            );
        }
        match (entry.get("updatedAt"), v.get("updatedAt")) {
            (Some(Value::String(_)), None) => {}
            (Some(a @ Value::String(_)), Some(b)) if super::c1_3_1::same_instant(a, b) => {}
            (Some(a), Some(b)) => {
                return Outcome::fail(
                    format!("GET reports gives report {id} updatedAt {a}, the report says {b}"),
                    ev,
                );
            }
            (None, _) => {
                return Outcome::fail(
                    format!("GET reports: the entry of report {id} has no updatedAt"),
                    ev,
                )
            }
            (Some(a), None) => {
                return Outcome::fail(
                    format!("GET reports: updatedAt {a} of report {id} is not a string"),
                    ev,
                )
            }
        }
        Outcome::pass(
            format!("GET reports/{id} returned revision {g}, the latest pushed, with the same content; the list holds it"),
            ev,
        )
    })
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

fn dr02(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let dc = match channel(ctx) {
            Ok(d) => d,
            Err(o) => return o,
        };
        let sc = dc.scenario().clone();
        let (id, source) = match known_report(ctx, &dc, CheckId::Dr02).await {
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
                    let since = dc.receiver().next_index();
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
                            dc.receiver()
                                .wait_for(since, left, |e| {
                                    e.is_acked() && e.report_id.as_deref() == Some(target.as_str())
                                })
                                .await
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
                let acked_all = dc.receiver().acked_all();
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
                // to the terminal's API (404 allowed); once pushed, it must answer.
                let is_pending = match &target_id {
                    Some(t) if matches!(p.target, Target::Known | Target::Pending) => {
                        dc.receiver().latest_received(t).is_none()
                    }
                    _ => is_pending,
                };
                let screen = dc.screen_lane_active();
                let pushing = flags.pushing.load(std::sync::atomic::Ordering::SeqCst) > 0;
                let sent_ms = start.elapsed().as_secs_f64() * 1000.0;
                let reply = match &target_id {
                    Some(t) => dc.client().get_report(t).await,
                    None => dc.client().list_reports().await,
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
            let verdict: Result<String, String> = match reply {
                Err(e) => Err(format!("no answer: {e}")),
                Ok(r) if r.elapsed_ms > timeout_ms => Err(format!(
                    "answered after {:.0} ms, over the {timeout_ms} ms bound",
                    r.elapsed_ms
                )),
                Ok(r) => match &p.target {
                    Target::List => judge_list(acked_before, r).map(|n| format!("{n} listed")),
                    Target::Unknown(_) => {
                        if r.status == 404 {
                            r.json_error()
                                .map(|_| "404".into())
                                .map_err(|e| format!("404 without a JSON error: {e}"))
                        } else {
                            Err(format!(
                                "unknown reportId answered {} instead of 404",
                                r.status
                            ))
                        }
                    }
                    Target::Known | Target::Pending => {
                        let t = target_id.clone().unwrap_or_default();
                        judge_get(&dc, &t, acked_before.get(&t).copied(), *is_pending, r).map(
                            |rev| {
                                rev.map(|x| format!("revision {x}"))
                                    .unwrap_or_else(|| "404 (not yet output)".into())
                            },
                        )
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
            if let Ok(r) = reply {
                max_ms = max_ms.max(r.elapsed_ms);
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
                "acked_before": acked_before, "status": reply.as_ref().ok().map(|r| r.status),
                "elapsed_ms": reply.as_ref().ok().map(|r| r.elapsed_ms), "sent_seq": reply.as_ref().ok().map(|r| r.sent),
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
            "trigger": trigger_name(&dc),
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

fn dr03(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let dc = match channel(ctx) {
            Ok(d) => d,
            Err(o) => return o,
        };
        let mut rng = ctx.rng(CheckId::Dr03);
        let list = dc.client().list_reports().await;
        let known: Vec<String> = list
            .as_ref()
            .ok()
            .and_then(|r| r.json().ok())
            .and_then(|v| v.get("reports").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| {
                e.get("reportId")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
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
            let r = dc.client().get_report(id).await;
            let problem = match &r {
                Err(e) => Some(format!("no answer: {e}")),
                Ok(rep) if rep.status != 404 => {
                    Some(format!("answered {} instead of 404", rep.status))
                }
                Ok(rep) => rep
                    .json_error()
                    .err()
                    .map(|e| format!("404 without a JSON error: {e}")),
            };
            if let Some(p) = &problem {
                wrong.push(format!("GET reports/{id}: {p}"));
            }
            cases.push(json!({"reportId": id, "reply": reply_or(&r), "ok": problem.is_none()}));
        }
        let ev =
            json!({"cases": cases, "list": reply_or(&list), "receiver": listed(&dc, u64::MAX)});
        if wrong.is_empty() {
            Outcome::pass(
                format!(
                    "unknown reportIds {} and {} answered 404 with a JSON error",
                    ids[0], ids[1]
                ),
                ev,
            )
        } else {
            Outcome::fail(wrong.join("; "), ev)
        }
    })
}

/// DR-01: A request returns the latest revision, equal to what was pushed; the list holds it.
pub const DR01: CheckDef = CheckDef {
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
    budget: dr01_budget,
    run: dr01,
};

fn dr01_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    budget::add(
        budget::push(sc, decl),
        budget::mul(sc.data.request_timeout_ms, 3),
    )
}

/// DR-02: Requests at seeded random moments are all answered correctly in time.
pub const DR02: CheckDef = CheckDef {
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
    budget: dr02_budget,
    run: dr02,
};

fn dr02_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    let d = &sc.data;
    budget::add(
        budget::add(budget::push(sc, decl), d.window_ms),
        budget::mul(
            u64::from(d.random_requests.saturating_add(d.burst)),
            d.request_timeout_ms,
        ),
    )
}

/// DR-03: An unknown reportId is answered as not found, with an error body.
pub const DR03: CheckDef = CheckDef {
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
    budget: dr03_budget,
    run: dr03,
};

fn dr03_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    budget::mul(sc.data.request_timeout_ms, 2)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn first_difference_points_at_the_change() {
        let a = json!({"a": 1, "b": {"c": [1, 2, 3]}, "d": "x"});
        assert_eq!(first_difference(&a, &a), None);
        let mut b = a.clone();
        b["b"]["c"][1] = json!(5);
        assert_eq!(first_difference(&a, &b).as_deref(), Some("/b/c/1"));
        let mut c = a.clone();
        c["e"] = json!(null);
        assert_eq!(first_difference(&a, &c).as_deref(), Some("/e"));
        assert_eq!(first_difference(&json!({"n": 2}), &json!({"n": 2.0})), None);
        assert_eq!(
            first_difference(&json!([1]), &json!([1, 2])).as_deref(),
            Some("/1")
        );
        assert_eq!(
            first_difference(&json!({"a/b": 1}), &json!({"a/b": 2})).as_deref(),
            Some("/a~1b")
        );
    }

    #[test]
    fn dispatch_is_left_out_of_comparisons() {
        let a = json!({"reportId": "r", "dispatch": {"status": "closed"}});
        let b = json!({"reportId": "r"});
        assert_eq!(
            first_difference(&without_dispatch(&a), &without_dispatch(&b)),
            None
        );
    }

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            request: "GET".into(),
            status,
            content_type: Some("application/json".into()),
            body: bytes::Bytes::from(body.to_string()),
            sent: crate::binding::Seq(1),
            done: crate::binding::Seq(2),
            elapsed_ms: 1.0,
        }
    }

    #[test]
    fn list_must_hold_acknowledged_reports_not_older() {
        let mut acked = BTreeMap::new();
        acked.insert("r1".to_string(), 2u64);
        let ok = reply(
            200,
            r#"{"reports":[{"reportId":"r1","revision":3,"updatedAt":"x"}]}"#,
        );
        assert_eq!(judge_list(&acked, &ok), Ok(1));
        let stale = reply(200, r#"{"reports":[{"reportId":"r1","revision":1}]}"#);
        assert!(judge_list(&acked, &stale).unwrap_err().contains("stale"));
        let missing = reply(200, r#"{"reports":[]}"#);
        assert!(judge_list(&acked, &missing)
            .unwrap_err()
            .contains("missing"));
        assert!(judge_list(&acked, &reply(200, r#"{"items":[]}"#)).is_err());
        assert!(judge_list(&acked, &reply(500, "{}")).is_err());
    }
}
