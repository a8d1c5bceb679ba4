//! The RFB handshake (RFC 6143 section 7.1 and 7.3): ProtocolVersion,
//! security negotiation, SecurityResult, ClientInit and ServerInit.
//!
//! Both sides use these pieces: the console drives them as a client, the mock
//! terminal as a server.

use crate::error::{ReadError, RfbError};
use crate::limits::Limits;
use crate::pixel::PixelFormat;
use crate::reader::Reader;

/// A protocol version either side may settle on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// RFB 003.003.
    V3_3,
    /// RFB 003.007.
    V3_7,
    /// RFB 003.008.
    V3_8,
}

impl Version {
    /// The 12-byte ProtocolVersion message.
    pub fn wire(&self) -> &'static [u8; 12] {
        match self {
            Version::V3_3 => b"RFB 003.003\n",
            Version::V3_7 => b"RFB 003.007\n",
            Version::V3_8 => b"RFB 003.008\n",
        }
    }

    /// `"3.3"`, `"3.7"` or `"3.8"`, for evidence.
    pub fn as_str(&self) -> &'static str {
        match self {
            Version::V3_3 => "3.3",
            Version::V3_7 => "3.7",
            Version::V3_8 => "3.8",
        }
    }
}

/// Parses a ProtocolVersion message into (major, minor).
pub fn read_version(r: &mut Reader<'_>) -> Result<(u16, u16), ReadError> {
    let _ = r;
    todo!("rfb-messages agent")
}

/// What a client answers to a server's (major, minor): min(server, 3.8), with
/// 3.4..3.6 (and 3.889 of some servers) mapped per RFC 6143 section 7.1.1.
/// Anything whose major is not 3 is an error.
pub fn client_version_for(server: (u16, u16)) -> Result<Version, RfbError> {
    let _ = server;
    todo!("rfb-messages agent")
}

/// What a server (offering 3.8) uses when the client answered (major, minor).
pub fn server_version_for(client: (u16, u16)) -> Result<Version, RfbError> {
    let _ = client;
    todo!("rfb-messages agent")
}

/// Security type codes.
pub mod security {
    /// Invalid (failure marker).
    pub const INVALID: u8 = 0;
    /// None.
    pub const NONE: u8 = 1;
    /// VNC Authentication.
    pub const VNC_AUTH: u8 = 2;

    /// A human name for a security type code.
    pub fn name(code: u8) -> String {
        match code {
            0 => "Invalid".into(),
            1 => "None".into(),
            2 => "VNC Authentication".into(),
            5 => "RA2".into(),
            6 => "RA2ne".into(),
            16 => "Tight".into(),
            18 => "TLS".into(),
            19 => "VeNCrypt".into(),
            22 => "XVP".into(),
            30 => "Apple DH".into(),
            c => format!("type {c}"),
        }
    }
}

/// The server's security offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityOffer {
    /// The types offered (3.7+: a list; 3.3: the single type the server chose).
    Types(Vec<u8>),
    /// The server refused before security, with its reason.
    Failed {
        /// The reason string (may be empty).
        reason: Vec<u8>,
    },
}

/// Reads the server's security offer for `version`.
pub fn read_security_offer(
    r: &mut Reader<'_>,
    version: Version,
    limits: &Limits,
) -> Result<SecurityOffer, ReadError> {
    let _ = (r, version, limits);
    todo!("rfb-messages agent")
}

/// Writes the server's security offer for `version`. For 3.3 a `Types` offer
/// must hold exactly one type.
pub fn write_security_offer(offer: &SecurityOffer, version: Version, out: &mut Vec<u8>) {
    let _ = (offer, version, out);
    todo!("rfb-messages agent")
}

/// The outcome of security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityResult {
    /// Accepted.
    Ok,
    /// Refused; the reason is present from 3.8 on.
    Failed {
        /// The reason string, if the version carries one.
        reason: Option<Vec<u8>>,
    },
}

/// Reads SecurityResult for `version`.
pub fn read_security_result(
    r: &mut Reader<'_>,
    version: Version,
    limits: &Limits,
) -> Result<SecurityResult, ReadError> {
    let _ = (r, version, limits);
    todo!("rfb-messages agent")
}

/// Writes SecurityResult for `version` (the reason only from 3.8 on).
pub fn write_security_result(result: &SecurityResult, version: Version, out: &mut Vec<u8>) {
    let _ = (result, version, out);
    todo!("rfb-messages agent")
}

/// ClientInit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientInit {
    /// The shared-flag: non-zero asks to share the server with other clients.
    pub shared: bool,
}

impl ClientInit {
    /// Reads the one byte.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, ReadError> {
        Ok(ClientInit {
            shared: r.u8()? != 0,
        })
    }

    /// Writes the one byte.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.shared));
    }
}

/// ServerInit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInit {
    /// Screen width.
    pub width: u16,
    /// Screen height.
    pub height: u16,
    /// The server's native pixel format.
    pub pixel_format: PixelFormat,
    /// Desktop name (bytes as sent; usually UTF-8 or Latin-1).
    pub name: Vec<u8>,
}

impl ServerInit {
    /// Reads ServerInit, checking the screen size and name length against
    /// `limits` before allocating, and validating the pixel format.
    pub fn read(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, ReadError> {
        let _ = (r, limits);
        todo!("rfb-messages agent")
    }

    /// Writes ServerInit.
    pub fn write(&self, out: &mut Vec<u8>) {
        let _ = out;
        todo!("rfb-messages agent")
    }
}
