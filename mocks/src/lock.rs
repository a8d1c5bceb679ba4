//! Exclusivity: which console holds the terminal.
//!
//! Every decision is taken under one mutex and every session has a unique,
//! increasing id, so consoles arriving at the same instant are ordered and
//! exactly one of them ends up holding the terminal. The decision is taken
//! when a console has passed security, before it is told so.
//!
//! Faults bend the rules here: `share-screen` lets everyone in,
//! `stuck-lock` never releases a holder that dropped abruptly,
//! `input-from-displaced` keeps applying a displaced or refused console's
//! input for a short window, and `stale-lock-check` answers a newcomer by
//! the console the lock answered last instead of by the holder (see
//! [`ExclusiveLock::decide`]).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::{Exclusivity, Fault, MockConfig};

/// How long `input-from-displaced` keeps applying a loser's input.
pub const DISPLACED_WINDOW: Duration = Duration::from_millis(500);

/// What the lock tells a session to do, at any time after it was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Carry on.
    Run,
    /// Another console took over: close the connection now.
    Close,
    /// Another console took over, but (fault) keep applying input until
    /// `until`, send no more updates, then close.
    Displaced {
        /// End of the window.
        until: Instant,
    },
}

/// The lock's view of one session: its id, the channel the lock uses to
/// signal it, and a way to learn when it has ended.
pub struct SessionCtl {
    /// Unique, increasing id.
    pub id: u64,
    /// When the session started (its connection was accepted).
    pub arrived: Instant,
    signal_tx: Arc<watch::Sender<Signal>>,
    /// Where the session listens for [`Signal`]s.
    pub signal_rx: watch::Receiver<Signal>,
    /// Dropped when the session ends; its receivers then see the end.
    ended_tx: Option<watch::Sender<()>>,
    ended_rx: watch::Receiver<()>,
}

impl SessionCtl {
    /// Control for session `id`.
    pub fn new(id: u64) -> Self {
        let (signal_tx, signal_rx) = watch::channel(Signal::Run);
        let (ended_tx, ended_rx) = watch::channel(());
        SessionCtl {
            id,
            arrived: Instant::now(),
            signal_tx: Arc::new(signal_tx),
            signal_rx,
            ended_tx: Some(ended_tx),
            ended_rx,
        }
    }

    /// Marks the session as ended (its connection is closed by now).
    pub fn mark_ended(&mut self) {
        self.ended_tx = None;
    }
}

/// Resolves once the session behind `ended` has ended.
pub async fn wait_ended(mut ended: watch::Receiver<()>) {
    // The sender is never used to send; `changed` fails once it is dropped.
    while ended.changed().await.is_ok() {}
}

/// The outcome of asking for the terminal.
#[derive(Debug)]
pub enum Decision {
    /// The console holds the terminal.
    Granted,
    /// `share-screen`: served alongside any others.
    Shared,
    /// Refused: another console holds the terminal (or the lock is stuck).
    Refused,
    /// (`input-from-displaced` under `refuse`) let the console in, apply its
    /// input until `until`, never send it an update, then close it.
    InputOnly {
        /// End of the window.
        until: Instant,
    },
    /// (`takeover`) the console is the new holder once the old holder's
    /// session has ended (wait at most a bound for it), then re-check with
    /// [`ExclusiveLock::is_holder`].
    AwaitPrevious {
        /// Resolves when the old session has ended.
        ended: watch::Receiver<()>,
    },
}

struct Holder {
    id: u64,
    signal: Arc<watch::Sender<Signal>>,
    ended: watch::Receiver<()>,
    /// Whether the lock has let it be sent an update yet.
    shown: bool,
}

impl Holder {
    fn of(me: &SessionCtl) -> Holder {
        Holder {
            id: me.id,
            signal: Arc::clone(&me.signal_tx),
            ended: me.ended_rx.clone(),
            shown: false,
        }
    }
}

#[derive(Default)]
struct State {
    holder: Option<Holder>,
    /// Set by `stuck-lock` when a holder dropped abruptly: nobody gets in again.
    stuck: bool,
    /// `input-from-displaced` windows: (session id, end).
    windows: Vec<(u64, Instant)>,
    /// `stale-lock-check`: consoles let in beside the holder.
    beside: Vec<Holder>,
    /// `stale-lock-check`: the last console turned away (refused, or
    /// displaced before it was shown anything) and when.
    turned_away: Option<(u64, Instant)>,
}

impl State {
    /// Whether session `id` holds the terminal (or, under
    /// `stale-lock-check`, was let in beside the holder).
    fn holds(&self, id: u64) -> bool {
        self.holder.as_ref().is_some_and(|h| h.id == id) || self.beside.iter().any(|h| h.id == id)
    }

    /// The holding entry of session `id` (holder or beside it).
    fn holding(&mut self, id: u64) -> Option<&mut Holder> {
        self.holder
            .iter_mut()
            .chain(self.beside.iter_mut())
            .find(|h| h.id == id)
    }
}

/// What the lock looks like from outside, published on every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockView {
    /// The session holding the terminal, if any.
    pub holder: Option<u64>,
    /// Whether `stuck-lock` has locked everyone out.
    pub stuck: bool,
    /// Holders released so far (cleanly or not).
    pub releases: u64,
}

/// The exclusivity state machine of one mock terminal.
pub struct ExclusiveLock {
    policy: Exclusivity,
    share: bool,
    stuck_fault: bool,
    displaced_fault: bool,
    stale_fault: bool,
    state: Mutex<State>,
    view: watch::Sender<LockView>,
}

impl ExclusiveLock {
    /// The lock for a mock configured as `cfg`.
    pub fn new(cfg: &MockConfig) -> Self {
        ExclusiveLock {
            policy: cfg.exclusivity,
            share: cfg.has(Fault::ShareScreen),
            stuck_fault: cfg.has(Fault::StuckLock),
            displaced_fault: cfg.has(Fault::InputFromDisplaced),
            stale_fault: cfg.has(Fault::StaleLockCheck),
            state: Mutex::new(State::default()),
            view: watch::channel(LockView::default()).0,
        }
    }

    /// A receiver that sees every change of holder.
    pub fn watch(&self) -> watch::Receiver<LockView> {
        self.view.subscribe()
    }

    /// Publishes the state (called with the state lock held, so views are
    /// published in decision order).
    fn publish(&self, st: &State, released: bool) {
        let holder = st.holder.as_ref().map(|h| h.id);
        self.view.send_if_modified(|v| {
            let next = LockView {
                holder,
                stuck: st.stuck,
                releases: v.releases + u64::from(released),
            };
            let changed = *v != next;
            *v = next;
            changed
        });
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides whether the session `me` may have the terminal.
    ///
    /// With `stale-lock-check` the lock keeps a note of the last console it
    /// turned away (refused under `refuse`; under `takeover`, displaced
    /// before it was ever let be sent an update) and of that moment. A
    /// newcomer that was already connecting at that moment is checked
    /// against the note instead of the holder and, the noted console not
    /// holding the terminal, is let in beside the holder. It takes three
    /// consoles connecting at once: the holder, the one turned away and the
    /// newcomer. Two consoles never meet it: a console that tries again
    /// connects after the answer it got, and a holder displaced after being
    /// served (one whose console has since gone) is never noted.
    pub fn decide(&self, me: &SessionCtl) -> Decision {
        if self.share {
            return Decision::Shared;
        }
        let mut st = self.lock();
        let d = self.decide_locked(&mut st, me);
        self.publish(&st, false);
        d
    }

    fn decide_locked(&self, st: &mut State, me: &SessionCtl) -> Decision {
        if self.stale_fault {
            if let Some(d) = self.stale_grant(st, me) {
                return d;
            }
        }
        self.decide_exclusive(st, me)
    }

    /// `stale-lock-check`: grants `me` beside the holder when `me` was
    /// already connecting when the noted console was turned away. The note
    /// stays, so every console of that wave is checked against it.
    fn stale_grant(&self, st: &mut State, me: &SessionCtl) -> Option<Decision> {
        let (noted, at) = st.turned_away?;
        if st.holds(noted) || me.arrived >= at || st.stuck {
            return None;
        }
        tracing::warn!(
            session = me.id,
            checked_against = noted,
            "fault stale-lock-check: admitting a console beside the holder"
        );
        if st.holder.is_none() {
            st.holder = Some(Holder::of(me));
        } else {
            st.beside.push(Holder::of(me));
        }
        Some(Decision::Granted)
    }

    fn decide_exclusive(&self, st: &mut State, me: &SessionCtl) -> Decision {
        let now = Instant::now();
        st.windows.retain(|(_, until)| *until > now);
        if st.stuck {
            return Decision::Refused;
        }
        let me_holder = Holder::of(me);
        let Some(old) = st.holder.take() else {
            st.holder = Some(me_holder);
            return Decision::Granted;
        };
        match self.policy {
            Exclusivity::Refuse => {
                st.holder = Some(old);
                if self.stale_fault {
                    st.turned_away = Some((me.id, now));
                }
                if self.displaced_fault {
                    let until = now + DISPLACED_WINDOW;
                    st.windows.push((me.id, until));
                    Decision::InputOnly { until }
                } else {
                    Decision::Refused
                }
            }
            Exclusivity::Takeover => {
                st.holder = Some(me_holder);
                if self.displaced_fault {
                    let until = now + DISPLACED_WINDOW;
                    st.windows.push((old.id, until));
                    old.signal.send_replace(Signal::Displaced { until });
                    Decision::Granted
                } else {
                    if self.stale_fault && !old.shown {
                        st.turned_away = Some((old.id, now));
                    }
                    old.signal.send_replace(Signal::Close);
                    Decision::AwaitPrevious { ended: old.ended }
                }
            }
        }
    }

    /// Whether session `id` holds the terminal now (under
    /// `stale-lock-check`, also when it was let in beside the holder).
    pub fn is_holder(&self, id: u64) -> bool {
        self.lock().holds(id)
    }

    /// Whether session `id` may be sent screen updates now. A yes counts
    /// as showing it the screen (see `stale-lock-check`).
    pub fn may_update(&self, id: u64) -> bool {
        if self.share {
            return true;
        }
        match self.lock().holding(id) {
            Some(h) => {
                h.shown = true;
                true
            }
            None => false,
        }
    }

    /// Whether input that session `id` sent at `arrived` may be applied now.
    pub fn may_apply(&self, id: u64, arrived: Instant) -> bool {
        if self.share {
            return true;
        }
        let st = self.lock();
        st.holds(id)
            || st
                .windows
                .iter()
                .any(|(w, until)| *w == id && arrived < *until)
    }

    /// Session `id` has ended; `abrupt` when its connection dropped without
    /// a clean close. Frees the terminal if `id` held it, unless the
    /// `stuck-lock` fault applies.
    pub fn release(&self, id: u64, abrupt: bool) {
        let mut st = self.lock();
        st.beside.retain(|h| h.id != id);
        if st.holder.as_ref().is_some_and(|h| h.id == id) {
            // `stale-lock-check`: a console let in beside it holds on.
            st.holder = (!st.beside.is_empty()).then(|| st.beside.remove(0));
            if abrupt && self.stuck_fault {
                tracing::warn!(session = id, "fault stuck-lock: holder dropped, lock kept");
                st.stuck = true;
            }
            self.publish(&st, true);
        }
    }

    /// Whether the lock is stuck (`stuck-lock` after an abrupt drop).
    pub fn is_stuck(&self) -> bool {
        self.lock().stuck
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(policy: Exclusivity, faults: &[Fault]) -> MockConfig {
        MockConfig {
            exclusivity: policy,
            faults: faults.to_vec(),
            ..MockConfig::default()
        }
    }

    #[test]
    fn refuse_grants_first_refuses_second_until_release() {
        let lock = ExclusiveLock::new(&cfg(Exclusivity::Refuse, &[]));
        let (a, b) = (SessionCtl::new(1), SessionCtl::new(2));
        assert!(matches!(lock.decide(&a), Decision::Granted));
        assert!(matches!(lock.decide(&b), Decision::Refused));
        assert!(lock.may_update(1) && !lock.may_update(2));
        assert!(!lock.may_apply(2, Instant::now()));
        lock.release(2, false); // a refused session ending changes nothing
        assert!(lock.is_holder(1));
        lock.release(1, true);
        assert!(matches!(lock.decide(&b), Decision::Granted));
    }

    #[tokio::test]
    async fn takeover_signals_the_holder_and_hands_over_once_it_ends() {
        let lock = ExclusiveLock::new(&cfg(Exclusivity::Takeover, &[]));
        let mut a = SessionCtl::new(1);
        let b = SessionCtl::new(2);
        assert!(matches!(lock.decide(&a), Decision::Granted));
        let Decision::AwaitPrevious { ended } = lock.decide(&b) else {
            panic!("takeover must wait for the holder");
        };
        assert_eq!(*a.signal_rx.borrow(), Signal::Close);
        // The old holder no longer gets updates or input, even before it ends.
        assert!(!lock.may_update(1) && !lock.may_apply(1, Instant::now()));
        let waiter = tokio::spawn(wait_ended(ended));
        assert!(!waiter.is_finished());
        a.mark_ended();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("end seen")
            .expect("join");
        lock.release(1, false);
        assert!(lock.is_holder(2));
    }

    #[test]
    fn simultaneous_takeovers_leave_exactly_one_holder() {
        let lock = ExclusiveLock::new(&cfg(Exclusivity::Takeover, &[]));
        let ctls: Vec<SessionCtl> = (1..=5).map(SessionCtl::new).collect();
        for c in &ctls {
            lock.decide(c);
        }
        let holders: Vec<u64> = (1..=5).filter(|i| lock.is_holder(*i)).collect();
        assert_eq!(holders, vec![5]);
        for c in &ctls[..4] {
            assert_eq!(*c.signal_rx.borrow(), Signal::Close);
        }
        assert_eq!(*ctls[4].signal_rx.borrow(), Signal::Run);
    }

    #[test]
    fn stuck_lock_sticks_only_after_an_abrupt_drop() {
        for policy in [Exclusivity::Refuse, Exclusivity::Takeover] {
            let lock = ExclusiveLock::new(&cfg(policy, &[Fault::StuckLock]));
            let a = SessionCtl::new(1);
            assert!(matches!(lock.decide(&a), Decision::Granted));
            lock.release(1, false);
            assert!(!lock.is_stuck());
            let b = SessionCtl::new(2);
            assert!(matches!(lock.decide(&b), Decision::Granted));
            lock.release(2, true);
            assert!(lock.is_stuck());
            let c = SessionCtl::new(3);
            assert!(matches!(lock.decide(&c), Decision::Refused), "{policy}");
        }
    }

    #[test]
    fn share_screen_admits_everyone_and_applies_all_input() {
        let lock = ExclusiveLock::new(&cfg(Exclusivity::Refuse, &[Fault::ShareScreen]));
        for id in 1..=3 {
            assert!(matches!(
                lock.decide(&SessionCtl::new(id)),
                Decision::Shared
            ));
            assert!(lock.may_update(id) && lock.may_apply(id, Instant::now()));
        }
    }

    #[test]
    fn displaced_fault_under_refuse_opens_an_input_window_for_the_newcomer() {
        let lock = ExclusiveLock::new(&cfg(Exclusivity::Refuse, &[Fault::InputFromDisplaced]));
        let (a, b) = (SessionCtl::new(1), SessionCtl::new(2));
        lock.decide(&a);
        let Decision::InputOnly { until } = lock.decide(&b) else {
            panic!("expected an input-only window");
        };
        assert!(lock.may_apply(2, Instant::now()));
        assert!(!lock.may_apply(2, until));
        assert!(!lock.may_update(2));
        assert!(lock.is_holder(1));
    }

    /// Three sessions that connected at once, then were decided in turn.
    fn wave(first: u64) -> [SessionCtl; 3] {
        [first, first + 1, first + 2].map(SessionCtl::new)
    }

    #[test]
    fn stale_lock_check_under_refuse_admits_a_third_console_beside_the_holder() {
        let lock = ExclusiveLock::new(&cfg(Exclusivity::Refuse, &[Fault::StaleLockCheck]));
        let [a, b, c] = wave(1);
        assert!(matches!(lock.decide(&a), Decision::Granted));
        assert!(matches!(lock.decide(&b), Decision::Refused));
        // C was connecting when B was refused: it is checked against B only.
        assert!(matches!(lock.decide(&c), Decision::Granted));
        assert!(lock.may_update(1) && lock.may_update(3) && !lock.may_update(2));
        assert!(lock.may_apply(3, Instant::now()));
        // The holder leaving hands the terminal to the one beside it.
        lock.release(1, false);
        assert!(lock.is_holder(3));
        let view = *lock.watch().borrow();
        assert_eq!(view.holder, Some(3));
        assert_eq!(view.releases, 1);
    }

    #[test]
    fn stale_lock_check_under_takeover_keeps_a_third_console_beside_the_newest() {
        let lock = ExclusiveLock::new(&cfg(Exclusivity::Takeover, &[Fault::StaleLockCheck]));
        let [a, b, c] = wave(1);
        assert!(matches!(lock.decide(&a), Decision::Granted));
        // A is displaced before it was shown anything: noted.
        assert!(matches!(lock.decide(&b), Decision::AwaitPrevious { .. }));
        assert_eq!(*a.signal_rx.borrow(), Signal::Close);
        // C was connecting at that moment: checked against A, let in.
        assert!(matches!(lock.decide(&c), Decision::Granted));
        assert_eq!(*b.signal_rx.borrow(), Signal::Run);
        assert!(lock.is_holder(2) && lock.is_holder(3) && !lock.is_holder(1));
    }

    #[test]
    fn stale_lock_check_under_takeover_ignores_a_holder_that_was_shown_the_screen() {
        let lock = ExclusiveLock::new(&cfg(Exclusivity::Takeover, &[Fault::StaleLockCheck]));
        let [a, b, c] = wave(1);
        lock.decide(&a);
        assert!(lock.may_update(1));
        lock.decide(&b);
        // Nothing was noted: C takes over from B like any newcomer.
        assert!(matches!(lock.decide(&c), Decision::AwaitPrevious { .. }));
        assert_eq!(*b.signal_rx.borrow(), Signal::Close);
        assert!(lock.is_holder(3) && !lock.is_holder(2));
    }

    #[test]
    fn stale_lock_check_never_shows_with_two_consoles() {
        for policy in [Exclusivity::Refuse, Exclusivity::Takeover] {
            let lock = ExclusiveLock::new(&cfg(policy, &[Fault::StaleLockCheck]));
            let (a, b) = (SessionCtl::new(1), SessionCtl::new(2));
            lock.decide(&a);
            let second = lock.decide(&b);
            // The loser again, on a new connection made after its answer.
            std::thread::sleep(Duration::from_millis(2));
            let again = lock.decide(&SessionCtl::new(3));
            match policy {
                Exclusivity::Refuse => {
                    assert!(matches!(second, Decision::Refused));
                    assert!(matches!(again, Decision::Refused));
                    assert!(lock.is_holder(1) && !lock.is_holder(3));
                }
                Exclusivity::Takeover => {
                    assert!(matches!(second, Decision::AwaitPrevious { .. }));
                    assert!(matches!(again, Decision::AwaitPrevious { .. }));
                    assert_eq!(*b.signal_rx.borrow(), Signal::Close);
                    assert!(lock.is_holder(3) && !lock.is_holder(2));
                }
            }
        }
    }

    #[test]
    fn without_the_fault_a_wave_of_three_leaves_one_holder() {
        for policy in [Exclusivity::Refuse, Exclusivity::Takeover] {
            let lock = ExclusiveLock::new(&cfg(policy, &[]));
            let [a, b, c] = wave(1);
            for s in [&a, &b, &c] {
                lock.decide(s);
            }
            let holders: Vec<u64> = (1..=3).filter(|i| lock.is_holder(*i)).collect();
            let want = if policy == Exclusivity::Refuse { 1 } else { 3 };
            assert_eq!(holders, vec![want], "{policy}");
        }
    }

    #[test]
    fn displaced_fault_under_takeover_grants_at_once_and_keeps_old_input() {
        let lock = ExclusiveLock::new(&cfg(Exclusivity::Takeover, &[Fault::InputFromDisplaced]));
        let (a, b) = (SessionCtl::new(1), SessionCtl::new(2));
        lock.decide(&a);
        assert!(matches!(lock.decide(&b), Decision::Granted));
        assert!(matches!(*a.signal_rx.borrow(), Signal::Displaced { .. }));
        assert!(!lock.may_update(1));
        assert!(lock.may_apply(1, Instant::now()));
        assert!(lock.may_update(2));
    }
}
