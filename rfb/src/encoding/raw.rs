//! Raw encoding (RFC 6143 section 7.7.1): `w * h` PIXELs in row order.
//!
//! The decoder converts whatever whole pixels have arrived, so a row may be
//! written in several pieces and nothing beyond one partial pixel is ever
//! left waiting in the caller's buffer.

use super::conv::{Conv, Step};
use crate::framebuffer::Framebuffer;
use crate::pixel::PixelFormat;
use crate::rect::Rect;

/// Resumable Raw decoder for one rectangle.
#[derive(Debug)]
pub(crate) struct RawDecoder {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    col: u32,
    row: u32,
}

impl RawDecoder {
    /// A decoder for `rect`.
    pub(crate) fn new(rect: Rect) -> Self {
        RawDecoder {
            x: u32::from(rect.x),
            y: u32::from(rect.y),
            w: u32::from(rect.w),
            h: u32::from(rect.h),
            col: 0,
            row: 0,
        }
    }

    /// Converts every whole pixel in `input` into `fb`.
    pub(crate) fn step(&mut self, input: &[u8], fb: &mut Framebuffer, conv: &Conv<'_>) -> Step {
        let bpp = conv.bpp();
        let mut rest = input;
        while self.row < self.h && self.w > 0 {
            let avail = rest.len() / bpp;
            if avail == 0 {
                return Step::more(input.len() - rest.len(), bpp - rest.len());
            }
            let n = avail.min((self.w - self.col) as usize);
            let (src, tail) = rest.split_at(n * bpp);
            let dst = fb.span_mut(self.x + self.col, self.y + self.row, n as u32);
            conv.pixels_into(src, dst);
            rest = tail;
            self.col += n as u32;
            if self.col == self.w {
                self.col = 0;
                self.row += 1;
            }
        }
        Step::done(input.len() - rest.len())
    }
}

/// Appends the Raw payload of `vals` (wire pixel values, row order).
pub(crate) fn encode(vals: &[u32], pf: &PixelFormat, out: &mut Vec<u8>) {
    out.reserve(vals.len() * pf.bytes_per_pixel());
    for &v in vals {
        pf.write_value(v, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::pixel::ColourMap;

    #[test]
    fn raw_decodes_pixel_by_pixel_across_rows() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(4, 4, &l).expect("fb");
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        let mut d = RawDecoder::new(Rect::new(1, 1, 2, 2));
        let mut bytes = Vec::new();
        encode(&[1, 2, 3, 4], &PixelFormat::RGB888, &mut bytes);
        // Feed 3 bytes (no whole pixel), then 6 (one pixel and a half), then the rest.
        let s = d.step(&bytes[..3], &mut fb, &conv);
        assert_eq!((s.used, s.done, s.need), (0, false, 1));
        let s = d.step(&bytes[..6], &mut fb, &conv);
        assert_eq!((s.used, s.done), (4, false));
        let s = d.step(&bytes[4..], &mut fb, &conv);
        assert_eq!((s.used, s.done), (12, true));
        assert_eq!(fb.get(1, 1), Some(1));
        assert_eq!(fb.get(2, 1), Some(2));
        assert_eq!(fb.get(1, 2), Some(3));
        assert_eq!(fb.get(2, 2), Some(4));
    }

    #[test]
    fn raw_off_screen_pixels_are_consumed_and_dropped() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(2, 2, &l).expect("fb");
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        let mut d = RawDecoder::new(Rect::new(1, 1, 3, 2));
        let mut bytes = Vec::new();
        encode(&[5; 6], &PixelFormat::RGB888, &mut bytes);
        let s = d.step(&bytes, &mut fb, &conv);
        assert_eq!((s.used, s.done), (24, true));
        assert_eq!(fb.pixels(), &[0, 0, 0, 5]);
    }

    #[test]
    fn raw_empty_rectangle_needs_no_bytes() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(2, 2, &l).expect("fb");
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        let s = RawDecoder::new(Rect::new(0, 0, 0, 9)).step(&[], &mut fb, &conv);
        assert_eq!((s.used, s.done), (0, true));
    }
}
