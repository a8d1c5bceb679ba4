//! What the data checks (DO, DI, DR) share: the binding or the outcome to
//! return without one, the report they work on, waits for pushes, and the
//! wording of refusals and comparisons. Everything here speaks only
//! [`DataBinding`]; the binding's own words (`wire`, `answered`) are quoted,
//! never interpreted.
//!
//! Each check judges its own property and gets what it needs by itself, so
//! a defect shows in the check about it and not, by knock-on, in every later
//! one. DO-01 leaves the report it received in [`crate::checks::Shared`]
//! for the later data checks to reuse (so a manual run asks the operator
//! only once).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

pub use crate::binding::data::revision_of;
use crate::binding::data::{
    Answer, Asked, DataBinding, Expected, ListEntry, PushEvent, Reply, Request, TriggerError,
};
use crate::checks::{CheckCtx, Outcome};
use crate::config::declaration::Trigger;
use crate::model::ids::{CheckId, ConditionId};

/// Key in [`crate::checks::Shared::values`] of the report the data checks
/// work on: `{"reportId": ..., "by": "DO-01"}`.
pub const REPORT_KEY: &str = "data.report";

/// Push events listed at most in one check's evidence.
pub const MAX_LISTED: usize = 40;

/// Pushes listed at most in a detail.
const MAX_IN_DETAIL: usize = 3;

/// The data binding, or the outcome to return when there is none.
pub fn channel(ctx: &CheckCtx) -> Result<Arc<dyn DataBinding>, Outcome> {
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
pub fn stored_report(ctx: &CheckCtx) -> Option<String> {
    let s = ctx.shared.lock().unwrap_or_else(|p| p.into_inner());
    s.values
        .get(REPORT_KEY)
        .and_then(|v| v.get("reportId"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Shares `id` with the later data checks.
pub fn store_report(ctx: &CheckCtx, id: &str, by: CheckId) {
    let mut s = ctx.shared.lock().unwrap_or_else(|p| p.into_inner());
    s.values.insert(
        REPORT_KEY.into(),
        json!({"reportId": id, "by": by.as_str()}),
    );
}

/// Push events since `since`, for evidence (bounded).
pub fn listed(dc: &dyn DataBinding, since: u64) -> Value {
    let all = dc.pushes_since(since);
    let n = all.len();
    let v: Vec<Value> = all
        .iter()
        .take(MAX_LISTED)
        .map(|e| e.evidence.clone())
        .collect();
    json!({"count": n, "first": v})
}

/// Pushes still arriving, as evidence.
pub fn arriving_json(dc: &dyn DataBinding) -> Value {
    json!(dc.arriving())
}

/// A push the harness waited for after a trigger.
pub struct NewPush {
    /// The reportId the hook announced.
    pub announced: Option<String>,
    /// The push, if one came in time.
    pub event: Option<PushEvent>,
    /// From the trigger to the push (or to giving up).
    pub waited_ms: f64,
    /// Push log index the wait started at.
    pub since: u64,
}

/// Triggers a new report and waits for its push. With `auto`, a push that
/// arrived before the check started counts too.
pub async fn await_new_push(dc: &dyn DataBinding, purpose: &str) -> Result<NewPush, TriggerError> {
    let since = match dc.decl().trigger {
        Trigger::Auto => 0,
        Trigger::Hook | Trigger::Manual => dc.next_push_index(),
    };
    let start = Instant::now();
    let announced = dc.announce_new(purpose).await?;
    let want = announced.clone();
    let mut pred = |e: &PushEvent| {
        e.is_push()
            && !e.is_injected()
            && match &want {
                Some(id) => match &e.report_id {
                    Some(r) => r == id,
                    // A push the binding could not even identify (bad
                    // media type, broken JSON) is attributed to the
                    // report being waited for, unless it had begun
                    // before the trigger (a slow push refused only now).
                    None => e.arrived >= start,
                },
                None => true,
            }
    };
    let event = dc.wait_push(since, &mut pred).await;
    Ok(NewPush {
        announced,
        event,
        waited_ms: start.elapsed().as_secs_f64() * 1000.0,
        since,
    })
}

/// A report the terminal has pushed: the shared one, or a new one triggered
/// now. Failing that, the fail outcome naming why.
pub async fn obtain_pushed_report(
    ctx: &CheckCtx,
    dc: &dyn DataBinding,
    purpose: CheckId,
) -> Result<String, Outcome> {
    if let Some(id) = stored_report(ctx) {
        if dc.latest_received(&id).is_some() {
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
    match &np.event {
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
            json!({"announced": np.announced, "exchanges": listed(dc, np.since), "arriving": arriving_json(dc)}),
        )),
        None => Err(Outcome::fail(
            format!(
                "no identifiable report was pushed within {} ms after the {} trigger{announced}{}, so there is nothing to work on (see DO-01)",
                dc.push_wait().as_millis(),
                trigger_name(dc),
                push_trouble(dc, np.since).map(|t| format!(" ({t})")).unwrap_or_default()
            ),
            json!({"announced": np.announced, "exchanges": listed(dc, np.since), "arriving": arriving_json(dc)}),
        )),
    }
}

/// A reportId the terminal knows, for requests and input: the shared one,
/// else one announced by the hook now (no push needed), else the first of
/// the terminal's list.
pub async fn known_report(
    ctx: &CheckCtx,
    dc: &dyn DataBinding,
    purpose: CheckId,
) -> Result<(String, Value), Outcome> {
    if let Some(id) = stored_report(ctx) {
        return Ok((id, json!("shared by an earlier check")));
    }
    if dc.decl().trigger == Trigger::Hook {
        return match dc.announce_new(purpose.as_str()).await {
            Ok(Some(id)) => Ok((id, json!("announced by the test hook"))),
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
    let asked = dc.list_reports().await;
    let first = match &asked {
        Ok(Answer {
            reply: Reply::Answered(list),
            ..
        }) => list.first().and_then(|e| e.report_id.clone()),
        _ => None,
    };
    let list_name = dc.describe(Request::List);
    match first {
        Some(id) => Ok((id, json!(format!("first entry of {list_name}")))),
        None => Err(Outcome::fail(
            format!("no report is known to work on: none was pushed, and {list_name} listed none"),
            json!({"list": asked_json(&asked)}),
        )),
    }
}

/// The trigger's name, for details.
pub fn trigger_name(dc: &dyn DataBinding) -> &'static str {
    match dc.decl().trigger {
        Trigger::Hook => "hook",
        Trigger::Auto => "auto",
        Trigger::Manual => "manual",
    }
}

/// Fails when the declaration says the terminal outputs no data.
pub fn require_output(dc: &dyn DataBinding) -> Result<(), Outcome> {
    if dc.decl().output {
        Ok(())
    } else {
        Err(Outcome::fail(
            "the declaration says data.output = false, but 1-3-1 requires the terminal to output data to the dispatch system",
            json!({"data.output": false}),
        ))
    }
}

/// DI-01 / DI-02 when the terminal declares output only.
pub fn input_not_declared() -> Outcome {
    let note = &ConditionId::C1_3_1.text().note_ja;
    Outcome::not_applicable(format!(
        "data.input = false: the terminal declares output only, which 1-3-1 allows (補足: 「{note}」)"
    ))
}

/// Up to three problems as one line.
pub fn problems_line(e: &PushEvent) -> String {
    let mut parts: Vec<String> = e
        .problems
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
    if e.problems.len() > 3 {
        parts.push(format!("and {} more", e.problems.len() - 3));
    }
    parts.join("; ")
}

/// A refused push as one line: the binding's named answer and what was
/// wrong, e.g. `413 Payload Too Large: body of 100000000 bytes is over the 1048576-byte limit`.
pub fn refusal_line(e: &PushEvent) -> String {
    let what = problems_line(e);
    if what.is_empty() {
        e.answered_named.clone()
    } else {
        format!("{}: {what}", e.answered_named)
    }
}

/// What the binding saw of pushes since index `since` that were not taken
/// (refused, with why) and of pushes still arriving now (a body sent too
/// slowly, say), as one clause; `None` when there was nothing.
pub fn push_trouble(dc: &dyn DataBinding, since: u64) -> Option<String> {
    let mut parts = Vec::new();
    let refused: Vec<PushEvent> = dc
        .pushes_since(since)
        .into_iter()
        .filter(|e| e.is_push() && !e.is_acked() && !e.is_injected())
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
    let arriving = dc.arriving();
    if !arriving.is_empty() {
        let mut lines: Vec<String> = arriving
            .iter()
            .take(MAX_IN_DETAIL)
            .map(|a| a.description.clone())
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

/// The body the binding kept for a push, as evidence (whole if small).
pub fn body_evidence(dc: &dyn DataBinding, e: &PushEvent) -> Value {
    let (Some(id), Some(rev)) = (&e.report_id, e.revision) else {
        return Value::Null;
    };
    match dc.received(id, rev).and_then(|r| r.body) {
        Some(b) if e.bytes <= 16 * 1024 => (*b).clone(),
        Some(_) => json!({"omitted": "larger than 16 KiB", "bytes": e.bytes}),
        None => Value::Null,
    }
}

/// Whether two RFC 3339 strings name the same instant (or are equal as text).
pub fn same_instant(a: &Value, b: &Value) -> bool {
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

/// Now, to the second, in RFC 3339.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Revision carried by a JSON report.
pub fn revision_in(v: &Value) -> Option<u64> {
    v.get("revision").and_then(revision_of)
}

/// An answer (or the lack of one) as evidence.
pub fn asked_json<T>(r: &Asked<T>) -> Value {
    match r {
        Ok(a) => a.evidence.clone(),
        Err(e) => json!({"error": e.evidence}),
    }
}

/// `answered 500 instead of 200`: an answer of the wrong kind, in the
/// binding's words.
pub fn instead_of<T>(dc: &dyn DataBinding, a: &Answer<T>, want: Expected) -> String {
    format!("answered {} instead of {}", a.wire, dc.wire_of(want))
}

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
pub fn without_dispatch(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("dispatch");
    }
    v
}

/// What was wrong with an answer for one report, judged against the
/// acknowledgement held before it was sent. `pending` allows "not found".
pub fn judge_get(
    dc: &dyn DataBinding,
    id: &str,
    acked_before: Option<u64>,
    pending: bool,
    a: &Answer<Value>,
) -> Result<Option<u64>, String> {
    let v = match &a.reply {
        Reply::NotFound { problem } if pending && acked_before.is_none() => {
            return match problem {
                None => Ok(None),
                Some(p) => Err(p.clone()),
            }
        }
        Reply::Answered(v) => v,
        Reply::Malformed { problem } => return Err(problem.clone()),
        _ => return Err(instead_of(dc, a, Expected::Report)),
    };
    if v.get("reportId").and_then(Value::as_str) != Some(id) {
        return Err(format!(
            "reportId is {} instead of {id:?}",
            v.get("reportId").unwrap_or(&Value::Null)
        ));
    }
    let rev = revision_in(v).ok_or("no integer revision >= 1")?;
    if let Some(a) = acked_before {
        if rev < a {
            return Err(format!("stale: revision {rev} while revision {a} had been pushed and acknowledged before the request"));
        }
    }
    if let Some(body) = dc.received(id, rev).and_then(|r| r.body) {
        if let Some(p) = first_difference(&without_dispatch(&body), &without_dispatch(v)) {
            return Err(format!(
                "revision {rev} differs from the pushed revision {rev} at {p:?}"
            ));
        }
    }
    Ok(Some(rev))
}

/// The entries of a list answer, or what was wrong with it.
pub fn list_entries<'a>(
    dc: &dyn DataBinding,
    a: &'a Answer<Vec<ListEntry>>,
) -> Result<&'a [ListEntry], String> {
    match &a.reply {
        Reply::Answered(l) => Ok(l),
        Reply::Malformed { problem } => Err(problem.clone()),
        _ => Err(instead_of(dc, a, Expected::List)),
    }
}

/// What was wrong with a list answer, given the acknowledgements held
/// before it was sent; the number of entries when nothing was.
pub fn judge_list(
    dc: &dyn DataBinding,
    acked_before: &BTreeMap<String, u64>,
    a: &Answer<Vec<ListEntry>>,
) -> Result<usize, String> {
    let list = list_entries(dc, a)?;
    for (id, rev) in acked_before {
        let entry = list
            .iter()
            .find(|e| e.report_id.as_deref() == Some(id.as_str()))
            .ok_or_else(|| {
                format!("report {id} (revision {rev} acknowledged) is missing from the list")
            })?;
        match entry.revision {
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
    fn not_applicable_input_cites_the_note() {
        let o = input_not_declared();
        assert_eq!(o.verdict, crate::model::verdict::Verdict::NotApplicable);
        assert!(o.detail.contains("データ出力のみ"), "{}", o.detail);
    }

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

    fn memory() -> crate::binding::memory::data::MemoryData {
        let decl = crate::config::declaration::DataDecl {
            base_url: "http://127.0.0.1:9/s3-01/v1".into(),
            output: true,
            input: true,
            revisions: true,
            trigger: Trigger::Hook,
            schema: None,
        };
        crate::binding::memory::data::MemoryData::new(decl, Default::default(), vec![]).unwrap()
    }

    fn list(reply: Reply<Vec<ListEntry>>, wire: &str) -> Answer<Vec<ListEntry>> {
        Answer {
            reply,
            wire: wire.into(),
            sent: crate::binding::Seq(1),
            elapsed_ms: 1.0,
            evidence: Value::Null,
        }
    }

    fn entry(id: &str, rev: Option<u64>) -> ListEntry {
        ListEntry {
            report_id: Some(id.into()),
            revision: rev,
            updated_at: Some(json!("x")),
        }
    }

    #[test]
    fn list_must_hold_acknowledged_reports_not_older() {
        let dc = memory();
        let mut acked = BTreeMap::new();
        acked.insert("r1".to_string(), 2u64);
        let ok = list(Reply::Answered(vec![entry("r1", Some(3))]), "list");
        assert_eq!(judge_list(&dc, &acked, &ok), Ok(1));
        let stale = list(Reply::Answered(vec![entry("r1", Some(1))]), "list");
        assert!(judge_list(&dc, &acked, &stale)
            .unwrap_err()
            .contains("stale"));
        let missing = list(Reply::Answered(vec![]), "list");
        assert!(judge_list(&dc, &acked, &missing)
            .unwrap_err()
            .contains("missing"));
        let no_rev = list(Reply::Answered(vec![entry("r1", None)]), "list");
        assert!(judge_list(&dc, &acked, &no_rev)
            .unwrap_err()
            .contains("no integer revision"));
        let bad = list(
            Reply::Malformed {
                problem: "no list".into(),
            },
            "list",
        );
        assert_eq!(judge_list(&dc, &acked, &bad), Err("no list".into()));
        let other = list(Reply::Unexpected, "teapot");
        assert_eq!(
            judge_list(&dc, &acked, &other),
            Err("answered teapot instead of list".into())
        );
    }
}
