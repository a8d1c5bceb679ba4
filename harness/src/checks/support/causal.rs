//! The exclusivity judge: decides from recorded console logs, by the
//! harness's causal clock only, whether a terminal served two consoles at the
//! same time.
//!
//! Arrival times on different connections prove nothing (two sockets are
//! read by different tasks). What does prove something is this: when the
//! harness writes a request on console Y *after* it has observed console X
//! being served, and the terminal answers that request, then the terminal
//! served Y at a moment when X had already been served. If Y had itself been
//! served before X, Y must have been closed before X was served (under
//! `takeover`) or X must never have been served (under `refuse`); either way
//! the answer is impossible for a conforming terminal. Each console log is
//! one connection, so "Y was closed in between" means the log has ended and
//! no update can follow.
//!
//! A console is served by its first FramebufferUpdate, solicited or not.
//! A console closed before any update (even after ServerInit) was refused,
//! never served.

use serde::Serialize;

use crate::binding::Seq;

/// What the judge needs to know about one console connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleLog {
    /// The console's label (`"A"`, `"trial-3/B#2"` ...).
    pub label: String,
    /// When the open returned (ServerInit seen, or the refusal).
    pub opened: Option<Seq>,
    /// The first update of any kind: the moment the console was served.
    pub first_update: Option<Seq>,
    /// Every update that answered a request, as `(update, answered request)`.
    /// Unsolicited updates other than the first are not kept: they cannot be
    /// tied to a moment the harness chose, so they prove nothing causally.
    pub answered: Vec<(Seq, Seq)>,
    /// When the connection was seen closed.
    pub closed: Option<Seq>,
    /// `answered` is not kept (a check with one console and no causal
    /// judgement, whose updates would otherwise grow it without bound).
    pub forget_answers: bool,
}

impl ConsoleLog {
    /// An empty log for `label`.
    pub fn new(label: &str) -> Self {
        ConsoleLog {
            label: label.to_string(),
            ..ConsoleLog::default()
        }
    }

    /// Records an update observed at `seq` answering `answers` (if any).
    /// Updates after the recorded close are ignored (none can follow it).
    pub fn record_update(&mut self, seq: Seq, answers: Option<Seq>) {
        if self.closed.is_some_and(|c| seq > c) {
            return;
        }
        if self.first_update.is_none() {
            self.first_update = Some(seq);
        }
        if let Some(r) = answers {
            if !self.forget_answers {
                self.answered.push((seq, r));
            }
        }
    }

    /// Records the close (only the first one counts).
    pub fn record_close(&mut self, seq: Seq) {
        if self.closed.is_none() {
            self.closed = Some(seq);
        }
    }

    /// When the console was first served, if ever.
    pub fn served_at(&self) -> Option<Seq> {
        self.first_update
    }
}

/// One proven case of two consoles served at the same time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The console served again.
    pub console: String,
    /// When that console was first served.
    pub console_first_served: u64,
    /// The update that proves it.
    pub update_seq: u64,
    /// The request it answered, written after `other` was served.
    pub answers: u64,
    /// The console that had been served in between.
    pub other: String,
    /// When `other` was first served.
    pub other_first_served: u64,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "console {} (served at #{}) answered its request #{} with update #{} after console {} had been served at #{}",
            self.console,
            self.console_first_served,
            self.answers,
            self.update_seq,
            self.other,
            self.other_first_served
        )
    }
}

/// Every proven violation in `logs` (one connection per log), in log order.
///
/// A violation is an update on console Y answering a request written after
/// another console X was first served, where Y had been served before X and
/// the update came on Y's connection while it was still open.
pub fn violations(logs: &[ConsoleLog]) -> Vec<Violation> {
    let mut out = Vec::new();
    for (yi, y) in logs.iter().enumerate() {
        let Some(fy) = y.served_at() else { continue };
        for (update, answers) in &y.answered {
            if y.closed.is_some_and(|c| *update > c) {
                continue;
            }
            let witness = logs.iter().enumerate().find_map(|(xi, x)| {
                let fx = x.served_at()?;
                (xi != yi && fy < fx && *answers > fx).then_some((x, fx))
            });
            if let Some((x, fx)) = witness {
                out.push(Violation {
                    console: y.label.clone(),
                    console_first_served: fy.0,
                    update_seq: update.0,
                    answers: answers.0,
                    other: x.label.clone(),
                    other_first_served: fx.0,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(label: &str) -> ConsoleLog {
        ConsoleLog::new(label)
    }

    #[test]
    fn holder_answered_after_newcomer_served_is_a_violation() {
        // A served at 3; B requests at 5, served at 6; A requests at 7,
        // answered at 8: A was served again after B.
        let mut a = log("A");
        a.record_update(Seq(3), Some(Seq(2)));
        let mut b = log("B");
        b.record_update(Seq(6), Some(Seq(5)));
        a.record_update(Seq(8), Some(Seq(7)));
        let v = violations(&[a, b]);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].console, "A");
        assert_eq!(v[0].other, "B");
        assert_eq!(v[0].answers, 7);
        assert_eq!(v[0].other_first_served, 6);
    }

    #[test]
    fn legitimate_takeover_is_not_a_violation() {
        // A served at 3; B arrives, requests at 5 (after A was served) and is
        // served at 6; A is closed at 7 and never answered again.
        let mut a = log("A");
        a.record_update(Seq(3), Some(Seq(2)));
        a.record_close(Seq(7));
        let mut b = log("B");
        b.record_update(Seq(6), Some(Seq(5)));
        b.record_update(Seq(10), Some(Seq(9)));
        assert!(violations(&[a, b]).is_empty());
    }

    #[test]
    fn no_violation_when_first_console_closed_before_second_served() {
        let mut y = log("Y");
        y.record_update(Seq(6), Some(Seq(5)));
        y.record_close(Seq(8));
        let mut x = log("X");
        x.record_update(Seq(10), Some(Seq(9)));
        x.record_update(Seq(12), Some(Seq(11)));
        assert!(violations(&[y, x]).is_empty());
    }

    #[test]
    fn update_recorded_after_close_is_ignored() {
        let mut y = log("Y");
        y.record_update(Seq(2), Some(Seq(1)));
        y.record_close(Seq(4));
        y.record_update(Seq(9), Some(Seq(8)));
        let mut x = log("X");
        x.record_update(Seq(6), Some(Seq(5)));
        assert_eq!(y.answered.len(), 1);
        assert!(violations(&[y, x]).is_empty());
    }

    #[test]
    fn refused_after_server_init_is_not_served() {
        // B got ServerInit, asked for a full update and was closed before any
        // update: it was refused, and A answering later is fine.
        let mut a = log("A");
        a.record_update(Seq(3), Some(Seq(2)));
        let mut b = log("B");
        b.opened = Some(Seq(5));
        b.record_close(Seq(7));
        a.record_update(Seq(9), Some(Seq(8)));
        assert_eq!(b.served_at(), None);
        assert!(violations(&[a, b]).is_empty());
    }

    #[test]
    fn unsolicited_update_counts_as_serving() {
        // B is pushed an update nobody asked for at 6: B is served. A then
        // answers a request written at 7.
        let mut a = log("A");
        a.record_update(Seq(3), Some(Seq(2)));
        let mut b = log("B");
        b.record_update(Seq(6), None);
        a.record_update(Seq(8), Some(Seq(7)));
        let v = violations(&[a, b]);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].other, "B");
        assert_eq!(v[0].other_first_served, 6);
    }

    #[test]
    fn request_written_before_other_was_served_proves_nothing() {
        // A's request at 4 precedes B's first update at 6: the answer at 8
        // may have been sent before B was served.
        let mut a = log("A");
        a.record_update(Seq(3), Some(Seq(2)));
        a.record_update(Seq(8), Some(Seq(4)));
        let mut b = log("B");
        b.record_update(Seq(6), Some(Seq(5)));
        assert!(violations(&[a, b]).is_empty());
    }

    #[test]
    fn both_directions_are_judged() {
        // Simultaneous arrival, both served; then each answers a request
        // written after the other was served. Only the console served first
        // is proven served again; the other one's answers follow its own
        // (later) first service and say nothing new.
        let mut a = log("A");
        a.record_update(Seq(10), Some(Seq(3)));
        let mut b = log("B");
        b.record_update(Seq(11), Some(Seq(4)));
        a.record_update(Seq(13), Some(Seq(12)));
        b.record_update(Seq(15), Some(Seq(14)));
        let v = violations(&[a, b]);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].console, "A");
    }
}
