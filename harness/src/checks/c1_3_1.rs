//! Checks of condition 1-3-1 (データ入出力機能, data input/output).
//!
//! - DO-01: a report is pushed in time, well-formed and schema-valid.
//! - DO-02: an update is pushed with the same reportId and a higher revision.
//! - DO-03: after the harness answers 503 the terminal retries and delivers,
//!   without delivering the same revision again once acknowledged.
//! - DI-01 / DI-02: dispatch input (only if the declaration says
//!   `data.input = true`; output-only services are allowed by the condition's
//!   補足, so the DI checks are then `not_applicable`).
//!
//! Each check judges its own property and gets what it needs by itself, so a
//! defect shows in the check about it and not, by knock-on, in every later
//! one. DO-01 leaves the report it received in [`super::Shared`] for the
//! later data checks to reuse (so a manual run asks the operator only once).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rand::Rng;
use serde_json::{json, Value};

use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::BoxFuture;
use crate::catalog::{CheckId, ConditionId};
use crate::data::receiver::revision_of;
use crate::data::{DataChannel, Exchange, PushOutcome, TriggerError};
use crate::declaration::{Declaration, Trigger};
use crate::scenario::Scenario;

/// Key in [`super::Shared::values`] of the report the data checks work on:
/// `{"reportId": ..., "by": "DO-01"}`.
pub const REPORT_KEY: &str = "data.report";

/// Exchanges listed at most in one check's evidence.
const MAX_LISTED: usize = 40;

/// The data channel, or the outcome to return when there is none.
pub(super) fn channel(ctx: &CheckCtx) -> Result<Arc<DataChannel>, Outcome> {
    if ctx.declaration.data.is_none() {
        return Err(Outcome::error(
            "the declaration has no [data] section, so the data channel cannot be judged; declare [data] or leave the data checks out with --skip",
            Value::Null,
        ));
    }
    ctx.data.clone().ok_or_else(|| {
        Outcome::error(
            "harness error: the data channel was not started for this run",
            Value::Null,
        )
    })
}

/// The reportId the data checks share, if a check stored one.
pub(super) fn stored_report(ctx: &CheckCtx) -> Option<String> {
    let s = ctx.shared.lock().unwrap_or_else(|p| p.into_inner());
    s.values
        .get(REPORT_KEY)
        .and_then(|v| v.get("reportId"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn store_report(ctx: &CheckCtx, id: &str, by: CheckId) {
    let mut s = ctx.shared.lock().unwrap_or_else(|p| p.into_inner());
    s.values.insert(
        REPORT_KEY.into(),
        json!({"reportId": id, "by": by.as_str()}),
    );
}

/// Exchanges since `since`, for evidence (bounded).
pub(super) fn listed(dc: &DataChannel, since: u64) -> Value {
    let all = dc.receiver().exchanges_since(since);
    let n = all.len();
    let v: Vec<Value> = all.iter().take(MAX_LISTED).map(Exchange::to_json).collect();
    json!({"count": n, "first": v})
}

/// A push the harness waited for after a trigger.
pub(super) struct NewPush {
    /// The reportId the hook announced.
    pub announced: Option<String>,
    /// The push, if one came in time.
    pub exchange: Option<Exchange>,
    /// From the trigger to the push (or to giving up).
    pub waited_ms: f64,
    /// Log index the wait started at.
    pub since: u64,
}

/// Triggers a new report and waits for its push. With `auto`, a push that
/// arrived before the check started counts too.
pub(super) async fn await_new_push(
    dc: &DataChannel,
    purpose: &str,
) -> Result<NewPush, TriggerError> {
    let since = match dc.decl().trigger {
        Trigger::Auto => 0,
        Trigger::Hook | Trigger::Manual => dc.receiver().next_index(),
    };
    let start = Instant::now();
    let announced = dc.announce_new(purpose).await?;
    let want = announced.clone();
    let exchange = dc
        .wait_push(since, |e| {
            e.is_push()
                && e.outcome != PushOutcome::Injected
                && match &want {
                    Some(id) => match &e.report_id {
                        Some(r) => r == id,
                        // A push the receiver could not even identify (bad
                        // media type, broken JSON) is attributed to the
                        // report being waited for, unless it had begun
                        // before the trigger (a slow push refused only now).
                        None => e.arrived >= start,
                    },
                    None => true,
                }
        })
        .await;
    Ok(NewPush {
        announced,
        exchange,
        waited_ms: start.elapsed().as_secs_f64() * 1000.0,
        since,
    })
}

/// A report the terminal has pushed: the shared one, or a new one triggered
/// now. Failing that, the fail outcome naming why.
pub(super) async fn obtain_pushed_report(
    ctx: &CheckCtx,
    dc: &DataChannel,
    purpose: CheckId,
) -> Result<String, Outcome> {
    if let Some(id) = stored_report(ctx) {
        if dc.receiver().latest_received(&id).is_some() {
            return Ok(id);
        }
    }
    let np = await_new_push(dc, purpose.as_str()).await.map_err(|t| {
        Outcome::fail(
            format!("could not get a report to work on: {}", t.detail),
            json!({"trigger": t.evidence}),
        )
    })?;
    let announced = np
        .announced
        .as_deref()
        .map(|a| format!(" (announced reportId {a})"))
        .unwrap_or_default();
    match &np.exchange {
        Some(e) if e.report_id.is_some() => {
            let id = e.report_id.clone().unwrap_or_default();
            store_report(ctx, &id, purpose);
            Ok(id)
        }
        Some(e) => Err(Outcome::fail(
            format!(
                "the push after the {} trigger{announced} carried no identifiable report: the receiver refused it with {}, so there is nothing to work on (see DO-01)",
                trigger_name(dc),
                refusal_line(e)
            ),
            json!({"announced": np.announced, "exchanges": listed(dc, np.since), "arriving": dc.receiver().arriving()}),
        )),
        None => Err(Outcome::fail(
            format!(
                "no identifiable report was pushed within {} ms after the {} trigger{announced}{}, so there is nothing to work on (see DO-01)",
                dc.push_wait().as_millis(),
                trigger_name(dc),
                push_trouble(dc, np.since).map(|t| format!(" ({t})")).unwrap_or_default()
            ),
            json!({"announced": np.announced, "exchanges": listed(dc, np.since), "arriving": dc.receiver().arriving()}),
        )),
    }
}

/// A reportId the terminal knows, for requests and input: the shared one,
/// else one announced by the hook now (no push needed), else the first of
/// the terminal's list.
pub(super) async fn known_report(
    ctx: &CheckCtx,
    dc: &DataChannel,
    purpose: CheckId,
) -> Result<(String, Value), Outcome> {
    if let Some(id) = stored_report(ctx) {
        return Ok((id, json!("shared by an earlier check")));
    }
    if dc.decl().trigger == Trigger::Hook {
        return match dc.announce_new(purpose.as_str()).await {
            Ok(Some(id)) => Ok((id, json!("announced by POST test-reports"))),
            Ok(None) => Err(Outcome::error(
                "harness error: hook trigger announced no reportId",
                Value::Null,
            )),
            Err(t) => Err(Outcome::fail(
                format!("could not get a report to work on: {}", t.detail),
                json!({"trigger": t.evidence}),
            )),
        };
    }
    let reply = dc.client().list_reports().await;
    let first = reply
        .as_ref()
        .ok()
        .and_then(|r| r.json().ok())
        .and_then(|v| {
            v.get("reports")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|e| e.get("reportId"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    match first {
        Some(id) => Ok((id, json!("first entry of GET /reports"))),
        None => Err(Outcome::fail(
            "no report is known to work on: none was pushed, and GET /reports listed none",
            json!({"list": match &reply { Ok(r) => r.to_json(), Err(e) => json!({"error": e}) }}),
        )),
    }
}

pub(super) fn trigger_name(dc: &DataChannel) -> &'static str {
    match dc.decl().trigger {
        Trigger::Hook => "hook",
        Trigger::Auto => "auto",
        Trigger::Manual => "manual",
    }
}

fn require_output(dc: &DataChannel) -> Result<(), Outcome> {
    if dc.decl().output {
        Ok(())
    } else {
        Err(Outcome::fail(
            "the declaration says data.output = false, but 1-3-1 requires the terminal to output data to the dispatch system",
            json!({"data.output": false}),
        ))
    }
}

fn input_not_declared() -> Outcome {
    let note = &ConditionId::C1_3_1.text().note_ja;
    Outcome::not_applicable(format!(
        "data.input = false: the terminal declares output only, which 1-3-1 allows (補足: 「{note}」)"
    ))
}

/// Up to three problems as one line.
pub(super) fn problems_line(e: &Exchange) -> String {
    let mut parts: Vec<String> = e
        .errors
        .iter()
        .take(3)
        .map(|v| {
            if v.path.is_empty() {
                v.message.clone()
            } else {
                format!("{}: {}", v.path, v.message)
            }
        })
        .collect();
    if e.errors.len() > 3 {
        parts.push(format!("and {} more", e.errors.len() - 3));
    }
    parts.join("; ")
}

/// A refused push as one line: status, reason phrase and what was wrong,
/// e.g. `413 Payload Too Large: body of 100000000 bytes is over the 1048576-byte limit`.
pub(super) fn refusal_line(e: &Exchange) -> String {
    let reason = hyper::StatusCode::from_u16(e.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    let what = problems_line(e);
    if what.is_empty() {
        format!("{}{reason}", e.status)
    } else {
        format!("{}{reason}: {what}", e.status)
    }
}

/// Pushes listed at most in a detail.
const MAX_IN_DETAIL: usize = 3;

/// What the receiver saw of pushes since log index `since` that were not
/// taken (refused, with why) and of pushes still arriving now (a body sent
/// too slowly, say), as one clause; `None` when there was nothing.
pub(super) fn push_trouble(dc: &DataChannel, since: u64) -> Option<String> {
    let mut parts = Vec::new();
    let refused: Vec<Exchange> = dc
        .receiver()
        .exchanges_since(since)
        .into_iter()
        .filter(|e| e.is_push() && !e.is_acked() && e.outcome != PushOutcome::Injected)
        .collect();
    if !refused.is_empty() {
        let mut lines: Vec<String> = refused
            .iter()
            .take(MAX_IN_DETAIL)
            .map(refusal_line)
            .collect();
        if refused.len() > MAX_IN_DETAIL {
            lines.push(format!("and {} more", refused.len() - MAX_IN_DETAIL));
        }
        parts.push(format!(
            "{} push(es) refused: {}",
            refused.len(),
            lines.join("; ")
        ));
    }
    let arriving = dc.receiver().arriving();
    if !arriving.is_empty() {
        let mut lines: Vec<String> = arriving
            .iter()
            .take(MAX_IN_DETAIL)
            .map(|a| a.describe())
            .collect();
        if arriving.len() > MAX_IN_DETAIL {
            lines.push(format!("and {} more", arriving.len() - MAX_IN_DETAIL));
        }
        parts.push(format!(
            "{} push(es) still arriving: {}",
            arriving.len(),
            lines.join("; ")
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The body the receiver kept for a push, as evidence (whole if small).
fn body_evidence(dc: &DataChannel, e: &Exchange) -> Value {
    let (Some(id), Some(rev)) = (&e.report_id, e.revision) else {
        return Value::Null;
    };
    match dc.receiver().received(id, rev).and_then(|r| r.body) {
        Some(b) if e.body_bytes <= 16 * 1024 => (*b).clone(),
        Some(_) => json!({"omitted": "larger than 16 KiB", "bytes": e.body_bytes}),
        None => Value::Null,
    }
}

fn do01(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let dc = match channel(ctx) {
            Ok(d) => d,
            Err(o) => return o,
        };
        if let Err(o) = require_output(&dc) {
            return o;
        }
        let np = match await_new_push(&dc, "DO-01").await {
            Ok(n) => n,
            Err(t) => return Outcome::fail(t.detail, json!({"trigger": t.evidence})),
        };
        let mut ev = json!({
            "trigger": trigger_name(&dc),
            "announced": np.announced,
            "waited_ms": np.waited_ms,
            "schema": dc.receiver().schema().origin(),
            "receiver_url": dc.receiver_url(),
        });
        let Some(e) = np.exchange else {
            ev["exchanges"] = listed(&dc, np.since);
            ev["arriving"] = json!(dc.receiver().arriving());
            let detail = match push_trouble(&dc, np.since) {
                // Something came, but nothing acceptable: say what.
                Some(t) => format!(
                    "no acceptable report arrived at {} within {} ms after the {} trigger: {t}",
                    dc.receiver_url(),
                    dc.push_wait().as_millis(),
                    trigger_name(&dc)
                ),
                None => format!(
                    "no report was pushed to {} within {} ms after the {} trigger",
                    dc.receiver_url(),
                    dc.push_wait().as_millis(),
                    trigger_name(&dc)
                ),
            };
            return Outcome::fail(detail, ev);
        };
        ev["push"] = e.to_json();
        ev["report"] = body_evidence(&dc, &e);
        if let Some(id) = &e.report_id {
            if e.revision.is_some() {
                store_report(ctx, id, CheckId::Do01);
            }
        }
        let what = format!(
            "report {} revision {}",
            e.report_id.as_deref().unwrap_or("(no reportId)"),
            e.revision
                .map(|r| r.to_string())
                .unwrap_or_else(|| "?".into())
        );
        match e.outcome {
            PushOutcome::Created | PushOutcome::Repeated => Outcome::pass(
                format!(
                    "{what} pushed {:.0} ms after the trigger, well-formed and valid against {}",
                    np.waited_ms,
                    dc.receiver().schema().origin()
                ),
                ev,
            ),
            PushOutcome::Invalid if e.report_id.is_some() => Outcome::fail(
                format!(
                    "{what} was pushed but is not a valid report ({} problem(s)): {}",
                    e.errors.len(),
                    problems_line(&e)
                ),
                ev,
            ),
            PushOutcome::Invalid
            | PushOutcome::TooLarge
            | PushOutcome::UnsupportedMediaType
            | PushOutcome::LengthRequired
            | PushOutcome::BodyError
            | PushOutcome::BodyTimeout => Outcome::fail(
                format!(
                    "no acceptable report arrived: the push {:.0} ms after the {} trigger was refused with {}",
                    np.waited_ms,
                    trigger_name(&dc),
                    refusal_line(&e)
                ),
                ev,
            ),
            PushOutcome::Stale => Outcome::fail(
                format!(
                    "{what} is older than a revision already acknowledged: {}",
                    problems_line(&e)
                ),
                ev,
            ),
            PushOutcome::Injected
            | PushOutcome::StoreFull
            | PushOutcome::WrongPath
            | PushOutcome::WrongMethod => Outcome::error(
                format!("harness error: unexpected receiver outcome {:?}", e.outcome),
                ev,
            ),
        }
    })
}

fn do02(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let dc = match channel(ctx) {
            Ok(d) => d,
            Err(o) => return o,
        };
        if let Err(o) = require_output(&dc) {
            return o;
        }
        if !dc.decl().revisions {
            return Outcome::not_applicable(
                "data.revisions = false: the terminal declares that it does not push revisions",
            );
        }
        let id = match obtain_pushed_report(ctx, &dc, CheckId::Do02).await {
            Ok(id) => id,
            Err(o) => return o,
        };
        let prev = dc
            .receiver()
            .latest_received(&id)
            .map(|r| r.revision)
            .unwrap_or(0);
        let since = dc.receiver().next_index();
        let start = Instant::now();
        if let Err(t) = dc.announce_update(&id, "DO-02").await {
            return Outcome::fail(t.detail, json!({"reportId": id, "trigger": t.evidence}));
        }
        let want = id.clone();
        let got = dc
            .wait_push(since, |e| {
                e.is_push()
                    && e.report_id.as_deref() == Some(want.as_str())
                    && e.revision.is_some_and(|r| r > prev)
            })
            .await;
        let waited = start.elapsed().as_secs_f64() * 1000.0;
        let same: Vec<Value> = dc
            .receiver()
            .exchanges_since(since)
            .iter()
            .filter(|e| e.report_id.as_deref() == Some(id.as_str()))
            .take(MAX_LISTED)
            .map(|e| json!({"revision": e.revision, "status": e.status, "seq": e.seq}))
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
                ev["update"] = e.to_json();
                let rev = e.revision.unwrap_or(0);
                let note = if e.outcome == PushOutcome::Invalid {
                    format!(
                        " (answered 400: its schema problems are DO-01's subject: {})",
                        problems_line(&e)
                    )
                } else {
                    format!(" (answered {})", e.status)
                };
                Outcome::pass(
                    format!("report {id} was updated from revision {prev} to {rev}, same reportId, {:.0} ms after the trigger{note}", waited),
                    ev,
                )
            }
        }
    })
}

/// Cancels a pending injected failure when dropped, so it never hits
/// another check's push.
struct FailGuard<'a>(&'a DataChannel);

impl Drop for FailGuard<'_> {
    fn drop(&mut self) {
        self.0.fail_next(0, 503);
    }
}

fn do03(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let dc = match channel(ctx) {
            Ok(d) => d,
            Err(o) => return o,
        };
        if let Err(o) = require_output(&dc) {
            return o;
        }
        let push_wait = dc.push_wait();
        let settle =
            std::time::Duration::from_millis((dc.scenario().push_timeout_ms / 5).clamp(300, 2000));
        let since = dc.receiver().next_index();
        dc.fail_next(1, 503);
        let guard = FailGuard(&dc);
        let announced = match dc.announce_new("DO-03").await {
            Ok(a) => a,
            Err(t) => return Outcome::fail(t.detail, json!({"trigger": t.evidence})),
        };
        let refused = dc
            .wait_push(since, |e| e.outcome == PushOutcome::Injected)
            .await;
        drop(guard);
        let mut ev = json!({"announced": announced, "injected_status": 503, "settle_ms": settle.as_millis() as u64});
        let Some(refused) = refused else {
            ev["exchanges"] = listed(&dc, since);
            ev["arriving"] = json!(dc.receiver().arriving());
            let detail = match push_trouble(&dc, since) {
                // The receiver refuses a broken push before it would inject the 503.
                Some(t) => format!(
                    "no push the harness could answer with 503 arrived within {} ms after the {} trigger: {t}",
                    push_wait.as_millis(),
                    trigger_name(&dc)
                ),
                None => format!(
                    "no push arrived within {} ms after the {} trigger, so there was nothing to answer 503 to",
                    push_wait.as_millis(),
                    trigger_name(&dc)
                ),
            };
            return Outcome::fail(detail, ev);
        };
        ev["refused"] = refused.to_json();
        let (Some(id), Some(rev)) = (refused.report_id.clone(), refused.revision) else {
            return Outcome::fail(
                "the push answered with 503 carried no identifiable reportId and revision, so its redelivery cannot be recognised",
                ev,
            );
        };
        let want = id.clone();
        let retry = dc
            .receiver()
            .wait_for(refused.index + 1, push_wait, |e| {
                e.is_push()
                    && e.outcome != PushOutcome::Injected
                    && e.report_id.as_deref() == Some(want.as_str())
                    && e.revision.is_some_and(|r| r >= rev)
            })
            .await;
        let Some(delivered) = retry else {
            ev["exchanges"] = listed(&dc, refused.index + 1);
            return Outcome::fail(
                format!("report {id} revision {rev} was answered 503 and was not pushed again within {} ms", push_wait.as_millis()),
                ev,
            );
        };
        let after_ms = delivered
            .arrived
            .duration_since(refused.arrived)
            .as_secs_f64()
            * 1000.0;
        ev["delivered"] = delivered.to_json();
        ev["retry_after_ms"] = json!(after_ms);
        let drev = delivered.revision.unwrap_or(rev);
        if delivered.is_acked() {
            let dup = dc
                .receiver()
                .wait_for(delivered.index + 1, settle, |e| {
                    e.is_push()
                        && e.report_id.as_deref() == Some(want.as_str())
                        && e.revision == Some(drev)
                })
                .await;
            if let Some(d) = dup {
                ev["duplicate"] = d.to_json();
                return Outcome::fail(
                    format!("duplicate delivery: report {id} revision {drev} was pushed again after it had been acknowledged (answered {})", d.status),
                    ev,
                );
            }
        }
        let how = if drev > rev {
            format!("as revision {drev} (newer than the refused {rev})")
        } else {
            format!("(revision {rev})")
        };
        let status_note = if delivered.is_acked() {
            format!("and acknowledged ({})", delivered.status)
        } else {
            format!(
                "but answered {} ({}; validity is DO-01's subject)",
                delivered.status,
                problems_line(&delivered)
            )
        };
        Outcome::pass(
            format!(
                "after a 503, report {id} was pushed again {how} {after_ms:.0} ms later {status_note}; no duplicate within {} ms",
                settle.as_millis()
            ),
            ev,
        )
    })
}

/// Whether two RFC 3339 strings name the same instant (or are equal as text).
pub(super) fn same_instant(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    let parse = |v: &Value| {
        v.as_str().and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        })
    };
    matches!((parse(a), parse(b)), (Some(x), Some(y)) if x == y)
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

const STATUSES: [&str; 4] = ["received", "dispatched", "on_scene", "closed"];

fn di01(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let dc = match channel(ctx) {
            Ok(d) => d,
            Err(o) => return o,
        };
        if !dc.decl().input {
            return input_not_declared();
        }
        let (id, source) = match known_report(ctx, &dc, CheckId::Di01).await {
            Ok(x) => x,
            Err(o) => return o,
        };
        let mut rng = ctx.rng(CheckId::Di01);
        let status = STATUSES[rng.random_range(0..STATUSES.len())];
        let note = format!("s301 DI-01 {:016x}", rng.random::<u64>());
        let sent = json!({"status": status, "at": now_rfc3339(), "note": note});
        let mut ev = json!({"reportId": id, "report_source": source, "sent": sent});
        let body = Bytes::from(sent.to_string());
        let reply = match dc.client().dispatch(&id, body).await {
            Ok(r) => r,
            Err(e) => {
                ev["error"] = json!(e);
                return Outcome::fail(format!("POST reports/{id}/dispatch got no answer: {e}"), ev);
            }
        };
        ev["dispatch_reply"] = reply.to_json();
        if reply.status != 204 {
            return Outcome::fail(
                format!(
                    "POST reports/{id}/dispatch with a valid status answered {} instead of 204",
                    reply.status
                ),
                ev,
            );
        }
        let get = match dc.client().get_report(&id).await {
            Ok(r) => r,
            Err(e) => {
                ev["error"] = json!(e);
                return Outcome::fail(
                    format!("the GET after the dispatch input got no answer: {e}"),
                    ev,
                );
            }
        };
        ev["get_reply"] = get.to_json();
        if get.status != 200 {
            return Outcome::fail(
                format!("the GET after the dispatch input answered {}", get.status),
                ev,
            );
        }
        let v = match get.json() {
            Ok(v) => v,
            Err(e) => return Outcome::fail(format!("the GET after the dispatch input: {e}"), ev),
        };
        let shown = v.get("dispatch").cloned().unwrap_or(Value::Null);
        ev["shown"] = shown.clone();
        let ok = shown.get("status") == sent.get("status")
            && shown.get("note") == sent.get("note")
            && same_instant(shown.get("at").unwrap_or(&Value::Null), &sent["at"]);
        if ok {
            Outcome::pass(
                format!("dispatch status {status:?} was accepted (204) and the next GET of report {id} shows it"),
                ev,
            )
        } else if shown.is_null() {
            Outcome::fail(
                format!("dispatch status was accepted (204) but the next GET of report {id} has no \"dispatch\" member"),
                ev,
            )
        } else {
            Outcome::fail(
                format!("dispatch status was accepted (204) but the next GET of report {id} shows {shown} instead of {sent}"),
                ev,
            )
        }
    })
}

/// Bodies DI-02 sends, each malformed in its own way: (label, body).
fn malformed_statuses(tag: &str) -> Vec<(&'static str, String)> {
    let at = now_rfc3339();
    vec![
        (
            "not JSON (truncated)",
            format!("{{\"status\": \"dispatched\", \"at\": \"{at}\", \"note\": "),
        ),
        (
            "unknown status value",
            json!({"status": "teleported", "at": at, "note": tag}).to_string(),
        ),
        (
            "status is not a string",
            json!({"status": 42, "at": at, "note": tag}).to_string(),
        ),
        ("status missing", json!({"at": at, "note": tag}).to_string()),
        ("not an object", json!(["dispatched", at]).to_string()),
    ]
}

fn di02(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let dc = match channel(ctx) {
            Ok(d) => d,
            Err(o) => return o,
        };
        if !dc.decl().input {
            return input_not_declared();
        }
        let (id, source) = match known_report(ctx, &dc, CheckId::Di02).await {
            Ok(x) => x,
            Err(o) => return o,
        };
        let dispatch_now =
            |r: &Result<crate::data::Reply, crate::data::RequestError>| -> Option<Value> {
                let r = r.as_ref().ok()?;
                if r.status != 200 {
                    return None;
                }
                Some(
                    r.json()
                        .ok()?
                        .get("dispatch")
                        .cloned()
                        .unwrap_or(Value::Null),
                )
            };
        let before = dispatch_now(&dc.client().get_report(&id).await);
        let mut rng = ctx.rng(CheckId::Di02);
        let tag = format!("s301 DI-02 {:016x}", rng.random::<u64>());
        let mut tried = Vec::new();
        let mut wrong = Vec::new();
        for (label, body) in malformed_statuses(&tag) {
            let r = dc.client().dispatch(&id, Bytes::from(body.clone())).await;
            let (ok, why, reply) = match &r {
                Err(e) => (false, format!("no answer: {e}"), json!({"error": e})),
                Ok(rep) if rep.status != 400 => {
                    (false, format!("answered {}", rep.status), rep.to_json())
                }
                Ok(rep) => match rep.json_error() {
                    Ok(_) => (true, String::new(), rep.to_json()),
                    Err(e) => (
                        false,
                        format!("400 without a JSON error: {e}"),
                        rep.to_json(),
                    ),
                },
            };
            if !ok {
                wrong.push(format!("{label}: {why}"));
            }
            tried.push(json!({"case": label, "body": body, "ok": ok, "reply": reply}));
        }
        let after = dispatch_now(&dc.client().get_report(&id).await);
        let mut ev = json!({"reportId": id, "report_source": source, "cases": tried, "dispatch_before": before, "dispatch_after": after});
        if !wrong.is_empty() {
            return Outcome::fail(
                format!(
                    "malformed dispatch status not refused with 400 and a JSON error: {}",
                    wrong.join("; ")
                ),
                ev,
            );
        }
        match (&before, &after) {
            (Some(b), Some(a)) if b != a => Outcome::fail(
                format!("every malformed status answered 400, but the report's dispatch changed from {b} to {a}"),
                ev,
            ),
            (Some(_), Some(_)) => Outcome::pass(
                format!("all {} malformed dispatch statuses were refused with 400 and a JSON error; the report's dispatch is unchanged", 5),
                ev,
            ),
            _ => {
                ev["note"] = json!("GET of the report did not answer 200 JSON, so the unchanged state could not be compared (requests are DR-01's subject)");
                Outcome::pass(
                    "all 5 malformed dispatch statuses were refused with 400 and a JSON error",
                    ev,
                )
            }
        }
    })
}

/// Revision carried by a JSON report.
pub(super) fn revision_in(v: &Value) -> Option<u64> {
    v.get("revision").and_then(revision_of)
}

/// DO-01: A report is pushed in time, well-formed and schema-valid.
pub const DO01: CheckDef = CheckDef {
    id: CheckId::Do01,
    condition: ConditionId::C1_3_1,
    title: "A report is pushed in time, well-formed and schema-valid",
    requirement: Requirement {
        ja: "トリガーした通報データが、期限内に、正しい形式でスキーマに適合して送信されること。",
        en: "A triggered report is pushed in time, well-formed and valid against the schema.",
    },
    needs: &[],
    lane: Lane::Data,
    phase: Phase::Data,
    budget: do01_budget,
    run: do01,
};

fn do01_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    budget::add(
        budget::push(sc, decl),
        budget::mul(sc.data.request_timeout_ms, 2),
    )
}

/// DO-02: Revisions: an update is pushed with the same reportId and a higher revision.
pub const DO02: CheckDef = CheckDef {
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
    budget: do02_budget,
    run: do02,
};

fn do02_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    budget::add(
        budget::push(sc, decl),
        budget::mul(sc.data.request_timeout_ms, 2),
    )
}

/// DO-03: Redelivery: after a refused delivery the terminal retries and delivers, without duplicates.
pub const DO03: CheckDef = CheckDef {
    id: CheckId::Do03,
    condition: ConditionId::C1_3_1,
    title: "Redelivery: after a refused delivery the terminal retries and delivers, without duplicates",
    requirement: Requirement {
        ja: "受信側が一時的に受け取れなかった送信を、端末が再送し、重複なく一度だけ届けること。",
        en: "After the harness refuses a delivery as temporarily unavailable, the terminal retries and delivers the report once.",
    },
    needs: &[],
    lane: Lane::Data,
    phase: Phase::Data,
    budget: do03_budget,
    run: do03,
};

fn do03_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    budget::add(
        budget::mul(budget::push(sc, decl), 2),
        budget::mul(sc.data.request_timeout_ms, 2),
    )
}

/// DI-01: Input: a dispatch status is accepted and shows in the next GET.
pub const DI01: CheckDef = CheckDef {
    id: CheckId::Di01,
    condition: ConditionId::C1_3_1,
    title: "Input: a dispatch status is accepted and shows in the next GET",
    requirement: Requirement {
        ja: "（入力ありと宣言した場合）出動状況の入力が受け付けられ、次の取得に反映されること。",
        en: "If input is declared: a dispatch status is accepted and shows in the next request for the report.",
    },
    needs: &[],
    lane: Lane::Data,
    phase: Phase::Data,
    budget: di01_budget,
    run: di01,
};

fn di01_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    budget::add(
        budget::push(sc, decl),
        budget::mul(sc.data.request_timeout_ms, 3),
    )
}

/// DI-02: Input: a malformed dispatch status is refused as invalid.
pub const DI02: CheckDef = CheckDef {
    id: CheckId::Di02,
    condition: ConditionId::C1_3_1,
    title: "Input: a malformed dispatch status is refused as invalid",
    requirement: Requirement {
        ja: "（入力ありと宣言した場合）不正な形式の出動状況の入力が、不正として拒否されること。",
        en: "If input is declared: a malformed dispatch status is refused as invalid.",
    },
    needs: &[],
    lane: Lane::Data,
    phase: Phase::Data,
    budget: di02_budget,
    run: di02,
};

fn di02_budget(sc: &Scenario, decl: &Declaration) -> u64 {
    budget::add(
        budget::push(sc, decl),
        budget::mul(sc.data.request_timeout_ms, 3),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn same_instant_compares_offsets() {
        assert!(same_instant(
            &json!("2025-01-01T09:00:00+09:00"),
            &json!("2025-01-01T00:00:00Z")
        ));
        assert!(!same_instant(
            &json!("2025-01-01T09:00:01+09:00"),
            &json!("2025-01-01T00:00:00Z")
        ));
        assert!(!same_instant(
            &json!("later"),
            &json!("2025-01-01T00:00:00Z")
        ));
        assert!(same_instant(&json!("x"), &json!("x")));
    }

    #[test]
    fn malformed_cases_are_really_malformed() {
        for (label, body) in malformed_statuses("t") {
            let v: Result<Value, _> = serde_json::from_str(&body);
            let valid = v.ok().is_some_and(|v| {
                v.get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|s| STATUSES.contains(&s))
            });
            assert!(!valid, "{label} would be a valid status");
        }
    }

    #[test]
    fn not_applicable_input_cites_the_note() {
        let o = input_not_declared();
        assert_eq!(o.verdict, crate::verdict::Verdict::NotApplicable);
        assert!(o.detail.contains("データ出力のみ"), "{}", o.detail);
    }
}
