//! EX-04's storms as they run: the consoles (seats) of one storm, their
//! pings, and the storm's record for the judgement in `ex04.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::causal::{violations, ConsoleLog};
pub use super::storm::{draw, Left, Part, StormError, Wave, MAX_BURSTS};
use super::{
    capped, describe_close, ms_between, percentile, round_ms, Ev, Timeline, Tracked,
    REOPEN_INTERVAL,
};
use super::{ms, ping_rect};
use crate::binding::{seq, CloseHow, CloseReason, OpenError, ScreenBinding, Seq};
use crate::config::declaration::Exclusivity;
use crate::config::scenario::ScreenScenario;

/// Pause between two pings of one console.
pub const PING_GAP: Duration = Duration::from_millis(10);

/// Pings the console served at the end must still answer once found.
pub const KEEP_PINGS: u32 = 3;

/// How long a console waits for its first answer: it may be refused (the
/// exclusivity timeout) or served (the update timeout).
pub(crate) fn first_wait_ms(sc: &ScreenScenario) -> u64 {
    sc.update_timeout_ms.max(sc.exclusivity_timeout_ms)
}

/// The deadline of a storm's arrivals and holds: the last burst, its open,
/// its first answer, the longest hold and one more ping.
pub(crate) fn storm_ms(sc: &ScreenScenario) -> u64 {
    [
        sc.storm_window_ms,
        sc.connect_timeout_ms,
        first_wait_ms(sc),
        sc.storm_max_hold_ms,
        sc.update_timeout_ms,
    ]
    .iter()
    .fold(0u64, |a, b| a.saturating_add(*b))
}

/// The settling: the exclusivity timeout, perhaps a fresh console's open
/// and first answer, then the pings that show it keeps being answered.
pub(crate) fn settle_ms(sc: &ScreenScenario) -> u64 {
    sc.exclusivity_timeout_ms
        .saturating_add(sc.connect_timeout_ms)
        .saturating_add(first_wait_ms(sc))
        .saturating_add(sc.update_timeout_ms.saturating_mul(u64::from(KEEP_PINGS)))
}

/// An open console and its share of the connection limit.
pub(crate) struct Conn {
    t: Tracked,
    _permit: OwnedSemaphorePermit,
}

/// One console connection of a storm, as the harness saw it. A seat
/// without a part is a fresh console opened after everyone had left.
#[derive(Default)]
pub(crate) struct Seat {
    pub(crate) label: String,
    pub(crate) part: Option<Part>,
    pub(crate) arrived: Option<Seq>,
    pub(crate) admitted: Option<Seq>,
    pub(crate) served: Option<Seq>,
    pub(crate) served_ms: Option<f64>,
    pub(crate) pings: u64,
    pub(crate) left: Option<Left>,
    pub(crate) problem: Option<String>,
    pub(crate) harness: Option<StormError>,
    pub(crate) log: Option<ConsoleLog>,
    pub(crate) conn: Option<Conn>,
}

impl Seat {
    pub(crate) fn json(&self) -> Value {
        let p = self.part;
        json!({
            "label": self.label,
            "fresh": p.is_none(),
            "burst": p.map(|p| p.burst),
            "offset_ms": p.map(|p| p.offset_ms),
            "hold_ms": p.and_then(|p| p.hold_ms),
            "stays": p.map(|p| p.hold_ms.is_none()),
            "leave": p.map(|p| p.leave),
            "arrived": self.arrived.map(|s| s.0),
            "admitted": self.admitted.map(|s| s.0),
            "served": self.served.map(|s| s.0),
            "served_ms": self.served_ms,
            "pings": self.pings,
            "left": self.left,
            "problem": self.problem,
        })
    }
}

/// What a ping got.
pub(crate) enum Pong {
    Answered,
    Closed(CloseReason),
    Unanswered,
}

/// Asks for the ping region and waits `wait` (at most until `cap`) for an
/// update answering that request or a later one.
pub(crate) async fn ping(t: &mut Tracked, wait: Duration, cap: Instant) -> Pong {
    let area = ping_rect(t.bounds());
    let sent = match t.request(false, Some(area)).await {
        Ok(s) => s,
        Err(_) => return Pong::Closed(t.gone_reason().await),
    };
    let until = cap.min(sent.at + wait);
    loop {
        match t.next(until).await {
            Ev::Update(u) if u.answers.is_some_and(|r| r >= sent.seq) => return Pong::Answered,
            Ev::Update(_) => {}
            Ev::Closed { reason, .. } => return Pong::Closed(reason),
            Ev::Timeout => return Pong::Unanswered,
        }
    }
}

/// One storm in progress.
pub(crate) struct Storm<'a> {
    binding: &'a dyn ScreenBinding,
    sc: &'a ScreenScenario,
    policy: Exclusivity,
    wave: Wave,
    tl: Timeline,
    start: Instant,
    deadline: Instant,
    seats: Arc<Semaphore>,
    /// Arrivals whose open has not returned yet.
    unresolved: AtomicUsize,
}

impl Storm<'_> {
    /// Takes a share of the connection limit and opens `s` once, by
    /// `until` at the latest; a failure is noted on `s`.
    async fn open(&self, s: &mut Seat, until: Instant) -> Option<Conn> {
        let console = s.label.clone();
        let Ok(permit) = Arc::clone(&self.seats).acquire_owned().await else {
            let detail = "the connection limit was closed".into();
            s.harness = Some(StormError::Open { console, detail });
            return None;
        };
        let at = seq::next();
        s.arrived = Some(at);
        self.tl.record(&s.label, "arrives", at);
        let budget = ms(self.sc.connect_timeout_ms)
            .min(until.saturating_duration_since(Instant::now()))
            .max(Duration::from_millis(1));
        let error = match Tracked::open(self.binding, &s.label, budget, &self.tl).await {
            Ok(t) => {
                s.admitted = t.log().opened;
                return Some(Conn { t, _permit: permit });
            }
            Err(f) => f.error,
        };
        match error {
            OpenError::Harness(detail) => s.harness = Some(StormError::Open { console, detail }),
            e => {
                if let OpenError::Protocol { stage, reason } = &e {
                    s.problem = Some(format!(
                        "console {}: protocol violation at {stage}: {reason}",
                        s.label
                    ));
                }
                s.left = Some(Left::NotAdmitted(e.to_string()));
            }
        }
        None
    }

    /// One console of the storm: arrive, be served or turned away, hold,
    /// then leave or stay.
    async fn arrive(&self, label: String, part: Part) -> Seat {
        let mut s = Seat {
            label,
            part: Some(part),
            ..Seat::default()
        };
        tokio::time::sleep_until((self.start + ms(part.offset_ms)).into()).await;
        let opened = self.open(&mut s, self.deadline).await;
        self.unresolved.fetch_sub(1, Ordering::SeqCst);
        if let Some(conn) = opened {
            self.hold(&mut s, conn, part).await;
        }
        s
    }

    /// Pings until the hold is over (or, for a console that stays, every
    /// arrival has had its answer), then leaves or stays.
    async fn hold(&self, s: &mut Seat, mut conn: Conn, part: Part) {
        let sc = self.sc;
        let mut hold_end = None;
        loop {
            let wait = s.served.map_or(first_wait_ms(sc), |_| sc.update_timeout_ms);
            match ping(&mut conn.t, ms(wait), self.deadline).await {
                Pong::Answered => s.pings += 1,
                Pong::Closed(reason) => return self.closed(s, conn, &reason).await,
                // Under takeover a displaced holder may fall silent before
                // its close arrives: the settling judges it.
                Pong::Unanswered if s.served.is_some() && self.policy == Exclusivity::Takeover => {
                    break
                }
                Pong::Unanswered => {
                    s.problem = Some(match s.served {
                        Some(_) => format!("holder {} was not answered within {wait} ms while it held the terminal (refuse)", s.label),
                        None => format!("console {} was admitted (ServerInit) but neither served nor turned away within {wait} ms", s.label),
                    });
                    break;
                }
            }
            if s.served.is_none() {
                s.served = conn.t.log().served_at();
                s.served_ms = Some(round_ms(ms_between(self.start, Instant::now())));
                hold_end = part.hold_ms.map(|h| Instant::now() + ms(h));
            }
            let wake = (Instant::now() + PING_GAP).min(hold_end.unwrap_or(self.deadline));
            tokio::time::sleep_until(wake.into()).await;
            let over = match hold_end {
                Some(end) => Instant::now() >= end,
                None => self.unresolved.load(Ordering::SeqCst) == 0,
            };
            if over || Instant::now() >= self.deadline {
                break;
            }
        }
        if part.hold_ms.is_some() || s.served.is_none() {
            self.leave(s, conn, part.leave).await;
        } else {
            s.conn = Some(conn);
        }
    }

    /// The terminal (or the harness) closed `s`.
    async fn closed(&self, s: &mut Seat, conn: Conn, reason: &CloseReason) {
        if reason.harness_side() {
            s.harness = Some(StormError::ClosedByHarness(s.label.clone()));
        }
        let detail = describe_close(reason);
        s.served = s.served.or(conn.t.log().served_at());
        s.left = Some(match s.served {
            None => Left::TurnedAway(detail),
            Some(_) => {
                if self.policy == Exclusivity::Refuse {
                    let lost = format!(
                        "holder {} lost the terminal while it stayed (refuse): {detail}",
                        s.label
                    );
                    s.problem.get_or_insert(lost);
                }
                Left::ClosedByTerminal(detail)
            }
        });
        s.log = Some(conn.t.close(CloseHow::Clean).await);
    }

    /// `s` leaves as planned.
    async fn leave(&self, s: &mut Seat, conn: Conn, how: CloseHow) {
        s.served = s.served.or(conn.t.log().served_at());
        s.log = Some(conn.t.close(how).await);
        s.left.get_or_insert(Left::Left(how));
    }

    /// Once the dust has settled, exactly one console must be served within
    /// the exclusivity timeout and keep being answered; a fresh one if
    /// nobody is left. Returns the holder's seat, or why there is none.
    async fn settle(&self, seats: &mut Vec<Seat>) -> Result<usize, String> {
        let sc = self.sc;
        let mark = seq::next();
        self.tl.record("storm", "dust settled", mark);
        let until = Instant::now() + ms(sc.exclusivity_timeout_ms);
        let wait = ms(sc.update_timeout_ms);
        loop {
            if seats.iter().all(|s| s.conn.is_none()) {
                return self.fresh(seats, until).await;
            }
            let pongs = join_all(seats.iter_mut().enumerate().filter_map(|(i, s)| {
                let conn = s.conn.as_mut()?;
                Some(async move { (i, ping(&mut conn.t, wait, until + wait).await) })
            }))
            .await;
            let mut answered = Vec::new();
            for (i, pong) in pongs {
                let Some(s) = seats.get_mut(i) else { continue };
                match (pong, s.conn.take()) {
                    (Pong::Closed(reason), Some(conn)) => self.closed(s, conn, &reason).await,
                    (pong, conn) => {
                        s.conn = conn;
                        if let Pong::Answered = pong {
                            s.pings += 1;
                            answered.push(i);
                        }
                    }
                }
            }
            let names = |f: &dyn Fn(usize, &Seat) -> bool| {
                let v: Vec<&str> = seats
                    .iter()
                    .enumerate()
                    .filter(|(i, s)| f(*i, s))
                    .map(|(_, s)| s.label.as_str())
                    .collect();
                v.join(", ")
            };
            let open = seats.iter().filter(|s| s.conn.is_some()).count();
            match (answered.as_slice(), open) {
                (&[i], 1) => return self.keep(seats, i).await.map(|()| i),
                ([_, _, ..], _) => {
                    let both = names(&|i, _| answered.contains(&i));
                    return Err(format!(
                        "after the storm {} consoles were still being served: {both}",
                        answered.len()
                    ));
                }
                _ if Instant::now() >= until => {
                    let silent = names(&|i, s| s.conn.is_some() && !answered.contains(&i));
                    let served = names(&|i, _| answered.contains(&i));
                    let ms = sc.exclusivity_timeout_ms;
                    return Err(if served.is_empty() {
                        format!("no console was served within {ms} ms after the storm (open and unanswered: {silent})")
                    } else {
                        format!("after the storm {served} was served, but {silent} stayed open, neither served nor closed, for {ms} ms")
                    });
                }
                _ => tokio::time::sleep(PING_GAP).await,
            }
        }
    }

    /// [`KEEP_PINGS`] more answered pings from the console found serving.
    async fn keep(&self, seats: &mut [Seat], i: usize) -> Result<(), String> {
        let Some(s) = seats.get_mut(i) else {
            return Ok(());
        };
        let Some(conn) = s.conn.as_mut() else {
            return Ok(());
        };
        let wait = ms(self.sc.update_timeout_ms);
        for k in 1..=KEEP_PINGS {
            tokio::time::sleep(PING_GAP).await;
            let why = match ping(&mut conn.t, wait, Instant::now() + wait).await {
                Pong::Answered => {
                    s.pings += 1;
                    continue;
                }
                Pong::Closed(reason) => format!("was closed: {}", describe_close(&reason)),
                Pong::Unanswered => {
                    format!("did not answer within {} ms", self.sc.update_timeout_ms)
                }
            };
            return Err(format!("{}, served after the storm, stopped being answered: ping {k} of {KEEP_PINGS} more {why}", s.label));
        }
        Ok(())
    }

    /// Nobody is left: a fresh console must be served by `until` (refusals
    /// are retried, as the terminal may not have noticed the last leave).
    async fn fresh(&self, seats: &mut Vec<Seat>, until: Instant) -> Result<usize, String> {
        let first_wait = ms(first_wait_ms(self.sc));
        for k in 1u32.. {
            let label = format!("{}/fresh#{k}", self.wave.as_str());
            let mut s = Seat {
                label,
                ..Seat::default()
            };
            if let Some(mut conn) = self.open(&mut s, until).await {
                match ping(&mut conn.t, first_wait, Instant::now() + first_wait).await {
                    Pong::Answered => {
                        s.pings += 1;
                        s.served = conn.t.log().served_at();
                        s.served_ms = Some(round_ms(ms_between(self.start, Instant::now())));
                        s.conn = Some(conn);
                        seats.push(s);
                        let i = seats.len() - 1;
                        return self.keep(seats, i).await.map(|()| i);
                    }
                    Pong::Closed(reason) => self.closed(&mut s, conn, &reason).await,
                    Pong::Unanswered => {
                        s.problem = Some(format!("every console had left; fresh console {} was admitted but not answered within {} ms", s.label, first_wait.as_millis()));
                        self.leave(&mut s, conn, CloseHow::Clean).await;
                    }
                }
            }
            let last = match &s.left {
                Some(Left::NotAdmitted(d) | Left::TurnedAway(d)) => d.clone(),
                _ => String::new(),
            };
            let stop = s
                .problem
                .clone()
                .or(s.harness.as_ref().map(|h| h.to_string()));
            seats.push(s);
            if let Some(why) = stop {
                return Err(why);
            }
            if Instant::now() + REOPEN_INTERVAL >= until {
                return Err(format!(
                    "every console had left, and no fresh console was served within {} ms ({k} attempts; last: {last})",
                    self.sc.exclusivity_timeout_ms
                ));
            }
            tokio::time::sleep(REOPEN_INTERVAL).await;
        }
        Err("no fresh console could be tried".into())
    }
}

/// `takeover`: a console that began to arrive after the final holder had
/// been admitted should have displaced it. The first such console, if any.
pub(crate) fn newest_lost(seats: &[Seat], holder: usize) -> Option<String> {
    let h = seats.get(holder)?;
    let admitted = h.admitted.filter(|_| h.part.is_some())?;
    let late = seats
        .iter()
        .find(|s| s.arrived.is_some_and(|a| a > admitted))?;
    Some(format!(
        "takeover: console {} arrived (#{}) after {} had been admitted (#{}), yet {} was the one served at the end",
        late.label,
        late.arrived.map_or(0, |a| a.0),
        h.label,
        admitted.0,
        h.label
    ))
}

/// What one storm showed: a failure, a harness problem, the evidence.
pub(crate) struct StormReport {
    pub(crate) failure: Option<String>,
    pub(crate) harness: Option<StormError>,
    pub(crate) evidence: Value,
}

pub(crate) async fn storm(
    binding: &dyn ScreenBinding,
    sc: &ScreenScenario,
    policy: Exclusivity,
    wave: Wave,
    parts: &[Part],
) -> StormReport {
    let start = Instant::now();
    let storm = Storm {
        binding,
        sc,
        policy,
        wave,
        tl: Timeline::new(),
        start,
        deadline: start + ms(storm_ms(sc)),
        seats: Arc::new(Semaphore::new(parts.len())),
        unresolved: AtomicUsize::new(parts.len()),
    };
    let arrivals = parts.iter().enumerate().map(|(i, p)| {
        let label = format!("{}/C{:02}", wave.as_str(), i + 1);
        storm.arrive(label, *p)
    });
    let mut seats = join_all(arrivals).await;
    let storm_ms = round_ms(ms_between(start, Instant::now()));
    let t_settle = Instant::now();
    let settled = storm.settle(&mut seats).await;
    let settle_ms = round_ms(ms_between(t_settle, Instant::now()));
    for s in seats.iter_mut() {
        if let Some(conn) = s.conn.take() {
            let how = s.part.map_or(CloseHow::Clean, |p| p.leave);
            storm.leave(s, conn, how).await;
            s.left = Some(Left::Stayed(how));
        }
    }
    let logs: Vec<ConsoleLog> = seats.iter().filter_map(|s| s.log.clone()).collect();
    let v = violations(&logs);
    let harness = seats.iter().find_map(|s| s.harness.clone());
    let failure = match (v.first(), &settled) {
        (Some(first), _) => Some(format!("two consoles served at once: {first}")),
        _ if harness.is_some() => None,
        (None, Err(why)) => seats
            .iter()
            .find_map(|s| s.problem.clone())
            .or(Some(why.clone())),
        (None, Ok(h)) => seats
            .iter()
            .find_map(|s| s.problem.clone())
            .or_else(|| match policy {
                Exclusivity::Takeover => newest_lost(&seats, *h),
                Exclusivity::Refuse => None,
            }),
    };
    let newest = seats
        .iter()
        .filter(|s| s.admitted.is_some())
        .max_by_key(|s| s.admitted);
    let holder = settled.as_ref().ok().and_then(|h| seats.get(*h));
    let served: Vec<f64> = seats.iter().filter_map(|s| s.served_ms).collect();
    let evidence = json!({
        "wave": wave.as_str(),
        "consoles": parts.len(),
        "bursts": parts.iter().map(|p| p.burst).max().map(|b| b + 1),
        "admitted": seats.iter().filter(|s| s.part.is_some() && s.admitted.is_some()).count(),
        "served": seats.iter().filter(|s| s.part.is_some() && s.served.is_some()).count(),
        "seats": seats.iter().map(Seat::json).collect::<Vec<_>>(),
        "final_holder": holder.map(|h| json!({"label": h.label, "admitted": h.admitted.map(|s| s.0), "fresh": h.part.is_none()})),
        "newest_admitted": newest.map(|s| s.label.as_str()),
        "violations": capped(&v),
        "failure": failure,
        "timings": {
            "storm_ms": storm_ms,
            "settle_ms": settle_ms,
            "served_ms": {
                "p50": percentile(&served, 50.0).map(round_ms),
                "max": served.iter().copied().reduce(f64::max).map(round_ms),
            },
        },
        "timeline": storm.tl.evidence(),
    });
    StormReport {
        failure,
        harness,
        evidence,
    }
}
