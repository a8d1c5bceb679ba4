//! The task behind one open console: it owns the transport, decodes the
//! terminal's stream into the shared framebuffer (and the pointer shapes of
//! the Cursor pseudo-encoding into the console's cursor slot), writes the
//! check's commands, and reports what it saw as [`ConsoleEvent`]s.
//!
//! Ordering rules it keeps:
//! - every command takes its [`Seq`] just before its bytes are written, and
//!   every `Update`, `Bell`, `CutText` and `Closed` takes its own when the
//!   harness has it, so one console's sequence numbers follow the wire;
//! - each update answers the oldest request still outstanding (requests are
//!   kept in the order written, one taken per update);
//! - exactly one `Closed` is sent, always last;
//! - when the check does not drain events, the task waits for room in the
//!   queue instead of buffering more.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use s301_rfb::encoding::{CursorImage, Encoding};
use s301_rfb::messages::ClientMessage;
use s301_rfb::stream::{RectInfo, ServerEvent, ServerMessageDecoder};
use tokio::sync::oneshot;

use super::handshake::READ_CHUNK;
use super::transport::{Received, Transport, TransportError};
use crate::binding::seq::{self, Seq};
use crate::binding::{
    CloseHow, CloseReason, Command, ConsoleDriver, ConsoleEvent, CursorShape, Damage, DamageKind,
    UpdateInfo,
};

/// How long one write may take before the session is given up.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an orderly close may wait for the terminal's side of it.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Most requests kept waiting for an answer. A check never has this many in
/// flight; past it the oldest is forgotten rather than the list growing.
pub const MAX_OUTSTANDING: usize = 4096;

/// A FramebufferUpdateRequest written and not yet answered.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    seq: Seq,
    at: Instant,
    incremental: bool,
}

/// How the session ended, and what to do with the connection.
enum End {
    /// Report this reason; the connection is still open and is closed in order.
    Close(CloseReason),
    /// The terminal closed: report it and finish the WebSocket close handshake.
    PeerClosed(CloseReason),
    /// The connection is broken: report and drop it.
    Broken(CloseReason),
    /// The harness asked to close, this way.
    ByHarness(CloseHow),
    /// The console is gone (its receiver dropped): leave in order, tell no one.
    ConsoleGone,
}

/// The state the task keeps between reads.
struct State {
    driver: ConsoleDriver,
    decoder: ServerMessageDecoder,
    outstanding: VecDeque<Outstanding>,
    rects: Vec<RectInfo>,
    /// When the header of the update being received arrived.
    began: Option<Seq>,
    /// Rectangle records of each event still in the console's queue, oldest
    /// first (0 for events without rectangles).
    queued: VecDeque<usize>,
    /// The transcript of this console, when the run keeps one.
    recorder: Option<Recorder>,
}

/// Most rectangle records queued to the console at once (about 8 MiB). A
/// terminal that floods updates of many rectangles waits for the check to
/// take them, as when the queue is full, instead of growing memory.
const MAX_QUEUED_RECTS: usize = 256 * 1024;

/// How often a session held back by [`MAX_QUEUED_RECTS`] looks again.
const DRAIN_POLL: std::time::Duration = std::time::Duration::from_millis(2);

impl State {
    /// Sends an event, waiting for room in the queue. While it waits it
    /// still writes the check's commands, so a check that sends before it
    /// drains never deadlocks with this task.
    async fn emit(&mut self, transport: &mut Transport, ev: ConsoleEvent) -> Result<(), End> {
        // A second handle on the queue, so waiting for room does not hold a
        // borrow of `self` while a command is carried out.
        let events = self.driver.events.clone();
        let weight = match &ev {
            ConsoleEvent::Update(u) => u.damage.len(),
            _ => 0,
        };
        loop {
            // Events the console took have left the front of the queue.
            let in_queue = events.max_capacity().saturating_sub(events.capacity());
            while self.queued.len() > in_queue {
                self.queued.pop_front();
            }
            let queued: usize = self.queued.iter().sum();
            let over = weight > 0 && queued > 0 && queued + weight > MAX_QUEUED_RECTS;
            tokio::select! {
                permit = events.reserve(), if !over => {
                    return match permit {
                        Ok(p) => {
                            p.send(ev);
                            self.queued.push_back(weight);
                            Ok(())
                        }
                        Err(_) => Err(End::ConsoleGone),
                    };
                }
                _ = tokio::time::sleep(DRAIN_POLL), if over => {}
                cmd = self.driver.commands.recv() => handle_command(self, transport, cmd).await?,
            }
        }
    }

    /// Decodes received bytes (in place, straight from `data`) and reports
    /// what they completed.
    async fn ingest(&mut self, transport: &mut Transport, data: &[u8]) -> Result<(), End> {
        // Decode everything the bytes allow under one lock, then report.
        let mut events = Vec::new();
        let failure = {
            let mut fb = self
                .driver
                .framebuffer
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            self.decoder.decode(data, &mut fb, &mut events).err()
        };
        // Every event is stamped (sequence number, the request it answers)
        // before any is delivered: a command written while waiting for room
        // below must not be taken as answered by bytes that came before it.
        let observed: Vec<ConsoleEvent> = events
            .into_iter()
            .filter_map(|ev| self.observe(ev))
            .collect();
        for ev in observed {
            if let Some(r) = &self.recorder {
                r.received(&ev);
            }
            self.emit(transport, ev).await?;
        }
        match failure {
            Some(e) => Err(End::Close(CloseReason::Violation {
                detail: e.to_string(),
            })),
            None => Ok(()),
        }
    }

    /// Turns a decoder event into a console event, if it completes one.
    fn observe(&mut self, ev: ServerEvent) -> Option<ConsoleEvent> {
        match ev {
            ServerEvent::UpdateBegin { rects } => {
                self.rects = Vec::with_capacity(usize::from(rects).min(1024));
                self.began = Some(seq::next());
                None
            }
            ServerEvent::Rect(info) => {
                self.rects.push(info);
                None
            }
            ServerEvent::UpdateEnd { bytes } => {
                let began = self.began.take().unwrap_or_else(seq::next);
                let seq = seq::next();
                let at = Instant::now();
                let answered = self.outstanding.pop_front();
                let rects = std::mem::take(&mut self.rects);
                let update = UpdateInfo {
                    began,
                    seq,
                    answers: answered.map(|r| r.seq),
                    incremental: answered.map(|r| r.incremental),
                    rect_count: rects.len(),
                    damage: rects.iter().map(damage).collect(),
                    bytes,
                    latency_ms: answered
                        .map(|r| at.saturating_duration_since(r.at).as_secs_f64() * 1000.0),
                    at,
                };
                if let Some(r) = &self.recorder {
                    r.update(&update, &rects);
                }
                // Applied already (the decoder's lock is released): the
                // live view may copy these pixels; never waits.
                self.driver.tap.painted(&update.damage);
                Some(ConsoleEvent::Update(update))
            }
            ServerEvent::ColourMap { first, count } => {
                // Applied by the decoder already; only the record needs it.
                if let Some(r) = &self.recorder {
                    r.log(
                        crate::binding::transcript::Direction::Recv,
                        "SetColourMapEntries",
                        serde_json::json!({"first": first, "count": count}),
                    );
                }
                None
            }
            ServerEvent::Cursor(shape) => {
                if let Some(r) = &self.recorder {
                    r.log(
                        crate::binding::transcript::Direction::Recv,
                        "Cursor",
                        serde_json::json!({"width": shape.width, "height": shape.height, "hot_x": shape.hot_x, "hot_y": shape.hot_y}),
                    );
                }
                let max = u64::from(self.decoder.limits().max_cursor_pixels);
                let kept = cursor_shape(&shape, max);
                *self.driver.cursor.lock().unwrap_or_else(|p| p.into_inner()) = Some(kept);
                None
            }
            ServerEvent::Bell => Some(ConsoleEvent::Bell(seq::next())),
            ServerEvent::CutText(text) => Some(ConsoleEvent::CutText {
                seq: seq::next(),
                len: text.len(),
            }),
        }
    }

    /// The wire message for a command (not `Close`).
    fn message(&self, cmd: Command) -> Option<ClientMessage> {
        Some(match cmd {
            Command::SetEncodings(set) => ClientMessage::SetEncodings(
                set.ids
                    .iter()
                    .filter_map(|id| i32::try_from(*id).ok())
                    .collect(),
            ),
            Command::Request { incremental, rect } => {
                let rect = match rect {
                    Some(r) => r,
                    None => self
                        .driver
                        .framebuffer
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .bounds(),
                };
                ClientMessage::FramebufferUpdateRequest { incremental, rect }
            }
            Command::Pointer { x, y, buttons } => ClientMessage::PointerEvent { buttons, x, y },
            Command::Key { keysym, down } => ClientMessage::KeyEvent { down, key: keysym },
            Command::Close(_) => return None,
        })
    }
}

/// The binding-neutral form of a decoded rectangle: DesktopSize is a
/// resize, Cursor a pointer shape, other pseudo-encodings carry nothing,
/// the rest painted pixels.
pub fn damage(r: &RectInfo) -> Damage {
    let enc = Encoding::from_code(r.encoding);
    let kind = match enc {
        Encoding::DesktopSize => DamageKind::Resize,
        Encoding::Cursor => DamageKind::Pointer,
        e if e.is_pseudo() => DamageKind::Other,
        _ => DamageKind::Paint,
    };
    Damage {
        kind,
        rect: r.rect,
        in_bounds: r.in_bounds,
        bytes: r.bytes,
        encoding: Some(super::encoding_name(enc)),
    }
}

/// The binding-neutral form of a decoded pointer shape; its pixels are
/// kept only when the shape has at most `max_pixels` (the decoder refuses
/// larger ones already, so this only guards the copy).
fn cursor_shape(c: &CursorImage, max_pixels: u64) -> CursorShape {
    let area = u64::from(c.width) * u64::from(c.height);
    CursorShape {
        width: c.width,
        height: c.height,
        hot_x: c.hot_x,
        hot_y: c.hot_y,
        pixels: if area <= max_pixels {
            c.cells()
        } else {
            Vec::new()
        },
    }
}

/// Maps a transport failure to how the session ends.
fn transport_end(e: TransportError) -> End {
    match e {
        TransportError::Violation(detail) => End::Close(CloseReason::Violation { detail }),
        TransportError::Reset(detail) => End::Broken(CloseReason::ByTerminal { detail }),
        TransportError::Io(detail) => End::Broken(CloseReason::Io { detail }),
    }
}

/// Writes one command; returns its sequence number.
async fn write_command(
    state: &mut State,
    transport: &mut Transport,
    cmd: Command,
) -> Result<Seq, End> {
    let incremental = match &cmd {
        Command::Request { incremental, .. } => Some(*incremental),
        _ => None,
    };
    let Some(msg) = state.message(cmd) else {
        return Err(End::ByHarness(CloseHow::Clean));
    };
    let mut out = Vec::with_capacity(32);
    msg.write(&mut out);
    let seq = seq::next();
    let at = Instant::now();
    match tokio::time::timeout(WRITE_TIMEOUT, transport.write_all(&out)).await {
        Err(_) => {
            return Err(End::Broken(CloseReason::Io {
                detail: format!(
                    "writing {} timed out after {} s (the terminal does not read)",
                    msg.name(),
                    WRITE_TIMEOUT.as_secs()
                ),
            }))
        }
        Ok(Err(e)) => return Err(transport_end(e)),
        Ok(Ok(())) => {}
    }
    if let Some(r) = &state.recorder {
        r.sent(&msg, seq);
    }
    if let Some(incremental) = incremental {
        if state.outstanding.len() >= MAX_OUTSTANDING {
            state.outstanding.pop_front();
        }
        state.outstanding.push_back(Outstanding {
            seq,
            at,
            incremental,
        });
    }
    Ok(seq)
}

/// Logs one console's messages to the run's transcript; made in the task
/// that opened the console (whose scope the transcript keeps, see
/// [`crate::binding::transcript::Transcript::scoped`]) and moved into the session task.
pub struct Recorder {
    transcript: crate::binding::transcript::ScopedTranscript,
    label: String,
}

impl Recorder {
    /// A recorder for console `label`, in the opener's scope.
    pub fn new(transcript: &crate::binding::transcript::Transcript, label: &str) -> Recorder {
        Recorder {
            transcript: transcript.scoped(),
            label: label.to_string(),
        }
    }

    fn log(
        &self,
        dir: crate::binding::transcript::Direction,
        kind: &str,
        fields: serde_json::Value,
    ) {
        self.transcript.log(&self.label, dir, kind, fields);
    }

    /// An update, with the wire codes of its rectangles.
    fn update(&self, u: &UpdateInfo, rects: &[RectInfo]) {
        let mut encodings: Vec<i32> = rects.iter().map(|r| r.encoding).collect();
        encodings.sort_unstable();
        encodings.dedup();
        let out_of_bounds = rects.iter().filter(|r| !r.in_bounds).count();
        self.log(
            crate::binding::transcript::Direction::Recv,
            "FramebufferUpdate",
            serde_json::json!({"seq": u.seq, "answers": u.answers, "incremental": u.incremental, "rects": u.rect_count, "encodings": encodings, "bytes": u.bytes, "out_of_bounds": out_of_bounds, "latency_ms": u.latency_ms}),
        );
    }

    /// The handshake's messages, as negotiated (logged once it completed).
    pub fn handshake(&self, info: &crate::binding::SessionInfo) {
        use crate::binding::transcript::Direction::{Recv, Send};
        use serde_json::json;
        self.log(Send, "Connect", json!({"url": info.url, "transport": info.transport, "subprotocol": info.subprotocol, "connect_ms": info.connect_ms}));
        self.log(
            Recv,
            "ProtocolVersion",
            json!({"version": info.server_version}),
        );
        self.log(Send, "ProtocolVersion", json!({"version": info.version}));
        self.log(
            Recv,
            "SecurityTypes",
            json!({"offered": info.binding.get("security_offered")}),
        );
        self.log(Send, "SecurityType", json!({"security": info.security}));
        let fact = |key: &str| info.binding.get(key).cloned().unwrap_or_default();
        self.log(Recv, "ServerInit", json!({"width": info.width, "height": info.height, "pixel_format": fact("server_pixel_format"), "name": info.name}));
        if fact("pixel_format_sent") == json!(true) {
            self.log(
                Send,
                "SetPixelFormat",
                json!({"pixel_format": fact("pixel_format")}),
            );
        }
        self.log(
            Send,
            "SetEncodings",
            json!({"encodings": fact("encodings"), "handshake_ms": info.handshake_ms}),
        );
    }

    fn sent(&self, msg: &ClientMessage, seq: Seq) {
        use serde_json::json;
        let fields = match msg {
            ClientMessage::SetPixelFormat(pf) => json!({"pixel_format": pf.describe()}),
            ClientMessage::SetEncodings(codes) => json!({"encodings": codes}),
            ClientMessage::FramebufferUpdateRequest { incremental, rect } => {
                json!({"incremental": incremental, "rect": rect.to_string()})
            }
            ClientMessage::KeyEvent { down, key } => json!({"down": down, "keysym": key}),
            ClientMessage::PointerEvent { buttons, x, y } => {
                json!({"buttons": buttons, "x": x, "y": y})
            }
            ClientMessage::ClientCutText(t) => json!({"len": t.len()}),
        };
        let mut fields = fields;
        fields["seq"] = json!(seq);
        self.log(
            crate::binding::transcript::Direction::Send,
            msg.name(),
            fields,
        );
    }

    fn received(&self, ev: &ConsoleEvent) {
        use crate::binding::transcript::Direction::Recv;
        use serde_json::json;
        match ev {
            // Logged when it was completed, with its wire codes.
            ConsoleEvent::Update(_) => {}
            ConsoleEvent::Bell(seq) => self.log(Recv, "Bell", json!({"seq": seq})),
            ConsoleEvent::CutText { seq, len } => {
                self.log(Recv, "ServerCutText", json!({"seq": seq, "len": len}))
            }
            ConsoleEvent::Closed { reason, .. } => {
                self.log(Recv, "Closed", json!({"reason": format!("{reason:?}")}))
            }
            ConsoleEvent::Timeout => {}
        }
    }
}

/// Serves the console until the session ends, then reports `Closed` once.
///
/// `leftover` holds bytes that arrived with ServerInit; `closed` is set when
/// the connection already failed while the open finished (the console then
/// sees `Closed` first).
pub async fn run(
    driver: ConsoleDriver,
    mut transport: Transport,
    decoder: ServerMessageDecoder,
    leftover: Vec<u8>,
    closed: Option<CloseReason>,
    recorder: Option<Recorder>,
) {
    let mut state = State {
        driver,
        decoder,
        outstanding: VecDeque::new(),
        rects: Vec::new(),
        began: None,
        queued: VecDeque::new(),
        recorder,
    };
    let end = match closed {
        Some(reason) => End::Broken(reason),
        None => serve(&mut state, &mut transport, &leftover).await,
    };
    refuse_commands(&mut state);
    let reason = match end {
        End::Close(reason) => {
            transport.close_clean(CLOSE_GRACE).await;
            reason
        }
        End::PeerClosed(reason) => {
            transport.finish_after_peer_close(CLOSE_GRACE).await;
            reason
        }
        End::Broken(reason) => {
            drop(transport);
            reason
        }
        End::ByHarness(how) => {
            match how {
                CloseHow::Clean => transport.close_clean(CLOSE_GRACE).await,
                CloseHow::Drop => transport.drop_hard(),
            }
            CloseReason::ByHarness
        }
        End::ConsoleGone => {
            transport.close_clean(CLOSE_GRACE).await;
            return;
        }
    };
    let closed = ConsoleEvent::Closed {
        seq: seq::next(),
        reason,
        at: Instant::now(),
    };
    if let Some(r) = &state.recorder {
        r.received(&closed);
    }
    let _ = state.driver.events.send(closed).await;
}

/// No command is carried out once the session has ended: refuse new ones
/// and drop the queued ones, so a check waiting for a command's answer gets
/// [`crate::binding::ConsoleGone`] at once. Without this, a check waiting
/// for an answer and this task waiting for room in a full event queue (to
/// report the close) would wait for each other for ever.
fn refuse_commands(state: &mut State) {
    state.driver.commands.close();
    while state.driver.commands.try_recv().is_ok() {}
}

/// The read/command loop. Returns how it ended.
async fn serve(state: &mut State, transport: &mut Transport, leftover: &[u8]) -> End {
    if !leftover.is_empty() {
        if let Err(end) = state.ingest(transport, leftover).await {
            return end;
        }
    }
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            cmd = state.driver.commands.recv() => {
                if let Err(end) = handle_command(state, transport, cmd).await {
                    return end;
                }
            }
            got = transport.read(&mut buf) => match got {
                Ok(Received::Data(n)) => {
                    if let Err(end) = state.ingest(transport, buf.get(..n).unwrap_or(&[])).await {
                        return end;
                    }
                }
                Ok(Received::Closed { detail }) => {
                    return End::PeerClosed(CloseReason::ByTerminal { detail })
                }
                Err(e) => return transport_end(e),
            },
        }
    }
}

/// Carries out one command from the check (or its absence: the console is
/// gone). Returns how the session ends when the command ends it.
async fn handle_command(
    state: &mut State,
    transport: &mut Transport,
    cmd: Option<(Command, oneshot::Sender<Seq>)>,
) -> Result<(), End> {
    match cmd {
        None => Err(End::ConsoleGone),
        Some((Command::Close(how), reply)) => {
            answer(reply, seq::next());
            Err(End::ByHarness(how))
        }
        Some((cmd, reply)) => {
            let seq = write_command(state, transport, cmd).await?;
            answer(reply, seq);
            Ok(())
        }
    }
}

/// Replies to a command (the check may have stopped waiting).
fn answer(reply: oneshot::Sender<Seq>, seq: Seq) {
    let _ = reply.send(seq);
}
