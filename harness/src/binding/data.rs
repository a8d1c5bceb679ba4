//! The data channel as checks see it: [`DataBinding`].
//!
//! A data binding stands between the data checks (DO, DI, DR, TLS-01) and a
//! terminal's data channel. It receives the reports the terminal pushes and
//! reports each as a [`PushEvent`] (accepted, repeated, or refused for a
//! neutral [`Refusal`]); it asks the terminal for reports and passes dispatch
//! statuses to it, each answer an [`Answer`] whose [`Reply`] says what kind
//! of answer it was; and it makes the terminal push (test hooks or an
//! operator). Checks never see how any of this travels: status codes, paths
//! and media types are the binding's business. Each outcome carries the
//! binding's own words for it (`wire`, e.g. `"404"` over HTTP), which checks
//! may quote in a detail but never compare.
//!
//! The default binding is [`super::http`] (JSON over HTTP/1.1);
//! [`super::memory::data`] simulates a terminal in process.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::{BoxFuture, Seq};
use crate::config::declaration::{DataDecl, Trigger};
use crate::config::scenario::DataScenario;

pub use super::schema::Violation;

/// The dispatch states a dispatch status may carry.
pub const DISPATCH_STATES: [&str; 4] = s301_wire::DISPATCH_STATES;

/// A JSON revision value as an integer >= 1 (`2` and `2.0` alike).
pub fn revision_of(v: &Value) -> Option<u64> {
    if let Some(u) = v.as_u64() {
        return (u >= 1).then_some(u);
    }
    let f = v.as_f64()?;
    if f >= 1.0 && f.fract() == 0.0 && f < 9.0e15 {
        // Exact: an integral f64 below 2^53.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return Some(f as u64);
    }
    None
}

/// Why a push was refused, whatever the binding's way of saying so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The body is over the size limit.
    TooLarge,
    /// The body is not of the binding's media type.
    WrongMediaType,
    /// The push did not state its body's length, so its end is unknown.
    NoStatedLength,
    /// The body is not a valid report (not UTF-8, not JSON, not
    /// schema-valid, or without an id and revision); see the problems.
    Invalid,
    /// The body broke off (truncated, reset).
    BrokenBody,
    /// The body did not arrive in time.
    BodyTimeout,
    /// Older than a revision already acknowledged.
    OlderRevision,
    /// The harness's acknowledgement store is full.
    StoreFull,
    /// The harness is (on purpose) unable to take the push now: a transient
    /// refusal the terminal must retry ([`DataBinding::refuse_next_push`]).
    Unavailable,
}

/// What became of one push (or of anything else sent to the receiver).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "why")]
pub enum PushKind {
    /// A new revision, acknowledged.
    Accepted,
    /// The same revision again; the earlier acknowledgement repeated.
    Repeated,
    /// Refused.
    Refused(Refusal),
    /// Refused on purpose by the harness ([`DataBinding::refuse_next_push`]),
    /// before any judgement.
    Injected(Refusal),
    /// Not a push at all (sent somewhere else at the receiver).
    Stray,
}

/// One exchange at the harness's receiver.
#[derive(Debug, Clone)]
pub struct PushEvent {
    /// Position in the binding's push log (0, 1, 2 ...).
    pub index: u64,
    /// The harness's causal sequence number when the answer was decided.
    pub seq: Seq,
    /// Monotonic arrival time.
    pub arrived: Instant,
    /// What became of it.
    pub kind: PushKind,
    /// The report's id, when the body had one.
    pub report_id: Option<String>,
    /// The report's revision, when the body had one.
    pub revision: Option<u64>,
    /// What was wrong (schema violations with paths, parse errors ...).
    pub problems: Vec<Violation>,
    /// Body size in bytes.
    pub bytes: usize,
    /// The binding's answer, briefly (`"201"` over HTTP).
    pub answered: String,
    /// The binding's answer, named (`"413 Payload Too Large"` over HTTP).
    pub answered_named: String,
    /// The binding's record of the exchange, as evidence.
    pub evidence: Value,
}

impl PushEvent {
    /// Whether it was a push attempt, whatever became of it.
    pub fn is_push(&self) -> bool {
        self.kind != PushKind::Stray
    }

    /// Whether the push was taken: acknowledged now or before.
    pub fn is_acked(&self) -> bool {
        matches!(self.kind, PushKind::Accepted | PushKind::Repeated)
    }

    /// Whether the harness refused it on purpose.
    pub fn is_injected(&self) -> bool {
        matches!(self.kind, PushKind::Injected(_))
    }
}

/// A push still arriving (its body not yet read to its end), as the binding
/// describes it.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Arriving {
    /// Evidence (serialised as this alone).
    pub evidence: Value,
    /// One line, e.g. `body incomplete 2490 ms after its head (13 of 1000 bytes read) from ...`.
    #[serde(skip)]
    pub description: String,
}

/// A report revision the harness was sent.
#[derive(Debug, Clone)]
pub struct Received {
    /// The revision.
    pub revision: u64,
    /// The body, unless the storage bound was reached.
    pub body: Option<Arc<Value>>,
    /// The push log index of the exchange that carried it.
    pub index: u64,
    /// Whether it was acknowledged.
    pub acked: bool,
    /// Whether it was schema-valid.
    pub valid: bool,
    /// Body size in bytes.
    pub bytes: usize,
}

/// A trigger (test hook or operator prompt) that did not work.
#[derive(Debug, Clone)]
pub struct TriggerError {
    /// One line for the check's detail.
    pub detail: String,
    /// The terminal's answer or error, as evidence.
    pub evidence: Value,
}

/// A request to the terminal's data API, for naming it in a detail.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    /// One report by id.
    Get(&'a str),
    /// The report list.
    List,
    /// Dispatch input for a report.
    Dispatch(&'a str),
}

/// The kinds of answer a check expects, for naming them in a detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// A report.
    Report,
    /// The report list.
    List,
    /// Dispatch input taken.
    DispatchAccepted,
    /// Malformed dispatch input refused.
    DispatchRejected,
    /// No such report.
    NotFound,
}

/// What kind of answer came back.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<T> {
    /// What was asked for.
    Answered(T),
    /// The terminal knows no such report. `problem` says what is wrong with
    /// the answer's form (an error body missing, say), if anything.
    NotFound {
        /// What is wrong with the answer's form.
        problem: Option<String>,
    },
    /// The input was refused as malformed. `problem` as for `NotFound`.
    Rejected {
        /// What is wrong with the answer's form.
        problem: Option<String>,
    },
    /// The answer is of the kind asked for but unusable (not JSON, no list ...).
    Malformed {
        /// What is wrong, in words.
        problem: String,
    },
    /// Another kind of answer altogether ([`Answer::wire`] says which).
    Unexpected,
}

/// A complete answer from the terminal.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    /// What kind of answer it was.
    pub reply: Reply<T>,
    /// The binding's word for the answer (`"404"` over HTTP), for details.
    pub wire: String,
    /// When the request was sent, in the harness's causal order.
    pub sent: Seq,
    /// Milliseconds from sending to the complete answer.
    pub elapsed_ms: f64,
    /// The binding's record of the exchange, as evidence.
    pub evidence: Value,
}

/// A request that got no answer (timeout, refused connection ...).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct NoAnswer {
    /// Why, in words.
    pub detail: String,
    /// The binding's record of the failure, as evidence.
    pub evidence: Value,
}

/// The answer to a request, or why there was none.
pub type Asked<T> = Result<Answer<T>, NoAnswer>;

/// One entry of the terminal's report list, as it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct ListEntry {
    /// The id, when the entry has one.
    pub report_id: Option<String>,
    /// The revision, when it is an integer >= 1.
    pub revision: Option<u64>,
    /// `updatedAt` as given (absent: `None`).
    pub updated_at: Option<Value>,
}

/// A dispatch status (the harness's data input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DispatchStatus {
    /// One of [`DISPATCH_STATES`].
    pub status: String,
    /// When (RFC 3339).
    pub at: String,
    /// Free text.
    pub note: String,
}

/// Ways DI-02 makes a dispatch status malformed; the binding renders each
/// in its own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformation {
    /// Cut off in the middle (not parseable).
    Truncated,
    /// A status value that is not a dispatch state.
    UnknownStatus,
    /// A status that is not text.
    StatusNotText,
    /// No status.
    StatusMissing,
    /// Not a record of members at all.
    NotARecord,
}

impl Malformation {
    /// Every malformation, in the order DI-02 sends them.
    pub const ALL: [Malformation; 5] = [
        Malformation::Truncated,
        Malformation::UnknownStatus,
        Malformation::StatusNotText,
        Malformation::StatusMissing,
        Malformation::NotARecord,
    ];

    /// How a detail names the case.
    pub fn label(self) -> &'static str {
        match self {
            Malformation::Truncated => "not JSON (truncated)",
            Malformation::UnknownStatus => "unknown status value",
            Malformation::StatusNotText => "status is not a string",
            Malformation::StatusMissing => "status missing",
            Malformation::NotARecord => "not an object",
        }
    }
}

/// Dispatch input: a status, or a malformed one built from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchInput {
    /// A well-formed status.
    Status(DispatchStatus),
    /// A malformed status: `at` and `note` are kept, `how` breaks it.
    Malformed {
        /// How it is broken.
        how: Malformation,
        /// The time it carries.
        at: String,
        /// The note it carries.
        note: String,
    },
}

/// How one transport of the data channel is (or is not) encrypted.
#[derive(Debug, Clone)]
pub enum Security {
    /// Seen on a connection: TLS with these parameters, or plaintext (`None`).
    Observed(Option<crate::binding::tls::TlsInfo>),
    /// Known from configuration only.
    Configured {
        /// Whether it is encrypted.
        encrypted: bool,
        /// How the binding knows, for evidence.
        note: String,
    },
}

/// One transport of the data channel, for TLS-01.
#[derive(Debug, Clone)]
pub struct Transport {
    /// `"data API"`, `"push receiver"`.
    pub name: &'static str,
    /// Where.
    pub url: String,
    /// Its protection.
    pub security: Security,
}

/// Why the transports could not be seen.
#[derive(Debug, Clone)]
pub struct ProbeError {
    /// One line.
    pub detail: String,
    /// Evidence.
    pub evidence: Value,
}

/// A predicate over push events (borrowed by the waits).
pub type PushPred<'a> = &'a mut (dyn FnMut(&PushEvent) -> bool + Send);

/// The harness's data channel to one terminal, as the checks use it.
pub trait DataBinding: Send + Sync {
    /// The `[data]` declaration in force.
    fn decl(&self) -> DataDecl;

    /// Records the channel's exchanges in `t` from now on (`None`: stop). A
    /// binding with no exchanges to record ignores it.
    fn set_transcript(&self, _t: Option<crate::binding::transcript::Transcript>) {}

    /// Stops whatever the binding runs (a receiver, background tasks).
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// The scenario's data settings.
    fn scenario(&self) -> &DataScenario;

    /// Where the terminal must push, for details (`http://HOST:PORT/s3-01/v1/reports`).
    fn push_target(&self) -> String;

    /// Which report schema pushes are judged with, for details.
    fn schema_origin(&self) -> String;

    /// How long to wait for a push after a trigger: the scenario's push
    /// timeout, or its manual timeout when an operator must act.
    fn push_wait(&self) -> Duration {
        match self.decl().trigger {
            Trigger::Manual => Duration::from_millis(self.scenario().manual_timeout_ms),
            Trigger::Hook | Trigger::Auto => Duration::from_millis(self.scenario().push_timeout_ms),
        }
    }

    /// The runner calls this with `true` when the screen lane starts a
    /// check and `false` when it ends one.
    fn set_screen_lane_active(&self, active: bool);

    /// Whether a screen check is running now.
    fn screen_lane_active(&self) -> bool;

    /// The index the next push event will get.
    fn next_push_index(&self) -> u64;

    /// Push events with index `>= since` still held, oldest first.
    fn pushes_since(&self, since: u64) -> Vec<PushEvent>;

    /// Waits up to `timeout` for the first push event with index `>= since`
    /// that satisfies `pred`.
    fn wait_push_within<'a>(
        &'a self,
        since: u64,
        timeout: Duration,
        pred: PushPred<'a>,
    ) -> BoxFuture<'a, Option<PushEvent>>;

    /// Like [`Self::wait_push_within`] for [`Self::push_wait`]; with the
    /// manual trigger the binding tells the operator how long is left.
    fn wait_push<'a>(&'a self, since: u64, pred: PushPred<'a>) -> BoxFuture<'a, Option<PushEvent>> {
        self.wait_push_within(since, self.push_wait(), pred)
    }

    /// Pushes whose body is arriving right now, oldest first.
    fn arriving(&self) -> Vec<Arriving>;

    /// What was received for `report_id` at `revision`.
    fn received(&self, report_id: &str, revision: u64) -> Option<Received>;

    /// The highest revision received for `report_id` (acknowledged or not).
    fn latest_received(&self, report_id: &str) -> Option<Received>;

    /// Every report's highest acknowledged revision.
    fn acked_all(&self) -> BTreeMap<String, u64>;

    /// Refuses the next push with `why`, whatever it carries, and returns
    /// the binding's word for that refusal (`"503"` over HTTP).
    fn refuse_next_push(&self, why: Refusal) -> String;

    /// Cancels a refusal asked for and not yet used.
    fn cancel_refusal(&self);

    /// Makes the terminal produce a new report, as the declaration's
    /// trigger says; the reportId when the trigger announces one.
    fn announce_new<'a>(
        &'a self,
        purpose: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, TriggerError>>;

    /// Makes the terminal push the next revision of `report_id`.
    fn announce_update<'a>(
        &'a self,
        report_id: &'a str,
        purpose: &'a str,
    ) -> BoxFuture<'a, Result<(), TriggerError>>;

    /// Asks for one report: `Answered` with the report as JSON.
    fn get_report<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Asked<Value>>;

    /// Asks for the report list.
    fn list_reports(&self) -> BoxFuture<'_, Asked<Vec<ListEntry>>>;

    /// Passes dispatch input for `id`: `Answered` when taken, `Rejected`
    /// when refused as malformed.
    fn dispatch<'a>(&'a self, id: &'a str, input: &'a DispatchInput) -> BoxFuture<'a, Asked<()>>;

    /// The binding's name for a request, for details (`"GET reports/R-1"`).
    fn describe(&self, request: Request<'_>) -> String;

    /// The binding's word for an expected answer, for details (`"404"`).
    fn wire_of(&self, expected: Expected) -> String;

    /// The data channel's transports and how each is protected (for
    /// TLS-01); may make a request so that a connection is on record.
    fn transports(&self) -> BoxFuture<'_, Result<Vec<Transport>, ProbeError>>;

    /// The channel's evidence for the run record.
    fn evidence(&self) -> Value;
}
