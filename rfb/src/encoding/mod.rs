//! Rectangle encodings: Raw, CopyRect, RRE, Hextile, TRLE, ZRLE and the
//! DesktopSize and Cursor pseudo-encodings (RFC 6143 sections 7.7 and 7.8).
//!
//! Decoding is resumable: [`crate::stream::ServerMessageDecoder`] feeds each
//! rectangle's bytes to its decoder unit by unit (a row, a sub-rectangle, a
//! tile), so no encoding ever needs its whole payload buffered. Encoding, used
//! by terminals, writes a rectangle header and payload from a [`Framebuffer`].

mod conv;
mod copyrect;
mod cursor;
mod hextile;
mod raw;
mod rre;
mod tiles;
mod trle;
mod zrle;

pub(crate) use conv::{Conv, Step};
pub use cursor::{write_cursor, CursorImage};
pub(crate) use zrle::Inflater;

use crate::framebuffer::Framebuffer;
use crate::limits::Limits;
use crate::pixel::{ColourMap, PixelFormat, Rgb};
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
    /// -239, pseudo-encoding: the pointer's shape ([`CursorImage`]).
    Cursor,
    /// Any other code.
    Other(i32),
}

impl Encoding {
    /// What the harness asks for, in preference order: the pixel-carrying
    /// encodings ZRLE, TRLE, Hextile, RRE, CopyRect, Raw, then the
    /// pseudo-encodings DesktopSize and Cursor (so a terminal can keep its
    /// pointer out of the image).
    pub const HARNESS_PREFERENCE: [Encoding; 8] = [
        Encoding::Zrle,
        Encoding::Trle,
        Encoding::Hextile,
        Encoding::Rre,
        Encoding::CopyRect,
        Encoding::Raw,
        Encoding::DesktopSize,
        Encoding::Cursor,
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
            -239 => Encoding::Cursor,
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
            Encoding::Cursor => -239,
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
            Encoding::Cursor => "Cursor".into(),
            Encoding::Other(c) => format!("encoding {c}"),
        }
    }

    /// Whether this is a pseudo-encoding (negative code: carries no screen
    /// pixels, so it never covers any part of the screen).
    pub fn is_pseudo(&self) -> bool {
        self.code() < 0
    }
}

/// Per-connection encoder state. ZRLE keeps one zlib stream for the whole
/// connection, so a terminal keeps one `Encoder` per console.
pub struct Encoder {
    z: flate2::Compress,
    scratch: Vec<u8>,
}

impl Encoder {
    /// A fresh encoder (new zlib stream).
    pub fn new() -> Self {
        Encoder {
            z: zrle::new_compressor(),
            scratch: Vec::new(),
        }
    }

    /// Appends the rectangle header and the payload of `rect` of `fb` in
    /// `encoding` for a client using `pf` (and `map` when colour-mapped).
    /// `rect` must lie within `fb`; CopyRect and pseudo-encodings are refused
    /// here (use [`write_copy_rect`], [`write_desktop_size`] and
    /// [`write_cursor`]).
    ///
    /// Errors: [`RfbError::UnsupportedEncoding`] for an encoding this
    /// function cannot produce, [`RfbError::LimitExceeded`] for a rectangle
    /// outside `fb`, [`RfbError::InvalidValue`] for an invalid `pf`. Nothing
    /// is appended on error.
    pub fn encode_rect(
        &mut self,
        encoding: Encoding,
        fb: &Framebuffer,
        rect: Rect,
        pf: &PixelFormat,
        map: &ColourMap,
        out: &mut Vec<u8>,
    ) -> Result<(), RfbError> {
        if !matches!(
            encoding,
            Encoding::Raw | Encoding::Rre | Encoding::Hextile | Encoding::Trle | Encoding::Zrle
        ) {
            return Err(RfbError::UnsupportedEncoding(encoding.code()));
        }
        if rect.right() > u32::from(fb.width()) {
            return Err(RfbError::LimitExceeded {
                field: "rectangle right edge",
                value: u64::from(rect.right()),
                limit: u64::from(fb.width()),
            });
        }
        if rect.bottom() > u32::from(fb.height()) {
            return Err(RfbError::LimitExceeded {
                field: "rectangle bottom edge",
                value: u64::from(rect.bottom()),
                limit: u64::from(fb.height()),
            });
        }
        pf.validate()?;
        let vals = wire_values(fb, rect, pf, map);
        let (w, h) = (u32::from(rect.w), u32::from(rect.h));
        let start = out.len();
        write_rect_header(rect, encoding.code(), out);
        let r = match encoding {
            Encoding::Raw => {
                raw::encode(&vals, pf, out);
                Ok(())
            }
            Encoding::Rre => {
                rre::encode(&vals, w, h, pf, out);
                Ok(())
            }
            Encoding::Hextile => {
                hextile::encode(&vals, w, h, pf, out);
                Ok(())
            }
            Encoding::Trle => {
                trle::encode_tiles(&vals, w, h, trle::TRLE_TILE, true, pf, out);
                Ok(())
            }
            _ => zrle::encode(&mut self.z, &mut self.scratch, &vals, (w, h), pf, out),
        };
        if r.is_err() {
            out.truncate(start);
        }
        r
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Appends a CopyRect rectangle copying from `(src_x, src_y)` to `dst`.
pub fn write_copy_rect(dst: Rect, src_x: u16, src_y: u16, out: &mut Vec<u8>) {
    write_rect_header(dst, Encoding::CopyRect.code(), out);
    copyrect::encode(src_x, src_y, out);
}

/// Appends a DesktopSize pseudo-rectangle announcing `width` x `height`.
pub fn write_desktop_size(width: u16, height: u16, out: &mut Vec<u8>) {
    write_rect_header(
        Rect::new(0, 0, width, height),
        Encoding::DesktopSize.code(),
        out,
    );
}

/// The 12-byte rectangle header: x, y, w, h, encoding type.
fn write_rect_header(rect: Rect, code: i32, out: &mut Vec<u8>) {
    for v in [rect.x, rect.y, rect.w, rect.h] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&code.to_be_bytes());
}

/// The wire pixel values of `rect` of `fb` (which contains it), row order.
fn wire_values(fb: &Framebuffer, rect: Rect, pf: &PixelFormat, map: &ColourMap) -> Vec<u32> {
    let mut vals = Vec::with_capacity(rect.area() as usize);
    let fw = usize::from(fb.width());
    // Colour-mapped formats search the map per colour; remember the last one.
    let mut last: Option<(Rgb, u32)> = None;
    for y in rect.y..rect.y + rect.h {
        let start = usize::from(y) * fw + usize::from(rect.x);
        let row = fb
            .pixels()
            .get(start..start + usize::from(rect.w))
            .unwrap_or(&[]);
        for &rgb in row {
            let v = match last {
                Some((c, v)) if c == rgb => v,
                _ => {
                    let v = pf.from_rgb(rgb, map);
                    last = Some((rgb, v));
                    v
                }
            };
            vals.push(v);
        }
    }
    vals
}

/// A resumable decoder for the payload of one rectangle.
pub(crate) enum RectDecoder {
    /// Raw.
    Raw(raw::RawDecoder),
    /// CopyRect.
    CopyRect(copyrect::CopyRectDecoder),
    /// RRE.
    Rre(rre::RreDecoder),
    /// Hextile.
    Hextile(hextile::HextileDecoder),
    /// TRLE.
    Trle(trle::TileDecoder),
    /// ZRLE.
    Zrle(Box<zrle::ZrleDecoder>),
    /// Cursor: collects the shape, leaves the framebuffer alone.
    Cursor(Box<cursor::CursorDecoder>),
}

/// What a rectangle decoder may touch besides its input.
pub(crate) struct DecodeCtx<'a, 'm> {
    /// Where pixels go.
    pub fb: &'a mut Framebuffer,
    /// Pixel conversion for the current format and colour map.
    pub conv: &'a Conv<'m>,
    /// The connection's ZRLE stream.
    pub inflater: &'a mut Inflater,
    /// The last TRLE palette (TRLE may reuse it).
    pub palette: &'a mut Vec<Rgb>,
}

impl RectDecoder {
    /// A decoder for a rectangle of `encoding`, `Ok(None)` for DesktopSize
    /// (no payload) and encodings this codec cannot decode. A Cursor
    /// rectangle is checked against `limits` first (size, hotspot).
    pub(crate) fn new(
        encoding: Encoding,
        rect: Rect,
        limits: &Limits,
    ) -> Result<Option<Self>, RfbError> {
        let max_zrle_len = limits.max_zrle_len;
        Ok(Some(match encoding {
            Encoding::Raw => RectDecoder::Raw(raw::RawDecoder::new(rect)),
            Encoding::CopyRect => RectDecoder::CopyRect(copyrect::CopyRectDecoder::new(rect)),
            Encoding::Rre => RectDecoder::Rre(rre::RreDecoder::new(rect)),
            Encoding::Hextile => RectDecoder::Hextile(hextile::HextileDecoder::new(rect)),
            Encoding::Trle => RectDecoder::Trle(trle::TileDecoder::trle(rect)),
            Encoding::Zrle => {
                RectDecoder::Zrle(Box::new(zrle::ZrleDecoder::new(rect, max_zrle_len)))
            }
            Encoding::Cursor => {
                cursor::check_header(rect, limits)?;
                RectDecoder::Cursor(Box::new(cursor::CursorDecoder::new(rect)))
            }
            Encoding::DesktopSize | Encoding::Other(_) => return Ok(None),
        }))
    }

    /// Feeds the rectangle's next bytes.
    pub(crate) fn step(&mut self, input: &[u8], ctx: DecodeCtx<'_, '_>) -> Result<Step, RfbError> {
        match self {
            RectDecoder::Raw(d) => Ok(d.step(input, ctx.fb, ctx.conv)),
            RectDecoder::CopyRect(d) => d.step(input, ctx.fb),
            RectDecoder::Rre(d) => d.step(input, ctx.fb, ctx.conv),
            RectDecoder::Hextile(d) => d.step(input, ctx.fb, ctx.conv),
            RectDecoder::Trle(d) => d.step(input, ctx.fb, ctx.conv, ctx.palette),
            RectDecoder::Zrle(d) => d.step(input, ctx.fb, ctx.conv, ctx.inflater),
            RectDecoder::Cursor(d) => Ok(d.step(input, ctx.conv)),
        }
    }

    /// Heap bytes held for the rectangle's result (a pointer shape's
    /// colours and mask; other decoders write straight to the screen).
    pub(crate) fn allocated(&self) -> usize {
        match self {
            RectDecoder::Cursor(d) => d.allocated(),
            _ => 0,
        }
    }

    /// For a finished Cursor rectangle, the shape it carried (once).
    pub(crate) fn take_cursor(&mut self) -> Option<CursorImage> {
        match self {
            RectDecoder::Cursor(d) => Some(d.take()),
            _ => None,
        }
    }

    /// For CopyRect, whether the source lay on the screen; else true.
    pub(crate) fn source_in_bounds(&self) -> bool {
        match self {
            RectDecoder::CopyRect(d) => d.src_in_bounds(),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for e in Encoding::HARNESS_PREFERENCE {
            assert_eq!(Encoding::from_code(e.code()), e);
        }
        assert_eq!(Encoding::from_code(7), Encoding::Other(7));
        assert!(Encoding::DesktopSize.is_pseudo());
        assert!(Encoding::Cursor.is_pseudo());
        assert_eq!(Encoding::from_code(-239), Encoding::Cursor);
        assert!(Encoding::Other(-240).is_pseudo());
        assert!(!Encoding::Zrle.is_pseudo());
        assert!(!Encoding::Other(7).is_pseudo());
    }

    #[test]
    fn copy_rect_and_desktop_size_wire_forms() {
        let mut out = Vec::new();
        write_copy_rect(Rect::new(1, 2, 3, 4), 5, 6, &mut out);
        assert_eq!(out, [0, 1, 0, 2, 0, 3, 0, 4, 0, 0, 0, 1, 0, 5, 0, 6]);
        out.clear();
        write_desktop_size(800, 600, &mut out);
        assert_eq!(out, [0, 0, 0, 0, 3, 32, 2, 88, 0xff, 0xff, 0xff, 0x21]);
    }

    #[test]
    fn encode_rect_refuses_rectangles_outside_the_framebuffer() {
        let fb = Framebuffer::new(10, 10, &Limits::DEFAULT).expect("fb");
        let mut e = Encoder::new();
        let mut out = Vec::new();
        let map = ColourMap::new();
        let pf = PixelFormat::RGB888;
        let r = e.encode_rect(
            Encoding::Raw,
            &fb,
            Rect::new(5, 5, 6, 1),
            &pf,
            &map,
            &mut out,
        );
        assert!(matches!(r, Err(RfbError::LimitExceeded { .. })));
        let r = e.encode_rect(
            Encoding::CopyRect,
            &fb,
            Rect::new(0, 0, 1, 1),
            &pf,
            &map,
            &mut out,
        );
        assert_eq!(r, Err(RfbError::UnsupportedEncoding(1)));
        assert!(out.is_empty());
    }

    #[test]
    fn encode_rect_writes_header_then_payload() {
        let mut fb = Framebuffer::new(4, 4, &Limits::DEFAULT).expect("fb");
        fb.set(1, 1, 0x00ab_cdef);
        let mut e = Encoder::new();
        let mut out = Vec::new();
        let map = ColourMap::new();
        e.encode_rect(
            Encoding::Raw,
            &fb,
            Rect::new(1, 1, 1, 1),
            &PixelFormat::RGB888,
            &map,
            &mut out,
        )
        .expect("encode");
        assert_eq!(
            out,
            [0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0xef, 0xcd, 0xab, 0]
        );
    }
}
