//! The default screen binding: RFB (RFC 6143) over WebSocket or TCP.
//!
//! The harness is the RFB viewer (a console, 指令台) and the terminal is the
//! server. [`RfbBinding`] opens a console in four steps, each bounded by the
//! open timeout: connect ([`transport`]), WebSocket upgrade for `ws://`,
//! the RFB handshake ([`handshake`]) up to ServerInit, then SetPixelFormat
//! (32-bit true colour) and SetEncodings (the harness's preference list,
//! which ends with the DesktopSize and Cursor pseudo-encodings).
//! After that a task of its own ([`session`]) owns the connection and turns
//! the terminal's bytes into [`ConsoleEvent`](crate::binding::ConsoleEvent)s;
//! a pointer shape the terminal sends goes to
//! [`Console::cursor`](crate::binding::Console::cursor).
//!
//! Two rules protect the terminal and the harness. A screen larger than the
//! scenario's `[screen] max_pixels` fails the open (ST-01 names both), so
//! the harness's memory stays bounded. And credentials that failed once are
//! never sent again ([`latch`]): every later open fails at once with the
//! same error, so the terminal never locks the console out.

pub mod handshake;
pub mod latch;
pub mod session;
pub mod transport;
pub mod url;

use std::sync::Arc;
use std::time::Duration;

use s301_rfb::encoding::Encoding;
use s301_rfb::handshake::security;
use s301_rfb::messages::ClientMessage;
use s301_rfb::stream::ServerMessageDecoder;
use s301_rfb::{Framebuffer, Limits};
use tokio::time::Instant;

use self::handshake::{client_handshake, type_label, Conn};
use self::latch::AuthLatch;
use self::transport::{connect_tcp, upgrade, Transport, TransportError, SUBPROTOCOL};
use self::url::{Scheme, ScreenUrl};
use crate::binding::tls::{MaybeTls, TlsSettings};
use crate::binding::{
    BindingError, BoxFuture, CloseReason, Console, EncodingControl, EncodingSet, OpenError,
    ScreenBinding, SessionInfo, Stage,
};
use crate::config::declaration::{PixelFormatChoice, ScreenDecl};

pub use self::url::UrlError;

/// The default screen binding for one terminal.
#[derive(Clone)]
pub struct RfbBinding {
    url: ScreenUrl,
    password: Option<Vec<u8>>,
    password_env: Option<String>,
    limits: Limits,
    tls: Option<Arc<TlsSettings>>,
    transcript: Option<crate::binding::transcript::Transcript>,
    pixel_format: PixelFormatChoice,
    latch: AuthLatch,
}

impl std::fmt::Debug for RfbBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password itself.
        f.debug_struct("RfbBinding")
            .field("url", &self.url.raw)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("limits", &self.limits)
            .finish()
    }
}

/// The encodings asked for at open, as wire codes in preference order.
pub fn harness_encodings() -> Vec<i32> {
    Encoding::HARNESS_PREFERENCE
        .iter()
        .map(Encoding::code)
        .collect()
}

/// The encodings ST-02 sweeps one by one after the preference list.
pub const SINGLE_ENCODINGS: [Encoding; 5] = [
    Encoding::Zrle,
    Encoding::Trle,
    Encoding::Hextile,
    Encoding::Rre,
    Encoding::Raw,
];

/// The encodings RFB knows by name ([`encoding_name`]).
const KNOWN: [Encoding; 8] = [
    Encoding::Raw,
    Encoding::CopyRect,
    Encoding::Rre,
    Encoding::Hextile,
    Encoding::Trle,
    Encoding::Zrle,
    Encoding::DesktopSize,
    Encoding::Cursor,
];

/// An encoding's name, as [`crate::binding::Damage::encoding`] carries it:
/// static for the known ones (no allocation per rectangle), `"encoding N"`
/// otherwise.
pub fn encoding_name(e: Encoding) -> std::borrow::Cow<'static, str> {
    match e {
        Encoding::Raw => "Raw".into(),
        Encoding::CopyRect => "CopyRect".into(),
        Encoding::Rre => "RRE".into(),
        Encoding::Hextile => "Hextile".into(),
        Encoding::Trle => "TRLE".into(),
        Encoding::Zrle => "ZRLE".into(),
        Encoding::DesktopSize => "DesktopSize".into(),
        Encoding::Cursor => "Cursor".into(),
        Encoding::Other(_) => e.name().into(),
    }
}

/// The encoding [`encoding_name`] named `name`, if any.
fn encoding_named(name: &str) -> Option<Encoding> {
    if let Some(e) = KNOWN.into_iter().find(|e| encoding_name(*e) == name) {
        return Some(e);
    }
    let code = name.strip_prefix("encoding ")?.parse::<i32>().ok()?;
    Some(Encoding::from_code(code))
}

/// RFB's encoding capability: the preference list, the single-encoding
/// sweep (each with DesktopSize), and Raw always allowed (RFC 6143 7.7).
#[derive(Debug, Clone, Copy, Default)]
pub struct RfbEncodings;

impl EncodingControl for RfbEncodings {
    fn preference(&self) -> EncodingSet {
        EncodingSet {
            name: "preference list".into(),
            ids: harness_encodings().into_iter().map(i64::from).collect(),
        }
    }

    fn sweep(&self) -> Vec<EncodingSet> {
        SINGLE_ENCODINGS
            .iter()
            .map(|e| EncodingSet {
                name: format!("{} only", e.name()),
                ids: vec![i64::from(e.code()), i64::from(Encoding::DesktopSize.code())],
            })
            .collect()
    }

    fn describe_sweep(&self) -> String {
        let names: Vec<String> = SINGLE_ENCODINGS.iter().map(Encoding::name).collect();
        format!("preference list, then {} alone", names.join(", "))
    }

    fn permits(&self, requested: &EncodingSet, used: &str) -> bool {
        match encoding_named(used) {
            Some(Encoding::Raw) => true,
            Some(e) => requested.ids.contains(&i64::from(e.code())),
            None => false,
        }
    }
}

impl RfbBinding {
    /// A binding for `url` (`ws://`, `wss://` or `rfb://`), with an optional
    /// VNC password and the default limits: the codec's, with screens up to
    /// the default scenario's `[screen] max_pixels` (4096x4096).
    pub fn new(url: &str, password: Option<&str>) -> Result<RfbBinding, BindingError> {
        let url = ScreenUrl::parse(url).map_err(|e| BindingError::Url {
            url: e.url,
            reason: e.reason,
        })?;
        Ok(RfbBinding {
            url,
            password: password.map(|p| p.as_bytes().to_vec()),
            password_env: None,
            limits: Limits {
                max_pixels: crate::config::scenario::DEFAULT_MAX_PIXELS,
                ..Limits::DEFAULT
            },
            tls: None,
            transcript: None,
            pixel_format: PixelFormatChoice::default(),
            latch: AuthLatch::default(),
        })
    }

    /// A binding for the declaration's `[screen]`, reading the password from
    /// the environment variable `password_env` names (an error if unset).
    pub fn from_decl(decl: &ScreenDecl) -> Result<RfbBinding, BindingError> {
        Self::from_decl_with(decl, |name| std::env::var(name))
    }

    /// Like [`Self::from_decl`], looking variables up with `lookup` (tests
    /// and embedders that keep secrets elsewhere).
    pub fn from_decl_with(
        decl: &ScreenDecl,
        lookup: impl Fn(&str) -> Result<String, std::env::VarError>,
    ) -> Result<RfbBinding, BindingError> {
        let password = match &decl.password_env {
            None => None,
            Some(var) => match lookup(var) {
                Ok(p) => Some(p),
                Err(std::env::VarError::NotPresent) => {
                    return Err(BindingError::PasswordUnset { var: var.clone() })
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(BindingError::PasswordNotUnicode { var: var.clone() })
                }
            },
        };
        let mut b = Self::new(&decl.url, password.as_deref())?;
        b.password_env = decl.password_env.clone();
        b.pixel_format = decl.pixel_format;
        Ok(b)
    }

    /// The same binding using `tls` for `wss://` (the declaration's `[tls]`).
    pub fn with_tls(mut self, tls: Option<Arc<TlsSettings>>) -> RfbBinding {
        self.tls = tls;
        self
    }

    /// The same binding logging every console's messages to `transcript`
    /// (`transcript.jsonl`), tagged with the check that opened the console.
    pub fn with_transcript(
        mut self,
        transcript: Option<crate::binding::transcript::Transcript>,
    ) -> RfbBinding {
        self.transcript = transcript;
        self
    }

    /// The same binding with other limits.
    pub fn with_limits(mut self, limits: Limits) -> RfbBinding {
        self.limits = limits;
        self
    }

    /// The same binding accepting screens of at most `max_pixels` pixels
    /// (the scenario's `[screen] max_pixels`), never more than the codec's
    /// own bound.
    pub fn with_max_pixels(mut self, max_pixels: u64) -> RfbBinding {
        self.limits.max_pixels = max_pixels.clamp(1, Limits::DEFAULT.max_pixels);
        self
    }

    /// The first authentication failure of this binding, if any: every
    /// later open fails with it without connecting (see [`latch`]).
    pub fn auth_failure(&self) -> Option<latch::AuthFailure> {
        self.latch.latched()
    }

    /// The parsed URL.
    pub fn url(&self) -> &ScreenUrl {
        &self.url
    }

    /// The limits applied to the terminal's data.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A one-paragraph description of how this binding reaches the terminal,
    /// for evidence (no secrets).
    pub fn describe(&self) -> String {
        let transport = match self.url.scheme {
            Scheme::Ws => format!("WebSocket (RFC 6455) offering subprotocol {SUBPROTOCOL:?}"),
            Scheme::Wss => {
                let mutual = match &self.tls {
                    Some(t) if t.mutual() => ", presenting a client certificate",
                    _ => "",
                };
                format!(
                    "WebSocket over TLS (rustls, terminal verified against the declared CA{mutual}) offering subprotocol {SUBPROTOCOL:?}"
                )
            }
            Scheme::Rfb => "TCP".to_string(),
        };
        let password = match (&self.password, &self.password_env) {
            (Some(_), Some(var)) => format!("VNC Authentication password from ${var}"),
            (Some(_), None) => "VNC Authentication password given".to_string(),
            (None, _) => "no password (security type None only)".to_string(),
        };
        let encodings: Vec<String> = Encoding::HARNESS_PREFERENCE
            .iter()
            .map(|e| format!("{}({})", e.name(), e.code()))
            .collect();
        format!(
            "RFB 3.3/3.7/3.8 viewer at {} over {transport}; security: None, or {password} \
             (never sent again after a failed authentication); ClientInit exclusive; \
             pixel format {}; encodings {}; limits: screen up to {}x{} and {} pixels, \
             name up to {} bytes, cut text up to {} bytes, pointer shapes up to {} pixels",
            self.url.raw,
            match self.pixel_format.fixed() {
                None => "native (as announced in ServerInit)".to_string(),
                Some(pf) => format!("{} ({})", self.pixel_format.as_str(), pf.describe()),
            },
            encodings.join(", "),
            self.limits.max_width,
            self.limits.max_height,
            self.limits.max_pixels,
            self.limits.max_name_len,
            self.limits.max_cut_text,
            self.limits.max_cursor_pixels,
        )
    }

    /// Opens a console (see [`ScreenBinding::open`]).
    pub async fn open_console(&self, label: &str, timeout: Duration) -> Result<Console, OpenError> {
        if let Some(failed) = self.latch.latched() {
            return Err(failed.error);
        }
        let started = Instant::now();
        let deadline = started + timeout;
        let tls_settings = match (&self.url.scheme, &self.tls) {
            (Scheme::Wss, Some(t)) if t.has_client() => Some(t.clone()),
            (Scheme::Wss, _) => {
                return Err(OpenError::Harness(format!(
                    "{} needs a [tls] section with a ca to verify the terminal",
                    self.url.raw
                )))
            }
            _ => None,
        };
        let tcp = connect_tcp(&self.url, started, deadline).await?;
        let mut tls_info = None;
        let (transport, subprotocol) = match (self.url.scheme, tls_settings) {
            (Scheme::Wss, Some(settings)) => {
                let stream = connect_tls(&settings, &self.url.host, tcp, started, deadline).await?;
                tls_info = Some(stream.1);
                upgrade(
                    &self.url,
                    MaybeTls::Tls(Box::new(stream.0)),
                    started,
                    deadline,
                )
                .await?
            }
            (Scheme::Ws | Scheme::Wss, _) => {
                upgrade(&self.url, MaybeTls::Plain(tcp), started, deadline).await?
            }
            (Scheme::Rfb, _) => (Transport::Tcp(tcp), None),
        };
        let connect_ms = started.elapsed().as_secs_f64() * 1000.0;

        let mut conn = Conn::new(transport, &self.limits, started, deadline);
        let hs = client_handshake(&mut conn, self.password.as_deref(), &self.limits).await;
        if let Some(f) = self.latch.record(label, conn.auth, hs.as_ref().err()) {
            tracing::warn!(
                console = label,
                "authentication failed ({}); no later console of this run sends credentials",
                f.error
            );
        }
        let hs = hs?;
        let fb = Framebuffer::new(hs.init.width, hs.init.height, &self.limits).map_err(|e| {
            OpenError::Protocol {
                stage: Stage::Admission,
                reason: e.to_string(),
            }
        })?;

        // The console is admitted. What follows cannot refuse it any more: a
        // failure now is the session's first event.
        let encodings = harness_encodings();
        let set_format = self.pixel_format.fixed();
        let pixel_format = set_format.unwrap_or(hs.init.pixel_format);
        let mut out = Vec::with_capacity(64);
        if let Some(pf) = set_format {
            ClientMessage::SetPixelFormat(pf).write(&mut out);
        }
        ClientMessage::SetEncodings(encodings.clone()).write(&mut out);
        let written = tokio::time::timeout_at(deadline, conn.transport.write_all(&out)).await;
        let closed = match written {
            Ok(Ok(())) => None,
            Ok(Err(TransportError::Violation(detail))) => Some(CloseReason::Violation { detail }),
            Ok(Err(TransportError::Reset(detail))) => Some(CloseReason::ByTerminal { detail }),
            Ok(Err(TransportError::Io(detail))) => Some(CloseReason::Io { detail }),
            Err(_) => Some(CloseReason::Io {
                detail: "writing SetPixelFormat and SetEncodings timed out".into(),
            }),
        };
        let handshake_ms = started.elapsed().as_secs_f64() * 1000.0;

        let mut facts = serde_json::Map::new();
        let offered: Vec<String> = hs.offered.iter().map(|c| type_label(*c)).collect();
        facts.insert("security_offered".into(), offered.into());
        facts.insert(
            "server_pixel_format".into(),
            hs.init.pixel_format.describe().into(),
        );
        facts.insert("pixel_format".into(), pixel_format.describe().into());
        facts.insert("pixel_format_sent".into(), set_format.is_some().into());
        facts.insert(
            "cursor_requested".into(),
            encodings.contains(&Encoding::Cursor.code()).into(),
        );
        facts.insert("encodings".into(), encodings.into());
        let info = SessionInfo {
            url: self.url.raw.clone(),
            transport: self.url.scheme.transport().to_string(),
            subprotocol,
            protocol: "RFB".into(),
            version: hs.version.as_str().to_string(),
            server_version: hs.server_version.clone(),
            security: security::name(hs.security),
            width: hs.init.width,
            height: hs.init.height,
            name: String::from_utf8_lossy(&hs.init.name).into_owned(),
            connect_ms,
            handshake_ms,
            tls: tls_info,
            binding: facts,
        };
        let decoder = ServerMessageDecoder::new(pixel_format, self.limits);
        // The session task runs outside the opener's task: it takes the
        // transcript, in the opener's scope, and the handshake's record along.
        let recorder = self.transcript.as_ref().map(|t| {
            let r = session::Recorder::new(t, label);
            r.handshake(&info);
            r
        });
        let (console, driver) = Console::new(label, info, fb);
        let leftover = std::mem::take(&mut conn.buf);
        tokio::spawn(session::run(
            driver,
            conn.transport,
            decoder,
            leftover,
            closed,
            recorder,
        ));
        Ok(console)
    }
}

/// The TLS handshake of a `wss://` console, bounded by `deadline` (stage
/// Connect). A certificate problem is a protocol failure naming it; a
/// connection closed during the handshake is a refusal.
async fn connect_tls(
    settings: &TlsSettings,
    host: &str,
    tcp: tokio::net::TcpStream,
    started: Instant,
    deadline: Instant,
) -> Result<
    (
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        crate::binding::tls::TlsInfo,
    ),
    OpenError,
> {
    match tokio::time::timeout_at(deadline, crate::binding::tls::connect(settings, host, tcp)).await
    {
        Err(_) => Err(OpenError::Timeout {
            stage: Stage::Connect,
            after_ms: transport::elapsed_ms(started),
        }),
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err(crate::binding::tls::TlsConnectError::Setup(reason))) => {
            Err(OpenError::Harness(reason))
        }
        Ok(Err(crate::binding::tls::TlsConnectError::Rejected(reason))) => {
            Err(OpenError::Protocol {
                stage: Stage::Connect,
                reason,
            })
        }
        Ok(Err(crate::binding::tls::TlsConnectError::Io(reason))) => Err(OpenError::Refused {
            stage: Stage::Connect,
            reason,
        }),
    }
}

impl ScreenBinding for RfbBinding {
    fn target(&self) -> String {
        self.url.raw.clone()
    }

    fn encodings(&self) -> Option<&dyn EncodingControl> {
        Some(&RfbEncodings)
    }

    fn open<'a>(
        &'a self,
        label: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Console, OpenError>> {
        Box::pin(async move {
            let latched = self.latch.latched();
            let opened = self.open_console(label, timeout).await;
            // A console that never opened (refused, timed out) has no
            // session to log it: record the attempt and why it failed here.
            if let (Err(e), Some(t)) = (&opened, &self.transcript) {
                let mut fields = serde_json::json!({
                    "url": self.url.raw,
                    "error": e.to_string(),
                    "max_pixels": self.limits.max_pixels,
                });
                if let Some(f) = &latched {
                    fields["not_connected"] = serde_json::Value::String(f.explain());
                }
                t.log(
                    label,
                    crate::binding::transcript::Direction::Recv,
                    "OpenFailed",
                    fields,
                );
            }
            opened
        })
    }
}

#[cfg(test)]
mod tests;
