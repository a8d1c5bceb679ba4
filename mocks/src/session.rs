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

use rand::RngCore;
use s301_rfb::auth::vnc_auth_check;
use s301_rfb::encoding::{Encoder, Encoding};
use s301_rfb::handshake::{
    read_version, security, server_version_for, write_security_offer, write_security_result,
    ClientInit, SecurityOffer, SecurityResult, ServerInit, Version,
};
use s301_rfb::messages::ClientMessage;
use s301_rfb::messages::{write_colour_map_entries, write_rect_header, write_update_header};
use s301_rfb::reader::Reader;
use s301_rfb::stream::ClientMessageDecoder;
use s301_rfb::{ColourMap, Framebuffer, Limits, PixelFormat, Rect};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::{Fault, MockConfig};
use crate::damage::{copy_region, damage};
use crate::desktop::{Desktop, InputAction};
use crate::lock::{wait_ended, Decision, ExclusiveLock, SessionCtl, Signal};
use crate::transport::{Inbound, Transport};

/// The whole handshake (version to ServerInit) must finish within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a takeover waits for the old holder's session to end.
pub const TAKEOVER_WAIT: Duration = Duration::from_secs(1);
/// A console that sends nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Bound on sending one batch of output.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on a closing handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(300);
/// Most bytes held while the handshake reads exact-length fields.
const MAX_HANDSHAKE_BUFFER: usize = 64 * 1024;
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
    pf: PixelFormat,
    map: ColourMap,
    send_map: bool,
    encodings: Vec<i32>,
    encoder: Encoder,
    sent: Framebuffer,
    pending: Option<Rect>,
    buttons: u8,
    decoder: ClientMessageDecoder,
    input: Option<mpsc::Sender<(Instant, InputAction)>>,
}

/// What woke the serve loop.
enum Event {
    Signal(Signal),
    Inbound(Inbound),
    ScreenChanged,
}

/// A canonical pixel value no desktop pixel ever has: marks "never sent".
const UNSENT: u32 = 0xff00_0000;

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
        let mode = match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.handshake()).await {
            Err(_) => return End::Timeout("handshake"),
            Ok(Err(end)) => return end,
            Ok(Ok(mode)) => mode,
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

    /// Reads exactly `n` handshake bytes.
    async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, End> {
        while self.inbuf.len() < n {
            match self.t.recv().await {
                Inbound::Data(d) => {
                    if self.inbuf.len() + d.len() > MAX_HANDSHAKE_BUFFER {
                        return Err(End::Violation(
                            "too many bytes sent ahead during the handshake".into(),
                        ));
                    }
                    self.inbuf.extend_from_slice(&d);
                }
                Inbound::Closed { clean } => return Err(End::Client { clean }),
                Inbound::Violation(v) => return Err(End::Violation(v)),
            }
        }
        let rest = self.inbuf.split_off(n);
        Ok(std::mem::replace(&mut self.inbuf, rest))
    }

    async fn handshake(&mut self) -> Result<Mode, End> {
        self.t.out().extend_from_slice(Version::V3_8.wire());
        self.flush().await?;
        let raw = self.read_exact(12).await?;
        let (major, minor) = read_version(&mut Reader::new(&raw))
            .map_err(|e| End::Violation(format!("ProtocolVersion: {e:?}")))?;
        self.version = server_version_for((major, minor))
            .map_err(|e| End::Violation(format!("ProtocolVersion: {e}")))?;
        let v = self.version;
        let password = self.shared.cfg.password.clone();
        let sec = if password.is_some() {
            security::VNC_AUTH
        } else {
            security::NONE
        };
        write_security_offer(&SecurityOffer::Types(vec![sec]), v, self.t.out());
        self.flush().await?;
        if v != Version::V3_3 {
            let chosen = self.read_exact(1).await?;
            if chosen.first() != Some(&sec) {
                if v == Version::V3_8 {
                    let reason = format!("security type {} was not offered", security::name(sec));
                    self.send_failure(&reason).await?;
                }
                return Err(End::Violation(format!(
                    "console chose security type {:?}, not the offered {sec}",
                    chosen.first()
                )));
            }
        }
        if let Some(pw) = password {
            let mut challenge = [0u8; 16];
            rand::rng().fill_bytes(&mut challenge);
            self.t.out().extend_from_slice(&challenge);
            self.flush().await?;
            let resp = self.read_exact(16).await?;
            let mut response = [0u8; 16];
            response.copy_from_slice(resp.get(..16).unwrap_or(&[0u8; 16]));
            if !vnc_auth_check(pw.as_bytes(), &challenge, &response) {
                self.send_failure("authentication failed").await?;
                return Err(End::AuthFailed);
            }
        }
        let mode = self.admit().await?;
        if v == Version::V3_8 || sec == security::VNC_AUTH {
            write_security_result(&SecurityResult::Ok, v, self.t.out());
            self.flush().await?;
        }
        let init = self.read_exact(1).await?;
        let shared_flag = ClientInit::read(&mut Reader::new(&init))
            .map(|c| c.shared)
            .unwrap_or(false);
        let cfg = &self.shared.cfg;
        ServerInit {
            width: cfg.width,
            height: cfg.height,
            pixel_format: PixelFormat::RGB888,
            name: DESKTOP_NAME.as_bytes().to_vec(),
        }
        .write(self.t.out());
        self.flush().await?;
        tracing::info!(
            session = self.ctl.id,
            version = v.as_str(),
            shared_flag,
            mode = ?mode,
            "console admitted"
        );
        Ok(mode)
    }

    /// Sends SecurityResult "failed" with `reason` (the reason only in 3.8;
    /// before 3.8 a failure after security type None is just a close).
    async fn send_failure(&mut self, reason: &str) -> Result<(), End> {
        let with_result = self.version == Version::V3_8 || self.shared.cfg.password.is_some();
        if with_result {
            write_security_result(
                &SecurityResult::Failed {
                    reason: Some(reason.as_bytes().to_vec()),
                },
                self.version,
                self.t.out(),
            );
            self.flush().await?;
        }
        Ok(())
    }

    /// The exclusivity decision, taken after security and before the result.
    async fn admit(&mut self) -> Result<Mode, End> {
        let lock = &self.shared.lock;
        match lock.decide(&self.ctl) {
            Decision::Granted => Ok(Mode::Exclusive),
            Decision::Shared => Ok(Mode::Shared),
            Decision::InputOnly { until } => {
                tracing::warn!(
                    session = self.ctl.id,
                    "fault input-from-displaced: admitting a refused console"
                );
                Ok(Mode::InputOnly { until })
            }
            Decision::Refused => {
                if self.version == Version::V3_8 {
                    self.send_failure(BUSY_REASON).await?;
                }
                Err(End::Refused)
            }
            Decision::AwaitPrevious { ended } => {
                let mut signal = self.ctl.signal_rx.clone();
                tokio::select! {
                    _ = wait_ended(ended) => {}
                    _ = tokio::time::sleep(TAKEOVER_WAIT) => {
                        tracing::warn!(session = self.ctl.id, "old holder did not end in time");
                    }
                    _ = signal.wait_for(|s| *s != Signal::Run) => {}
                }
                if self.shared.lock.is_holder(self.ctl.id) {
                    Ok(Mode::Exclusive)
                } else {
                    if self.version == Version::V3_8 {
                        self.send_failure(SUPERSEDED_REASON).await?;
                    }
                    Err(End::Superseded)
                }
            }
        }
    }

    async fn serve(&mut self, mut mode: Mode) -> Result<(), End> {
        let cfg = &self.shared.cfg;
        let mut sent = Framebuffer::new(cfg.width, cfg.height, &Limits::DEFAULT)
            .map_err(|e| End::Encode(e.to_string()))?;
        sent.pixels_mut().fill(UNSENT);
        let mut sc = Screen {
            pf: PixelFormat::RGB888,
            map: ColourMap::new(),
            send_map: false,
            encodings: Vec::new(),
            encoder: Encoder::new(),
            sent,
            pending: None,
            buttons: 0,
            decoder: ClientMessageDecoder::new(Limits::DEFAULT),
            input: None,
        };
        let early = std::mem::take(&mut self.inbuf);
        if !early.is_empty() {
            self.on_bytes(&mut sc, &early)?;
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
                _ = tokio::time::sleep_until(idle_deadline) => return Err(End::Timeout("idle")),
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
                    self.on_bytes(&mut sc, &d)?;
                }
                Event::Inbound(Inbound::Closed { clean }) => return Err(End::Client { clean }),
                Event::Inbound(Inbound::Violation(v)) => return Err(End::Violation(v)),
                Event::ScreenChanged => self.answer_incremental(&mut sc)?,
            }
            self.flush().await?;
        }
    }

    /// Feeds console bytes and handles every whole message.
    fn on_bytes(&mut self, sc: &mut Screen, data: &[u8]) -> Result<(), End> {
        sc.decoder
            .feed(data)
            .map_err(|e| End::Violation(e.to_string()))?;
        while let Some(msg) = sc
            .decoder
            .next_message()
            .map_err(|e| End::Violation(e.to_string()))?
        {
            self.on_message(sc, msg)?;
        }
        Ok(())
    }

    fn on_message(&mut self, sc: &mut Screen, msg: ClientMessage) -> Result<(), End> {
        match msg {
            ClientMessage::SetPixelFormat(pf) => {
                sc.pf = pf;
                if pf.true_colour {
                    sc.map = ColourMap::new();
                    sc.send_map = false;
                } else {
                    sc.map = ColourMap::rgb332();
                    sc.send_map = true;
                }
            }
            ClientMessage::SetEncodings(list) => sc.encodings = list,
            ClientMessage::FramebufferUpdateRequest { incremental, rect } => {
                if !self.shared.lock.may_update(self.ctl.id) {
                    return Ok(());
                }
                if incremental {
                    if let Some(r) = rect.intersect(&self.screen_bounds()) {
                        sc.pending = Some(match sc.pending {
                            Some(p) => p.union(&r),
                            None => r,
                        });
                        self.answer_incremental(sc)?;
                    }
                } else {
                    self.answer_full(sc, rect)?;
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
                if pressed {
                    self.input(sc, InputAction::Click { x, y });
                }
            }
            ClientMessage::ClientCutText(_) => {}
        }
        Ok(())
    }

    fn screen_bounds(&self) -> Rect {
        Rect::new(0, 0, self.shared.cfg.width, self.shared.cfg.height)
    }

    /// Applies (or schedules) one input event.
    fn input(&mut self, sc: &mut Screen, action: InputAction) {
        let cfg = &self.shared.cfg;
        if cfg.has(Fault::IgnoreInput) {
            tracing::debug!(
                session = self.ctl.id,
                ?action,
                "fault ignore-input: dropped"
            );
            return;
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

    /// Answers a non-incremental request at once.
    fn answer_full(&mut self, sc: &mut Screen, req: Rect) -> Result<(), End> {
        let bounds = self.screen_bounds();
        let clip = req.intersect(&bounds);
        let oob = self
            .shared
            .cfg
            .has(Fault::RectOutOfBounds)
            .then(|| Rect::new(bounds.w.saturating_sub(8), 0, 16, 16));
        self.shared.desktop.with_image(|img| {
            if let Some(c) = clip {
                copy_region(img, &mut sc.sent, c);
            }
            if let Some(o) = oob {
                copy_region(img, &mut sc.sent, o);
            }
        });
        let rects: Vec<Rect> = clip.into_iter().collect();
        self.write_update(sc, &rects, oob)
    }

    /// Answers the pending incremental request if its region has damage.
    fn answer_incremental(&mut self, sc: &mut Screen) -> Result<(), End> {
        let Some(region) = sc.pending else {
            return Ok(());
        };
        if !self.shared.lock.may_update(self.ctl.id) {
            return Ok(());
        }
        let rects = self.shared.desktop.with_image(|img| {
            let d = damage(img, &sc.sent, region);
            for r in &d {
                copy_region(img, &mut sc.sent, *r);
            }
            d
        });
        if rects.is_empty() {
            return Ok(());
        }
        let rects: Vec<Rect> = if self.shared.cfg.has(Fault::StaleIncremental) {
            // Everything was marked sent above; leave out each bottom quarter.
            rects
                .iter()
                .filter_map(|r| {
                    let cut = (r.h / 4).max(1);
                    (r.h > cut).then(|| Rect::new(r.x, r.y, r.w, r.h - cut))
                })
                .collect()
        } else {
            rects
        };
        if rects.is_empty() {
            return Ok(());
        }
        sc.pending = None;
        self.write_update(sc, &rects, None)
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

    /// Queues one FramebufferUpdate with `rects` (taken from the sent image)
    /// and, for `rect-out-of-bounds`, the extra Raw rectangle `oob`.
    fn write_update(
        &mut self,
        sc: &mut Screen,
        rects: &[Rect],
        oob: Option<Rect>,
    ) -> Result<(), End> {
        let enc = self.encoding(sc);
        let out = self.t.out();
        if sc.send_map {
            write_colour_map_entries(0, sc.map.entries(), out);
            sc.send_map = false;
        }
        let count = rects.len() + usize::from(oob.is_some());
        let count = u16::try_from(count).map_err(|_| End::Encode("too many rectangles".into()))?;
        write_update_header(count, out);
        for r in rects {
            sc.encoder
                .encode_rect(enc, &sc.sent, *r, &sc.pf, &sc.map, out)
                .map_err(|e| End::Encode(format!("{} {r}: {e}", enc.name())))?;
        }
        if let Some(o) = oob {
            tracing::warn!(session = self.ctl.id, rect = %o, "fault rect-out-of-bounds: sending a rectangle past the edge");
            write_rect_header(o, Encoding::Raw.code(), out);
            for y in o.y..o.y.saturating_add(o.h) {
                for x in u32::from(o.x)..o.right() {
                    let rgb = u16::try_from(x)
                        .ok()
                        .and_then(|x| sc.sent.get(x, y))
                        .unwrap_or(0);
                    let v = sc.pf.from_rgb(rgb, &sc.map);
                    sc.pf.write_value(v, out);
                }
            }
        }
        Ok(())
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
