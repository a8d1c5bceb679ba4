//! The mock terminal's data side: the data API under `/s3-01/v1/` (reports,
//! dispatch input, test hooks) and a pusher that delivers reports to the
//! harness (`push_to`) with retries and exponential backoff.
//!
//! API (the default binding):
//! - `GET /s3-01/v1/reports/{id}`: `200` latest revision (with the current
//!   `dispatch`), or `404 {"error"}`;
//! - `GET /s3-01/v1/reports`: `{"reports": [{"reportId", "revision", "updatedAt"}]}`;
//! - `POST /s3-01/v1/reports/{id}/dispatch`: `204`, shown by the next GET;
//!   malformed: `400 {"error", "details"}`;
//! - `POST /s3-01/v1/test-reports`: `202 {"reportId"}` and a new test report is pushed;
//! - `POST /s3-01/v1/test-reports/{id}/update`: `202` and the next revision is pushed.
//!
//! The data faults change exactly one behaviour each: `no-push` (nothing is
//! pushed), `bad-schema` (reports break the schema), `no-retry` (a failed
//! push is dropped), `ignore-dispatch` (204 but not stored), `accept-malformed-dispatch`
//! (a malformed status answered 204, not 400), `stale-get`
//! (GET of a report gives the previous revision), `slow-burst` (requests that
//! arrive in a crowd take 3 s) and `unknown-200` (an unknown id answers 200).
//!
//! A hostile data side ([`MockConfig::hostile_data`]) goes further, for the
//! hostile terminal suite: the pusher sends a hostile push instead of each
//! report, or every GET of a report or of the list gets a hostile answer
//! written on the raw connection ([`hostile_answer_for`] picks those
//! connections out; HTTP keep-alive is then off, so each request comes on a
//! connection of its own).

#[cfg(test)]
mod api_tests;
pub mod pusher;
pub mod report;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use s301_wire::paths::{self, Route};
use s301_wire::{ErrorBody, HookAnswer, ListEntry, Problem, ReportList};

use crate::config::{Fault, MockConfig};
use crate::hostile::HostileAnswer;

/// Path prefix of the data API.
pub const PREFIX: &str = s301_wire::paths::PREFIX;
/// Reports the mock keeps (the oldest is forgotten past this).
pub const MAX_REPORTS: usize = 1000;
/// Revision snapshots kept per report.
pub const MAX_SNAPSHOTS: usize = 16;
/// Largest request body the data API reads.
pub const MAX_REQUEST_BODY: usize = s301_wire::limits::MAX_REQUEST_BODY;
/// A request body must arrive within this.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// Pushes waiting to be delivered.
pub const QUEUE: usize = 1024;
/// slow-burst: more than this many requests in flight, or arriving within
/// [`CROWD_WINDOW`], count as a crowd.
pub const CROWD: usize = 5;
/// slow-burst: the window in which arrivals are counted.
pub const CROWD_WINDOW: Duration = Duration::from_millis(200);
/// slow-burst: how long a crowded request takes.
pub const SLOW: Duration = Duration::from_secs(3);

/// How long [`hostile_answer_for`] waits for a request line.
const PEEK_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between looks at a request line that has only partly arrived.
const PEEK_STEP: Duration = Duration::from_millis(10);

pub use s301_wire::paths::{decode_segment, is_report_get};

/// With a hostile answer configured: the case, when the first request on
/// `stream` is a GET of reports ([`is_report_get`]). Only peeks, so any
/// other connection is served as usual; `None` at once without the setting.
pub async fn hostile_answer_for(
    state: &DataState,
    stream: &tokio::net::TcpStream,
) -> Option<HostileAnswer> {
    let case = state.cfg.hostile_answer()?;
    let deadline = tokio::time::Instant::now() + PEEK_TIMEOUT;
    let mut buf = [0u8; 1024];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return None,
        };
        let seen = buf.get(..n).unwrap_or(&[]);
        if n == 0 || n == buf.len() || seen.contains(&b'\n') {
            return is_report_get(seen).then_some(case);
        }
        // Part of the line is in (peek returns at once while data waits).
        if tokio::time::Instant::now() + PEEK_STEP > deadline {
            return None;
        }
        tokio::time::sleep(PEEK_STEP).await;
    }
}

/// A report revision waiting to be pushed.
#[derive(Debug, Clone)]
pub struct PushJob {
    /// The report.
    pub report_id: String,
    /// Its revision.
    pub revision: u64,
    /// The body.
    pub body: Arc<Value>,
}

struct Record {
    snapshots: VecDeque<Arc<Value>>,
    revision: u64,
    dispatch: Option<Value>,
}

#[derive(Default)]
struct Store {
    reports: BTreeMap<String, Record>,
    order: VecDeque<String>,
    created: u64,
}

struct Inner {
    cfg: MockConfig,
    store: Mutex<Store>,
    queue_tx: mpsc::Sender<PushJob>,
    queue_rx: Mutex<Option<mpsc::Receiver<PushJob>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    stop: watch::Sender<bool>,
    in_flight: AtomicUsize,
    arrivals: Mutex<VecDeque<Instant>>,
    stats: Arc<pusher::PushStats>,
}

/// Shared state of the data API, built once per mock terminal.
pub struct DataState {
    /// The configuration the mock was started with.
    pub cfg: MockConfig,
    inner: Arc<Inner>,
}

impl DataState {
    /// State for a mock started with `cfg`.
    pub fn new(cfg: &MockConfig) -> Self {
        let (queue_tx, queue_rx) = mpsc::channel(QUEUE);
        let (stop, _) = watch::channel(false);
        DataState {
            cfg: cfg.clone(),
            inner: Arc::new(Inner {
                cfg: cfg.clone(),
                store: Mutex::new(Store::default()),
                queue_tx,
                queue_rx: Mutex::new(Some(queue_rx)),
                task: Mutex::new(None),
                stop,
                in_flight: AtomicUsize::new(0),
                arrivals: Mutex::new(VecDeque::new()),
                stats: Arc::new(pusher::PushStats::default()),
            }),
        }
    }

    /// Counters of the pusher (attempts, deliveries, give-ups).
    pub fn push_stats(&self) -> pusher::PushCounts {
        self.inner.stats.snapshot()
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn json_response<T: serde::Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(s301_wire::JSON));
    r
}

fn error(status: StatusCode, msg: &str) -> Response<Full<Bytes>> {
    json_response(status, &ErrorBody::<Problem>::new(msg))
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// Reads a request body within [`MAX_REQUEST_BODY`] and [`BODY_TIMEOUT`].
async fn read_body(req: Request<hyper::body::Incoming>) -> Result<Bytes, Response<Full<Bytes>>> {
    let limited = Limited::new(req.into_body(), MAX_REQUEST_BODY);
    match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("body could not be read: {e}"),
        )),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "body did not arrive in time",
        )),
    }
}

/// Decrements the in-flight counter when a request is done.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Answers one HTTP request under `/s3-01/v1/` (the screen path excepted).
pub async fn handle(
    state: &DataState,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let inner = &state.inner;
    let route = paths::route(req.uri().path());
    let method = req.method().clone();
    let no_report = || error(StatusCode::NOT_FOUND, "no such report");
    match route {
        Route::List => {
            if method != Method::GET {
                return method_not_allowed("GET");
            }
            let _g = crowd_delay(inner).await;
            list(inner)
        }
        Route::Report(id) => {
            if method != Method::GET {
                return method_not_allowed("GET");
            }
            let _g = crowd_delay(inner).await;
            match id {
                Some(id) => get_report(inner, &id),
                None => no_report(),
            }
        }
        Route::Dispatch(id) => {
            if method != Method::POST {
                return method_not_allowed("POST");
            }
            match id {
                Some(id) => dispatch(inner, &id, req).await,
                None => no_report(),
            }
        }
        Route::TestReports => {
            if method != Method::POST {
                return method_not_allowed("POST");
            }
            if let Err(r) = read_body(req).await {
                return r;
            }
            create_report(inner)
        }
        Route::TestUpdate(id) => {
            if method != Method::POST {
                return method_not_allowed("POST");
            }
            let Some(id) = id else {
                return no_report();
            };
            if let Err(r) = read_body(req).await {
                return r;
            }
            update_report(inner, &id)
        }
        Route::Unknown => error(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Counts the request in flight (until the returned guard drops) and, under
/// slow-burst, holds a request arriving in a crowd for [`SLOW`].
async fn crowd_delay(inner: &Inner) -> InFlight<'_> {
    let now = Instant::now();
    let in_flight = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let guard = InFlight(&inner.in_flight);
    let recent = {
        let mut a = inner.arrivals.lock().unwrap_or_else(|p| p.into_inner());
        a.push_back(now);
        while a
            .front()
            .is_some_and(|t| now.duration_since(*t) > CROWD_WINDOW)
        {
            a.pop_front();
        }
        // Bounded by the window; cap anyway.
        while a.len() > 10_000 {
            a.pop_front();
        }
        a.len()
    };
    if inner.cfg.has(Fault::SlowBurst) && (in_flight > CROWD || recent > CROWD) {
        tokio::time::sleep(SLOW).await;
    }
    guard
}

fn lock(inner: &Inner) -> std::sync::MutexGuard<'_, Store> {
    inner.store.lock().unwrap_or_else(|p| p.into_inner())
}

fn list(inner: &Inner) -> Response<Full<Bytes>> {
    let s = lock(inner);
    let reports: Vec<ListEntry> = s
        .order
        .iter()
        .filter_map(|id| {
            let r = s.reports.get(id)?;
            let latest = r.snapshots.back()?;
            Some(ListEntry {
                report_id: id.clone(),
                revision: r.revision,
                updated_at: latest.get("updatedAt").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    json_response(StatusCode::OK, &ReportList { reports })
}

fn get_report(inner: &Inner, id: &str) -> Response<Full<Bytes>> {
    let s = lock(inner);
    let Some(r) = s.reports.get(id) else {
        drop(s);
        if inner.cfg.has(Fault::Unknown200) {
            return json_response(StatusCode::OK, &json!({"reportId": id}));
        }
        return error(StatusCode::NOT_FOUND, &format!("no report {id:?}"));
    };
    let snap = if inner.cfg.has(Fault::StaleGet) && r.snapshots.len() >= 2 {
        r.snapshots.get(r.snapshots.len() - 2)
    } else {
        r.snapshots.back()
    };
    let Some(snap) = snap else {
        return error(StatusCode::NOT_FOUND, &format!("no report {id:?}"));
    };
    let mut body = (**snap).clone();
    if let Some(d) = &r.dispatch {
        body["dispatch"] = d.clone();
    }
    json_response(StatusCode::OK, &body)
}

/// Checks a dispatch status body; `Err` lists `(path, message)` problems.
pub fn parse_dispatch(body: &[u8]) -> Result<Value, Vec<(String, String)>> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| vec![(String::new(), format!("not JSON: {e}"))])?;
    let Some(o) = v.as_object() else {
        return Err(vec![(String::new(), "must be a JSON object".into())]);
    };
    let mut errs = Vec::new();
    let mut out = serde_json::Map::new();
    match o.get("status") {
        Some(Value::String(s)) if s301_wire::DISPATCH_STATES.contains(&s.as_str()) => {
            out.insert("status".into(), json!(s));
        }
        Some(other) => errs.push((
            "/status".into(),
            format!("{other} is not one of received, dispatched, on_scene, closed"),
        )),
        None => errs.push(("/status".into(), "required".into())),
    }
    match o.get("at") {
        None => {}
        Some(Value::String(s))
            if time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .is_ok() =>
        {
            out.insert("at".into(), json!(s));
        }
        Some(other) => errs.push((
            "/at".into(),
            format!("{other} is not an RFC 3339 date-time"),
        )),
    }
    match o.get("note") {
        None => {}
        Some(Value::String(s)) => {
            out.insert("note".into(), json!(s));
        }
        Some(other) => errs.push(("/note".into(), format!("{other} is not a string"))),
    }
    if errs.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errs)
    }
}

async fn dispatch(
    inner: &Inner,
    id: &str,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    if let Some(ct) = req.headers().get(CONTENT_TYPE) {
        if !s301_wire::is_json_media_type(&String::from_utf8_lossy(ct.as_bytes())) {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            );
        }
    }
    if !lock(inner).reports.contains_key(id) {
        return error(StatusCode::NOT_FOUND, &format!("no report {id:?}"));
    }
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match parse_dispatch(&body) {
        Err(_) if inner.cfg.has(Fault::AcceptMalformedDispatch) => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        Err(errs) => {
            let details: Vec<Problem> = errs
                .into_iter()
                .map(|(path, message)| Problem { path, message })
                .collect();
            json_response(
                StatusCode::BAD_REQUEST,
                &ErrorBody {
                    error: "malformed dispatch status".into(),
                    details,
                },
            )
        }
        Ok(d) => {
            if !inner.cfg.has(Fault::IgnoreDispatch) {
                if let Some(r) = lock(inner).reports.get_mut(id) {
                    r.dispatch = Some(d);
                }
            }
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
    }
}

fn enqueue(inner: &Inner, job: PushJob) {
    if inner.cfg.has(Fault::NoPush) {
        return;
    }
    if inner.queue_tx.try_send(job).is_err() {
        tracing::warn!("mock push queue full or closed; a report revision is not pushed");
        inner.stats.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

fn create_report(inner: &Inner) -> Response<Full<Bytes>> {
    let bad = inner.cfg.has(Fault::BadSchema);
    let now = now_rfc3339();
    let job = {
        let mut s = lock(inner);
        s.created += 1;
        let n = s.created;
        let id = format!("MOCK-N119-{n:06}");
        let body = Arc::new(report::first_revision(n, &id, &now, bad));
        while s.order.len() >= MAX_REPORTS {
            if let Some(old) = s.order.pop_front() {
                s.reports.remove(&old);
            }
        }
        s.order.push_back(id.clone());
        s.reports.insert(
            id.clone(),
            Record {
                snapshots: VecDeque::from([body.clone()]),
                revision: 1,
                dispatch: None,
            },
        );
        PushJob {
            report_id: id,
            revision: 1,
            body,
        }
    };
    let id = job.report_id.clone();
    enqueue(inner, job);
    json_response(
        StatusCode::ACCEPTED,
        &HookAnswer {
            report_id: id,
            revision: None,
        },
    )
}

fn update_report(inner: &Inner, id: &str) -> Response<Full<Bytes>> {
    let bad = inner.cfg.has(Fault::BadSchema);
    let now = now_rfc3339();
    let job = {
        let mut s = lock(inner);
        let Some(r) = s.reports.get_mut(id) else {
            return error(StatusCode::NOT_FOUND, &format!("no report {id:?}"));
        };
        let Some(prev) = r.snapshots.back().cloned() else {
            return error(StatusCode::NOT_FOUND, &format!("no report {id:?}"));
        };
        let rev = r.revision + 1;
        let body = Arc::new(report::next_revision(&prev, rev, &now, bad));
        r.revision = rev;
        r.snapshots.push_back(body.clone());
        while r.snapshots.len() > MAX_SNAPSHOTS {
            r.snapshots.pop_front();
        }
        PushJob {
            report_id: id.to_string(),
            revision: rev,
            body,
        }
    };
    let rev = job.revision;
    enqueue(inner, job);
    json_response(
        StatusCode::ACCEPTED,
        &HookAnswer {
            report_id: id.to_string(),
            revision: Some(rev),
        },
    )
}

/// Called once right after the mock has started listening: starts the
/// pusher (when `push_to` is set).
pub fn start_background(state: &DataState) {
    start_background_tls(state, None);
}

/// [`start_background`] with TLS client settings for an `https://`
/// `push_to` (the mock's TLS mode passes its CA's).
pub fn start_background_tls(state: &DataState, tls: Option<Arc<rustls::ClientConfig>>) {
    let inner = &state.inner;
    let Some(rx) = inner
        .queue_rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    else {
        return;
    };
    let mut cfg = pusher::PusherConfig::for_mock(&inner.cfg);
    cfg.tls = tls;
    let stop = inner.stop.subscribe();
    let stats = inner.stats.clone();
    let task = tokio::spawn(pusher::run(cfg, rx, stop, stats));
    *inner.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
}

/// Called once when the mock shuts down: stops the pusher (bounded).
pub async fn stop_background(state: &DataState) {
    let inner = &state.inner;
    inner.stop.send_replace(true);
    let task = inner.task.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(mut t) = task {
        if tokio::time::timeout(Duration::from_secs(2), &mut t)
            .await
            .is_err()
        {
            t.abort();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn dispatch_bodies_are_checked() {
        assert!(parse_dispatch(
            br#"{"status":"dispatched","at":"2025-01-01T00:00:00Z","note":"n"}"#
        )
        .is_ok());
        assert!(parse_dispatch(br#"{"status":"closed"}"#).is_ok());
        for bad in [
            &br#"{"status":"teleported"}"#[..],
            br#"{"status":42}"#,
            br#"{"at":"2025-01-01T00:00:00Z"}"#,
            br#"["dispatched"]"#,
            br#"{"status":"dispatched","at":"yesterday"}"#,
            br#"{"status":"dispatched","note":5}"#,
            br#"{"status":"#,
        ] {
            assert!(
                parse_dispatch(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn dispatch_keeps_only_known_members() {
        let v = parse_dispatch(br#"{"status":"on_scene","extra":1}"#).unwrap();
        assert_eq!(v, json!({"status": "on_scene"}));
    }
}
