//! One console (指令台) session as a check sees it ([`Console`]), the
//! binding's end of it ([`ConsoleDriver`]), and what passes between them:
//! the events a console observed and the commands a check sends.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::binding::seq::{self, Seq};

/// What a console observed.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleEvent {
    /// An update was applied to the console's image.
    Update(UpdateInfo),
    /// Bell.
    Bell(Seq),
    /// The terminal sent clipboard text (length only).
    CutText {
        /// When.
        seq: Seq,
        /// Bytes.
        len: usize,
    },
    /// The session is over. No event follows.
    Closed {
        /// When it was observed.
        seq: Seq,
        /// Why.
        reason: CloseReason,
        /// Monotonic time.
        at: Instant,
    },
    /// Nothing happened before the wait's deadline.
    Timeout,
}

/// A command from a check to the binding's session task.
#[derive(Debug)]
pub enum Command {
    /// Ask for these encodings from now on (only where the binding offers
    /// [`EncodingControl`]; others close the session as a harness fault).
    SetEncodings(EncodingSet),
    /// Ask for an update of the region; `None` = the whole screen.
    Request {
        /// Incremental.
        incremental: bool,
        /// Region.
        rect: Option<Rect>,
    },
    /// Pointer position and buttons.
    Pointer {
        /// Column.
        x: u16,
        /// Row.
        y: u16,
        /// Button mask (bit 0 = left).
        buttons: u8,
    },
    /// A key pressed or released.
    Key {
        /// X keysym.
        keysym: u32,
        /// Pressed.
        down: bool,
    },
    /// Close the session.
    Close(CloseHow),
}

/// The console session is gone; nothing more can be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("console session is closed")]
pub struct ConsoleGone;

/// One console (指令台) session to the terminal, as a check sees it.
///
/// A binding creates it with [`Console::new`] and drives it from a task of
/// its own through the returned [`ConsoleDriver`].
pub struct Console {
    label: String,
    info: SessionInfo,
    cmd_tx: mpsc::Sender<(Command, oneshot::Sender<Seq>)>,
    pub(in crate::binding) ev_rx: mpsc::Receiver<ConsoleEvent>,
    fb: Arc<Mutex<Image>>,
    cursor: Arc<Mutex<Option<CursorShape>>>,
    closed: bool,
    /// Marks the console gone for the live view's tap when dropped.
    _tap: crate::binding::tap::TapGuard,
}

/// The binding's end of a [`Console`].
pub struct ConsoleDriver {
    /// Commands from the check, each with a reply slot for the sequence number
    /// at which it was written to the wire.
    pub commands: mpsc::Receiver<(Command, oneshot::Sender<Seq>)>,
    /// Events to the check.
    pub events: mpsc::Sender<ConsoleEvent>,
    /// The framebuffer the binding decodes into.
    pub framebuffer: Arc<Mutex<Image>>,
    /// The latest pointer shape the terminal sent, if it sends one.
    pub cursor: Arc<Mutex<Option<CursorShape>>>,
    /// Where the binding notes what each update painted, after applying
    /// it, for the live witness view ([`super::tap`]); never waits, and
    /// does nothing when no tap is installed.
    pub tap: crate::binding::tap::TapNote,
}

/// Events a console buffers before its binding task waits for the check.
pub const EVENT_QUEUE: usize = 4096;

impl Console {
    /// A console and the driver a binding task uses to serve it.
    pub fn new(label: &str, info: SessionInfo, fb: Image) -> (Console, ConsoleDriver) {
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        let fb = Arc::new(Mutex::new(fb));
        let cursor = Arc::new(Mutex::new(None));
        let (tap, tap_guard) = match crate::binding::tap::installed() {
            Some(t) => t.register(label, &fb),
            None => Default::default(),
        };
        (
            Console {
                label: label.to_string(),
                info,
                cmd_tx,
                ev_rx,
                fb: fb.clone(),
                cursor: cursor.clone(),
                closed: false,
                _tap: tap_guard,
            },
            ConsoleDriver {
                commands: cmd_rx,
                events: ev_tx,
                framebuffer: fb,
                cursor,
                tap,
            },
        )
    }

    /// The label given at open (`"A"`, `"B"`, `"trial-3/1"` ...).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// What was negotiated.
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// Whether a `Closed` event has been seen.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub(in crate::binding) async fn send(&self, cmd: Command) -> Result<Seq, ConsoleGone> {
        let (tx, rx) = oneshot::channel();
        self.cmd_tx.send((cmd, tx)).await.map_err(|_| ConsoleGone)?;
        rx.await.map_err(|_| ConsoleGone)
    }

    /// Asks for the encodings of `set` (see [`EncodingControl`]).
    pub async fn set_encodings(&self, set: &EncodingSet) -> Result<Seq, ConsoleGone> {
        self.send(Command::SetEncodings(set.clone())).await
    }

    /// Asks for an update of `rect` (`None` = whole screen).
    pub async fn request(&self, incremental: bool, rect: Option<Rect>) -> Result<Seq, ConsoleGone> {
        self.send(Command::Request { incremental, rect }).await
    }

    /// Moves the pointer / presses buttons.
    pub async fn pointer(&self, x: u16, y: u16, buttons: u8) -> Result<Seq, ConsoleGone> {
        self.send(Command::Pointer { x, y, buttons }).await
    }

    /// Presses or releases a key (an X keysym).
    pub async fn key(&self, keysym: u32, down: bool) -> Result<Seq, ConsoleGone> {
        self.send(Command::Key { keysym, down }).await
    }

    /// Waits up to `timeout` for the next event.
    pub async fn next_event(&mut self, timeout: Duration) -> ConsoleEvent {
        if self.closed {
            return ConsoleEvent::Timeout;
        }
        match tokio::time::timeout(timeout, self.ev_rx.recv()).await {
            Ok(Some(ev)) => {
                if matches!(ev, ConsoleEvent::Closed { .. }) {
                    self.closed = true;
                }
                ev
            }
            // The driver went away without a Closed event: treat as closed.
            Ok(None) => {
                self.closed = true;
                ConsoleEvent::Closed {
                    seq: seq::next(),
                    reason: CloseReason::Harness {
                        detail: "binding task ended".into(),
                    },
                    at: Instant::now(),
                }
            }
            Err(_) => ConsoleEvent::Timeout,
        }
    }

    /// Runs `f` on the current framebuffer.
    pub fn with_framebuffer<R>(&self, f: impl FnOnce(&Image) -> R) -> R {
        let g = self.fb.lock().unwrap_or_else(|p| p.into_inner());
        f(&g)
    }

    /// The latest pointer shape the terminal sent apart from the image, if
    /// any (then the terminal does not draw the pointer into the image).
    pub fn cursor(&self) -> Option<CursorShape> {
        self.cursor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A copy of the current framebuffer.
    pub fn snapshot(&self) -> Image {
        self.with_framebuffer(|f| f.clone())
    }

    /// Closes the session and waits (bounded) for the binding to confirm.
    pub async fn close(mut self, how: CloseHow) {
        if self.closed {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.send(Command::Close(how))).await;
        // Drain until Closed or timeout so the task can finish.
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.closed && Instant::now() < deadline {
            if let ConsoleEvent::Timeout = self.next_event(Duration::from_millis(200)).await {
                continue;
            }
        }
    }
}
