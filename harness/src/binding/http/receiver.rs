//! The push receiver: `POST {listen}/s3-01/v1/reports`.
//!
//! Acknowledgement rules (the default binding):
//! - a valid report whose `(reportId, revision)` is new and not older than
//!   the newest acknowledged revision of that report: `201` with
//!   `{"reportId", "revision", "ackAt"}`;
//! - the same `(reportId, revision)` again: `200` with the very same ack;
//! - a revision older than one already acknowledged: `409`;
//! - a body that is not UTF-8, not JSON or not schema-valid: `400` with
//!   `{"error", "details": [{"path", "message"}]}`;
//! - a body over the size limit: `413` (by `Content-Length` up front, and by
//!   counting the streamed body);
//! - a media type other than `application/json` (parameters allowed): `415`;
//! - a body whose length is not stated (no `Content-Length`, no chunked
//!   `Transfer-Encoding`, e.g. an HTTP/1.0 push ended by closing the
//!   connection): `411`, since HTTP frames no request body that way.
//!
//! Every exchange, whatever its outcome, is logged with the harness's causal
//! sequence number; checks wait on that log. Everything kept is bounded: the
//! log, the acknowledgements and the stored report bodies.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER,
    TRANSFER_ENCODING,
};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::binding::schema::{ReportSchema, Violation};
use crate::binding::seq::{self, Seq};

mod push;

/// The path pushes go to.
pub const REPORTS_PATH: &str = s301_wire::paths::PUSH;

/// Bounds of the receiver.
#[derive(Debug, Clone, Copy)]
pub struct ReceiverLimits {
    /// Largest report body (the binding says 1 MiB).
    pub max_body: usize,
    /// A request's headers must arrive within this.
    pub header_timeout: Duration,
    /// A request's body must arrive within this once its headers are in.
    pub body_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Exchanges kept in the log (oldest dropped first, and counted).
    pub max_exchanges: usize,
    /// Raw report body bytes kept for comparisons; past this, bodies are
    /// still acknowledged but no longer kept.
    pub max_stored_bytes: usize,
    /// Acknowledgements kept; past this, pushes answer `507`.
    pub max_acks: usize,
}

impl Default for ReceiverLimits {
    fn default() -> Self {
        ReceiverLimits {
            max_body: s301_wire::limits::MAX_PUSH_BODY,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_exchanges: 20_000,
            max_stored_bytes: 64 * 1024 * 1024,
            max_acks: 500_000,
        }
    }
}

/// What the receiver made of one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    /// `201`: a new revision was acknowledged.
    Created,
    /// `200`: the same (reportId, revision) again; the earlier ack repeated.
    Repeated,
    /// `409`: older than a revision already acknowledged.
    Stale,
    /// `400`: not UTF-8, not JSON, or not schema-valid.
    Invalid,
    /// `400`: the body stream broke off (truncated or reset).
    BodyError,
    /// `408`: the body did not arrive in time.
    BodyTimeout,
    /// `413`: over the size limit.
    TooLarge,
    /// `415`: not `application/json`.
    UnsupportedMediaType,
    /// `411`: neither `Content-Length` nor chunked `Transfer-Encoding`, so
    /// the body's end is unknown (an HTTP/1.0 push ended by closing, say).
    LengthRequired,
    /// A failure injected by a check ([`super::DataChannel::fail_next`]).
    Injected,
    /// `507`: the receiver's acknowledgement store is full.
    StoreFull,
    /// `404`: not the reports path.
    WrongPath,
    /// `405`: not a POST.
    WrongMethod,
}

/// One exchange with the terminal at the receiver, as evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// Position in the receiver's log (0, 1, 2 ...).
    pub index: u64,
    /// The harness's causal sequence number when the answer was decided.
    pub seq: Seq,
    /// Wall-clock time (RFC 3339, UTC).
    pub at: String,
    /// Milliseconds since the receiver started.
    pub t_ms: f64,
    /// Milliseconds from the request's arrival to its answer.
    pub duration_ms: f64,
    /// Client address.
    pub peer: String,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// `Content-Type` as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Content-Length` as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
    /// Body bytes read.
    pub body_bytes: usize,
    /// Status answered.
    pub status: u16,
    /// What it was.
    pub outcome: PushOutcome,
    /// The report's id, when the body had one.
    #[serde(skip_serializing_if = "Option::is_none", rename = "reportId")]
    pub report_id: Option<String>,
    /// The report's revision, when the body had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// What was wrong (schema violations with paths, parse errors ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Violation>,
    /// Monotonic arrival time.
    #[serde(skip)]
    pub arrived: Instant,
}

impl Exchange {
    /// Whether this was a POST to the reports path (a push attempt, whatever
    /// became of it).
    pub fn is_push(&self) -> bool {
        self.method == "POST" && self.path == REPORTS_PATH
    }

    /// Whether the push was taken: acknowledged now (`201`) or before (`200`).
    pub fn is_acked(&self) -> bool {
        matches!(self.outcome, PushOutcome::Created | PushOutcome::Repeated)
    }

    /// Evidence form.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A push whose head has arrived but whose body has not yet been read to
/// its end (nor refused): what a slow sender looks like while it sends.
#[derive(Debug, Clone, Serialize)]
pub struct Arriving {
    /// Client address.
    pub peer: String,
    /// Milliseconds since the request's head arrived.
    pub waited_ms: f64,
    /// `Content-Length` as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
    /// Body bytes read so far.
    pub body_bytes: u64,
}

impl Arriving {
    /// One line, e.g. `body incomplete 2490 ms after its head (13 of 1000 bytes read)`.
    pub fn describe(&self) -> String {
        let of = match self.content_length {
            Some(n) => format!("{} of {n} bytes read", self.body_bytes),
            None => format!("{} bytes read", self.body_bytes),
        };
        format!(
            "body incomplete {:.0} ms after its head ({of}) from {}",
            self.waited_ms, self.peer
        )
    }
}

struct ArrivingEntry {
    arrived: Instant,
    peer: SocketAddr,
    content_length: Option<u64>,
    read: Arc<AtomicU64>,
}

/// Takes a push off the arriving list when its body has been dealt with
/// (read, refused, or the connection dropped).
struct ArrivingGuard<'a> {
    state: &'a ReceiverState,
    key: u64,
}

impl Drop for ArrivingGuard<'_> {
    fn drop(&mut self) {
        self.state.lock().arriving.remove(&self.key);
    }
}

pub use crate::binding::data::Received;

/// A received revision as stored: the raw body (parsed again on demand,
/// which is cheaper to keep than a JSON tree).
#[derive(Debug, Clone)]
struct Stored {
    revision: u64,
    raw: Option<Bytes>,
    index: u64,
    acked: bool,
    valid: bool,
    bytes: usize,
}

impl Stored {
    fn to_received(&self) -> Received {
        Received {
            revision: self.revision,
            body: self
                .raw
                .as_ref()
                .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                .map(Arc::new),
            index: self.index,
            acked: self.acked,
            valid: self.valid,
            bytes: self.bytes,
        }
    }
}

struct Keep {
    id: String,
    rev: u64,
    raw: Bytes,
    acked: bool,
    valid: bool,
}

#[derive(Debug, Clone)]
struct AckEntry {
    ack_at: String,
}

#[derive(Default)]
struct ReportEntry {
    acks: BTreeMap<u64, AckEntry>,
    received: BTreeMap<u64, Stored>,
}

#[derive(Default)]
struct Store {
    reports: HashMap<String, ReportEntry>,
    log: VecDeque<Exchange>,
    next_index: u64,
    dropped: u64,
    fail: Option<(u32, u16)>,
    stored_bytes: usize,
    ack_count: usize,
    /// Pushes whose body is being read (bounded by the connection cap).
    arriving: BTreeMap<u64, ArrivingEntry>,
    next_arriving: u64,
}

/// The receiver's state, shared by its connections and the data channel.
pub struct ReceiverState {
    store: Mutex<Store>,
    notify: watch::Sender<u64>,
    schema: std::sync::RwLock<Arc<ReportSchema>>,
    limits: ReceiverLimits,
    started: Instant,
    transcript: crate::binding::transcript::TranscriptSlot,
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub use s301_wire::is_json_media_type;

/// The `(reportId, revision)` an acknowledgement needs, or what is missing.
pub fn ack_key(report: &Value) -> Result<(String, u64), Vec<Violation>> {
    let mut errs = Vec::new();
    let id = match report.get("reportId") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => {
            errs.push(Violation::new(
                "/reportId",
                "a non-empty string reportId is needed to acknowledge the report",
            ));
            None
        }
    };
    let rev = report.get("revision").and_then(revision_of);
    if rev.is_none() {
        errs.push(Violation::new(
            "/revision",
            "an integer revision >= 1 is needed to acknowledge the report",
        ));
    }
    match (id, rev) {
        (Some(i), Some(r)) => Ok((i, r)),
        _ => Err(errs),
    }
}

pub use crate::binding::data::revision_of;

/// Best-effort id and revision of a body the receiver will not accept, for the log.
fn peek_key(v: &Value) -> (Option<String>, Option<u64>) {
    let id = v
        .get("reportId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| crate::binding::schema::cut(s, 200));
    let rev = v.get("revision").and_then(revision_of);
    (id, rev)
}

struct Draft {
    arrived: Instant,
    peer: SocketAddr,
    method: String,
    path: String,
    content_type: Option<String>,
    content_length: Option<u64>,
    body_bytes: usize,
    report_id: Option<String>,
    revision: Option<u64>,
}

impl ReceiverState {
    /// A receiver judging pushes with `schema`.
    pub fn new(schema: Arc<ReportSchema>, limits: ReceiverLimits) -> Self {
        let (notify, _) = watch::channel(0);
        ReceiverState {
            store: Mutex::new(Store::default()),
            notify,
            schema: std::sync::RwLock::new(schema),
            limits,
            started: Instant::now(),
            transcript: Default::default(),
        }
    }

    /// The slot the receiver finds the run's transcript in.
    pub fn transcript(&self) -> &crate::binding::transcript::TranscriptSlot {
        &self.transcript
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The schema pushes are judged with.
    pub fn schema(&self) -> Arc<ReportSchema> {
        self.schema
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Judges later pushes with `schema`.
    pub fn set_schema(&self, schema: Arc<ReportSchema>) {
        *self.schema.write().unwrap_or_else(|p| p.into_inner()) = schema;
    }

    /// The limits in force.
    pub fn limits(&self) -> &ReceiverLimits {
        &self.limits
    }

    /// Answers the next `n` pushes with `status` (and a JSON error), whatever
    /// they carry; `n = 0` cancels.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.lock().fail = (n > 0).then_some((n, status));
    }

    /// The index the next exchange will get.
    pub fn next_index(&self) -> u64 {
        self.lock().next_index
    }

    /// Exchanges dropped from the log because of its bound.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Exchanges with index `>= since` still in the log, oldest first.
    pub fn exchanges_since(&self, since: u64) -> Vec<Exchange> {
        self.lock()
            .log
            .iter()
            .filter(|e| e.index >= since)
            .cloned()
            .collect()
    }

    /// The highest acknowledged revision of `report_id`.
    pub fn acked_revision(&self, report_id: &str) -> Option<u64> {
        self.lock()
            .reports
            .get(report_id)
            .and_then(|r| r.acks.keys().next_back().copied())
    }

    /// Every report's highest acknowledged revision.
    pub fn acked_all(&self) -> BTreeMap<String, u64> {
        self.lock()
            .reports
            .iter()
            .filter_map(|(k, r)| r.acks.keys().next_back().map(|rev| (k.clone(), *rev)))
            .collect()
    }

    /// What was received for `report_id` at `revision`.
    pub fn received(&self, report_id: &str, revision: u64) -> Option<Received> {
        self.lock()
            .reports
            .get(report_id)
            .and_then(|r| r.received.get(&revision).map(Stored::to_received))
    }

    /// The highest revision received for `report_id` (acknowledged or not).
    pub fn latest_received(&self, report_id: &str) -> Option<Received> {
        self.lock()
            .reports
            .get(report_id)
            .and_then(|r| r.received.values().next_back().map(Stored::to_received))
    }

    /// The pushes whose body is being read right now, oldest first.
    pub fn arriving(&self) -> Vec<Arriving> {
        self.lock()
            .arriving
            .values()
            .map(|a| Arriving {
                peer: a.peer.to_string(),
                waited_ms: a.arrived.elapsed().as_secs_f64() * 1000.0,
                content_length: a.content_length,
                body_bytes: a.read.load(Ordering::Relaxed),
            })
            .collect()
    }

    fn start_arriving(&self, d: &Draft) -> (ArrivingGuard<'_>, Arc<AtomicU64>) {
        let read = Arc::new(AtomicU64::new(0));
        let mut s = self.lock();
        let key = s.next_arriving;
        s.next_arriving += 1;
        s.arriving.insert(
            key,
            ArrivingEntry {
                arrived: d.arrived,
                peer: d.peer,
                content_length: d.content_length,
                read: read.clone(),
            },
        );
        (ArrivingGuard { state: self, key }, read)
    }

    /// Waits up to `timeout` for the first exchange with index `>= since`
    /// that satisfies `pred`.
    pub async fn wait_for(
        &self,
        since: u64,
        timeout: Duration,
        mut pred: impl FnMut(&Exchange) -> bool,
    ) -> Option<Exchange> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.notify.subscribe();
        let mut cursor = since;
        loop {
            rx.borrow_and_update();
            {
                let s = self.lock();
                for e in s.log.iter().filter(|e| e.index >= cursor) {
                    if pred(e) {
                        return Some(e.clone());
                    }
                }
                cursor = cursor.max(s.next_index);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return None,
            }
        }
    }

    fn record(&self, d: Draft, status: StatusCode, outcome: PushOutcome, errors: Vec<Violation>) {
        self.record_keep(d, status, outcome, errors, None, None);
    }

    /// Logs an exchange; `keep` stores a received body under the same lock,
    /// so a waiter that sees the exchange also sees the body.
    fn record_keep(
        &self,
        d: Draft,
        status: StatusCode,
        outcome: PushOutcome,
        errors: Vec<Violation>,
        keep: Option<Keep>,
        at: Option<String>,
    ) {
        let at = at.unwrap_or_else(now_rfc3339);
        if let Some(t) = self.transcript.get() {
            use crate::binding::transcript::Direction;
            t.log(
                "data-receiver",
                Direction::Recv,
                "HTTP request",
                serde_json::json!({"method": d.method, "path": d.path, "peer": d.peer.to_string(), "content_type": d.content_type, "content_length": d.content_length, "body_bytes": d.body_bytes, "reportId": d.report_id, "revision": d.revision}),
            );
            t.log(
                "data-receiver",
                Direction::Send,
                "HTTP response",
                serde_json::json!({"status": status.as_u16(), "violations": errors.len()}),
            );
        }
        let mut s = self.lock();
        if let Some(k) = keep {
            self.keep_locked(&mut s, k);
        }
        let ex = Exchange {
            index: s.next_index,
            seq: seq::next(),
            at,
            t_ms: d.arrived.duration_since(self.started).as_secs_f64() * 1000.0,
            duration_ms: d.arrived.elapsed().as_secs_f64() * 1000.0,
            peer: d.peer.to_string(),
            method: d.method,
            path: d.path,
            content_type: d.content_type,
            content_length: d.content_length,
            body_bytes: d.body_bytes,
            status: status.as_u16(),
            outcome,
            report_id: d.report_id,
            revision: d.revision,
            errors,
            arrived: d.arrived,
        };
        s.next_index += 1;
        s.log.push_back(ex);
        while s.log.len() > self.limits.max_exchanges.max(1) {
            s.log.pop_front();
            s.dropped += 1;
        }
        let n = s.next_index;
        drop(s);
        self.notify.send_replace(n);
    }

    /// The whole log as evidence (bounded by the log's own bound).
    pub fn log_json(&self) -> Value {
        let s = self.lock();
        json!({
            "exchanges": s.log.iter().map(Exchange::to_json).collect::<Vec<_>>(),
            "dropped": s.dropped,
            "reports": s.reports.len(),
            "acks": s.ack_count,
            "stored_bytes": s.stored_bytes,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn revisions_accept_integral_numbers_only() {
        assert_eq!(revision_of(&json!(3)), Some(3));
        assert_eq!(revision_of(&json!(3.0)), Some(3));
        assert_eq!(revision_of(&json!(0)), None);
        assert_eq!(revision_of(&json!(-1)), None);
        assert_eq!(revision_of(&json!(1.5)), None);
        assert_eq!(revision_of(&json!("1")), None);
    }

    #[test]
    fn ack_key_names_what_is_missing() {
        assert_eq!(
            ack_key(&json!({"reportId": "a", "revision": 2})),
            Ok(("a".into(), 2))
        );
        let e = ack_key(&json!({"reportId": "", "revision": 0})).unwrap_err();
        let paths: Vec<_> = e.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, vec!["/reportId", "/revision"]);
        assert!(ack_key(&json!([1, 2])).is_err());
    }
}
