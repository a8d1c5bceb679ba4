//! The neutral screen channel: what a check sees of a console, whatever
//! binding carries it.
//!
//! A binding opens [`Console`]s ([`ScreenBinding::open`]) and reports what
//! each observed as [`ConsoleEvent`]s: updates with the [`Damage`] they did
//! (rectangles painted, a resize, a pointer shape), the close and why. The
//! console's picture is an [`Image`] kept beside the events.
//!
//! [`Rect`] and [`Image`] are the harness's *pixel model* (a rectangle of
//! screen pixels; a screen image of `0x00RRGGBB` pixels with a width and a
//! height), not a protocol: they happen to be implemented by the codec
//! crate, and every binding, RFB or not, paints into them.
//!
//! What only some bindings can do is an optional capability a check asks
//! for: [`ScreenBinding::encodings`] ([`EncodingControl`]) lets ST-02 sweep
//! the encodings a terminal offers; a binding without encodings returns
//! `None` and ST-02 says the sweep is not applicable.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::seq::Seq;
use super::BoxFuture;

/// A rectangle of screen pixels (the pixel model, not a protocol).
pub use s301_rfb::Rect;

/// A screen image: width, height and `0x00RRGGBB` pixels (the pixel model,
/// not a protocol; every binding paints into one).
pub use s301_rfb::Framebuffer as Image;

/// The largest side a screen may have (pixels).
pub const MAX_SIDE: u16 = 16384;

/// Whether `w` x `h` is a screen size the harness accepts at all (1 to
/// [`MAX_SIDE`] per side, within the codec's pixel bound); a resize to
/// anything else is ignored when counting painted pixels.
pub fn valid_size(w: u16, h: u16) -> bool {
    s301_rfb::Limits::DEFAULT.check_screen(w, h).is_ok()
}

/// A blank (black) image of `w` x `h`, or `None` if that size is not
/// [`valid_size`].
pub fn blank_image(w: u16, h: u16) -> Option<Image> {
    Image::new(w, h, &s301_rfb::Limits::DEFAULT).ok()
}

/// Opens console sessions to the terminal's screen.
pub trait ScreenBinding: Send + Sync {
    /// A description of where and how, for evidence (`"ws://127.0.0.1:5901/s3-01/v1/screen"`).
    fn target(&self) -> String;

    /// Opens a console session named `label`, asking for exclusive access.
    /// Returns once the terminal has admitted the console and described its
    /// screen (admitted, not yet served), or why it could not get that far,
    /// within `timeout`.
    fn open<'a>(
        &'a self,
        label: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Console, OpenError>>;

    /// The encoding capability, if this binding has one: the encodings it
    /// can ask a terminal for and which one each rectangle used. `None`
    /// (the default): the binding has no encodings to choose, and ST-02's
    /// sweep is not applicable.
    fn encodings(&self) -> Option<&dyn EncodingControl> {
        None
    }
}

/// A set of encodings a console can ask the terminal to use, named for
/// evidence. `ids` are the binding's own identifiers (RFB: the wire codes),
/// opaque to checks, which only record them and hand the set back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EncodingSet {
    /// How a detail names the set (`"preference list"`, `"ZRLE only"`).
    pub name: String,
    /// The binding's identifiers, in preference order.
    pub ids: Vec<i64>,
}

/// Optional capability of a binding whose terminals encode rectangles in
/// one of several ways the console chooses (RFB's encodings).
pub trait EncodingControl: Send + Sync {
    /// The set every console asks for when it opens.
    fn preference(&self) -> EncodingSet;

    /// The sets ST-02 tries one by one after the preference list, each
    /// naming one encoding (`"ZRLE only"`).
    fn sweep(&self) -> Vec<EncodingSet>;

    /// The rounds in words, for a passing detail
    /// (`"preference list, then ZRLE, TRLE, Hextile, RRE, Raw alone"`).
    fn describe_sweep(&self) -> String;

    /// Whether a rectangle sent in the encoding named `used` (as in
    /// [`Damage::encoding`]) is allowed while `requested` is in force.
    fn permits(&self, requested: &EncodingSet, used: &str) -> bool;
}

/// How far opening a console got, for refusals and errors. The stages are
/// neutral: each binding maps its own steps onto them (RFB: TCP/TLS connect,
/// WebSocket upgrade, ProtocolVersion, security types, SecurityResult,
/// ClientInit/ServerInit).
///
/// In evidence (and the details quoting it) a stage keeps the short name
/// reports have always used (`connect`, `upgrade`, `version`, `security`,
/// `security_result`, `init`), so records stay comparable across versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Stage {
    /// Reaching the terminal (TCP, TLS).
    #[serde(rename = "connect")]
    Connect,
    /// Setting up the channel over the connection (a WebSocket upgrade).
    #[serde(rename = "upgrade")]
    Channel,
    /// Agreeing on the protocol version.
    #[serde(rename = "version")]
    Negotiation,
    /// Choosing how the console authenticates.
    #[serde(rename = "security")]
    Authentication,
    /// The terminal's answer to the console's credentials.
    #[serde(rename = "security_result")]
    AuthenticationResult,
    /// The terminal admitting the console (and describing its screen).
    #[serde(rename = "init")]
    Admission,
}

impl Stage {
    /// How a detail names the stage: `the security result (authentication)`.
    pub fn describe(&self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Channel => "the WebSocket upgrade",
            Stage::Negotiation => "the version exchange",
            Stage::Authentication => "security negotiation",
            Stage::AuthenticationResult => "the security result (authentication)",
            Stage::Admission => "initialisation",
        }
    }

    /// Whether a refusal at this stage may concern authentication (then it
    /// is never retried: credentials that failed are not sent again).
    pub fn is_authentication(&self) -> bool {
        matches!(self, Stage::Authentication | Stage::AuthenticationResult)
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
    /// The address used.
    pub url: String,
    /// How the bytes travel (`"ws"`, `"wss"`, `"tcp"`, `"memory"`).
    pub transport: String,
    /// The channel's subprotocol agreed, if any.
    pub subprotocol: Option<String>,
    /// The protocol's name, for details (`"RFB"`); not in evidence.
    #[serde(skip)]
    pub protocol: String,
    /// The protocol version used (`"3.8"` etc.).
    pub version: String,
    /// The terminal's version as it sent it.
    pub server_version: String,
    /// How the console authenticated (`"None"`, `"VNC Authentication"`).
    pub security: String,
    /// Screen width as the terminal announced it.
    pub width: u16,
    /// Screen height as the terminal announced it.
    pub height: u16,
    /// The terminal's name for its desktop (lossy UTF-8).
    pub name: String,
    /// Connect time.
    pub connect_ms: f64,
    /// Connect plus handshake time.
    pub handshake_ms: f64,
    /// The TLS parameters of an encrypted session (none in plaintext).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::binding::tls::TlsInfo>,
    /// Facts only this binding has, kept as evidence beside the others
    /// (RFB: `security_offered`, `server_pixel_format`, `pixel_format`,
    /// `pixel_format_sent`, `encodings`, `cursor_requested`).
    #[serde(flatten)]
    pub binding: serde_json::Map<String, serde_json::Value>,
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
    /// The harness's own side failed (its session task vanished without
    /// reporting a close): never the terminal's fault, so a check that
    /// sees it is `error`, not `fail`.
    Harness {
        /// What went wrong.
        detail: String,
    },
}

impl CloseReason {
    /// Whether the session end is the harness's own doing rather than the
    /// terminal's: the harness closed it, or its side failed.
    pub fn harness_side(&self) -> bool {
        matches!(self, CloseReason::ByHarness | CloseReason::Harness { .. })
    }
}

/// An update fully received and applied to the console's image.
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
    /// What it did to the screen, rectangle by rectangle.
    #[serde(skip)]
    pub damage: Vec<Damage>,
    /// Rectangle count (pseudo-rectangles included).
    pub rect_count: usize,
    /// Wire bytes.
    pub bytes: u64,
    /// Milliseconds from the answered request being sent to the update being applied.
    pub latency_ms: Option<f64>,
    /// Monotonic time it was applied.
    #[serde(skip)]
    pub at: Instant,
}

/// What one rectangle of an update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DamageKind {
    /// Screen pixels were painted in the rectangle.
    Paint,
    /// The screen was resized to the rectangle's width and height (every
    /// pixel is new and unpainted).
    Resize,
    /// The pointer's shape arrived apart from the image ([`Console::cursor`]).
    Pointer,
    /// Something else that carries no screen pixels.
    Other,
}

/// One rectangle of an update, as a check judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// What it did.
    pub kind: DamageKind,
    /// Where (for a resize: the new size at the origin), as the terminal
    /// sent it, even outside the screen.
    pub rect: Rect,
    /// Whether `rect` lay wholly within the screen (always true but for
    /// [`DamageKind::Paint`]); pixels outside were dropped.
    pub in_bounds: bool,
    /// Bytes it took on the wire (0 where nothing travels).
    pub bytes: u64,
    /// The encoding's name, where the binding has encodings (`"ZRLE"`),
    /// for evidence and [`EncodingControl::permits`]; static for the
    /// names a binding knows, so an update costs no allocation per rectangle.
    pub encoding: Option<std::borrow::Cow<'static, str>>,
}

impl Damage {
    /// Whether it carries screen pixels.
    pub fn paints(&self) -> bool {
        self.kind == DamageKind::Paint
    }
}

/// The pointer's shape as the terminal sent it apart from the screen image
/// (RFB: the Cursor pseudo-encoding). A terminal that sends it leaves the
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

mod console;
pub use console::{Command, Console, ConsoleDriver, ConsoleEvent, ConsoleGone, EVENT_QUEUE};
