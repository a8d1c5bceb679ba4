//! One console's RFB server session: handshake, exclusivity decision, then
//! client messages in and screen updates out.
//!
//! The session keeps the image it last sent. A full request is answered at
//! once; an incremental one is held until the desktop differs from that image
//! inside the requested region. Input is applied to the desktop (after the
//! configured delay) only while the lock allows it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use s301_rfb::encoding::Encoding;
use s301_rfb::handshake::Version;
use s301_rfb::messages::ClientMessage;
use s301_rfb::stream::ClientMessageDecoder;
use s301_rfb::{Limits, Rect};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::{Fault, MockConfig, PointerSprite};
use crate::desktop::{Desktop, InputAction};
use crate::lock::{ExclusiveLock, SessionCtl, Signal};
use crate::transport::{Inbound, Transport};
use crate::update::{self, EncState, Job, Opts};

mod handshake;

/// The whole handshake (version to ServerInit) must finish within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a takeover waits for the old holder's session to end.
pub const TAKEOVER_WAIT: Duration = Duration::from_secs(1);
/// A console that sends nothing for this long, with no request waiting for
/// an answer, is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Bound on sending one batch of output.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on a closing handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(300);
/// Most bytes held while the handshake reads exact-length fields.
const MAX_HANDSHAKE_BUFFER: usize = 64 * 1024;
/// Queued output is sent once it reaches this size, even mid-batch.
const FLUSH_AT: usize = 256 * 1024;
/// Input events waiting for their delay, per session.
const INPUT_QUEUE: usize = 4096;

/// The reason a refused console gets (RFB 3.8).
pub const BUSY_REASON: &str = "terminal busy: another console holds it";
/// The reason a console that lost a simultaneous takeover gets (RFB 3.8).
pub const SUPERSEDED_REASON: &str = "terminal taken over by another console";
/// The desktop name in ServerInit.
pub const DESKTOP_NAME: &str = "s301 mock terminal";

/// What every session of one mock terminal shares.
pub struct Shared {
    /// The configuration.
    pub cfg: MockConfig,
    /// The screen.
    pub desktop: Desktop,
    /// Exclusivity.
    pub lock: ExclusiveLock,
    /// Becomes `true` (or its sender goes away) when the mock shuts down.
    pub shutdown: watch::Receiver<bool>,
    next_id: AtomicU64,
}

impl Shared {
    /// State for a mock configured as `cfg`.
    pub fn new(cfg: MockConfig, desktop: Desktop, shutdown: watch::Receiver<bool>) -> Shared {
        let lock = ExclusiveLock::new(&cfg);
        Shared {
            cfg,
            desktop,
            lock,
            shutdown,
            next_id: AtomicU64::new(1),
        }
    }
}

/// Held by every task that must finish before shutdown completes.
#[derive(Clone)]
pub struct Live(#[allow(dead_code)] mpsc::Sender<()>);

impl Live {
    /// A token and the receiver that sees all tokens gone.
    pub fn channel() -> (Live, mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::channel(1);
        (Live(tx), rx)
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The console closed the connection (`clean`) or it dropped (not clean).
    Client {
        /// Whether the close was clean.
        clean: bool,
    },
    /// The console broke the protocol.
    Violation(String),
    /// A bounded wait ran out.
    Timeout(&'static str),
    /// Authentication failed.
    AuthFailed,
    /// Another console holds the terminal.
    Refused,
    /// Another console arrived at the same time and won.
    Superseded,
    /// Another console took over.
    TakenOver,
    /// An `input-from-displaced` window is over.
    WindowOver,
    /// The mock is shutting down.
    Shutdown,
    /// Sending failed (the console is gone).
    WriteFailed(String),
    /// The codec could not encode a rectangle.
    Encode(String),
}

impl End {
    /// Whether the connection dropped rather than closed.
    pub fn abrupt(&self) -> bool {
        matches!(self, End::Client { clean: false } | End::WriteFailed(_))
    }

    /// The WebSocket close reason to give, if any.
    fn close_reason(&self) -> Option<&str> {
        match self {
            End::Refused => Some(BUSY_REASON),
            End::Superseded | End::TakenOver => Some(SUPERSEDED_REASON),
            End::Violation(_) => Some("protocol violation"),
            _ => None,
        }
    }
}

/// How the session is being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Holds the terminal.
    Exclusive,
    /// `share-screen`.
    Shared,
    /// `input-from-displaced`: input only, until the deadline.
    InputOnly { until: Instant },
}

/// Everything after ServerInit.
struct Screen {
    /// Handed to the blocking encoder thread during a job, else present.
    enc: Option<Box<EncState>>,
    encodings: Vec<i32>,
    pending: Option<Rect>,
    buttons: u8,
    decoder: ClientMessageDecoder,
    input: Option<mpsc::Sender<(Instant, InputAction)>>,
    /// With fault `stall-after`: when the session stops answering requests.
    stalls_at: Option<Instant>,
    /// Whether the stall has been logged.
    stall_logged: bool,
}

/// What woke the serve loop.
enum Event {
    Signal(Signal),
    Inbound(Inbound),
    ScreenChanged,
}

struct Session {
    shared: Arc<Shared>,
    t: Transport,
    ctl: SessionCtl,
    inbuf: Vec<u8>,
    version: Version,
    live: Live,
    shutdown: watch::Receiver<bool>,
    desktop_rx: watch::Receiver<u64>,
}

/// Runs one console's session on `t` to its end.
pub async fn run(shared: Arc<Shared>, t: Transport, peer: String, live: Live) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let shutdown = shared.shutdown.clone();
    let desktop_rx = shared.desktop.subscribe();
    let mut s = Session {
        shared,
        t,
        ctl: SessionCtl::new(id),
        inbuf: Vec::new(),
        version: Version::V3_8,
        live,
        shutdown,
        desktop_rx,
    };
    tracing::info!(session = id, peer = %peer, transport = s.t.name(), "console connected");
    let end = s.drive().await;
    tracing::info!(session = id, end = ?end, "console session ended");
    s.t.close(end.close_reason(), CLOSE_TIMEOUT).await;
    s.shared.lock.release(id, end.abrupt());
    s.ctl.mark_ended();
}

impl Session {
    async fn drive(&mut self) -> End {
        let mut stop = self.shutdown.clone();
        let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.handshake());
        let mode = tokio::select! {
            r = handshake => match r {
                Err(_) => return End::Timeout("handshake"),
                Ok(Err(end)) => return end,
                Ok(Ok(mode)) => mode,
            },
            _ = stop.wait_for(|v| *v) => return End::Shutdown,
        };
        match self.serve(mode).await {
            Ok(()) => End::Shutdown,
            Err(end) => end,
        }
    }

    async fn flush(&mut self) -> Result<(), End> {
        if !self.t.has_output() {
            return Ok(());
        }
        let mut signal = self.ctl.signal_rx.clone();
        tokio::select! {
            r = tokio::time::timeout(WRITE_TIMEOUT, self.t.flush()) => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(End::WriteFailed(e.to_string())),
                Err(_) => Err(End::Timeout("write")),
            },
            // A takeover must not wait for a console that does not read.
            _ = signal.wait_for(|s| *s == Signal::Close) => Err(End::TakenOver),
        }
    }

    async fn serve(&mut self, mut mode: Mode) -> Result<(), End> {
        let cfg = &self.shared.cfg;
        let enc = EncState::new(cfg.width, cfg.height).map_err(|e| End::Encode(e.to_string()))?;
        let mut sc = Screen {
            enc: Some(Box::new(enc)),
            encodings: Vec::new(),
            pending: None,
            buttons: 0,
            decoder: ClientMessageDecoder::new(Limits::DEFAULT),
            input: None,
            stalls_at: cfg
                .has(Fault::StallAfter)
                .then(|| Instant::now() + cfg.stall_after),
            stall_logged: false,
        };
        let early = std::mem::take(&mut self.inbuf);
        if !early.is_empty() {
            self.on_bytes(&mut sc, &early).await?;
            self.flush().await?;
        }
        let mut idle_deadline = Instant::now() + IDLE_TIMEOUT;
        loop {
            let window_end = match mode {
                Mode::InputOnly { until } => Some(until),
                _ => None,
            };
            let waiting = sc.pending.is_some();
            let event = tokio::select! {
                biased;
                r = self.ctl.signal_rx.changed() => match r {
                    Ok(()) => Event::Signal(*self.ctl.signal_rx.borrow_and_update()),
                    Err(_) => Event::Signal(Signal::Close),
                },
                _ = self.shutdown.wait_for(|v| *v) => return Ok(()),
                _ = sleep_until_opt(window_end) => return Err(End::WindowOver),
                _ = tokio::time::sleep_until(idle_deadline), if !waiting => {
                    return Err(End::Timeout("idle"))
                }
                inbound = self.t.recv() => Event::Inbound(inbound),
                r = self.desktop_rx.changed(), if waiting => match r {
                    Ok(()) => Event::ScreenChanged,
                    Err(_) => return Ok(()),
                },
            };
            match event {
                Event::Signal(Signal::Run) => {}
                Event::Signal(Signal::Close) => return Err(End::TakenOver),
                Event::Signal(Signal::Displaced { until }) => {
                    tracing::warn!(
                        session = self.ctl.id,
                        "fault input-from-displaced: displaced console keeps input"
                    );
                    mode = Mode::InputOnly { until };
                    sc.pending = None;
                }
                Event::Inbound(Inbound::Data(d)) => {
                    idle_deadline = Instant::now() + IDLE_TIMEOUT;
                    self.on_bytes(&mut sc, &d).await?;
                }
                Event::Inbound(Inbound::Closed { clean }) => return Err(End::Client { clean }),
                Event::Inbound(Inbound::Violation(v)) => return Err(End::Violation(v)),
                Event::ScreenChanged => self.answer_incremental(&mut sc).await?,
            }
            self.flush().await?;
        }
    }

    /// Feeds console bytes and handles every whole message.
    /// Feeds console bytes and handles every whole message. Output is sent
    /// whenever it passes [`FLUSH_AT`], so a burst of requests cannot pile
    /// up answers in memory.
    async fn on_bytes(&mut self, sc: &mut Screen, data: &[u8]) -> Result<(), End> {
        sc.decoder
            .feed(data)
            .map_err(|e| End::Violation(e.to_string()))?;
        while let Some(msg) = sc
            .decoder
            .next_message()
            .map_err(|e| End::Violation(e.to_string()))?
        {
            self.on_message(sc, msg).await?;
            if self.t.out().len() >= FLUSH_AT {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn on_message(&mut self, sc: &mut Screen, msg: ClientMessage) -> Result<(), End> {
        match msg {
            ClientMessage::SetPixelFormat(pf) => {
                if let Some(enc) = sc.enc.as_mut() {
                    enc.set_pixel_format(pf);
                }
            }
            ClientMessage::SetEncodings(list) => self.set_encodings(sc, list).await?,
            ClientMessage::FramebufferUpdateRequest { incremental, rect } => {
                if !self.shared.lock.may_update(self.ctl.id) || self.stalled(sc) {
                    return Ok(());
                }
                if incremental {
                    if let Some(r) = rect.intersect(&self.screen_bounds()) {
                        sc.pending = Some(match sc.pending {
                            Some(p) => p.union(&r),
                            None => r,
                        });
                        self.answer_incremental(sc).await?;
                    }
                } else {
                    self.run_job(sc, Job::Full(rect)).await?;
                }
            }
            ClientMessage::KeyEvent { down, key } => {
                if down {
                    self.input(sc, InputAction::Key(key));
                }
            }
            ClientMessage::PointerEvent { buttons, x, y } => {
                let pressed = buttons & 1 != 0 && sc.buttons & 1 == 0;
                sc.buttons = buttons;
                if self.shared.cfg.tracks_pointer() {
                    self.input(sc, InputAction::Move { x, y });
                }
                if pressed {
                    self.input(sc, InputAction::Click { x, y });
                }
            }
            ClientMessage::ClientCutText(_) => {}
        }
        Ok(())
    }

    /// Takes a console's new encodings. With a pointer sprite this may change
    /// what the console should see: the sprite in its image, or its shape as
    /// a Cursor rectangle (due from the next update when -239 is newly
    /// listed). A waiting incremental request is then answered at once.
    async fn set_encodings(&mut self, sc: &mut Screen, list: Vec<i32>) -> Result<(), End> {
        let sprite = self.shared.cfg.pointer_sprite;
        let was_cursor = sprite.sent_as_cursor(&sc.encodings);
        let now_cursor = sprite.sent_as_cursor(&list);
        let drawn_changed = sprite.drawn_for(&sc.encodings) != sprite.drawn_for(&list);
        sc.encodings = list;
        if let Some(enc) = sc.enc.as_mut() {
            enc.cursor_due = now_cursor && (enc.cursor_due || !was_cursor);
        }
        if drawn_changed || (now_cursor && !was_cursor) {
            self.answer_incremental(sc).await?;
        }
        Ok(())
    }

    /// Whether fault `stall-after` has stopped this session's updates.
    fn stalled(&self, sc: &mut Screen) -> bool {
        let Some(at) = sc.stalls_at else {
            return false;
        };
        if Instant::now() < at {
            return false;
        }
        if !sc.stall_logged {
            sc.stall_logged = true;
            tracing::warn!(
                session = self.ctl.id,
                "fault stall-after: update requests are no longer answered"
            );
        }
        true
    }

    fn screen_bounds(&self) -> Rect {
        Rect::new(0, 0, self.shared.cfg.width, self.shared.cfg.height)
    }

    /// Applies (or schedules) one input event.
    fn input(&mut self, sc: &mut Screen, action: InputAction) {
        let cfg = &self.shared.cfg;
        let mut action = action;
        if cfg.has(Fault::IgnoreInput) {
            match action {
                // The application ignores the motion, but the server's
                // pointer (and so its sprite) still follows it.
                InputAction::Move { x, y } if cfg.pointer_sprite != PointerSprite::Off => {
                    action = InputAction::MoveIgnored { x, y };
                }
                _ => {
                    tracing::debug!(
                        session = self.ctl.id,
                        ?action,
                        "fault ignore-input: dropped"
                    );
                    return;
                }
            }
        }
        let now = Instant::now();
        if cfg.input_delay.is_zero() {
            if self.shared.lock.may_apply(self.ctl.id, now) {
                self.shared.desktop.apply(action);
            }
            return;
        }
        let tx = sc.input.get_or_insert_with(|| {
            spawn_applier(Arc::clone(&self.shared), self.ctl.id, self.live.clone())
        });
        if tx.try_send((now, action)).is_err() {
            tracing::warn!(session = self.ctl.id, "input queue full: event dropped");
        }
    }

    /// Answers the pending incremental request if its region has damage.
    async fn answer_incremental(&mut self, sc: &mut Screen) -> Result<(), End> {
        let Some(region) = sc.pending else {
            return Ok(());
        };
        if !self.shared.lock.may_update(self.ctl.id) || self.stalled(sc) {
            return Ok(());
        }
        if self.run_job(sc, Job::Incremental(region)).await? {
            sc.pending = None;
        }
        Ok(())
    }

    /// The encoding for the next rectangles.
    fn encoding(&self, sc: &Screen) -> Encoding {
        if self.shared.cfg.has(Fault::UnrequestedEncoding) {
            return Encoding::Hextile;
        }
        sc.encodings
            .iter()
            .map(|c| Encoding::from_code(*c))
            .find(|e| {
                matches!(
                    e,
                    Encoding::Zrle
                        | Encoding::Trle
                        | Encoding::Hextile
                        | Encoding::Rre
                        | Encoding::Raw
                )
            })
            .unwrap_or(Encoding::Raw)
    }

    /// Builds an update for `job` on a blocking thread (diffing and encoding
    /// a screen must not stall other sessions) and queues it. Returns
    /// whether an update was queued.
    async fn run_job(&mut self, sc: &mut Screen, job: Job) -> Result<bool, End> {
        let cfg = &self.shared.cfg;
        let opts = Opts {
            encoding: self.encoding(sc),
            out_of_bounds: cfg.has(Fault::RectOutOfBounds),
            stale: cfg.has(Fault::StaleIncremental),
            sprite: cfg.pointer_sprite.drawn_for(&sc.encodings),
            shape_first: cfg.shape_first,
        };
        let mut enc = sc
            .enc
            .take()
            .ok_or_else(|| End::Encode("encoder state missing".into()))?;
        let shared = Arc::clone(&self.shared);
        let task = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let r = update::build(&shared.desktop, &mut enc, job, &opts, &mut out);
            (enc, out, r)
        });
        let mut signal = self.ctl.signal_rx.clone();
        let (enc, out, r) = tokio::select! {
            j = task => j.map_err(|e| End::Encode(format!("encoder task failed: {e}")))?,
            // A takeover does not wait for an encoding in progress.
            _ = signal.wait_for(|s| *s == Signal::Close) => return Err(End::TakenOver),
        };
        sc.enc = Some(enc);
        let wrote = r.map_err(End::Encode)?;
        if wrote {
            let q = self.t.out();
            if q.is_empty() {
                *q = out;
            } else {
                q.extend_from_slice(&out);
            }
        }
        Ok(wrote)
    }
}

/// Sleeps until `at`, or forever when there is no deadline.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Starts the task that applies a session's input after the configured delay,
/// in arrival order, checking the lock at application time.
fn spawn_applier(shared: Arc<Shared>, id: u64, live: Live) -> mpsc::Sender<(Instant, InputAction)> {
    let (tx, mut rx) = mpsc::channel::<(Instant, InputAction)>(INPUT_QUEUE);
    tokio::spawn(async move {
        let _live = live;
        let delay = shared.cfg.input_delay;
        while let Some((arrived, action)) = rx.recv().await {
            tokio::time::sleep_until(arrived + delay).await;
            if shared.lock.may_apply(id, arrived) {
                shared.desktop.apply(action);
            } else {
                tracing::debug!(session = id, ?action, "input dropped: console not served");
            }
        }
    });
    tx
}
