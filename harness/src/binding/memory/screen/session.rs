//! The task behind one in-memory console: it carries out the console's
//! commands on the shared desk and answers its requests from it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{oneshot, Notify};

use super::{MemoryFault, MemoryScreen, Role, DISPLACED_WINDOW, MAX_PENDING};
use crate::binding::screen::{Image, Rect};
use crate::binding::seq::{self, Seq};
use crate::binding::{
    CloseHow, CloseReason, Command, ConsoleDriver, ConsoleEvent, Damage, DamageKind, UpdateInfo,
};

/// A request waiting for an answer.
#[derive(Debug, Clone, Copy)]
struct Pending {
    seq: Seq,
    at: Instant,
    incremental: bool,
    rect: Rect,
}

/// The task behind one console.
pub(super) struct Session {
    screen: MemoryScreen,
    id: u64,
    role: Role,
    driver: ConsoleDriver,
    wake: Arc<Notify>,
    pending: VecDeque<Pending>,
    served_since: Option<Instant>,
}

/// How a session ended.
enum End {
    Harness(CloseHow),
    Terminal(String),
    Gone,
}

impl Session {
    /// The task for console `id` of `screen`.
    pub(super) fn new(
        screen: MemoryScreen,
        id: u64,
        role: Role,
        driver: ConsoleDriver,
        wake: Arc<Notify>,
    ) -> Session {
        Session {
            screen,
            id,
            role,
            driver,
            wake,
            pending: VecDeque::new(),
            served_since: None,
        }
    }

    /// Serves the console until it ends, then reports `Closed` once.
    pub(super) async fn run(mut self) {
        let end = self.serve().await;
        let (how, reason) = match end {
            End::Harness(how) => (how, Some(CloseReason::ByHarness)),
            End::Terminal(detail) => (CloseHow::Clean, Some(CloseReason::ByTerminal { detail })),
            End::Gone => (CloseHow::Clean, None),
        };
        self.screen.leave(self.id, how);
        self.driver.commands.close();
        while self.driver.commands.try_recv().is_ok() {}
        if let Some(reason) = reason {
            let _ = self
                .driver
                .events
                .send(ConsoleEvent::Closed {
                    seq: seq::next(),
                    reason,
                    at: Instant::now(),
                })
                .await;
        }
    }

    async fn serve(&mut self) -> End {
        loop {
            if let Some(end) = self.answer().await {
                return end;
            }
            let linger_until = match self.role {
                Role::Lingering(until) => Some(until),
                Role::Served => None,
            };
            let sleep = async {
                match linger_until {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                cmd = self.driver.commands.recv() => match cmd {
                    None => return End::Gone,
                    Some((Command::Close(how), reply)) => {
                        let _ = reply.send(seq::next());
                        return End::Harness(how);
                    }
                    Some((cmd, reply)) => {
                        let s = seq::next();
                        let _ = reply.send(s);
                        self.command(cmd, s);
                    }
                },
                _ = self.wake.notified() => {}
                _ = sleep => {
                    return End::Terminal("the terminal is busy: another console holds it".into());
                }
            }
        }
    }

    /// Carries out a command written at `s`.
    fn command(&mut self, cmd: Command, s: Seq) {
        match cmd {
            Command::Request { incremental, rect } => {
                let screen = self.bounds();
                let rect = rect.and_then(|r| r.intersect(&screen)).unwrap_or(screen);
                if self.pending.len() >= MAX_PENDING {
                    self.pending.pop_front();
                }
                self.pending.push_back(Pending {
                    seq: s,
                    at: Instant::now(),
                    incremental,
                    rect,
                });
            }
            Command::Pointer { buttons, .. } => {
                if buttons & 1 == 1 {
                    self.screen.input(self.id, true);
                }
            }
            Command::Key { down, .. } => {
                if down {
                    self.screen.input(self.id, false);
                }
            }
            // No encodings to choose: nothing to do.
            Command::SetEncodings(_) => {}
            Command::Close(_) => {}
        }
    }

    fn bounds(&self) -> Rect {
        Rect::new(0, 0, self.screen.cfg.width, self.screen.cfg.height)
    }

    /// What the terminal does next for this console, decided under its
    /// lock (pixels are copied there too); the events go out after.
    fn step(&mut self) -> Step {
        let mut d = self.screen.lock();
        let Some(slot) = d.slots.get_mut(&self.id) else {
            return Step::Idle;
        };
        if slot.kick {
            slot.kick = false;
            let ack = slot.kicked.take();
            if self.screen.has(MemoryFault::InputFromDisplaced) {
                // Displaced, but its input still counts for a while.
                slot.role = Role::Lingering(Instant::now() + DISPLACED_WINDOW);
                self.role = slot.role;
                if let Some(a) = ack {
                    let _ = a.send(());
                }
                return Step::Again;
            }
            return Step::Kicked(ack);
        }
        if self.role != Role::Served {
            return Step::Idle;
        }
        let stalled = self.screen.has(MemoryFault::StallAfter)
            && self
                .served_since
                .is_some_and(|t| t.elapsed() >= self.screen.cfg.stall_after);
        // A full request is answered at once, even behind incremental ones
        // still waiting for a change (each answer names its own request).
        let index = self
            .pending
            .iter()
            .position(|p| !p.incremental)
            .unwrap_or(0);
        let Some(front) = self.pending.get(index).copied() else {
            return Step::Idle;
        };
        if stalled {
            return Step::Idle;
        }
        let area = if front.incremental {
            match slot.dirty.and_then(|r| r.intersect(&front.rect)) {
                None => return Step::Idle,
                Some(a) => {
                    slot.dirty = None;
                    if self.screen.has(MemoryFault::StaleIncremental) {
                        Rect::new(a.x, a.y, a.w, a.h - a.h / 4)
                    } else {
                        a
                    }
                }
            }
        } else {
            front.rect
        };
        let began = seq::next();
        let mut img = self
            .driver
            .framebuffer
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        copy(&d.image, &mut img, area);
        Step::Paint {
            began,
            area,
            front,
            index,
        }
    }

    /// Answers what can be answered now; returns how the session ends if a
    /// takeover closed it.
    async fn answer(&mut self) -> Option<End> {
        loop {
            let (began, area, front) = match self.step() {
                Step::Idle => return None,
                Step::Again => continue,
                Step::Kicked(ack) => {
                    let _ = self
                        .driver
                        .events
                        .send(ConsoleEvent::Closed {
                            seq: seq::next(),
                            reason: CloseReason::ByTerminal {
                                detail: "another console took the terminal over".into(),
                            },
                            at: Instant::now(),
                        })
                        .await;
                    self.screen.leave(self.id, CloseHow::Clean);
                    if let Some(a) = ack {
                        let _ = a.send(());
                    }
                    return Some(End::Gone);
                }
                Step::Paint {
                    began,
                    area,
                    front,
                    index,
                } => {
                    self.pending.remove(index);
                    (began, area, front)
                }
            };
            self.served_since.get_or_insert_with(Instant::now);
            let at = Instant::now();
            let update = UpdateInfo {
                began,
                seq: seq::next(),
                answers: Some(front.seq),
                incremental: Some(front.incremental),
                damage: vec![Damage {
                    kind: DamageKind::Paint,
                    rect: area,
                    in_bounds: true,
                    bytes: 0,
                    encoding: None,
                }],
                rect_count: 1,
                bytes: 0,
                latency_ms: Some(at.saturating_duration_since(front.at).as_secs_f64() * 1000.0),
                at,
            };
            self.driver.tap.painted(&update.damage);
            if self
                .driver
                .events
                .send(ConsoleEvent::Update(update))
                .await
                .is_err()
            {
                return Some(End::Gone);
            }
        }
    }
}

/// What [`Session::step`] decided.
enum Step {
    /// Nothing to answer now.
    Idle,
    /// The state changed: decide again.
    Again,
    /// Another console took over: close, then acknowledge.
    Kicked(Option<oneshot::Sender<()>>),
    /// `area` was copied into the console's image for `front`, the
    /// request at `index` of the queue.
    Paint {
        began: Seq,
        area: Rect,
        front: Pending,
        index: usize,
    },
}

/// Copies `area` of `from` into `to` (both the same size).
fn copy(from: &Image, to: &mut Image, area: Rect) {
    let w = usize::from(from.width());
    for y in area.y..area.y.saturating_add(area.h) {
        let start = usize::from(y) * w + usize::from(area.x);
        if let Some(row) = from.pixels().get(start..start + usize::from(area.w)) {
            to.write_row(area.x, y, row);
        }
    }
}
