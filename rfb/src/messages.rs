//! Post-handshake messages (RFC 6143 section 7.5 and 7.6).
//!
//! Client-to-server messages are whole values ([`ClientMessage`]). Of the
//! server-to-client messages, FramebufferUpdate is streamed rectangle by
//! rectangle by [`crate::stream::ServerMessageDecoder`]; this module has the
//! writers a terminal needs to produce them.

use crate::error::{Direction, ReadError, RfbError};
use crate::limits::Limits;
use crate::pixel::PixelFormat;
use crate::reader::Reader;
use crate::rect::Rect;

/// Message type bytes, client to server.
pub mod client_type {
    /// SetPixelFormat.
    pub const SET_PIXEL_FORMAT: u8 = 0;
    /// SetEncodings.
    pub const SET_ENCODINGS: u8 = 2;
    /// FramebufferUpdateRequest.
    pub const FRAMEBUFFER_UPDATE_REQUEST: u8 = 3;
    /// KeyEvent.
    pub const KEY_EVENT: u8 = 4;
    /// PointerEvent.
    pub const POINTER_EVENT: u8 = 5;
    /// ClientCutText.
    pub const CLIENT_CUT_TEXT: u8 = 6;
}

/// Message type bytes, server to client.
pub mod server_type {
    /// FramebufferUpdate.
    pub const FRAMEBUFFER_UPDATE: u8 = 0;
    /// SetColourMapEntries.
    pub const SET_COLOUR_MAP_ENTRIES: u8 = 1;
    /// Bell.
    pub const BELL: u8 = 2;
    /// ServerCutText.
    pub const SERVER_CUT_TEXT: u8 = 3;
}

/// A message from a console (client) to the terminal (server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// SetPixelFormat.
    SetPixelFormat(PixelFormat),
    /// SetEncodings, in preference order.
    SetEncodings(Vec<i32>),
    /// FramebufferUpdateRequest.
    FramebufferUpdateRequest {
        /// Only changes are wanted.
        incremental: bool,
        /// The region asked for.
        rect: Rect,
    },
    /// KeyEvent.
    KeyEvent {
        /// Pressed (else released).
        down: bool,
        /// X keysym.
        key: u32,
    },
    /// PointerEvent.
    PointerEvent {
        /// Button mask, bit 0 = left.
        buttons: u8,
        /// Column.
        x: u16,
        /// Row.
        y: u16,
    },
    /// ClientCutText (Latin-1 bytes).
    ClientCutText(Vec<u8>),
}

impl ClientMessage {
    /// The message's RFC name, for transcripts.
    pub fn name(&self) -> &'static str {
        match self {
            ClientMessage::SetPixelFormat(_) => "SetPixelFormat",
            ClientMessage::SetEncodings(_) => "SetEncodings",
            ClientMessage::FramebufferUpdateRequest { .. } => "FramebufferUpdateRequest",
            ClientMessage::KeyEvent { .. } => "KeyEvent",
            ClientMessage::PointerEvent { .. } => "PointerEvent",
            ClientMessage::ClientCutText(_) => "ClientCutText",
        }
    }

    /// Appends the wire form (RFC 6143 section 7.5, padding bytes zero).
    ///
    /// Lists longer than the wire can count (more than 65535 encodings, cut
    /// text over 4 GiB) are cut to the largest count the header can state, so
    /// the output always frames correctly.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            ClientMessage::SetPixelFormat(pf) => {
                out.push(client_type::SET_PIXEL_FORMAT);
                out.extend_from_slice(&[0, 0, 0]);
                pf.write(out);
            }
            ClientMessage::SetEncodings(encs) => {
                let n = clamp_u16(encs.len());
                out.push(client_type::SET_ENCODINGS);
                out.push(0);
                out.extend_from_slice(&n.to_be_bytes());
                for e in encs.iter().take(usize::from(n)) {
                    out.extend_from_slice(&e.to_be_bytes());
                }
            }
            ClientMessage::FramebufferUpdateRequest { incremental, rect } => {
                out.push(client_type::FRAMEBUFFER_UPDATE_REQUEST);
                out.push(u8::from(*incremental));
                for v in [rect.x, rect.y, rect.w, rect.h] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            ClientMessage::KeyEvent { down, key } => {
                out.push(client_type::KEY_EVENT);
                out.push(u8::from(*down));
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&key.to_be_bytes());
            }
            ClientMessage::PointerEvent { buttons, x, y } => {
                out.push(client_type::POINTER_EVENT);
                out.push(*buttons);
                out.extend_from_slice(&x.to_be_bytes());
                out.extend_from_slice(&y.to_be_bytes());
            }
            ClientMessage::ClientCutText(text) => {
                out.push(client_type::CLIENT_CUT_TEXT);
                out.extend_from_slice(&[0, 0, 0]);
                write_text(text, out);
            }
        }
    }

    /// Decodes one message, checking lengths against `limits` before allocating.
    /// The pixel format of SetPixelFormat is validated.
    ///
    /// SetEncodings counts above [`Limits::max_encodings`] and ClientCutText
    /// lengths above [`Limits::max_cut_text`] are refused as soon as the count
    /// or length has been read, before the payload arrives. Padding bytes are
    /// skipped whatever they hold, as RFC 6143 asks of receivers.
    pub fn read(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, ReadError> {
        let ty = r.u8()?;
        match ty {
            client_type::SET_PIXEL_FORMAT => {
                r.skip(3)?;
                let pf = PixelFormat::read(r)?;
                pf.validate()?;
                Ok(ClientMessage::SetPixelFormat(pf))
            }
            client_type::SET_ENCODINGS => {
                r.skip(1)?;
                let n = r.u16()?;
                if n > limits.max_encodings {
                    return Err(RfbError::LimitExceeded {
                        field: "SetEncodings number-of-encodings",
                        value: u64::from(n),
                        limit: u64::from(limits.max_encodings),
                    }
                    .into());
                }
                let raw = r.take(usize::from(n) * 4)?;
                let encs = raw
                    .chunks_exact(4)
                    .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Ok(ClientMessage::SetEncodings(encs))
            }
            client_type::FRAMEBUFFER_UPDATE_REQUEST => {
                let incremental = r.u8()? != 0;
                let rect = Rect::new(r.u16()?, r.u16()?, r.u16()?, r.u16()?);
                Ok(ClientMessage::FramebufferUpdateRequest { incremental, rect })
            }
            client_type::KEY_EVENT => {
                let down = r.u8()? != 0;
                r.skip(2)?;
                let key = r.u32()?;
                Ok(ClientMessage::KeyEvent { down, key })
            }
            client_type::POINTER_EVENT => {
                let buttons = r.u8()?;
                let x = r.u16()?;
                let y = r.u16()?;
                Ok(ClientMessage::PointerEvent { buttons, x, y })
            }
            client_type::CLIENT_CUT_TEXT => {
                r.skip(3)?;
                let len = r.u32()?;
                if len > limits.max_cut_text {
                    return Err(RfbError::LimitExceeded {
                        field: "ClientCutText length",
                        value: u64::from(len),
                        limit: u64::from(limits.max_cut_text),
                    }
                    .into());
                }
                let text = r.take(len as usize)?;
                Ok(ClientMessage::ClientCutText(text.to_vec()))
            }
            ty => Err(RfbError::UnknownMessageType {
                direction: Direction::ClientToServer,
                ty,
            }
            .into()),
        }
    }
}

/// `n` as a `u16`, saturating.
fn clamp_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Appends a `u32` length and then at most `u32::MAX` bytes of `text`.
fn write_text(text: &[u8], out: &mut Vec<u8>) {
    let n = u32::try_from(text.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(text.get(..n as usize).unwrap_or(text));
}

/// Appends a FramebufferUpdate header announcing `rects` rectangles.
pub fn write_update_header(rects: u16, out: &mut Vec<u8>) {
    out.push(server_type::FRAMEBUFFER_UPDATE);
    out.push(0);
    out.extend_from_slice(&rects.to_be_bytes());
}

/// Appends a rectangle header (x, y, w, h, encoding type).
pub fn write_rect_header(rect: Rect, encoding: i32, out: &mut Vec<u8>) {
    for v in [rect.x, rect.y, rect.w, rect.h] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&encoding.to_be_bytes());
}

/// Appends SetColourMapEntries. At most 65535 colours fit one message; any
/// beyond are left out.
pub fn write_colour_map_entries(first: u16, colours: &[[u16; 3]], out: &mut Vec<u8>) {
    let n = clamp_u16(colours.len());
    out.push(server_type::SET_COLOUR_MAP_ENTRIES);
    out.push(0);
    out.extend_from_slice(&first.to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
    for c in colours.iter().take(usize::from(n)) {
        for v in c {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

/// Appends Bell.
pub fn write_bell(out: &mut Vec<u8>) {
    out.push(server_type::BELL);
}

/// Appends ServerCutText.
pub fn write_server_cut_text(text: &[u8], out: &mut Vec<u8>) {
    out.push(server_type::SERVER_CUT_TEXT);
    out.extend_from_slice(&[0, 0, 0]);
    write_text(text, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::try_decode;

    fn encode(m: &ClientMessage) -> Vec<u8> {
        let mut out = Vec::new();
        m.write(&mut out);
        out
    }

    fn decode(bytes: &[u8], limits: &Limits) -> Result<Option<(ClientMessage, usize)>, RfbError> {
        try_decode(bytes, |r| ClientMessage::read(r, limits))
    }

    #[test]
    fn wire_layout_matches_rfc_6143_sizes_and_padding() {
        let cases: Vec<(ClientMessage, Vec<u8>)> = vec![
            (
                ClientMessage::SetEncodings(vec![16, -223]),
                vec![2, 0, 0, 2, 0, 0, 0, 16, 0xff, 0xff, 0xff, 0x21],
            ),
            (
                ClientMessage::FramebufferUpdateRequest {
                    incremental: true,
                    rect: Rect::new(1, 2, 640, 400),
                },
                vec![3, 1, 0, 1, 0, 2, 2, 128, 1, 144],
            ),
            (
                ClientMessage::KeyEvent {
                    down: true,
                    key: 0xff0d,
                },
                vec![4, 1, 0, 0, 0, 0, 0xff, 0x0d],
            ),
            (
                ClientMessage::PointerEvent {
                    buttons: 1,
                    x: 258,
                    y: 3,
                },
                vec![5, 1, 1, 2, 0, 3],
            ),
            (
                ClientMessage::ClientCutText(b"hi".to_vec()),
                vec![6, 0, 0, 0, 0, 0, 0, 2, b'h', b'i'],
            ),
        ];
        for (m, wire) in cases {
            assert_eq!(encode(&m), wire, "{}", m.name());
            assert_eq!(decode(&wire, &Limits::DEFAULT), Ok(Some((m, wire.len()))));
        }
        let spf = encode(&ClientMessage::SetPixelFormat(PixelFormat::RGB888));
        assert_eq!(spf.len(), 20);
        assert_eq!(&spf[..4], &[0, 0, 0, 0]);
    }

    #[test]
    fn every_prefix_is_incomplete_not_an_error() {
        let m = ClientMessage::ClientCutText(b"clipboard".to_vec());
        let wire = encode(&m);
        for cut in 0..wire.len() {
            assert_eq!(
                decode(&wire[..cut], &Limits::DEFAULT),
                Ok(None),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn rejects_unknown_client_message_type() {
        for ty in [1u8, 7, 150, 255] {
            assert_eq!(
                decode(&[ty, 0, 0, 0], &Limits::DEFAULT),
                Err(RfbError::UnknownMessageType {
                    direction: Direction::ClientToServer,
                    ty
                })
            );
        }
    }

    #[test]
    fn rejects_set_encodings_count_over_limit_before_payload() {
        let limits = Limits {
            max_encodings: 8,
            ..Limits::DEFAULT
        };
        // Only the 4-byte header is present: the count alone must be refused.
        let got = decode(&[2, 0, 0, 9], &limits);
        assert!(matches!(
            got,
            Err(RfbError::LimitExceeded {
                value: 9,
                limit: 8,
                ..
            })
        ));
        assert_eq!(decode(&[2, 0, 0, 8], &limits), Ok(None));
    }

    #[test]
    fn rejects_client_cut_text_over_limit_before_payload() {
        let got = decode(&[6, 0, 0, 0, 0x80, 0, 0, 0], &Limits::DEFAULT);
        assert!(matches!(
            got,
            Err(RfbError::LimitExceeded {
                value: 0x8000_0000,
                ..
            })
        ));
    }

    #[test]
    fn rejects_invalid_pixel_format_in_set_pixel_format() {
        let mut pf = PixelFormat::RGB888;
        pf.bits_per_pixel = 24;
        let wire = encode(&ClientMessage::SetPixelFormat(pf));
        assert!(matches!(
            decode(&wire, &Limits::DEFAULT),
            Err(RfbError::InvalidValue {
                field: "bits-per-pixel",
                ..
            })
        ));
    }

    #[test]
    fn padding_bytes_are_ignored_on_read() {
        let wire = [4u8, 0, 0xaa, 0xbb, 0, 0, 0, 0x41];
        assert_eq!(
            decode(&wire, &Limits::DEFAULT),
            Ok(Some((
                ClientMessage::KeyEvent {
                    down: false,
                    key: 0x41
                },
                8
            )))
        );
    }

    #[test]
    fn server_message_writers_produce_rfc_layout() {
        let mut out = Vec::new();
        write_update_header(3, &mut out);
        assert_eq!(out, [0, 0, 0, 3]);
        out.clear();
        write_rect_header(Rect::new(1, 2, 3, 4), -223, &mut out);
        assert_eq!(out, [0, 1, 0, 2, 0, 3, 0, 4, 0xff, 0xff, 0xff, 0x21]);
        out.clear();
        write_colour_map_entries(5, &[[1, 2, 3], [0xffff, 0, 0x100]], &mut out);
        assert_eq!(
            out,
            [1, 0, 0, 5, 0, 2, 0, 1, 0, 2, 0, 3, 0xff, 0xff, 0, 0, 1, 0]
        );
        out.clear();
        write_server_cut_text(b"abc", &mut out);
        assert_eq!(out, [3, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c']);
        out.clear();
        write_bell(&mut out);
        assert_eq!(out, [2]);
    }
}
