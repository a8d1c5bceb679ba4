//! The Cursor pseudo-encoding (RFC 6143 section 7.8.1, code -239): the
//! pointer's shape, sent apart from the screen image so the client draws the
//! pointer itself.
//!
//! The rectangle's x and y are the hotspot, its width and height the shape's
//! size. The payload is `width * height` PIXELs in the client's format, row
//! order, then a bitmask of `((width + 7) / 8) * height` bytes: one bit per
//! pixel, rows padded to whole bytes, the most significant bit of a byte the
//! leftmost pixel, 1 where the shape is opaque.
//!
//! Decoding never touches the framebuffer. The shape is checked against
//! [`Limits::max_cursor_pixels`] and its hotspot against its size from the
//! rectangle header alone, before anything is reserved for it.

use super::conv::{Conv, Step};
use crate::limits::Limits;
use crate::pixel::{ColourMap, PixelFormat, Rgb};
use crate::rect::Rect;
use crate::RfbError;

/// The encoding's name in errors.
const NAME: &str = "Cursor";

/// A pointer shape: size, hotspot, colours and transparency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorImage {
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Column of the hotspot (the pixel the pointer position names).
    pub hot_x: u16,
    /// Row of the hotspot.
    pub hot_y: u16,
    /// `width * height` canonical `0x00RRGGBB` colours, row order. The
    /// colour of a transparent pixel is whatever was sent and means nothing.
    pub pixels: Vec<Rgb>,
    /// [`CursorImage::mask_len`] bytes: one bit per pixel, rows padded to
    /// whole bytes, most significant bit leftmost, 1 = opaque.
    pub mask: Vec<u8>,
}

impl CursorImage {
    /// Bytes of the bitmask of a `width` x `height` shape.
    pub fn mask_len(width: u16, height: u16) -> usize {
        usize::from(width).div_ceil(8) * usize::from(height)
    }

    /// A shape from its parts, checked: the hotspot must lie inside a
    /// non-empty shape, `pixels` must hold `width * height` colours and
    /// `mask` [`Self::mask_len`] bytes.
    ///
    /// An empty shape (width or height 0) is what servers send to hide the
    /// pointer; it has no pixel a hotspot could name, so its hotspot is not
    /// checked.
    pub fn new(
        width: u16,
        height: u16,
        hot_x: u16,
        hot_y: u16,
        pixels: Vec<Rgb>,
        mask: Vec<u8>,
    ) -> Result<Self, RfbError> {
        check_hotspot(width, height, hot_x, hot_y)?;
        let area = usize::from(width) * usize::from(height);
        if pixels.len() != area {
            return Err(RfbError::malformed(
                NAME,
                format!("{} colours for a {width}x{height} shape", pixels.len()),
            ));
        }
        if mask.len() != Self::mask_len(width, height) {
            return Err(RfbError::malformed(
                NAME,
                format!("{}-byte mask for a {width}x{height} shape", mask.len()),
            ));
        }
        Ok(CursorImage {
            width,
            height,
            hot_x,
            hot_y,
            pixels,
            mask,
        })
    }

    /// A shape from one optional colour per pixel (`None` = transparent),
    /// row order; `cells` must hold `width * height` entries.
    pub fn from_cells(
        width: u16,
        height: u16,
        hot_x: u16,
        hot_y: u16,
        cells: &[Option<Rgb>],
    ) -> Result<Self, RfbError> {
        let w = usize::from(width);
        let mut mask = vec![0u8; Self::mask_len(width, height)];
        let stride = w.div_ceil(8);
        for (i, c) in cells.iter().enumerate() {
            if c.is_some() && w > 0 {
                let (x, y) = (i % w, i / w);
                if let Some(b) = mask.get_mut(y * stride + x / 8) {
                    *b |= 0x80 >> (x % 8);
                }
            }
        }
        let pixels = cells.iter().map(|c| c.unwrap_or(0)).collect();
        Self::new(width, height, hot_x, hot_y, pixels, mask)
    }

    /// Whether the pixel at `(x, y)` of the shape is opaque (false outside).
    pub fn opaque(&self, x: u16, y: u16) -> bool {
        if x >= self.width || y >= self.height {
            return false;
        }
        let stride = usize::from(self.width).div_ceil(8);
        let i = usize::from(y) * stride + usize::from(x) / 8;
        self.mask.get(i).is_some_and(|b| b & (0x80 >> (x % 8)) != 0)
    }

    /// The colour at `(x, y)`, `None` where transparent or outside.
    pub fn pixel(&self, x: u16, y: u16) -> Option<Rgb> {
        if !self.opaque(x, y) {
            return None;
        }
        let i = usize::from(y) * usize::from(self.width) + usize::from(x);
        self.pixels.get(i).copied()
    }

    /// Every pixel, row order, `None` where transparent.
    pub fn cells(&self) -> Vec<Option<Rgb>> {
        let mut out = Vec::with_capacity(self.pixels.len());
        for y in 0..self.height {
            for x in 0..self.width {
                out.push(self.pixel(x, y));
            }
        }
        out
    }

    /// The rectangle header's fields: hotspot as position, size as size.
    pub fn header_rect(&self) -> Rect {
        Rect::new(self.hot_x, self.hot_y, self.width, self.height)
    }
}

/// Refuses a hotspot outside a non-empty shape.
fn check_hotspot(width: u16, height: u16, hot_x: u16, hot_y: u16) -> Result<(), RfbError> {
    if width > 0 && height > 0 && (hot_x >= width || hot_y >= height) {
        return Err(RfbError::malformed(
            NAME,
            format!("hotspot ({hot_x}, {hot_y}) outside the {width}x{height} shape"),
        ));
    }
    Ok(())
}

/// Checks a Cursor rectangle header (`rect` = hotspot and size) against
/// the limits, before anything is reserved for the shape.
pub(crate) fn check_header(rect: Rect, limits: &Limits) -> Result<(), RfbError> {
    let area = rect.area();
    if area > u64::from(limits.max_cursor_pixels) {
        return Err(RfbError::LimitExceeded {
            field: "Cursor width*height",
            value: area,
            limit: u64::from(limits.max_cursor_pixels),
        });
    }
    check_hotspot(rect.w, rect.h, rect.x, rect.y)
}

/// Resumable decoder of one Cursor rectangle: the colours as whole pixels
/// arrive, then the mask.
#[derive(Debug)]
pub(crate) struct CursorDecoder {
    rect: Rect,
    pixels: Vec<Rgb>,
    mask: Vec<u8>,
    area: usize,
    mask_len: usize,
}

impl CursorDecoder {
    /// A decoder for the rectangle `rect` (checked with [`check_header`]).
    pub(crate) fn new(rect: Rect) -> Self {
        let area = usize::from(rect.w) * usize::from(rect.h);
        let mask_len = CursorImage::mask_len(rect.w, rect.h);
        CursorDecoder {
            rect,
            // Bounded by the header check: at most max_cursor_pixels.
            pixels: Vec::with_capacity(area),
            mask: Vec::with_capacity(mask_len),
            area,
            mask_len,
        }
    }

    /// Consumes whole pixels, then mask bytes, from `input`.
    pub(crate) fn step(&mut self, input: &[u8], conv: &Conv<'_>) -> Step {
        let bpp = conv.bpp();
        let mut used = 0;
        let left = self.area - self.pixels.len();
        if left > 0 {
            let n = (input.len() / bpp).min(left);
            let start = self.pixels.len();
            self.pixels.resize(start + n, 0);
            if let Some(dst) = self.pixels.get_mut(start..) {
                conv.pixels_into(input.get(..n * bpp).unwrap_or(&[]), dst);
            }
            used = n * bpp;
            if n < left {
                return Step::more(used, bpp - (input.len() - used));
            }
        }
        let rest = input.get(used..).unwrap_or(&[]);
        let want = self.mask_len - self.mask.len();
        let n = rest.len().min(want);
        self.mask.extend_from_slice(rest.get(..n).unwrap_or(&[]));
        used += n;
        if n < want {
            return Step::more(used, want - n);
        }
        Step::done(used)
    }

    /// Heap bytes reserved for the shape.
    pub(crate) fn allocated(&self) -> usize {
        self.pixels.capacity() * std::mem::size_of::<Rgb>() + self.mask.capacity()
    }

    /// The decoded shape, once [`Self::step`] said done.
    pub(crate) fn take(&mut self) -> CursorImage {
        CursorImage {
            width: self.rect.w,
            height: self.rect.h,
            hot_x: self.rect.x,
            hot_y: self.rect.y,
            pixels: std::mem::take(&mut self.pixels),
            mask: std::mem::take(&mut self.mask),
        }
    }
}

/// Appends a whole Cursor rectangle (header and payload) carrying `cursor`
/// for a client using `pf` (and `map` when colour-mapped).
///
/// Errors: [`RfbError::InvalidValue`] for an invalid `pf`,
/// [`RfbError::MalformedEncoding`] for a shape whose parts disagree (see
/// [`CursorImage::new`]). Nothing is appended on error.
pub fn write_cursor(
    cursor: &CursorImage,
    pf: &PixelFormat,
    map: &ColourMap,
    out: &mut Vec<u8>,
) -> Result<(), RfbError> {
    pf.validate()?;
    check_hotspot(cursor.width, cursor.height, cursor.hot_x, cursor.hot_y)?;
    let area = usize::from(cursor.width) * usize::from(cursor.height);
    let mask_len = CursorImage::mask_len(cursor.width, cursor.height);
    if cursor.pixels.len() != area || cursor.mask.len() != mask_len {
        return Err(RfbError::malformed(
            NAME,
            format!(
                "{} colours and a {}-byte mask for a {}x{} shape",
                cursor.pixels.len(),
                cursor.mask.len(),
                cursor.width,
                cursor.height
            ),
        ));
    }
    super::write_rect_header(cursor.header_rect(), super::Encoding::Cursor.code(), out);
    out.reserve(area * pf.bytes_per_pixel() + mask_len);
    for &rgb in &cursor.pixels {
        pf.write_value(pf.from_rgb(rgb, map), out);
    }
    out.extend_from_slice(&cursor.mask);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrow() -> CursorImage {
        // 3x2: opaque, transparent, opaque / opaque, opaque, transparent.
        let cells = [
            Some(0x00ff_0000),
            None,
            Some(0x0000_00ff),
            Some(1),
            Some(2),
            None,
        ];
        CursorImage::from_cells(3, 2, 1, 1, &cells).expect("shape")
    }

    #[test]
    fn mask_bits_run_most_significant_first_with_padded_rows() {
        let c = arrow();
        assert_eq!(c.mask, [0b1010_0000, 0b1100_0000]);
        assert!(c.opaque(0, 0) && !c.opaque(1, 0) && c.opaque(2, 0));
        assert_eq!(c.pixel(2, 0), Some(0x0000_00ff));
        assert_eq!(c.pixel(1, 0), None);
        assert_eq!(c.pixel(3, 0), None);
        assert_eq!(CursorImage::mask_len(9, 2), 4);
        assert_eq!(CursorImage::mask_len(0, 5), 0);
    }

    #[test]
    fn wire_form_is_header_pixels_then_mask() {
        let c = arrow();
        let mut out = Vec::new();
        write_cursor(&c, &PixelFormat::RGB888, &ColourMap::new(), &mut out).expect("write");
        assert_eq!(
            &out[..12],
            &[0, 1, 0, 1, 0, 3, 0, 2, 0xff, 0xff, 0xff, 0x11]
        );
        assert_eq!(out.len(), 12 + 6 * 4 + 2);
        assert_eq!(&out[12..16], &[0, 0, 0xff, 0]);
        assert_eq!(&out[out.len() - 2..], &[0b1010_0000, 0b1100_0000]);
    }

    #[test]
    fn decoder_waits_for_pixels_and_mask_however_split() {
        let c = arrow();
        let mut wire = Vec::new();
        write_cursor(&c, &PixelFormat::RGB888, &ColourMap::new(), &mut wire).expect("write");
        let payload = &wire[12..];
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        let mut d = CursorDecoder::new(c.header_rect());
        let s = d.step(&payload[..5], &conv);
        assert_eq!((s.used, s.done, s.need), (4, false, 3));
        let s = d.step(&payload[4..25], &conv);
        assert_eq!((s.used, s.done, s.need), (21, false, 1));
        let s = d.step(&payload[25..], &conv);
        assert_eq!((s.used, s.done), (1, true));
        assert_eq!(d.take(), c);
    }

    #[test]
    fn header_check_refuses_huge_shapes_and_stray_hotspots() {
        let l = Limits::DEFAULT;
        assert!(check_header(Rect::new(0, 0, 256, 256), &l).is_ok());
        assert!(matches!(
            check_header(Rect::new(0, 0, 65535, 65535), &l),
            Err(RfbError::LimitExceeded {
                field: "Cursor width*height",
                ..
            })
        ));
        assert!(matches!(
            check_header(Rect::new(3, 0, 3, 2), &l),
            Err(RfbError::MalformedEncoding {
                encoding: "Cursor",
                ..
            })
        ));
        assert!(check_header(Rect::new(2, 1, 3, 2), &l).is_ok());
        // An empty shape hides the pointer; its hotspot names no pixel.
        assert!(check_header(Rect::new(7, 7, 0, 0), &l).is_ok());
    }

    #[test]
    fn inconsistent_shapes_are_refused_and_write_nothing() {
        assert!(CursorImage::new(2, 2, 0, 0, vec![0; 3], vec![0; 2]).is_err());
        assert!(CursorImage::new(2, 2, 0, 0, vec![0; 4], vec![0; 1]).is_err());
        assert!(CursorImage::new(2, 2, 2, 0, vec![0; 4], vec![0; 2]).is_err());
        let mut bad = arrow();
        bad.mask.pop();
        let mut out = Vec::new();
        assert!(write_cursor(&bad, &PixelFormat::RGB888, &ColourMap::new(), &mut out).is_err());
        let mut pf = PixelFormat::RGB888;
        pf.bits_per_pixel = 3;
        assert!(write_cursor(&arrow(), &pf, &ColourMap::new(), &mut out).is_err());
        assert!(out.is_empty());
    }
}
