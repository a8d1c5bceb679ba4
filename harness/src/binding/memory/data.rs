//! A terminal's data side simulated in process, behind [`DataBinding`]: no
//! socket, no HTTP, no bytes. It keeps reports with revisions, "pushes" each
//! new revision to its own receiver side the moment a trigger asks for it
//! (judging it with the report schema, as a real receiver does), answers
//! requests from what it holds, and takes dispatch input.
//!
//! Its [`MemoryFault`]s each break one behaviour, so the data checks can be
//! shown to fail for the defect they are about and for nothing else.
//!
//! Its words for answers (`wire`) are plain: `"report"`, `"list"`,
//! `"accepted"`, `"rejected"`, `"not found"`, `"unavailable"`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::watch;

use crate::binding::data::{
    revision_of, Answer, Arriving, Asked, DataBinding, DispatchInput, Expected, ListEntry,
    ProbeError, PushEvent, PushKind, PushPred, Received, Refusal, Reply, Request, Transport,
    TriggerError, Violation, DISPATCH_STATES,
};
use crate::binding::schema::{ReportSchema, SchemaError};
use crate::binding::{seq, BoxFuture};
use crate::config::declaration::{DataDecl, Trigger};
use crate::config::scenario::DataScenario;

/// Reports the simulated terminal keeps (the oldest is forgotten past this).
pub const MAX_REPORTS: usize = 1000;
/// Revisions kept per report.
pub const MAX_REVISIONS: usize = 16;
/// Push events kept in the log.
pub const MAX_EVENTS: usize = 20_000;

/// A defect of the simulated terminal, one behaviour each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryFault {
    /// Reports are made but never pushed.
    NoPush,
    /// An update pushes the current revision again instead of a new one.
    SameRevision,
    /// A refused push is dropped, not redelivered.
    NoRedelivery,
    /// Dispatch input is accepted but not kept.
    IgnoreDispatch,
    /// Malformed dispatch input is accepted instead of rejected.
    AcceptMalformedDispatch,
    /// A report is answered with its previous revision.
    StaleAnswer,
    /// An unknown report id is answered with a report.
    UnknownAnswered,
}

impl MemoryFault {
    /// Every fault.
    pub const ALL: [MemoryFault; 7] = [
        MemoryFault::NoPush,
        MemoryFault::SameRevision,
        MemoryFault::NoRedelivery,
        MemoryFault::IgnoreDispatch,
        MemoryFault::AcceptMalformedDispatch,
        MemoryFault::StaleAnswer,
        MemoryFault::UnknownAnswered,
    ];
}

/// A report as the simulated terminal holds it.
struct Held {
    revisions: VecDeque<Arc<Value>>,
    dispatch: Option<Value>,
}

#[derive(Default)]
struct State {
    // The terminal's side.
    reports: BTreeMap<String, Held>,
    order: VecDeque<String>,
    created: u64,
    // The harness's receiving side.
    log: VecDeque<PushEvent>,
    next_index: u64,
    received: BTreeMap<String, BTreeMap<u64, Received>>,
    acked: BTreeMap<String, BTreeMap<u64, ()>>,
    refuse: Option<Refusal>,
}

/// The scheme of a `[data] base_url` that names this binding
/// (`memory://terminal`).
pub const URL_SCHEME: &str = "memory://";

/// The simulated terminal and the harness's side of it.
pub struct MemoryData {
    decl: DataDecl,
    sc: DataScenario,
    schema: Arc<ReportSchema>,
    faults: Vec<MemoryFault>,
    state: Mutex<State>,
    notify: watch::Sender<u64>,
    screen_lane: AtomicUsize,
    started: Instant,
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The first revision of report number `n`.
fn first_revision(n: u64, id: &str, now: &str) -> Value {
    json!({
        "schema": s301_wire::REPORT_SCHEMA_ID,
        "reportId": id,
        "revision": 1,
        "test": true,
        "service": {"kind": "net119", "provider": "s301 in-memory terminal", "terminalId": "MEM-T-0001"},
        "receivedAt": now,
        "updatedAt": now,
        "category": if n % 2 == 0 { "fire" } else { "ambulance" },
        "location": {"lat": 35.681_236, "lon": 139.767_125, "datum": "JGD2011", "accuracyM": 40.0},
        "messages": [{"at": now, "from": "system", "text": "test report"}]
    })
}

/// The revision after `prev`, numbered `rev`.
fn next_revision(prev: &Value, rev: u64, now: &str) -> Value {
    let mut r = prev.clone();
    r["revision"] = json!(rev);
    r["updatedAt"] = json!(now);
    if let Some(m) = r.get_mut("messages").and_then(Value::as_array_mut) {
        m.push(json!({"at": now, "from": "operator", "text": format!("update {rev}")}));
        let extra = m.len().saturating_sub(MAX_REVISIONS);
        m.drain(..extra);
    }
    r
}

impl MemoryData {
    /// A simulated terminal with `faults`, declared as `decl` (its base URL
    /// is not used; with `trigger = "hook"` a new report's id is announced),
    /// judged with the declared schema (`[data] schema`) or the shipped one.
    pub fn new(
        decl: DataDecl,
        sc: DataScenario,
        faults: Vec<MemoryFault>,
    ) -> Result<Self, SchemaError> {
        let (notify, _) = watch::channel(0);
        let schema = Arc::new(ReportSchema::load(decl.schema.as_deref())?);
        Ok(MemoryData {
            decl,
            sc,
            schema,
            faults,
            state: Mutex::new(State::default()),
            notify,
            screen_lane: AtomicUsize::new(0),
            started: Instant::now(),
        })
    }

    fn has(&self, f: MemoryFault) -> bool {
        self.faults.contains(&f)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The terminal pushes `body` (revision `rev` of `id`): the receiving
    /// side judges it and logs what became of it; a refused push is
    /// delivered again unless the terminal does not redeliver.
    fn push(&self, s: &mut State, id: &str, rev: u64, body: &Arc<Value>) {
        if self.has(MemoryFault::NoPush) {
            return;
        }
        if let Some(why) = s.refuse.take() {
            self.log(s, PushKind::Injected(why), id, rev, Vec::new(), 0);
            if self.has(MemoryFault::NoRedelivery) {
                return;
            }
        }
        let bytes = serde_json::to_vec(&**body).map(|b| b.len()).unwrap_or(0);
        let mut problems = self.schema.violations(body);
        if body.get("reportId").and_then(Value::as_str) != Some(id)
            || body.get("revision").and_then(revision_of) != Some(rev)
        {
            problems.push(Violation::new("", "reportId or revision do not match"));
        }
        let valid = problems.is_empty();
        let newest = s.acked.get(id).and_then(|a| a.keys().next_back().copied());
        let repeated = s.acked.get(id).is_some_and(|a| a.contains_key(&rev));
        let kind = match () {
            _ if !valid => PushKind::Refused(Refusal::Invalid),
            _ if repeated => PushKind::Repeated,
            _ if newest.is_some_and(|n| rev < n) => PushKind::Refused(Refusal::OlderRevision),
            _ => PushKind::Accepted,
        };
        if kind == PushKind::Accepted {
            s.acked.entry(id.to_string()).or_default().insert(rev, ());
        }
        if matches!(
            kind,
            PushKind::Accepted | PushKind::Refused(Refusal::Invalid)
        ) {
            let index = s.next_index;
            s.received.entry(id.to_string()).or_default().insert(
                rev,
                Received {
                    revision: rev,
                    body: Some(body.clone()),
                    index,
                    acked: valid,
                    valid,
                    bytes,
                },
            );
        }
        self.log(s, kind, id, rev, problems, bytes);
    }

    fn log(
        &self,
        s: &mut State,
        kind: PushKind,
        id: &str,
        rev: u64,
        problems: Vec<Violation>,
        bytes: usize,
    ) {
        let answered = match kind {
            PushKind::Accepted => "accepted",
            PushKind::Repeated => "repeated",
            PushKind::Injected(_) => "unavailable",
            PushKind::Refused(_) | PushKind::Stray => "refused",
        };
        let index = s.next_index;
        let evidence = json!({
            "index": index, "kind": kind, "reportId": id, "revision": rev,
            "answered": answered, "problems": problems, "bytes": bytes,
        });
        s.log.push_back(PushEvent {
            index,
            seq: seq::next(),
            arrived: Instant::now(),
            kind,
            report_id: Some(id.to_string()),
            revision: Some(rev),
            problems,
            bytes,
            answered: answered.into(),
            answered_named: answered.into(),
            evidence,
        });
        s.next_index += 1;
        while s.log.len() > MAX_EVENTS {
            s.log.pop_front();
        }
        self.notify.send_replace(s.next_index);
    }

    /// The terminal makes a new test report (and pushes it).
    fn create(&self) -> String {
        let now = now_rfc3339();
        let mut s = self.lock();
        s.created += 1;
        let id = format!("MEM-{:06}", s.created);
        let body = Arc::new(first_revision(s.created, &id, &now));
        while s.order.len() >= MAX_REPORTS {
            if let Some(old) = s.order.pop_front() {
                s.reports.remove(&old);
            }
        }
        s.order.push_back(id.clone());
        s.reports.insert(
            id.clone(),
            Held {
                revisions: VecDeque::from([body.clone()]),
                dispatch: None,
            },
        );
        self.push(&mut s, &id, 1, &body);
        id
    }

    /// The terminal updates `id` (and pushes the new revision); `false`
    /// when it holds no such report.
    fn update(&self, id: &str) -> bool {
        let now = now_rfc3339();
        let mut s = self.lock();
        let Some(h) = s.reports.get_mut(id) else {
            return false;
        };
        let Some(prev) = h.revisions.back().cloned() else {
            return false;
        };
        let cur = prev.get("revision").and_then(revision_of).unwrap_or(1);
        if self.has(MemoryFault::SameRevision) {
            self.push(&mut s, id, cur, &prev);
            return true;
        }
        let body = Arc::new(next_revision(&prev, cur + 1, &now));
        h.revisions.push_back(body.clone());
        while h.revisions.len() > MAX_REVISIONS {
            h.revisions.pop_front();
        }
        self.push(&mut s, id, cur + 1, &body);
        true
    }

    fn answer<T>(&self, reply: Reply<T>, wire: &str, evidence: Value) -> Asked<T> {
        Ok(Answer {
            reply,
            wire: wire.into(),
            sent: seq::next(),
            elapsed_ms: 0.0,
            evidence,
        })
    }
}

impl DataBinding for MemoryData {
    fn decl(&self) -> DataDecl {
        self.decl.clone()
    }

    fn scenario(&self) -> &DataScenario {
        &self.sc
    }

    fn push_target(&self) -> String {
        "the in-memory receiver".into()
    }

    fn schema_origin(&self) -> String {
        self.schema.origin().to_string()
    }

    fn set_screen_lane_active(&self, active: bool) {
        if active {
            self.screen_lane.fetch_add(1, Ordering::SeqCst);
        } else {
            let _ = self
                .screen_lane
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    Some(n.saturating_sub(1))
                });
        }
    }

    fn screen_lane_active(&self) -> bool {
        self.screen_lane.load(Ordering::SeqCst) > 0
    }

    fn next_push_index(&self) -> u64 {
        self.lock().next_index
    }

    fn pushes_since(&self, since: u64) -> Vec<PushEvent> {
        self.lock()
            .log
            .iter()
            .filter(|e| e.index >= since)
            .cloned()
            .collect()
    }

    fn wait_push_within<'a>(
        &'a self,
        since: u64,
        timeout: Duration,
        pred: PushPred<'a>,
    ) -> BoxFuture<'a, Option<PushEvent>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let mut rx = self.notify.subscribe();
            let mut cursor = since;
            loop {
                rx.borrow_and_update();
                {
                    let s = self.lock();
                    if let Some(e) = s.log.iter().filter(|e| e.index >= cursor).find(|e| pred(e)) {
                        return Some(e.clone());
                    }
                    cursor = cursor.max(s.next_index);
                }
                match tokio::time::timeout_at(deadline, rx.changed()).await {
                    Ok(Ok(())) => continue,
                    _ => return None,
                }
            }
        })
    }

    fn arriving(&self) -> Vec<Arriving> {
        // Nothing travels, so nothing is ever half-way.
        Vec::new()
    }

    fn received(&self, report_id: &str, revision: u64) -> Option<Received> {
        self.lock().received.get(report_id)?.get(&revision).cloned()
    }

    fn latest_received(&self, report_id: &str) -> Option<Received> {
        self.lock()
            .received
            .get(report_id)?
            .values()
            .next_back()
            .cloned()
    }

    fn acked_all(&self) -> BTreeMap<String, u64> {
        self.lock()
            .acked
            .iter()
            .filter_map(|(k, a)| a.keys().next_back().map(|r| (k.clone(), *r)))
            .collect()
    }

    fn refuse_next_push(&self, why: Refusal) -> String {
        self.lock().refuse = Some(why);
        "unavailable".into()
    }

    fn cancel_refusal(&self) {
        self.lock().refuse = None;
    }

    fn announce_new<'a>(
        &'a self,
        _purpose: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, TriggerError>> {
        Box::pin(async move {
            let id = self.create();
            Ok((self.decl.trigger == Trigger::Hook).then_some(id))
        })
    }

    fn announce_update<'a>(
        &'a self,
        report_id: &'a str,
        _purpose: &'a str,
    ) -> BoxFuture<'a, Result<(), TriggerError>> {
        Box::pin(async move {
            if self.update(report_id) {
                Ok(())
            } else {
                Err(TriggerError {
                    detail: format!("the in-memory terminal holds no report {report_id}"),
                    evidence: json!({"reportId": report_id}),
                })
            }
        })
    }

    fn get_report<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Asked<Value>> {
        Box::pin(async move {
            let found = {
                let s = self.lock();
                s.reports.get(id).and_then(|h| {
                    let n = h.revisions.len();
                    let pick = if self.has(MemoryFault::StaleAnswer) && n >= 2 {
                        h.revisions.get(n - 2)
                    } else {
                        h.revisions.back()
                    };
                    pick.map(|b| {
                        let mut v = (**b).clone();
                        if let Some(d) = &h.dispatch {
                            v["dispatch"] = d.clone();
                        }
                        v
                    })
                })
            };
            let ev = json!({"request": "report", "reportId": id});
            match found {
                Some(v) => self.answer(Reply::Answered(v), "report", ev),
                None if self.has(MemoryFault::UnknownAnswered) => {
                    self.answer(Reply::Answered(json!({"reportId": id})), "report", ev)
                }
                None => self.answer(Reply::NotFound { problem: None }, "not found", ev),
            }
        })
    }

    fn list_reports(&self) -> BoxFuture<'_, Asked<Vec<ListEntry>>> {
        Box::pin(async move {
            let entries: Vec<ListEntry> = {
                let s = self.lock();
                s.order
                    .iter()
                    .filter_map(|id| {
                        let latest = s.reports.get(id)?.revisions.back()?;
                        Some(ListEntry {
                            report_id: Some(id.clone()),
                            revision: latest.get("revision").and_then(revision_of),
                            updated_at: latest.get("updatedAt").cloned(),
                        })
                    })
                    .collect()
            };
            let ev = json!({"request": "list", "count": entries.len()});
            self.answer(Reply::Answered(entries), "list", ev)
        })
    }

    fn dispatch<'a>(&'a self, id: &'a str, input: &'a DispatchInput) -> BoxFuture<'a, Asked<()>> {
        Box::pin(async move {
            let ev = json!({"request": "dispatch", "reportId": id, "input": format!("{input:?}")});
            let mut s = self.lock();
            let Some(h) = s.reports.get_mut(id) else {
                return self.answer(Reply::NotFound { problem: None }, "not found", ev);
            };
            let status = match input {
                DispatchInput::Status(st)
                    if DISPATCH_STATES.contains(&st.status.as_str())
                        && time::OffsetDateTime::parse(
                            &st.at,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .is_ok() =>
                {
                    Some(json!({"status": st.status, "at": st.at, "note": st.note}))
                }
                _ => None,
            };
            match status {
                Some(d) => {
                    if !self.has(MemoryFault::IgnoreDispatch) {
                        h.dispatch = Some(d);
                    }
                    self.answer(Reply::Answered(()), "accepted", ev)
                }
                None if self.has(MemoryFault::AcceptMalformedDispatch) => {
                    self.answer(Reply::Answered(()), "accepted", ev)
                }
                None => self.answer(Reply::Rejected { problem: None }, "rejected", ev),
            }
        })
    }

    fn describe(&self, request: Request<'_>) -> String {
        match request {
            Request::Get(id) => format!("asking for report {id}"),
            Request::List => "asking for the list".into(),
            Request::Dispatch(id) => format!("dispatch input for report {id}"),
        }
    }

    fn wire_of(&self, expected: Expected) -> String {
        match expected {
            Expected::Report => "report",
            Expected::List => "list",
            Expected::DispatchAccepted => "accepted",
            Expected::DispatchRejected => "rejected",
            Expected::NotFound => "not found",
        }
        .into()
    }

    fn transports(&self) -> BoxFuture<'_, Result<Vec<Transport>, ProbeError>> {
        // In process: nothing travels, so there is nothing to encrypt.
        Box::pin(async { Ok(Vec::new()) })
    }

    fn evidence(&self) -> Value {
        let s = self.lock();
        json!({
            "binding": "memory",
            "faults": self.faults.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>(),
            "uptime_ms": self.started.elapsed().as_millis() as u64,
            "pushes": s.log.iter().map(|e| e.evidence.clone()).collect::<Vec<_>>(),
            "reports": s.reports.len(),
        })
    }
}
