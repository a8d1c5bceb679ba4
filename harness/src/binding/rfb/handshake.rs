//! The console's side of the RFB handshake (RFC 6143 section 7.1 to 7.3),
//! driven over a [`Transport`] with every step bounded by the open deadline.
//!
//! The codec (`s301_rfb::handshake`) parses and writes the messages; this
//! module decides what to answer and turns each way the terminal can stop the
//! handshake into an [`OpenError`] with the stage it happened at:
//! - the connection closes or resets: `Refused` ("connection closed by terminal");
//! - a security failure with a reason: `Refused` with that reason;
//! - malformed bytes, an unsupported version, no usable security type, a bad
//!   ServerInit, a screen over the limits: `Protocol`;
//! - nothing within the deadline: `Timeout`.
//!
//! [`Conn::auth`] tells the binding how far security got, so it can tell an
//! authentication failure (never to be repeated) from a busy terminal.

use s301_rfb::auth::vnc_auth_response;
use s301_rfb::error::ReadError;
use s301_rfb::handshake::{
    client_version_for, read_security_offer, read_security_result, read_version, security,
    ClientInit, SecurityOffer, SecurityResult, ServerInit, Version,
};
use s301_rfb::reader::{try_decode, Reader};
use s301_rfb::Limits;
use tokio::time::Instant;

use super::transport::{elapsed_ms, Received, Transport, TransportError};
use crate::binding::{OpenError, Stage};

/// Bytes read from the transport at a time.
pub const READ_CHUNK: usize = 64 * 1024;

/// Why a connection ended during the handshake, as the reason of a refusal.
pub const CLOSED_BY_TERMINAL: &str = "connection closed by terminal";

/// A transport plus the bytes received but not yet consumed, with the open
/// deadline every wait is bounded by.
pub struct Conn {
    /// The connection.
    pub transport: Transport,
    /// Received bytes not yet consumed by a handshake message.
    pub buf: Vec<u8>,
    chunk: Vec<u8>,
    started: Instant,
    deadline: Instant,
    max_buf: usize,
    /// How far the security stage got.
    pub auth: AuthStep,
}

/// How far the security stage of one handshake got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthStep {
    /// Not reached, or still under way.
    #[default]
    NotReached,
    /// The terminal refused at the security stage itself: no security type,
    /// a reason instead (TigerVNC's "Too many security failures").
    RefusedBeforeCredentials,
    /// VNC Authentication's response went out.
    CredentialsSent,
    /// SecurityResult failed after the response went out: the credentials
    /// were refused (or the terminal refuses this console there).
    CredentialsRefused,
    /// Security passed (SecurityResult OK, or security type None).
    Passed,
}

/// What the handshake settled.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The version the harness answered.
    pub version: Version,
    /// The server's ProtocolVersion, printable (`"RFB 003.008"`).
    pub server_version: String,
    /// Security type codes the server offered (3.3: the one it chose).
    pub offered: Vec<u8>,
    /// The type used.
    pub security: u8,
    /// ServerInit.
    pub init: ServerInit,
}

/// `"Tight (16)"`.
pub fn type_label(code: u8) -> String {
    format!("{} ({code})", security::name(code))
}

/// Lossy text of a reason string sent by the terminal.
fn reason_text(bytes: &[u8], empty: &str) -> String {
    if bytes.is_empty() {
        empty.to_string()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

impl Conn {
    /// Wraps `transport`; every later wait ends at `deadline` (`started` is
    /// when the open began, for the time reported in a timeout).
    pub fn new(transport: Transport, limits: &Limits, started: Instant, deadline: Instant) -> Conn {
        // The longest handshake message is ServerInit (24 bytes plus the
        // name) or a failure reason; the codec checks their lengths before
        // asking for the bytes, so the buffer never has to hold more than
        // that plus one read.
        let longest = limits.max_name_len.max(limits.max_reason_len) as usize;
        Conn {
            transport,
            buf: Vec::new(),
            chunk: vec![0u8; READ_CHUNK],
            started,
            deadline,
            max_buf: longest + 64 + READ_CHUNK,
            auth: AuthStep::NotReached,
        }
    }

    fn timeout(&self, stage: Stage) -> OpenError {
        OpenError::Timeout {
            stage,
            after_ms: elapsed_ms(self.started),
        }
    }

    fn transport_error(stage: Stage, e: TransportError) -> OpenError {
        match e {
            TransportError::Violation(reason) => OpenError::Protocol { stage, reason },
            TransportError::Reset(d) => OpenError::Refused {
                stage,
                reason: format!("{CLOSED_BY_TERMINAL} ({d})"),
            },
            TransportError::Io(d) => OpenError::Refused {
                stage,
                reason: format!("connection failed: {d}"),
            },
        }
    }

    /// Decodes one message with `f`, reading until it is complete.
    pub async fn read_msg<T>(
        &mut self,
        stage: Stage,
        f: impl Fn(&mut Reader<'_>) -> Result<T, ReadError>,
    ) -> Result<T, OpenError> {
        loop {
            match try_decode(&self.buf, &f) {
                Ok(Some((v, used))) => {
                    self.buf.drain(..used);
                    return Ok(v);
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(OpenError::Protocol {
                        stage,
                        reason: e.to_string(),
                    })
                }
            }
            if self.buf.len() > self.max_buf {
                return Err(OpenError::Protocol {
                    stage,
                    reason: format!(
                        "handshake message still incomplete after {} bytes",
                        self.buf.len()
                    ),
                });
            }
            let read = self.transport.read(&mut self.chunk);
            match tokio::time::timeout_at(self.deadline, read).await {
                Err(_) => return Err(self.timeout(stage)),
                Ok(Ok(Received::Data(n))) => self
                    .buf
                    .extend_from_slice(self.chunk.get(..n).unwrap_or(&[])),
                Ok(Ok(Received::Closed { detail })) => {
                    return Err(OpenError::Refused {
                        stage,
                        reason: format!("{CLOSED_BY_TERMINAL} ({detail})"),
                    })
                }
                Ok(Err(e)) => return Err(Self::transport_error(stage, e)),
            }
        }
    }

    /// Writes `data` before the deadline.
    pub async fn write(&mut self, stage: Stage, data: &[u8]) -> Result<(), OpenError> {
        match tokio::time::timeout_at(self.deadline, self.transport.write_all(data)).await {
            Err(_) => Err(self.timeout(stage)),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Self::transport_error(stage, e)),
        }
    }
}

/// Runs the handshake up to and including ServerInit. `password` enables VNC
/// Authentication; ClientInit always asks for exclusive access.
pub async fn client_handshake(
    conn: &mut Conn,
    password: Option<&[u8]>,
    limits: &Limits,
) -> Result<Handshake, OpenError> {
    // ProtocolVersion.
    let (server, raw) = conn
        .read_msg(Stage::Negotiation, |r| {
            let start = r.rest();
            let v = read_version(r)?;
            let raw = start.get(..12).unwrap_or(start);
            Ok((v, raw.to_vec()))
        })
        .await?;
    let server_version = raw.trim_ascii_end().escape_ascii().to_string();
    let version = client_version_for(server).map_err(|e| OpenError::Protocol {
        stage: Stage::Negotiation,
        reason: format!("unsupported server version {server_version:?}: {e}"),
    })?;
    conn.write(Stage::Negotiation, version.wire()).await?;

    // Security offer and choice.
    let offer = conn
        .read_msg(Stage::Authentication, |r| {
            read_security_offer(r, version, limits)
        })
        .await?;
    let offered = match offer {
        SecurityOffer::Failed { reason } => {
            conn.auth = AuthStep::RefusedBeforeCredentials;
            return Err(OpenError::Refused {
                stage: Stage::Authentication,
                reason: reason_text(&reason, "security failure without a reason"),
            });
        }
        SecurityOffer::Types(types) => types,
    };
    let chosen = if offered.contains(&security::NONE) {
        security::NONE
    } else if offered.contains(&security::VNC_AUTH) && password.is_some() {
        security::VNC_AUTH
    } else {
        let names: Vec<String> = offered.iter().map(|c| type_label(*c)).collect();
        let mut reason = format!(
            "no supported security type; offered: {}",
            if names.is_empty() {
                "nothing".to_string()
            } else {
                names.join(", ")
            }
        );
        if offered.contains(&security::VNC_AUTH) {
            reason.push_str(" (VNC Authentication needs a password; none is configured)");
        }
        return Err(OpenError::Protocol {
            stage: Stage::Authentication,
            reason,
        });
    };
    if version != Version::V3_3 {
        conn.write(Stage::Authentication, &[chosen]).await?;
    }

    // Authentication.
    if chosen == security::VNC_AUTH {
        let challenge = conn
            .read_msg(Stage::AuthenticationResult, |r| r.array::<16>())
            .await?;
        let response = vnc_auth_response(password.unwrap_or_default(), &challenge);
        conn.write(Stage::AuthenticationResult, &response).await?;
        conn.auth = AuthStep::CredentialsSent;
    }

    // SecurityResult: always from 3.8 on; before that only after VNC Auth.
    if version == Version::V3_8 || chosen == security::VNC_AUTH {
        let result = conn
            .read_msg(Stage::AuthenticationResult, |r| {
                read_security_result(r, version, limits)
            })
            .await?;
        if let SecurityResult::Failed { reason } = result {
            if conn.auth == AuthStep::CredentialsSent {
                conn.auth = AuthStep::CredentialsRefused;
            }
            return Err(OpenError::Refused {
                stage: Stage::AuthenticationResult,
                reason: reason_text(reason.as_deref().unwrap_or_default(), "security failed"),
            });
        }
    }

    conn.auth = AuthStep::Passed;

    // ClientInit (exclusive) and ServerInit. The screen size is judged
    // first, so a refusal names both sides and the limit.
    let mut out = Vec::with_capacity(1);
    ClientInit { shared: false }.write(&mut out);
    conn.write(Stage::Admission, &out).await?;
    let init = conn
        .read_msg(Stage::Admission, |r| {
            let mut peek = r.clone();
            let (width, height) = (peek.u16()?, peek.u16()?);
            match screen_over_limits(width, height, limits) {
                Some(reason) => Ok(Err(reason)),
                None => ServerInit::read(r, limits).map(Ok),
            }
        })
        .await?
        .map_err(|reason| OpenError::Protocol {
            stage: Stage::Admission,
            reason,
        })?;
    Ok(Handshake {
        version,
        server_version,
        offered,
        security: chosen,
        init,
    })
}

/// Why a `width` x `height` screen is refused under `limits`, naming the
/// announced size and the limit, or `None` when it is accepted.
pub fn screen_over_limits(width: u16, height: u16, limits: &Limits) -> Option<String> {
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 {
        Some(format!(
            "the terminal announced an empty {width}x{height} screen in ServerInit"
        ))
    } else if width > limits.max_width || height > limits.max_height {
        Some(format!(
            "the terminal announced a {width}x{height} screen ({pixels} pixels); the harness \
             accepts a width and height of at most {}x{}",
            limits.max_width, limits.max_height
        ))
    } else if pixels > limits.max_pixels {
        Some(format!(
            "the terminal announced a {width}x{height} screen ({pixels} pixels), over the \
             scenario's limit of {} ([screen] max_pixels)",
            pixel_count(limits.max_pixels)
        ))
    } else {
        None
    }
}

/// `"16777216 pixels (4096x4096)"`; the square only when there is one.
fn pixel_count(n: u64) -> String {
    let side = n.isqrt();
    if side * side == n {
        format!("{n} pixels ({side}x{side})")
    } else {
        format!("{n} pixels")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_screen_over_the_limit_is_named_with_the_limit() {
        let limits = Limits {
            max_pixels: 4096 * 4096,
            ..Limits::DEFAULT
        };
        assert_eq!(screen_over_limits(3840, 2160, &limits), None);
        assert_eq!(screen_over_limits(4096, 4096, &limits), None);
        assert_eq!(
            screen_over_limits(16384, 4096, &limits).as_deref(),
            Some(
                "the terminal announced a 16384x4096 screen (67108864 pixels), over the \
                 scenario's limit of 16777216 pixels (4096x4096) ([screen] max_pixels)"
            )
        );
        let wide = screen_over_limits(65535, 10, &limits).unwrap_or_default();
        assert!(
            wide.contains("65535x10") && wide.contains("16384x16384"),
            "{wide}"
        );
        let odd = Limits {
            max_pixels: 1920 * 1200,
            ..Limits::DEFAULT
        };
        let e = screen_over_limits(1920, 1201, &odd).unwrap_or_default();
        assert!(
            e.ends_with("limit of 2304000 pixels ([screen] max_pixels)"),
            "{e}"
        );
        assert!(screen_over_limits(0, 5, &limits).is_some());
    }
}
