//! EX-04 (condition 1-2-1): console storms. A dispatch centre has many
//! consoles, so exclusivity must hold when several arrive at the same moment,
//! not only between two (EX-03).
//!
//! Two storms of `[screen] storm_consoles` consoles: all at once, then in
//! seeded bursts within `storm_window_ms`. Each console opens once; when
//! served it holds with small pings for a seeded time (at most
//! `storm_max_hold_ms`) and leaves, cleanly or by dropping its connection,
//! or stays. Once every arrival has had its answer and every planned leave
//! has happened, the dust has settled: within the exclusivity timeout
//! exactly one console must be served and keep being answered (a fresh one
//! if nobody is left). Judged by the causal order only: never two served at
//! once ([`violations`]); under `refuse` a served console keeps the terminal
//! while it stays; under `takeover` the newest arrival wins (the console
//! served at the end was not admitted before another began to arrive).
//!
//! Load stays within what the scenario declares: at most `storm_consoles`
//! connections at once (a semaphore), one request outstanding per console, a
//! pause between pings, a deadline on every wait, and only the small ping
//! region asked for, so nothing is kept beyond the binding's own framebuffer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::support::causal::{violations, ConsoleLog};
pub use super::support::storm::{draw, Left, Part, StormError, Wave, MAX_BURSTS};
use super::support::{
    capped, describe_close, ms_between, percentile, round_ms, Ev, Timeline, Tracked,
    REOPEN_INTERVAL,
};
use super::support::{ms, ping_rect};
use super::{CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::{seq, BoxFuture, CloseHow, CloseReason, OpenError, ScreenBinding, Seq};
use crate::config::declaration::{Declaration, Exclusivity};
use crate::config::scenario::{Scenario, ScreenScenario, MAX_STORM_CONSOLES, MIN_STORM_CONSOLES};
use crate::model::ids::{CheckId, ConditionId};

/// Pause between two pings of one console.
pub const PING_GAP: Duration = Duration::from_millis(10);

/// Pings the console served at the end must still answer once found.
pub const KEEP_PINGS: u32 = 3;

/// EX-04: Storms: many consoles arriving at once and in seeded bursts; never two served, exactly one once they settle, the declared policy kept.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Ex04,
    condition: ConditionId::C1_2_1,
    title: "Storms: many consoles arriving at once and in seeded bursts; never two served, exactly one once they settle, the declared policy kept",
    requirement: Requirement {
        ja: "多数の指令台が一斉に、またシード付きの集中で接続し、ランダムに離脱しても、2台が同時に画面提供されることがなく、収まった後はちょうど1台が提供され続け、宣言した方針が守られること。",
        en: "In two storms of consoles (all at once, then in seeded bursts) that leave at random, no two are ever served together, and once the storm is over exactly one is served and keeps being answered, as the declared policy says.",
    },
    needs: &[CheckId::St01],
    lane: Lane::Screen,
    phase: Phase::Exclusivity,
    budget: ex04_budget,
    run: ex04,
};

fn ex04_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    nominal_ms(&sc.screen)
}

/// Roughly how long EX-04 takes on a slow but conforming terminal (ms):
/// both storms, each its own deadline plus the settling.
pub fn nominal_ms(sc: &ScreenScenario) -> u64 {
    storm_ms(sc).saturating_add(settle_ms(sc)).saturating_mul(2)
}

/// How long a console waits for its first answer: it may be refused (the
/// exclusivity timeout) or served (the update timeout).
fn first_wait_ms(sc: &ScreenScenario) -> u64 {
    sc.update_timeout_ms.max(sc.exclusivity_timeout_ms)
}

/// The deadline of a storm's arrivals and holds: the last burst, its open,
/// its first answer, the longest hold and one more ping.
fn storm_ms(sc: &ScreenScenario) -> u64 {
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
fn settle_ms(sc: &ScreenScenario) -> u64 {
    sc.exclusivity_timeout_ms
        .saturating_add(sc.connect_timeout_ms)
        .saturating_add(first_wait_ms(sc))
        .saturating_add(sc.update_timeout_ms.saturating_mul(u64::from(KEEP_PINGS)))
}

/// An open console and its share of the connection limit.
struct Conn {
    t: Tracked,
    _permit: OwnedSemaphorePermit,
}

/// One console connection of a storm, as the harness saw it. A seat
/// without a part is a fresh console opened after everyone had left.
#[derive(Default)]
struct Seat {
    label: String,
    part: Option<Part>,
    arrived: Option<Seq>,
    admitted: Option<Seq>,
    served: Option<Seq>,
    served_ms: Option<f64>,
    pings: u64,
    left: Option<Left>,
    problem: Option<String>,
    harness: Option<StormError>,
    log: Option<ConsoleLog>,
    conn: Option<Conn>,
}

impl Seat {
    fn json(&self) -> Value {
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
enum Pong {
    Answered,
    Closed(CloseReason),
    Unanswered,
}

/// Asks for the ping region and waits `wait` (at most until `cap`) for an
/// update answering that request or a later one.
async fn ping(t: &mut Tracked, wait: Duration, cap: Instant) -> Pong {
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
struct Storm<'a> {
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
fn newest_lost(seats: &[Seat], holder: usize) -> Option<String> {
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
struct StormReport {
    failure: Option<String>,
    harness: Option<StormError>,
    evidence: Value,
}

async fn storm(
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

fn ex04(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(ex04_run(ctx))
}

async fn ex04_run(ctx: &CheckCtx) -> Outcome {
    let sc = &ctx.scenario.screen;
    let n = sc.storm_consoles;
    if !(MIN_STORM_CONSOLES..=MAX_STORM_CONSOLES).contains(&n) {
        return Outcome::error(
            format!("cannot run EX-04: {}", StormError::Count(n)),
            json!({"storm_consoles": n}),
        );
    }
    let policy = ctx.declaration.screen.exclusivity;
    let mut rng = ctx.rng(CheckId::Ex04);
    let plans = [Wave::AtOnce, Wave::Bursts].map(|w| (w, draw(&mut rng, w, n as usize, sc)));
    let t0 = Instant::now();
    let mut storms = Vec::new();
    let mut failure: Option<String> = None;
    let mut harness: Option<StormError> = None;
    for (wave, parts) in &plans {
        let r = storm(ctx.screen.as_ref(), sc, policy, *wave, parts).await;
        if let Some(f) = &r.failure {
            failure.get_or_insert_with(|| format!("storm {}: {f}", wave.as_str()));
        }
        if harness.is_none() {
            harness = r.harness;
        }
        storms.push(r.evidence);
    }
    let evidence = json!({
        "seed": ctx.seed,
        "policy": policy.as_str(),
        "storm_consoles": n,
        "storm_window_ms": sc.storm_window_ms,
        "storm_max_hold_ms": sc.storm_max_hold_ms,
        "storms": storms,
        "elapsed_ms": round_ms(ms_between(t0, Instant::now())),
    });
    if let Some(f) = failure {
        return Outcome::fail(format!("{f} (seed {})", ctx.seed), evidence);
    }
    if let Some(h) = harness {
        return Outcome::error(
            format!("harness problem; cannot judge EX-04: {h}"),
            evidence,
        );
    }
    Outcome::pass(
        format!(
            "two storms of {n} consoles (at once, then in seeded bursts; seed {}): never two served, exactly one served once the dust settled ({})",
            ctx.seed,
            policy.as_str()
        ),
        evidence,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::binding::screen::Rect;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn parts(seed: u64, wave: Wave, n: usize) -> Vec<Part> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        draw(&mut rng, wave, n, &ScreenScenario::default())
    }

    #[test]
    fn storms_are_seeded_and_bounded() {
        let sc = ScreenScenario::default();
        for seed in 0..200 {
            for n in [3, 8, 64] {
                assert_eq!(parts(seed, Wave::Bursts, n), parts(seed, Wave::Bursts, n));
                let once = parts(seed, Wave::AtOnce, n);
                assert_eq!(once.len(), n);
                assert!(once.iter().all(|p| p.burst == 0 && p.offset_ms == 0));
                let b = parts(seed, Wave::Bursts, n);
                assert_eq!(b.len(), n);
                let bursts = b.iter().map(|p| p.burst).max().unwrap() + 1;
                assert!((2..=MAX_BURSTS.min(n)).contains(&bursts), "{bursts}");
                // Every burst has a console; consoles come in arrival order.
                for k in 0..bursts {
                    assert!(b.iter().any(|p| p.burst == k));
                }
                assert!(b.windows(2).all(|w| w[0].offset_ms <= w[1].offset_ms));
                assert_eq!(b[0].offset_ms, 0);
                assert!(b.iter().all(|p| p.offset_ms <= sc.storm_window_ms));
                assert!(b
                    .iter()
                    .all(|p| p.hold_ms.is_none_or(|h| h <= sc.storm_max_hold_ms)));
            }
        }
        let all: Vec<Part> = (0..50).flat_map(|s| parts(s, Wave::Bursts, 8)).collect();
        assert!(
            all.iter().any(|p| p.hold_ms.is_none()),
            "some consoles stay"
        );
        assert!(all.iter().any(|p| p.leave == CloseHow::Drop));
        assert!(all.iter().any(|p| p.leave == CloseHow::Clean));
        assert_ne!(parts(1, Wave::Bursts, 8), parts(2, Wave::Bursts, 8));
    }

    fn seat(label: &str, arrived: u64, admitted: Option<u64>) -> Seat {
        Seat {
            label: label.into(),
            part: Some(Part {
                burst: 0,
                offset_ms: 0,
                hold_ms: None,
                leave: CloseHow::Drop,
            }),
            arrived: Some(Seq(arrived)),
            admitted: admitted.map(Seq),
            ..Seat::default()
        }
    }

    #[test]
    fn under_takeover_a_later_arrival_must_displace_the_final_holder() {
        let seats = [
            seat("A", 1, Some(5)),
            seat("B", 2, Some(9)),
            seat("C", 3, None),
        ];
        assert_eq!(newest_lost(&seats, 1), None);
        // A served at the end is no proof either: B and C began to arrive
        // (#2, #3) before A was admitted (#5), so they may have lost to it.
        assert_eq!(newest_lost(&seats, 0), None);
        let late = [seat("A", 1, Some(5)), seat("B", 6, None)];
        let why = newest_lost(&late, 0).unwrap();
        assert!(
            why.contains("console B arrived (#6) after A had been admitted (#5)"),
            "{why}"
        );
        // A fresh console opened after everyone left is never out of date.
        let mut fresh = late;
        fresh[0].part = None;
        assert_eq!(newest_lost(&fresh, 0), None);
    }

    #[test]
    fn nominal_time_covers_both_storms_and_grows_with_the_timeouts() {
        let sc = ScreenScenario::default();
        let n = nominal_ms(&sc);
        assert_eq!(n, 2 * (storm_ms(&sc) + settle_ms(&sc)));
        assert!(n > 2 * (sc.connect_timeout_ms + sc.exclusivity_timeout_ms));
        let slow = ScreenScenario {
            update_timeout_ms: 2 * sc.update_timeout_ms,
            ..sc.clone()
        };
        assert!(nominal_ms(&slow) > n);
        let absurd = ScreenScenario {
            update_timeout_ms: u64::MAX,
            ..sc
        };
        assert_eq!(nominal_ms(&absurd), u64::MAX);
    }

    #[test]
    fn ping_region_fits_tiny_screens() {
        assert_eq!(
            ping_rect(Rect::new(0, 0, 1024, 768)),
            Rect::new(0, 0, 64, 64)
        );
        assert_eq!(ping_rect(Rect::new(0, 0, 40, 30)), Rect::new(0, 0, 40, 30));
    }

    #[test]
    fn seat_evidence_names_arrival_admission_service_and_leaving() {
        let mut s = seat("at-once/C01", 3, Some(4));
        s.served = Some(Seq(7));
        s.left = Some(Left::Stayed(CloseHow::Drop));
        let j = s.json();
        assert_eq!(j["label"], "at-once/C01");
        assert_eq!(j["arrived"], 3);
        assert_eq!(j["admitted"], 4);
        assert_eq!(j["served"], 7);
        assert_eq!(j["left"]["how"], "stayed");
        assert_eq!(j["left"]["detail"], "drop");
        assert_eq!(j["hold_ms"], Value::Null);
        assert_eq!(j["stays"], true);
        assert_eq!(j["fresh"], false);
    }
}
