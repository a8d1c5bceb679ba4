//! Telling a failing terminal from a dead one.
//!
//! A terminal that stops answering in the middle of a run (powered off,
//! crashed, network pulled) would otherwise leave a record full of failed
//! checks that say nothing true about its conformance. s301 therefore
//! treats a dead terminal as an abort, not as failures:
//!
//! - whenever a check ends `fail` or `error`, [`TerminalWatch`] (a run sink)
//!   probes the endpoint that check used (the screen URL for screen checks,
//!   the data base URL for data checks) with a plain TCP connect, up to
//!   [`PROBE_ATTEMPTS`] times [`PROBE_GAP`] apart, each bounded by
//!   [`PROBE_TIMEOUT`];
//! - if every attempt fails (refused, unreachable, timed out), the terminal
//!   is dead: the watch raises the run's [`AbortSignal`] (the running checks
//!   are cancelled, the rest never run) and remembers why;
//! - the watch does this as it reviews each result (see
//!   [`RunSink::review`]), before the result is recorded or shown: the
//!   triggering check's `fail` becomes `error` (its failure was the terminal
//!   vanishing, not a conformance finding), so the progress line, the
//!   summary and every record show the same verdict;
//! - [`blame`] then marks the run `aborted` and judges the conditions again.
//!
//! The same holds when the terminal is unreachable from the very first
//! check: nothing about it could be judged, so the run is aborted, not
//! failed. A terminal that is reachable again when probed keeps its
//! failures: it answered, and answered wrongly.
//!
//! The probe only opens and closes a TCP connection, between checks, so it
//! cannot disturb the exclusivity checks.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::declaration::Declaration;
use crate::model::ids::CheckId;
use crate::model::verdict::{ConditionVerdict, Verdict};
use crate::run::runner::{
    AbortSignal, CheckResult, Lane, RunEvent, RunOutcome, RunSink, RunStatus,
};

/// Bound on one TCP connect attempt.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Attempts before the terminal is declared dead.
pub const PROBE_ATTEMPTS: usize = 3;
/// Pause between attempts.
pub const PROBE_GAP: Duration = Duration::from_millis(200);

/// Why the terminal was judged dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostTerminal {
    /// The check whose failure led to the probe.
    pub during: CheckId,
    /// The endpoint probed (`host:port`).
    pub endpoint: String,
    /// The last connect error.
    pub error: String,
}

impl LostTerminal {
    /// One line for `run.abort_reason`.
    pub fn reason(&self) -> String {
        format!(
            "terminal stopped answering: {} refused or did not accept a connection ({}) after {} ended",
            self.endpoint, self.error, self.during
        )
    }
}

/// `host:port` of a URL (`ws://h:1/x`, `rfb://h`, `http://[::1]:8/`), with
/// the scheme's default port; `None` when it cannot be read.
pub fn endpoint_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    if host_port.is_empty() {
        return None;
    }
    let has_port = match host_port.rfind(']') {
        Some(close) => host_port[close..].contains(':'),
        None => host_port.contains(':'),
    };
    if has_port {
        return Some(host_port.to_string());
    }
    let port = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => 80,
        "wss" | "https" => 443,
        "rfb" => 5900,
        _ => return None,
    };
    Some(format!("{host_port}:{port}"))
}

/// One TCP connect to `endpoint` within [`PROBE_TIMEOUT`].
pub fn probe_once(endpoint: &str) -> Result<(), String> {
    let addrs: Vec<_> = endpoint
        .to_socket_addrs()
        .map_err(|e| crate::config::declaration::io_reason(&e))?
        .collect();
    let mut last = format!("{endpoint}: no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, PROBE_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = crate::config::declaration::io_reason(&e),
        }
    }
    Err(last)
}

/// Whether `endpoint` accepts a connection within [`PROBE_ATTEMPTS`] tries.
pub fn probe(endpoint: &str) -> Result<(), String> {
    let mut last = String::new();
    for i in 0..PROBE_ATTEMPTS {
        if i > 0 {
            std::thread::sleep(PROBE_GAP);
        }
        match probe_once(endpoint) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The run sink that detects a dead terminal (see the module docs).
pub struct TerminalWatch {
    screen: Option<String>,
    data: Option<String>,
    abort: AbortSignal,
    lost: Arc<Mutex<Option<LostTerminal>>>,
}

impl TerminalWatch {
    /// A watch for the terminal of `decl`, raising `abort` when it dies.
    pub fn new(decl: &Declaration, abort: AbortSignal) -> TerminalWatch {
        TerminalWatch {
            screen: endpoint_of(&decl.screen.url),
            data: decl.data.as_ref().and_then(|d| endpoint_of(&d.base_url)),
            abort,
            lost: Arc::new(Mutex::new(None)),
        }
    }

    /// A handle to read the finding after the run.
    pub fn finding(&self) -> Arc<Mutex<Option<LostTerminal>>> {
        self.lost.clone()
    }
}

impl LostTerminal {
    /// Amends the result of the check whose failure led to the finding: a
    /// `fail` is an `error`, and the detail says why.
    pub fn amend(&self, result: &mut CheckResult) {
        if result.id == self.during && result.verdict == Verdict::Fail {
            result.verdict = Verdict::Error;
            result.detail = format!(
                "the terminal stopped answering ({}); judged an error, not a failure: {}",
                self.endpoint, result.detail
            );
        }
    }
}

impl RunSink for TerminalWatch {
    fn on_event(&mut self, _event: &RunEvent<'_>) {}

    /// Probes the terminal after a `fail` or `error` and, when it is dead,
    /// amends the result (see [`LostTerminal::amend`]) and aborts the run.
    fn review(&mut self, result: &mut CheckResult) {
        if !matches!(result.verdict, Verdict::Fail | Verdict::Error) || self.abort.is_aborted() {
            return;
        }
        let endpoint = match Lane::of(result.id) {
            Lane::Screen => self.screen.as_ref(),
            Lane::Data => self.data.as_ref(),
        };
        let Some(endpoint) = endpoint else {
            return;
        };
        if let Err(error) = probe(endpoint) {
            let lost = LostTerminal {
                during: result.id,
                endpoint: endpoint.clone(),
                error,
            };
            tracing::warn!(reason = %lost.reason(), "aborting the run");
            lost.amend(result);
            let reason = lost.reason();
            *self.lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(lost);
            self.abort.abort_because(reason);
        }
    }
}

/// Applies a dead-terminal finding to the outcome: the run is aborted and
/// the conditions are judged again. The triggering check's verdict is not
/// touched here: the watch amended it before anything showed it, and
/// changing it now would make the record disagree with what was printed.
pub fn blame(outcome: &mut RunOutcome, _lost: &LostTerminal) {
    outcome.status = RunStatus::Aborted;
    let checks = outcome.checks.clone();
    for cond in outcome.conditions.iter_mut() {
        let judged = crate::run::runner::judged_checks(&checks, cond.id);
        cond.verdict = ConditionVerdict::judge(&judged, &[]);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn endpoints_come_from_urls_with_default_ports() {
        assert_eq!(
            endpoint_of("ws://127.0.0.1:5901/s3-01/v1/screen").as_deref(),
            Some("127.0.0.1:5901")
        );
        assert_eq!(
            endpoint_of("rfb://term.local").as_deref(),
            Some("term.local:5900")
        );
        assert_eq!(endpoint_of("http://[::1]/x").as_deref(), Some("[::1]:80"));
        assert_eq!(
            endpoint_of("http://[::1]:81/x").as_deref(),
            Some("[::1]:81")
        );
        assert_eq!(endpoint_of("https://u@h/x").as_deref(), Some("h:443"));
        assert_eq!(endpoint_of("nonsense"), None);
        assert_eq!(endpoint_of("gopher://h/"), None);
    }

    #[test]
    fn probe_tells_a_listening_port_from_a_closed_one() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        assert!(probe_once(&addr).is_ok());
        drop(l);
        let e = probe(&addr).unwrap_err();
        assert_eq!(e, "connection refused");
    }

    #[test]
    fn abort_keeps_the_first_reason() {
        let a = AbortSignal::new();
        assert_eq!(a.reason(), None);
        a.abort_because("terminal gone");
        a.abort_because("Ctrl-C");
        assert!(a.is_aborted());
        assert_eq!(a.reason().as_deref(), Some("terminal gone"));
    }

    fn lost_during_ex01() -> LostTerminal {
        LostTerminal {
            during: CheckId::Ex01,
            endpoint: "127.0.0.1:1".into(),
            error: "refused".into(),
        }
    }

    #[test]
    fn amend_turns_the_triggering_failure_into_an_error() {
        let o = crate::sinks::report::tests::sample_outcome();
        // In the sample EX-01 fails.
        let mut ex01 = o.check(CheckId::Ex01).unwrap().clone();
        lost_during_ex01().amend(&mut ex01);
        assert_eq!(ex01.verdict, Verdict::Error);
        assert!(ex01.detail.contains("stopped answering"));
        // Other checks, and an error already, stay as they are.
        let mut st01 = o.check(CheckId::St01).unwrap().clone();
        let before = st01.clone();
        lost_during_ex01().amend(&mut st01);
        assert_eq!(st01, before);
    }

    #[test]
    fn a_dead_terminal_is_judged_in_review_before_any_sink_sees_the_result() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let decl = Declaration::parse(
            &format!(
                "[terminal]\nvendor = \"x\"\n[screen]\nurl = \"ws://{addr}/s3-01/v1/screen\"\n\
                 exclusivity = \"refuse\"\n[operation]\nsupported = true\n"
            ),
            "terminal.toml",
        )
        .unwrap();
        let abort = AbortSignal::new();
        let mut watch = TerminalWatch::new(&decl, abort.clone());
        let mut r = crate::sinks::report::tests::sample_outcome()
            .check(CheckId::Ex01)
            .unwrap()
            .clone();
        watch.review(&mut r);
        assert_eq!(r.verdict, Verdict::Error, "{}", r.detail);
        assert!(abort.is_aborted());
        let lost = watch.finding().lock().unwrap().clone().unwrap();
        assert_eq!(lost.during, CheckId::Ex01);
    }

    #[test]
    fn blame_aborts_and_judges_the_conditions_again() {
        let mut o = crate::sinks::report::tests::sample_outcome();
        let lost = lost_during_ex01();
        for c in o.checks.iter_mut() {
            lost.amend(c);
        }
        blame(&mut o, &lost);
        assert_eq!(o.status, RunStatus::Aborted);
        assert_eq!(o.conditions[0].verdict, ConditionVerdict::Inconclusive);
        assert_eq!(o.exit_code(), 3);
    }
}
