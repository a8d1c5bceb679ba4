//! Rectangle encodings: Raw, CopyRect, RRE, Hextile, TRLE, ZRLE and the
//! DesktopSize pseudo-encoding (RFC 6143 section 7.7).
//!
//! Decoding is resumable: [`crate::stream::ServerMessageDecoder`] feeds each
//! rectangle's bytes to its decoder unit by unit (a row, a sub-rectangle, a
//! tile), so no encoding ever needs its whole payload buffered. Encoding, used
//! by terminals, writes a rectangle header and payload from a [`Framebuffer`].

use crate::framebuffer::Framebuffer;
use crate::pixel::{ColourMap, PixelFormat};
use crate::rect::Rect;
use crate::RfbError;

/// An encoding type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// 0.
    Raw,
    /// 1.
    CopyRect,
    /// 2.
    Rre,
    /// 5.
    Hextile,
    /// 15.
    Trle,
    /// 16.
    Zrle,
    /// -223, pseudo-encoding.
    DesktopSize,
    /// Any other code.
    Other(i32),
}

impl Encoding {
    /// What the harness asks for, in preference order (brief: ZRLE, TRLE,
    /// Hextile, RRE, CopyRect, Raw, DesktopSize).
    pub const HARNESS_PREFERENCE: [Encoding; 7] = [
        Encoding::Zrle,
        Encoding::Trle,
        Encoding::Hextile,
        Encoding::Rre,
        Encoding::CopyRect,
        Encoding::Raw,
        Encoding::DesktopSize,
    ];

    /// From a wire code.
    pub fn from_code(code: i32) -> Self {
        match code {
            0 => Encoding::Raw,
            1 => Encoding::CopyRect,
            2 => Encoding::Rre,
            5 => Encoding::Hextile,
            15 => Encoding::Trle,
            16 => Encoding::Zrle,
            -223 => Encoding::DesktopSize,
            c => Encoding::Other(c),
        }
    }

    /// The wire code.
    pub fn code(&self) -> i32 {
        match self {
            Encoding::Raw => 0,
            Encoding::CopyRect => 1,
            Encoding::Rre => 2,
            Encoding::Hextile => 5,
            Encoding::Trle => 15,
            Encoding::Zrle => 16,
            Encoding::DesktopSize => -223,
            Encoding::Other(c) => *c,
        }
    }

    /// A name for evidence (`"ZRLE"`, `"encoding 7"` ...).
    pub fn name(&self) -> String {
        match self {
            Encoding::Raw => "Raw".into(),
            Encoding::CopyRect => "CopyRect".into(),
            Encoding::Rre => "RRE".into(),
            Encoding::Hextile => "Hextile".into(),
            Encoding::Trle => "TRLE".into(),
            Encoding::Zrle => "ZRLE".into(),
            Encoding::DesktopSize => "DesktopSize".into(),
            Encoding::Other(c) => format!("encoding {c}"),
        }
    }

    /// Whether this is a pseudo-encoding (carries no pixels).
    pub fn is_pseudo(&self) -> bool {
        matches!(self, Encoding::DesktopSize) || matches!(self, Encoding::Other(c) if *c < 0)
    }
}

/// Per-connection encoder state. ZRLE keeps one zlib stream for the whole
/// connection, so a terminal keeps one `Encoder` per console.
pub struct Encoder {
    _private: (),
}

impl Encoder {
    /// A fresh encoder (new zlib stream).
    pub fn new() -> Self {
        Encoder { _private: () }
    }

    /// Appends the rectangle header and the payload of `rect` of `fb` in
    /// `encoding` for a client using `pf` (and `map` when colour-mapped).
    /// `rect` must lie within `fb`; CopyRect and pseudo-encodings are refused
    /// here (use [`write_copy_rect`] and [`write_desktop_size`]).
    pub fn encode_rect(
        &mut self,
        encoding: Encoding,
        fb: &Framebuffer,
        rect: Rect,
        pf: &PixelFormat,
        map: &ColourMap,
        out: &mut Vec<u8>,
    ) -> Result<(), RfbError> {
        let _ = (encoding, fb, rect, pf, map, out);
        todo!("rfb-encodings agent")
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Appends a CopyRect rectangle copying from `(src_x, src_y)` to `dst`.
pub fn write_copy_rect(dst: Rect, src_x: u16, src_y: u16, out: &mut Vec<u8>) {
    let _ = (dst, src_x, src_y, out);
    todo!("rfb-encodings agent")
}

/// Appends a DesktopSize pseudo-rectangle announcing `width` x `height`.
pub fn write_desktop_size(width: u16, height: u16, out: &mut Vec<u8>) {
    let _ = (width, height, out);
    todo!("rfb-encodings agent")
}
