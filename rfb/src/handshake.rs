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
///
/// The 12 bytes must be exactly `RFB ddd.ddd\n` with ASCII digits; anything
/// else is [`RfbError::BadVersion`] carrying the bytes with non-printable ones
/// escaped, so the evidence shows what the peer sent.
pub fn read_version(r: &mut Reader<'_>) -> Result<(u16, u16), ReadError> {
    let raw = r.array::<12>()?;
    let bad = || ReadError::Invalid(RfbError::BadVersion(raw.escape_ascii().to_string()));
    if &raw[..4] != b"RFB " || raw[7] != b'.' || raw[11] != b'\n' {
        return Err(bad());
    }
    let num = |digits: &[u8]| -> Option<u16> {
        digits.iter().try_fold(0u16, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u16::from(d - b'0'))
        })
    };
    match (num(&raw[4..7]), num(&raw[8..11])) {
        (Some(major), Some(minor)) => Ok((major, minor)),
        _ => Err(bad()),
    }
}

/// What a client answers to a server's (major, minor): min(server, 3.8), with
/// 3.4..3.6 (and 3.889 of some servers) mapped per RFC 6143 section 7.1.1.
/// A server announcing a later major version (RealVNC's 4.x, say) gets 3.8:
/// a client never asks for more than the server offers, and may ask for
/// less. A major below 3, or 3 with a minor below 3, is an error (no such
/// RFB version was ever published).
pub fn client_version_for(server: (u16, u16)) -> Result<Version, RfbError> {
    match server {
        (3, 3..=6) => Ok(Version::V3_3),
        (3, 7) => Ok(Version::V3_7),
        (3, m) if m >= 8 => Ok(Version::V3_8),
        (major, _) if major > 3 => Ok(Version::V3_8),
        (3, m) => Err(RfbError::InvalidValue {
            field: "server protocol-version minor",
            value: u64::from(m),
        }),
        (major, _) => Err(RfbError::InvalidValue {
            field: "server protocol-version major",
            value: u64::from(major),
        }),
    }
}

/// What a server (offering 3.8) uses when the client answered (major, minor).
///
/// 3.3, 3.7 and 3.8 are taken as they are; RFC 6143 section 7.1.1 has any
/// other 3.x below 3.7 treated as 3.3. A client answering above the 3.8 the
/// server offered, or with a major other than 3, is refused.
pub fn server_version_for(client: (u16, u16)) -> Result<Version, RfbError> {
    match client {
        (3, 7) => Ok(Version::V3_7),
        (3, 8) => Ok(Version::V3_8),
        (3, m) if m < 7 => Ok(Version::V3_3),
        (3, m) => Err(RfbError::InvalidValue {
            field: "client protocol-version minor",
            value: u64::from(m),
        }),
        (major, _) => Err(RfbError::InvalidValue {
            field: "client protocol-version major",
            value: u64::from(major),
        }),
    }
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

/// Reads the server's security offer for `version`. The failure reason's
/// length is checked against [`Limits::max_reason_len`] before allocating.
pub fn read_security_offer(
    r: &mut Reader<'_>,
    version: Version,
    limits: &Limits,
) -> Result<SecurityOffer, ReadError> {
    match version {
        Version::V3_3 => match r.u32()? {
            0 => Ok(SecurityOffer::Failed {
                reason: read_string(r, "security failure reason length", limits.max_reason_len)?,
            }),
            t => match u8::try_from(t) {
                Ok(t) => Ok(SecurityOffer::Types(vec![t])),
                Err(_) => Err(RfbError::InvalidValue {
                    field: "security-type",
                    value: u64::from(t),
                }
                .into()),
            },
        },
        Version::V3_7 | Version::V3_8 => match r.u8()? {
            0 => Ok(SecurityOffer::Failed {
                reason: read_string(r, "security failure reason length", limits.max_reason_len)?,
            }),
            n => Ok(SecurityOffer::Types(r.take(usize::from(n))?.to_vec())),
        },
    }
}

/// Writes the server's security offer for `version`. For 3.3 a `Types` offer
/// must hold exactly one type (only the first is written).
///
/// An empty `Types` offer (or, for 3.3, the type Invalid) cannot be stated on
/// the wire, so it is written as a failure with an empty reason; lists longer
/// than 255 types are cut to 255.
pub fn write_security_offer(offer: &SecurityOffer, version: Version, out: &mut Vec<u8>) {
    match (offer, version) {
        (SecurityOffer::Types(types), Version::V3_3) => match types.first() {
            Some(&t) if t != security::INVALID => {
                out.extend_from_slice(&u32::from(t).to_be_bytes())
            }
            _ => {
                out.extend_from_slice(&0u32.to_be_bytes());
                write_string(&[], out);
            }
        },
        (SecurityOffer::Types(types), Version::V3_7 | Version::V3_8) => {
            let n = u8::try_from(types.len()).unwrap_or(u8::MAX);
            out.push(n);
            if n == 0 {
                write_string(&[], out);
            }
            out.extend_from_slice(types.get(..usize::from(n)).unwrap_or(types));
        }
        (SecurityOffer::Failed { reason }, Version::V3_3) => {
            out.extend_from_slice(&0u32.to_be_bytes());
            write_string(reason, out);
        }
        (SecurityOffer::Failed { reason }, Version::V3_7 | Version::V3_8) => {
            out.push(0);
            write_string(reason, out);
        }
    }
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

/// Reads SecurityResult for `version`: status 0 is success, 1 (and 2, "too
/// many attempts" in some servers) a refusal, followed from 3.8 on by a
/// reason string bounded by [`Limits::max_reason_len`].
pub fn read_security_result(
    r: &mut Reader<'_>,
    version: Version,
    limits: &Limits,
) -> Result<SecurityResult, ReadError> {
    match r.u32()? {
        0 => Ok(SecurityResult::Ok),
        // 2 ("failed, too many attempts") appears in older protocol texts and
        // in some servers; it is a refusal like 1.
        1 | 2 => {
            let reason = if version >= Version::V3_8 {
                Some(read_string(
                    r,
                    "security result reason length",
                    limits.max_reason_len,
                )?)
            } else {
                None
            };
            Ok(SecurityResult::Failed { reason })
        }
        v => Err(RfbError::InvalidValue {
            field: "security-result status",
            value: u64::from(v),
        }
        .into()),
    }
}

/// Writes SecurityResult for `version` (the reason only from 3.8 on).
pub fn write_security_result(result: &SecurityResult, version: Version, out: &mut Vec<u8>) {
    match result {
        SecurityResult::Ok => out.extend_from_slice(&0u32.to_be_bytes()),
        SecurityResult::Failed { reason } => {
            out.extend_from_slice(&1u32.to_be_bytes());
            if version >= Version::V3_8 {
                write_string(reason.as_deref().unwrap_or(&[]), out);
            }
        }
    }
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
        let width = r.u16()?;
        let height = r.u16()?;
        limits.check_screen(width, height)?;
        let pixel_format = PixelFormat::read(r)?;
        pixel_format.validate()?;
        let name = read_string(r, "ServerInit name-length", limits.max_name_len)?;
        Ok(ServerInit {
            width,
            height,
            pixel_format,
            name,
        })
    }

    /// Writes ServerInit.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.width.to_be_bytes());
        out.extend_from_slice(&self.height.to_be_bytes());
        self.pixel_format.write(out);
        write_string(&self.name, out);
    }
}

/// Reads a `u32` length and that many bytes, refusing a length over `limit`
/// before anything is allocated. `field` names the length in the error.
fn read_string(r: &mut Reader<'_>, field: &'static str, limit: u32) -> Result<Vec<u8>, ReadError> {
    let len = r.u32()?;
    if len > limit {
        return Err(RfbError::LimitExceeded {
            field,
            value: u64::from(len),
            limit: u64::from(limit),
        }
        .into());
    }
    Ok(r.take(len as usize)?.to_vec())
}

/// Appends a `u32` length and the bytes (at most `u32::MAX` of them).
fn write_string(s: &[u8], out: &mut Vec<u8>) {
    let n = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(s.get(..n as usize).unwrap_or(s));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::try_decode;

    /// A decoded (major, minor) and the bytes it used, or "need more".
    type Decoded = Option<((u16, u16), usize)>;

    fn version(bytes: &[u8]) -> Result<Decoded, RfbError> {
        try_decode(bytes, read_version)
    }

    #[test]
    fn reads_well_formed_versions() {
        assert_eq!(version(b"RFB 003.008\n"), Ok(Some(((3, 8), 12))));
        assert_eq!(version(b"RFB 003.889\n"), Ok(Some(((3, 889), 12))));
        assert_eq!(version(b"RFB 004.001\nxx"), Ok(Some(((4, 1), 12))));
        assert_eq!(version(b"RFB 003.00"), Ok(None));
        for v in [Version::V3_3, Version::V3_7, Version::V3_8] {
            let got = version(v.wire()).ok().flatten().map(|(v, _)| v);
            assert_eq!(got.and_then(|v| client_version_for(v).ok()), Some(v));
        }
    }

    #[test]
    fn rejects_malformed_version_with_printable_evidence() {
        for bad in [
            &b"RFB 003.008\r"[..],
            b"RFB 03.0008\n",
            b"RFB 0x3.008\n",
            b"rfb 003.008\n",
            b"HTTP/1.1 200",
            b"RFB 003.00 \n",
            b"RFB -03.008\n",
        ] {
            assert!(
                matches!(version(bad), Err(RfbError::BadVersion(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            version(b"RFB 003.008\r"),
            Err(RfbError::BadVersion("RFB 003.008\\r".into()))
        );
        assert_eq!(
            version(b"\x00\xffRFB 003.00"),
            Err(RfbError::BadVersion("\\x00\\xffRFB 003.00".into()))
        );
    }

    #[test]
    fn client_answers_min_of_server_and_3_8() {
        assert_eq!(client_version_for((3, 3)), Ok(Version::V3_3));
        for m in 4..=6 {
            assert_eq!(client_version_for((3, m)), Ok(Version::V3_3));
        }
        assert_eq!(client_version_for((3, 7)), Ok(Version::V3_7));
        assert_eq!(client_version_for((3, 8)), Ok(Version::V3_8));
        assert_eq!(client_version_for((3, 889)), Ok(Version::V3_8));
        assert_eq!(client_version_for((3, 999)), Ok(Version::V3_8));
    }

    #[test]
    fn client_answers_a_later_major_with_3_8() {
        assert_eq!(client_version_for((4, 0)), Ok(Version::V3_8));
        assert_eq!(client_version_for((4, 1)), Ok(Version::V3_8));
        assert_eq!(client_version_for((5, 0)), Ok(Version::V3_8));
    }

    #[test]
    fn client_rejects_major_below_3_and_minor_below_3() {
        assert!(client_version_for((2, 8)).is_err());
        assert!(client_version_for((0, 0)).is_err());
        assert!(client_version_for((3, 2)).is_err());
    }

    #[test]
    fn server_takes_client_answer_per_rfc() {
        assert_eq!(server_version_for((3, 3)), Ok(Version::V3_3));
        assert_eq!(server_version_for((3, 7)), Ok(Version::V3_7));
        assert_eq!(server_version_for((3, 8)), Ok(Version::V3_8));
        assert_eq!(server_version_for((3, 5)), Ok(Version::V3_3));
        assert_eq!(server_version_for((3, 0)), Ok(Version::V3_3));
    }

    #[test]
    fn server_rejects_answer_above_offer_or_other_major() {
        assert!(server_version_for((3, 9)).is_err());
        assert!(server_version_for((3, 889)).is_err());
        assert!(server_version_for((4, 0)).is_err());
        assert!(server_version_for((2, 3)).is_err());
    }

    fn offer_round_trip(offer: &SecurityOffer, v: Version) -> SecurityOffer {
        let mut out = Vec::new();
        write_security_offer(offer, v, &mut out);
        let got = try_decode(&out, |r| read_security_offer(r, v, &Limits::DEFAULT));
        match got {
            Ok(Some((o, used))) => {
                assert_eq!(used, out.len());
                o
            }
            other => panic!("offer did not decode: {other:?}"),
        }
    }

    #[test]
    fn security_offer_round_trips_for_each_version() {
        let types = SecurityOffer::Types(vec![security::NONE, security::VNC_AUTH]);
        let failed = SecurityOffer::Failed {
            reason: b"busy".to_vec(),
        };
        for v in [Version::V3_7, Version::V3_8] {
            assert_eq!(offer_round_trip(&types, v), types);
            assert_eq!(offer_round_trip(&failed, v), failed);
        }
        let one = SecurityOffer::Types(vec![security::VNC_AUTH]);
        assert_eq!(offer_round_trip(&one, Version::V3_3), one);
        assert_eq!(offer_round_trip(&failed, Version::V3_3), failed);
        // An empty list cannot be stated: it goes out as a failure.
        let empty = SecurityOffer::Failed { reason: Vec::new() };
        assert_eq!(
            offer_round_trip(&SecurityOffer::Types(vec![]), Version::V3_8),
            empty
        );
        assert_eq!(
            offer_round_trip(&SecurityOffer::Types(vec![]), Version::V3_3),
            empty
        );
    }

    #[test]
    fn security_offer_wire_layout() {
        let mut out = Vec::new();
        write_security_offer(&SecurityOffer::Types(vec![1, 2]), Version::V3_8, &mut out);
        assert_eq!(out, [2, 1, 2]);
        out.clear();
        write_security_offer(&SecurityOffer::Types(vec![2]), Version::V3_3, &mut out);
        assert_eq!(out, [0, 0, 0, 2]);
        out.clear();
        let failed = SecurityOffer::Failed {
            reason: b"no".to_vec(),
        };
        write_security_offer(&failed, Version::V3_7, &mut out);
        assert_eq!(out, [0, 0, 0, 0, 2, b'n', b'o']);
    }

    #[test]
    fn rejects_3_3_security_type_over_255() {
        let got = try_decode(&[0, 0, 1, 0], |r| {
            read_security_offer(r, Version::V3_3, &Limits::DEFAULT)
        });
        assert!(matches!(
            got,
            Err(RfbError::InvalidValue {
                field: "security-type",
                value: 256
            })
        ));
    }

    #[test]
    fn rejects_failure_reason_over_limit_before_allocating() {
        let limits = Limits {
            max_reason_len: 16,
            ..Limits::DEFAULT
        };
        let got = try_decode(&[0, 0, 0, 0, 17], |r| {
            read_security_offer(r, Version::V3_8, &limits)
        });
        assert!(matches!(
            got,
            Err(RfbError::LimitExceeded { value: 17, .. })
        ));
        let got = try_decode(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff], |r| {
            read_security_result(r, Version::V3_8, &limits)
        });
        assert!(matches!(
            got,
            Err(RfbError::LimitExceeded {
                value: 0xffff_ffff,
                ..
            })
        ));
    }

    #[test]
    fn security_result_carries_reason_only_from_3_8() {
        let failed = SecurityResult::Failed {
            reason: Some(b"wrong password".to_vec()),
        };
        let mut out = Vec::new();
        write_security_result(&failed, Version::V3_8, &mut out);
        assert_eq!(out.len(), 4 + 4 + 14);
        let got = try_decode(&out, |r| {
            read_security_result(r, Version::V3_8, &Limits::DEFAULT)
        });
        assert_eq!(got, Ok(Some((failed.clone(), out.len()))));

        for v in [Version::V3_3, Version::V3_7] {
            out.clear();
            write_security_result(&failed, v, &mut out);
            assert_eq!(out, [0, 0, 0, 1]);
            let got = try_decode(&out, |r| read_security_result(r, v, &Limits::DEFAULT));
            assert_eq!(got, Ok(Some((SecurityResult::Failed { reason: None }, 4))));
        }
        out.clear();
        write_security_result(&SecurityResult::Ok, Version::V3_8, &mut out);
        assert_eq!(out, [0, 0, 0, 0]);
        let got = try_decode(&out, |r| {
            read_security_result(r, Version::V3_8, &Limits::DEFAULT)
        });
        assert_eq!(got, Ok(Some((SecurityResult::Ok, 4))));
    }

    #[test]
    fn rejects_unknown_security_result_status() {
        let got = try_decode(&[0, 0, 0, 7], |r| {
            read_security_result(r, Version::V3_8, &Limits::DEFAULT)
        });
        assert!(matches!(got, Err(RfbError::InvalidValue { value: 7, .. })));
    }

    fn init() -> ServerInit {
        ServerInit {
            width: 1024,
            height: 768,
            pixel_format: PixelFormat::RGB888,
            name: "s301 mock 端末".as_bytes().to_vec(),
        }
    }

    #[test]
    fn server_init_round_trips() {
        let si = init();
        let mut out = Vec::new();
        si.write(&mut out);
        assert_eq!(out.len(), 2 + 2 + 16 + 4 + si.name.len());
        let got = try_decode(&out, |r| ServerInit::read(r, &Limits::DEFAULT));
        assert_eq!(got, Ok(Some((si, out.len()))));
        for cut in 0..out.len() {
            let got = try_decode(&out[..cut], |r| ServerInit::read(r, &Limits::DEFAULT));
            assert_eq!(got, Ok(None), "cut {cut}");
        }
    }

    #[test]
    fn server_init_rejects_oversized_screen_from_first_four_bytes() {
        let got = try_decode(&[0xff, 0xff, 0xff, 0xff], |r| {
            ServerInit::read(r, &Limits::DEFAULT)
        });
        assert!(matches!(got, Err(RfbError::LimitExceeded { .. })));
        let got = try_decode(&[0, 0, 0, 1], |r| ServerInit::read(r, &Limits::DEFAULT));
        assert!(matches!(
            got,
            Err(RfbError::LimitExceeded { field: "width", .. })
        ));
    }

    #[test]
    fn server_init_rejects_invalid_pixel_format() {
        let mut si = init();
        si.pixel_format.depth = 0;
        let mut out = Vec::new();
        si.write(&mut out);
        let got = try_decode(&out, |r| ServerInit::read(r, &Limits::DEFAULT));
        assert!(matches!(
            got,
            Err(RfbError::InvalidValue { field: "depth", .. })
        ));
    }

    #[test]
    fn server_init_rejects_name_over_limit_before_allocating() {
        let mut out = Vec::new();
        ServerInit {
            name: Vec::new(),
            ..init()
        }
        .write(&mut out);
        let n = out.len();
        out[n - 4..].copy_from_slice(&(64 * 1024 + 1u32).to_be_bytes());
        let got = try_decode(&out, |r| ServerInit::read(r, &Limits::DEFAULT));
        assert!(matches!(
            got,
            Err(RfbError::LimitExceeded {
                field: "ServerInit name-length",
                value: 65537,
                ..
            })
        ));
    }

    #[test]
    fn client_init_is_one_byte() {
        let mut out = Vec::new();
        ClientInit { shared: false }.write(&mut out);
        assert_eq!(out, [0]);
        let got = try_decode(&[5], ClientInit::read);
        assert_eq!(got, Ok(Some((ClientInit { shared: true }, 1))));
    }
}
