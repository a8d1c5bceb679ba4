//! Bindings: how the harness reaches a terminal.
//!
//! A binding turns a terminal's wire protocol into typed events. Checks use
//! only the types here ([`ScreenBinding`], [`Console`], [`ConsoleEvent`]) and
//! never see a socket or a byte, so a department holding the official S3-01
//! wire text can add a binding as one new module without touching the checks.
//!
//! The default binding is [`rfb`]: RFB over WebSocket (`ws://`, `wss://`) or
//! TCP (`rfb://`) for the screen, and [`http`] (JSON over HTTP/1.1) for the
//! data channel, which checks reach through [`data::DataBinding`];
//! [`memory`] holds bindings that simulate a terminal in process.

pub mod data;
pub mod http;
pub mod memory;
pub mod rfb;
pub mod schema;
pub mod seq;
pub mod tls;
pub mod transcript;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use s301_rfb::stream::RectInfo;
use s301_rfb::{Framebuffer, Rect};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

pub use data::DataBinding;
pub use seq::Seq;

/// A boxed, sendable future (bindings are used as trait objects).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Opens console sessions to the terminal's screen.
pub trait ScreenBinding: Send + Sync {
    /// A description of where and how, for evidence (`"ws://127.0.0.1:5901/s3-01/v1/screen"`).
    fn target(&self) -> String;

    /// Opens a console session named `label`: transport, handshake, ClientInit
    /// (exclusive), ServerInit, then SetPixelFormat and SetEncodings with the
    /// harness's defaults. Returns once ServerInit has arrived (the console is
    /// admitted, not yet served), or why it could not get that far, within
    /// `timeout`.
    fn open<'a>(
        &'a self,
        label: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Console, OpenError>>;
}

/// Why a binding could not be built from a declaration (before anything
/// is connected): a usage error naming the key or variable at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// `[screen] url` is not a URL the binding accepts.
    #[error("[screen] url {url:?}: {reason}")]
    Url {
        /// The URL as declared.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `[screen] password_env` names a variable that is not set.
    #[error("[screen] password_env names ${var}, which is not set")]
    PasswordUnset {
        /// The variable's name.
        var: String,
    },
    /// The password variable holds bytes that are not UTF-8.
    #[error("[screen] password_env names ${var}, which is not valid UTF-8")]
    PasswordNotUnicode {
        /// The variable's name.
        var: String,
    },
}

/// A handshake stage, for refusals and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// TCP (or TLS) connect.
    Connect,
    /// WebSocket upgrade.
    Upgrade,
    /// ProtocolVersion exchange.
    Version,
    /// Security type negotiation.
    Security,
    /// Authentication and SecurityResult.
    SecurityResult,
    /// ClientInit / ServerInit.
    Init,
}

impl Stage {
    /// How a detail names the stage: `the security result`.
    pub fn describe(&self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Upgrade => "the WebSocket upgrade",
            Stage::Version => "the version exchange",
            Stage::Security => "security negotiation",
            Stage::SecurityResult => "the security result (authentication)",
            Stage::Init => "initialisation",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why a console could not be opened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpenError {
    /// The terminal refused the console: it closed the connection, answered
    /// the upgrade with a non-101 status, or failed security with a reason.
    /// Under `refuse` this is what a second console expects.
    #[error("refused at {stage}: {reason}")]
    Refused {
        /// Where.
        stage: Stage,
        /// What the terminal said or did.
        reason: String,
    },
    /// The terminal broke the protocol (malformed version, bad ServerInit, a
    /// limit exceeded, no supported security type ...).
    #[error("protocol violation at {stage}: {reason}")]
    Protocol {
        /// Where.
        stage: Stage,
        /// What was wrong.
        reason: String,
    },
    /// Nothing (or not enough) arrived within the timeout.
    #[error("timed out at {stage} after {after_ms} ms")]
    Timeout {
        /// Where it stalled.
        stage: Stage,
        /// How long was waited.
        after_ms: u64,
    },
    /// The harness itself failed (bad URL, missing password variable ...).
    #[error("harness error: {0}")]
    Harness(String),
}

/// Negotiated facts of a console session, kept as evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionInfo {
    /// The URL used.
    pub url: String,
    /// `"ws"`, `"wss"`, `"tcp"`.
    pub transport: String,
    /// WebSocket subprotocol agreed, if any.
    pub subprotocol: Option<String>,
    /// `"3.8"` etc.
    pub version: String,
    /// The server's ProtocolVersion as sent.
    pub server_version: String,
    /// Security types offered (names).
    pub security_offered: Vec<String>,
    /// Security type used.
    pub security: String,
    /// Screen width from ServerInit.
    pub width: u16,
    /// Screen height from ServerInit.
    pub height: u16,
    /// The server's native pixel format, described.
    pub server_pixel_format: String,
    /// The pixel format in use: the one the harness set, or the server's
    /// own when the declaration asks for `native`.
    pub pixel_format: String,
    /// Whether the harness sent SetPixelFormat (not under `native`).
    pub pixel_format_sent: bool,
    /// Desktop name (lossy UTF-8).
    pub name: String,
    /// Encodings the harness asked for, in order.
    pub encodings: Vec<i32>,
    /// Whether those include the Cursor pseudo-encoding (-239): the
    /// terminal may then send the pointer's shape apart from the image
    /// ([`Console::cursor`]) instead of drawing it in.
    pub cursor_requested: bool,
    /// Connect time.
    pub connect_ms: f64,
    /// Connect plus handshake time.
    pub handshake_ms: f64,
    /// The TLS parameters of a `wss://` session (none in plaintext).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::tls::TlsInfo>,
}

/// How the harness leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseHow {
    /// An orderly close (WebSocket close frame, TCP FIN after a flush).
    Clean,
    /// Drop the connection without any goodbye (as a crashed console would).
    Drop,
}

/// How a console session ended, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CloseReason {
    /// The terminal closed the connection (EOF, WebSocket close).
    ByTerminal {
        /// Close code and reason, or how it was seen.
        detail: String,
    },
    /// The harness closed it.
    ByHarness,
    /// The stream broke: a protocol violation in the terminal's data.
    Violation {
        /// What was wrong.
        detail: String,
    },
    /// An I/O error.
    Io {
        /// The error.
        detail: String,
    },
}

/// A FramebufferUpdate fully received and applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateInfo {
    /// When its first bytes were received (its header decoded): anything
    /// written with a higher sequence number was written after the terminal
    /// had begun sending this update, so the update cannot be its reaction.
    pub began: Seq,
    /// When the harness finished applying it.
    pub seq: Seq,
    /// The earliest request outstanding when it arrived (the request it
    /// answers), or `None` if none was outstanding (unsolicited).
    pub answers: Option<Seq>,
    /// Whether that request was incremental.
    pub incremental: Option<bool>,
    /// Its rectangles.
    #[serde(skip)]
    pub rects: Vec<RectInfo>,
    /// Rectangle count.
    pub rect_count: usize,
    /// Wire bytes.
    pub bytes: u64,
    /// Milliseconds from the answered request being sent to the update being applied.
    pub latency_ms: Option<f64>,
    /// Monotonic time it was applied.
    #[serde(skip)]
    pub at: Instant,
}

/// The pointer's shape as the terminal sent it apart from the screen image
/// (RFB's Cursor pseudo-encoding). A terminal that sends it leaves the
/// pointer out of the framebuffer, so a check can judge the terminal's own
/// pixels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CursorShape {
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Column of the hotspot inside the shape.
    pub hot_x: u16,
    /// Row of the hotspot inside the shape.
    pub hot_y: u16,
    /// The shape's pixels (`0x00RRGGBB`), row by row, transparent ones
    /// `None`. Empty when the shape is larger than the binding keeps.
    #[serde(skip)]
    pub pixels: Vec<Option<u32>>,
}

/// What a console observed.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleEvent {
    /// A FramebufferUpdate was applied to the console's framebuffer.
    Update(UpdateInfo),
    /// Bell.
    Bell(Seq),
    /// ServerCutText (length only).
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
    /// SetEncodings (the binding always adds Raw if missing? no: sends as given).
    SetEncodings(Vec<i32>),
    /// FramebufferUpdateRequest; `None` = the whole screen.
    Request {
        /// Incremental.
        incremental: bool,
        /// Region.
        rect: Option<Rect>,
    },
    /// PointerEvent.
    Pointer {
        /// Column.
        x: u16,
        /// Row.
        y: u16,
        /// Button mask.
        buttons: u8,
    },
    /// KeyEvent.
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
    ev_rx: mpsc::Receiver<ConsoleEvent>,
    fb: Arc<Mutex<Framebuffer>>,
    cursor: Arc<Mutex<Option<CursorShape>>>,
    closed: bool,
}

/// The binding's end of a [`Console`].
pub struct ConsoleDriver {
    /// Commands from the check, each with a reply slot for the sequence number
    /// at which it was written to the wire.
    pub commands: mpsc::Receiver<(Command, oneshot::Sender<Seq>)>,
    /// Events to the check.
    pub events: mpsc::Sender<ConsoleEvent>,
    /// The framebuffer the binding decodes into.
    pub framebuffer: Arc<Mutex<Framebuffer>>,
    /// The latest pointer shape the terminal sent, if it sends one.
    pub cursor: Arc<Mutex<Option<CursorShape>>>,
}

/// Events a console buffers before its binding task waits for the check.
pub const EVENT_QUEUE: usize = 4096;

impl Console {
    /// A console and the driver a binding task uses to serve it.
    pub fn new(label: &str, info: SessionInfo, fb: Framebuffer) -> (Console, ConsoleDriver) {
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        let fb = Arc::new(Mutex::new(fb));
        let cursor = Arc::new(Mutex::new(None));
        (
            Console {
                label: label.to_string(),
                info,
                cmd_tx,
                ev_rx,
                fb: fb.clone(),
                cursor: cursor.clone(),
                closed: false,
            },
            ConsoleDriver {
                commands: cmd_rx,
                events: ev_tx,
                framebuffer: fb,
                cursor,
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

    async fn send(&self, cmd: Command) -> Result<Seq, ConsoleGone> {
        let (tx, rx) = oneshot::channel();
        self.cmd_tx.send((cmd, tx)).await.map_err(|_| ConsoleGone)?;
        rx.await.map_err(|_| ConsoleGone)
    }

    /// Sends SetEncodings.
    pub async fn set_encodings(&self, encodings: &[i32]) -> Result<Seq, ConsoleGone> {
        self.send(Command::SetEncodings(encodings.to_vec())).await
    }

    /// Sends a FramebufferUpdateRequest (`None` = whole screen).
    pub async fn request(&self, incremental: bool, rect: Option<Rect>) -> Result<Seq, ConsoleGone> {
        self.send(Command::Request { incremental, rect }).await
    }

    /// Sends a PointerEvent.
    pub async fn pointer(&self, x: u16, y: u16, buttons: u8) -> Result<Seq, ConsoleGone> {
        self.send(Command::Pointer { x, y, buttons }).await
    }

    /// Sends a KeyEvent.
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
                    reason: CloseReason::Io {
                        detail: "binding task ended".into(),
                    },
                    at: Instant::now(),
                }
            }
            Err(_) => ConsoleEvent::Timeout,
        }
    }

    /// Runs `f` on the current framebuffer.
    pub fn with_framebuffer<R>(&self, f: impl FnOnce(&Framebuffer) -> R) -> R {
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
    pub fn snapshot(&self) -> Framebuffer {
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
