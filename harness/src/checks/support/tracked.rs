//! The tracked console: [`Tracked`] wraps a [`Console`]; every request,
//! input and event it sees goes onto a shared [`Timeline`] (evidence) and
//! into a [`ConsoleLog`] (for the causal judge). Beside it, the small tools
//! every screen check uses: percentiles, capped lists, close descriptions,
//! keysyms.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use super::causal::ConsoleLog;
use super::Timeline;
use crate::binding::screen::{Image, Rect};
use crate::binding::{
    seq, CloseHow, CloseReason, Console, ConsoleEvent, ConsoleGone, EncodingSet, OpenError,
    ScreenBinding, Seq, UpdateInfo,
};
use crate::checks::CheckCtx;
use crate::config::declaration::Probe;

/// Longest list kept in evidence; the total is always given beside it.
pub const LIST_CAP: usize = 20;

/// Most timeline entries kept in memory (the total is still counted).
pub const TIMELINE_MAX: usize = 10_000;

/// Pause between open attempts while a terminal still refuses because it has
/// not yet noticed that the previous console left.
pub const REOPEN_INTERVAL: Duration = Duration::from_millis(100);

/// The X keysym of Return.
pub const KEYSYM_RETURN: u32 = 0xff0d;

/// The X keysym of Tab.
pub const KEYSYM_TAB: u32 = 0xff09;

/// A list for evidence: at most [`LIST_CAP`] items and the total count.
pub fn capped<T: Serialize>(items: &[T]) -> Value {
    json!({
        "total": items.len(),
        "items": items.iter().take(LIST_CAP).collect::<Vec<_>>(),
    })
}

/// Milliseconds from `from` to `to` (0 if `to` is earlier).
pub fn ms_between(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

/// Rounds milliseconds to a tenth, for readable evidence.
pub fn round_ms(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

/// Nearest-rank percentile `p` (0..=100) of `values`, `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v.get(rank.clamp(1, v.len()) - 1).copied()
}

/// A rectangle as `[x, y, w, h]` for evidence.
pub fn rect_json(r: Rect) -> Value {
    json!([r.x, r.y, r.w, r.h])
}

/// A short description of how a session ended.
pub fn describe_close(reason: &CloseReason) -> String {
    match reason {
        CloseReason::ByTerminal { detail } => format!("closed by the terminal ({detail})"),
        CloseReason::ByHarness => "closed by the harness".into(),
        CloseReason::Violation { detail } => format!("protocol violation: {detail}"),
        CloseReason::Io { detail } => format!("connection failed: {detail}"),
        CloseReason::Harness { detail } => format!("harness fault: {detail}"),
    }
}

/// A request or input written to the wire.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// Its place in the causal order.
    pub seq: Seq,
    /// When the binding confirmed the write.
    pub at: Instant,
}

/// What a tracked console saw next.
#[derive(Debug, Clone)]
pub enum Ev {
    /// An update (applied to the framebuffer).
    Update(UpdateInfo),
    /// The session is over (repeated on every later wait).
    Closed {
        /// Why.
        reason: CloseReason,
        /// When.
        seq: Seq,
    },
    /// Nothing before the deadline.
    Timeout,
}

/// A failed open, with the moment it was seen.
#[derive(Debug, Clone)]
pub struct OpenFailure {
    /// What the binding reported.
    pub error: OpenError,
    /// When the failure was seen.
    pub seq: Seq,
    /// Attempts made (more than one when refusals were retried).
    pub attempts: u32,
    /// The first attempt's error when a later attempt failed differently
    /// (a server that blacklists after repeated refusals hides the cause).
    pub first_error: Option<OpenError>,
}

/// A console whose traffic is recorded.
pub struct Tracked {
    console: Console,
    log: ConsoleLog,
    timeline: Timeline,
    end: Option<(CloseReason, Seq)>,
    outstanding: usize,
    updates: u64,
    /// Open attempts it took (refusals retried).
    pub attempts: u32,
    /// An update that arrived after the deadline of the wait that took it
    /// off the queue: handed to the next wait instead (see [`Tracked::next`]).
    held: Option<UpdateInfo>,
}

impl Tracked {
    /// Opens a console once, within `timeout`.
    pub async fn open(
        binding: &dyn ScreenBinding,
        label: &str,
        timeout: Duration,
        timeline: &Timeline,
    ) -> Result<Tracked, OpenFailure> {
        match binding.open(label, timeout).await {
            Ok(console) => {
                let s = seq::next();
                timeline.record(label, "admitted (ServerInit)", s);
                let mut log = ConsoleLog::new(label);
                log.opened = Some(s);
                Ok(Tracked {
                    console,
                    log,
                    timeline: timeline.clone(),
                    end: None,
                    outstanding: 0,
                    updates: 0,
                    attempts: 1,
                    held: None,
                })
            }
            Err(error) => {
                let s = seq::next();
                timeline.record(label, format!("open failed: {error}"), s);
                Err(OpenFailure {
                    error,
                    seq: s,
                    attempts: 1,
                    first_error: None,
                })
            }
        }
    }

    /// Opens a console, retrying every `interval` while the terminal refuses,
    /// until `window` has passed. Other failures end the attempts at once.
    pub async fn open_retrying(
        binding: &dyn ScreenBinding,
        label: &str,
        timeout: Duration,
        window: Duration,
        interval: Duration,
        timeline: &Timeline,
    ) -> Result<Tracked, OpenFailure> {
        let until = Instant::now() + window;
        let mut attempts = 0u32;
        let mut first: Option<OpenError> = None;
        loop {
            attempts += 1;
            match Tracked::open(binding, label, timeout, timeline).await {
                Ok(mut t) => {
                    t.attempts = attempts;
                    return Ok(t);
                }
                Err(mut f) => {
                    f.attempts = attempts;
                    match &first {
                        None => first = Some(f.error.clone()),
                        Some(e) if *e != f.error => {
                            f.first_error = Some(e.clone());
                        }
                        Some(_) => {}
                    }
                    // A refusal at the security stages is final: it may
                    // be a failed authentication, and retrying one can get
                    // the console's address locked out.
                    let retry = matches!(
                        f.error,
                        OpenError::Refused { stage, .. } if !stage.is_authentication()
                    ) && Instant::now() + interval < until;
                    if !retry {
                        return Err(f);
                    }
                    tokio::time::sleep(interval).await;
                }
            }
        }
    }

    /// The label.
    pub fn label(&self) -> &str {
        self.console.label()
    }

    /// What was negotiated.
    pub fn info(&self) -> &crate::binding::SessionInfo {
        self.console.info()
    }

    /// The causal log so far.
    pub fn log(&self) -> &ConsoleLog {
        &self.log
    }

    /// Whether the session was seen closed.
    pub fn is_closed(&self) -> bool {
        self.end.is_some()
    }

    /// Why the session ended, if it did.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.end.as_ref().map(|(r, _)| r)
    }

    /// Whether the console has been served (received an update).
    pub fn served(&self) -> bool {
        self.log.first_update.is_some()
    }

    /// Requests written and not yet answered.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Stops keeping answered updates for the causal judge (see
    /// [`ConsoleLog::forget_answers`]); for a check that judges no
    /// causality, so that a long one holds bounded memory.
    pub fn forget_answers(&mut self) {
        self.log.forget_answers = true;
    }

    /// Updates received.
    pub fn update_count(&self) -> u64 {
        self.updates
    }

    /// Keeps a screenshot of the console's screen as `name` of the current
    /// check, encoded from the framebuffer in place (no copy of it).
    pub fn keep_screenshot(&self, ctx: &CheckCtx, name: &str) {
        self.console
            .with_framebuffer(|fb| crate::checks::evidence::snapshot(ctx, name, fb));
    }

    /// Runs `f` on the console's framebuffer in place (keep it short: the
    /// binding waits for the lock to apply the next update).
    pub fn with_framebuffer<R>(&self, f: impl FnOnce(&Image) -> R) -> R {
        self.console.with_framebuffer(f)
    }

    /// The pointer shape the terminal sent apart from the image, if any.
    pub fn cursor(&self) -> Option<crate::binding::CursorShape> {
        self.console.cursor()
    }

    /// The screen as a rectangle (current size).
    pub fn bounds(&self) -> Rect {
        self.console.with_framebuffer(|f| f.bounds())
    }

    fn note(&self, event: impl Into<String>, s: Seq) {
        self.timeline.record(self.console.label(), event, s);
    }

    /// Asks for the encodings of `set` (the binding's [`crate::binding::EncodingControl`]).
    pub async fn set_encodings(&mut self, set: &EncodingSet) -> Result<Sent, ConsoleGone> {
        let s = self.console.set_encodings(set).await?;
        let at = Instant::now();
        self.note(format!("set encodings {:?}", set.ids), s);
        Ok(Sent { seq: s, at })
    }

    /// Sends a ImageUpdateRequest (`None` = the whole screen).
    pub async fn request(
        &mut self,
        incremental: bool,
        rect: Option<Rect>,
    ) -> Result<Sent, ConsoleGone> {
        let s = self.console.request(incremental, rect).await?;
        let at = Instant::now();
        self.outstanding += 1;
        let what = match (incremental, rect) {
            (false, None) => "request full".to_string(),
            (true, None) => "request incremental".to_string(),
            (false, Some(r)) => format!("request {r}"),
            (true, Some(r)) => format!("request incremental {r}"),
        };
        self.note(what, s);
        Ok(Sent { seq: s, at })
    }

    /// Clicks at `(x, y)`: pointer moves there, button 1 goes down, then up.
    /// Returns the first event written.
    pub async fn click(&mut self, x: u16, y: u16) -> Result<Sent, ConsoleGone> {
        let s = self.console.pointer(x, y, 0).await?;
        let at = Instant::now();
        self.console.pointer(x, y, 1).await?;
        self.console.pointer(x, y, 0).await?;
        self.note(format!("click at ({x}, {y})"), s);
        Ok(Sent { seq: s, at })
    }

    /// Moves the pointer to `(x, y)` with no button pressed.
    pub async fn move_pointer(&mut self, x: u16, y: u16) -> Result<Sent, ConsoleGone> {
        let s = self.console.pointer(x, y, 0).await?;
        let at = Instant::now();
        self.note(format!("pointer to ({x}, {y})"), s);
        Ok(Sent { seq: s, at })
    }

    /// Types one character (key down, key up). Returns the key-down write.
    pub async fn type_char(&mut self, ch: char) -> Result<Sent, ConsoleGone> {
        let k = keysym(ch);
        let s = self.console.key(k, true).await?;
        let at = Instant::now();
        self.console.key(k, false).await?;
        self.note(format!("type {ch:?} (keysym {k:#x})"), s);
        Ok(Sent { seq: s, at })
    }

    /// Types `text`, one character after the other. Returns the first write.
    pub async fn type_text(&mut self, text: &str) -> Result<Option<Sent>, ConsoleGone> {
        let mut first = None;
        for ch in text.chars() {
            let s = self.type_char(ch).await?;
            first.get_or_insert(s);
        }
        Ok(first)
    }

    /// Performs an automatic probe (click or type). Manual probes send
    /// nothing and return `Ok(None)`.
    pub async fn perform(&mut self, probe: &Probe) -> Result<Option<Sent>, ConsoleGone> {
        match probe {
            Probe::Click { x, y, .. } => self.click(*x, *y).await.map(Some),
            Probe::Move { x, y, .. } => self.move_pointer(*x, *y).await.map(Some),
            Probe::Type { text, .. } => self.type_text(text).await,
            Probe::Manual { .. } => Ok(None),
        }
    }

    /// The next update or the close, skipping bells and cut text, by `until`.
    pub async fn next(&mut self, until: Instant) -> Ev {
        // An update that arrived after an earlier wait's deadline belongs to
        // a wait whose deadline it meets (or that has time left).
        if let Some(u) = self.held.take() {
            if u.at <= until || Instant::now() < until {
                return Ev::Update(u);
            }
            self.held = Some(u);
            return Ev::Timeout;
        }
        loop {
            if let Some((reason, s)) = &self.end {
                return Ev::Closed {
                    reason: reason.clone(),
                    seq: *s,
                };
            }
            // Past the deadline an event already queued is still taken (the
            // wait polls once): what has arrived is never ignored.
            let left = until.saturating_duration_since(Instant::now());
            match self.console.next_event(left).await {
                ConsoleEvent::Update(u) => {
                    self.updates += 1;
                    if u.answers.is_some() {
                        self.outstanding = self.outstanding.saturating_sub(1);
                    }
                    self.log.record_update(u.seq, u.answers);
                    let what = match u.answers {
                        Some(r) => format!(
                            "update answering #{} ({} rects, {} bytes)",
                            r.0, u.rect_count, u.bytes
                        ),
                        None => format!("unsolicited update ({} rects)", u.rect_count),
                    };
                    self.note(what, u.seq);
                    // Past the deadline only what had arrived by then counts:
                    // a terminal that floods updates cannot keep a wait
                    // from ever ending.
                    if u.at > until && Instant::now() >= until {
                        self.held = Some(u);
                        return Ev::Timeout;
                    }
                    return Ev::Update(u);
                }
                ConsoleEvent::Bell(s) => self.note("bell", s),
                ConsoleEvent::CutText { seq: s, len } => self.note(format!("cut text {len} B"), s),
                ConsoleEvent::Closed { seq: s, reason, .. } => {
                    self.log.record_close(s);
                    self.note(describe_close(&reason), s);
                    self.end = Some((reason, s));
                }
                ConsoleEvent::Timeout => return Ev::Timeout,
            }
        }
    }

    /// Waits for the next update by `until`; closes and timeouts are
    /// returned as the error.
    pub async fn next_update(&mut self, until: Instant) -> Result<UpdateInfo, Ev> {
        match self.next(until).await {
            Ev::Update(u) => Ok(u),
            other => Err(other),
        }
    }

    /// After a send failed: waits (briefly) for the close report and returns
    /// why the session ended.
    pub async fn gone_reason(&mut self) -> CloseReason {
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            match self.next(until).await {
                Ev::Closed { reason, .. } => return reason,
                Ev::Timeout => {
                    return CloseReason::Harness {
                        detail: TASK_VANISHED.into(),
                    }
                }
                Ev::Update(_) => {}
            }
        }
    }

    /// Leaves (cleanly or by dropping the connection) and returns the log.
    pub async fn close(mut self, how: CloseHow) -> ConsoleLog {
        if self.end.is_none() {
            let what = match how {
                CloseHow::Clean => "leave (clean)",
                CloseHow::Drop => "leave (drop)",
            };
            self.note(what, seq::next());
            let s = seq::next();
            self.log.record_close(s);
        }
        let log = std::mem::take(&mut self.log);
        self.console.close(how).await;
        log
    }
}

/// The keysym for a character: printable ASCII maps to itself, newline to
/// Return, tab to Tab, Latin-1 to itself and anything else to the X11
/// Unicode keysym (`0x0100_0000 + code point`).
pub fn keysym(ch: char) -> u32 {
    let c = u32::from(ch);
    match ch {
        '\n' | '\r' => KEYSYM_RETURN,
        '\t' => KEYSYM_TAB,
        _ if (0x20..=0x7e).contains(&c) || (0xa0..=0xff).contains(&c) => c,
        _ => 0x0100_0000 + c,
    }
}

/// How [`Tracked::gone_reason`] reports a session task that vanished
/// without reporting its close (a harness fault).
pub const TASK_VANISHED: &str = "the session task stopped without reporting a close";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(3.0));
        assert_eq!(percentile(&v, 95.0), Some(5.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn keysyms_follow_the_x11_conventions() {
        assert_eq!(keysym('a'), 0x61);
        assert_eq!(keysym(' '), 0x20);
        assert_eq!(keysym('~'), 0x7e);
        assert_eq!(keysym('\n'), KEYSYM_RETURN);
        assert_eq!(keysym('é'), 0xe9);
        assert_eq!(keysym('火'), 0x0100_0000 + 0x706b);
    }

    #[test]
    fn vanished_session_tasks_are_the_harness_fault() {
        assert!(CloseReason::ByHarness.harness_side());
        assert!(CloseReason::Harness {
            detail: TASK_VANISHED.into()
        }
        .harness_side());
        // An I/O error is the terminal's side, whatever its text says.
        assert!(!CloseReason::Io {
            detail: TASK_VANISHED.into()
        }
        .harness_side());
        assert!(!CloseReason::ByTerminal {
            detail: "EOF".into()
        }
        .harness_side());
    }

    #[test]
    fn refusals_at_the_security_stages_are_never_retried() {
        use crate::binding::Stage;
        assert!(Stage::Authentication.is_authentication());
        assert!(Stage::AuthenticationResult.is_authentication());
        assert!(!Stage::Admission.is_authentication());
        assert!(!Stage::Connect.is_authentication());
    }

    #[test]
    fn capped_lists_keep_the_total() {
        let v: Vec<u32> = (0..50).collect();
        let j = capped(&v);
        assert_eq!(j["total"], 50);
        assert_eq!(j["items"].as_array().map(|a| a.len()), Some(LIST_CAP));
    }
}
