//! Conversion of wire pixels (PIXEL and CPIXEL) to canonical RGB for the
//! rectangle decoders, with fast paths for the 32-bit true-colour formats a
//! console normally asks for. The generic path defers to [`PixelFormat`].

use crate::error::{ReadError, RfbError};
use crate::pixel::{ColourMap, PixelFormat, Rgb};
use crate::reader::Reader;

/// How a pixel value becomes RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 32 bpp little-endian, every channel max 255 at shifts 16/8/0: the
    /// value's low three bytes already are `0x00RRGGBB`.
    Rgb888Le,
    /// 32 bpp true colour, every channel max 255, any shifts and byte order.
    Tc32 { rs: u32, gs: u32, bs: u32 },
    /// Anything else: [`PixelFormat::to_rgb`].
    Generic,
}

/// Where the three bytes of a 3-byte CPIXEL sit in the 32-bit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CMode {
    /// A CPIXEL is a whole PIXEL.
    Full,
    /// Low three bytes, little-endian order.
    LowLe,
    /// High three bytes, little-endian order.
    HighLe,
    /// Low three bytes, big-endian order.
    LowBe,
    /// High three bytes, big-endian order.
    HighBe,
}

/// A converter for one pixel format and colour map.
pub(crate) struct Conv<'m> {
    pf: PixelFormat,
    map: &'m ColourMap,
    bpp: usize,
    cpx: usize,
    kind: Kind,
    cmode: CMode,
}

impl<'m> Conv<'m> {
    /// A converter for `pf` (which the caller has validated) and `map`.
    pub(crate) fn new(pf: &PixelFormat, map: &'m ColourMap) -> Self {
        let bpp = pf.bytes_per_pixel().max(1);
        let cpx = pf.cpixel_len().max(1);
        let all_255 = pf.red_max == 255 && pf.green_max == 255 && pf.blue_max == 255;
        let kind = if pf.true_colour && pf.bits_per_pixel == 32 && all_255 {
            if !pf.big_endian && (pf.red_shift, pf.green_shift, pf.blue_shift) == (16, 8, 0) {
                Kind::Rgb888Le
            } else {
                Kind::Tc32 {
                    rs: u32::from(pf.red_shift),
                    gs: u32::from(pf.green_shift),
                    bs: u32::from(pf.blue_shift),
                }
            }
        } else {
            Kind::Generic
        };
        let cmode = if cpx != 3 {
            CMode::Full
        } else {
            match (pf.cpixel_low_bytes(), pf.big_endian) {
                (true, false) => CMode::LowLe,
                (false, false) => CMode::HighLe,
                (true, true) => CMode::LowBe,
                (false, true) => CMode::HighBe,
            }
        };
        Conv {
            pf: *pf,
            map,
            bpp,
            cpx,
            kind,
            cmode,
        }
    }

    /// Bytes in a PIXEL.
    pub(crate) fn bpp(&self) -> usize {
        self.bpp
    }

    /// Bytes in a CPIXEL.
    pub(crate) fn cpx(&self) -> usize {
        self.cpx
    }

    /// RGB of a pixel value.
    #[inline]
    fn value_rgb(&self, v: u32) -> Rgb {
        match self.kind {
            Kind::Rgb888Le => v & 0x00ff_ffff,
            Kind::Tc32 { rs, gs, bs } => {
                (((v >> rs) & 0xff) << 16) | (((v >> gs) & 0xff) << 8) | ((v >> bs) & 0xff)
            }
            Kind::Generic => self.pf.to_rgb(v, self.map),
        }
    }

    /// RGB of one PIXEL (`b` holds exactly `bpp()` bytes).
    #[inline]
    pub(crate) fn pixel(&self, b: &[u8]) -> Rgb {
        match (self.kind, b) {
            (Kind::Rgb888Le, [b0, b1, b2, _]) => {
                (u32::from(*b2) << 16) | (u32::from(*b1) << 8) | u32::from(*b0)
            }
            _ => self.value_rgb(self.pf.pixel_value(b)),
        }
    }

    /// RGB of one CPIXEL (`b` holds exactly `cpx()` bytes).
    #[inline]
    pub(crate) fn cpixel(&self, b: &[u8]) -> Rgb {
        let v = match (self.cmode, b) {
            (CMode::Full, _) => return self.pixel(b),
            (CMode::LowLe, [c0, c1, c2]) => {
                u32::from(*c0) | (u32::from(*c1) << 8) | (u32::from(*c2) << 16)
            }
            (CMode::HighLe, [c0, c1, c2]) => {
                (u32::from(*c0) << 8) | (u32::from(*c1) << 16) | (u32::from(*c2) << 24)
            }
            (CMode::LowBe, [c0, c1, c2]) => {
                (u32::from(*c0) << 16) | (u32::from(*c1) << 8) | u32::from(*c2)
            }
            (CMode::HighBe, [c0, c1, c2]) => {
                (u32::from(*c0) << 24) | (u32::from(*c1) << 16) | (u32::from(*c2) << 8)
            }
            // Callers always pass exactly cpx() bytes; anything else reads as 0.
            _ => 0,
        };
        self.value_rgb(v)
    }

    /// Converts whole PIXELs from `src` into `dst`, one per element of `dst`
    /// (extra source bytes are ignored, missing ones leave `dst` short).
    pub(crate) fn pixels_into(&self, src: &[u8], dst: &mut [Rgb]) {
        match self.kind {
            Kind::Rgb888Le => {
                // The hot path of Raw decoding: no per-pixel dispatch. The
                // mask goes through black_box because with a constant mask
                // LLVM narrows the loads to three bytes and loses the plain
                // vector load/and/store loop (measured 2.5x slower).
                let mask = std::hint::black_box(0x00ff_ffffu32);
                for (d, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
                    *d = u32::from_le_bytes([s[0], s[1], s[2], s[3]]) & mask;
                }
            }
            Kind::Tc32 { .. } => {
                let be = self.pf.big_endian;
                for (d, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
                    let a = [s[0], s[1], s[2], s[3]];
                    let v = if be {
                        u32::from_be_bytes(a)
                    } else {
                        u32::from_le_bytes(a)
                    };
                    *d = self.value_rgb(v);
                }
            }
            Kind::Generic => {
                for (d, s) in dst.iter_mut().zip(src.chunks_exact(self.bpp)) {
                    *d = self.pixel(s);
                }
            }
        }
    }

    /// Converts whole CPIXELs from `src` into `dst`, like [`Self::pixels_into`].
    pub(crate) fn cpixels_into(&self, src: &[u8], dst: &mut [Rgb]) {
        if self.cmode == CMode::Full {
            return self.pixels_into(src, dst);
        }
        if self.cmode == CMode::LowLe && self.kind == Kind::Rgb888Le {
            for (d, s) in dst.iter_mut().zip(src.chunks_exact(3)) {
                *d = u32::from(s[0]) | (u32::from(s[1]) << 8) | (u32::from(s[2]) << 16);
            }
            return;
        }
        for (d, s) in dst.iter_mut().zip(src.chunks_exact(self.cpx)) {
            *d = self.cpixel(s);
        }
    }
}

/// Progress of one rectangle decoder over the bytes it was offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// Bytes consumed.
    pub used: usize,
    /// The rectangle is complete.
    pub done: bool,
    /// When not done: at least this many bytes beyond the unconsumed rest are
    /// needed before the decoder can make progress again.
    pub need: usize,
}

impl Step {
    /// The rectangle finished after `used` bytes.
    pub(crate) fn done(used: usize) -> Self {
        Step {
            used,
            done: true,
            need: 0,
        }
    }

    /// Stopped after `used` bytes; `need` more are required.
    pub(crate) fn more(used: usize, need: usize) -> Self {
        Step {
            used,
            done: false,
            need: need.max(1),
        }
    }
}

/// Outcome of parsing one decoding unit (a header, a sub-rectangle, a tile,
/// a run) that must be parsed whole or not at all.
pub(crate) enum Unit<T> {
    /// Parsed, using this many bytes.
    Got(T, usize),
    /// Incomplete: at least this many more bytes are needed.
    Need(usize),
}

/// Parses one unit from the start of `input` with `f`.
pub(crate) fn unit<'a, T>(
    input: &'a [u8],
    f: impl FnOnce(&mut Reader<'a>) -> Result<T, ReadError>,
) -> Result<Unit<T>, RfbError> {
    let mut r = Reader::new(input);
    match f(&mut r) {
        Ok(v) => Ok(Unit::Got(v, r.used())),
        Err(ReadError::Incomplete { needed }) => Ok(Unit::Need(needed)),
        Err(ReadError::Invalid(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formats() -> Vec<PixelFormat> {
        let mut be32 = PixelFormat::RGB888;
        be32.big_endian = true;
        let mut bgr = PixelFormat::RGB888;
        bgr.red_shift = 0;
        bgr.blue_shift = 16;
        let mut high = PixelFormat::RGB888;
        high.red_shift = 24;
        high.green_shift = 16;
        high.blue_shift = 8;
        let mut high_be = high;
        high_be.big_endian = true;
        let mut be565 = PixelFormat::RGB565;
        be565.big_endian = true;
        vec![
            PixelFormat::RGB888,
            be32,
            bgr,
            high,
            high_be,
            PixelFormat::RGB565,
            be565,
            PixelFormat::MAPPED8,
        ]
    }

    #[test]
    fn fast_paths_agree_with_pixel_format_conversion() {
        let map = ColourMap::rgb332();
        for pf in formats() {
            let conv = Conv::new(&pf, &map);
            let mut seed = 0x1234_5678u32;
            for _ in 0..500 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let rgb = seed >> 8;
                let v = pf.from_rgb(rgb, &map);
                let mut px = Vec::new();
                pf.write_value(v, &mut px);
                let want = pf.to_rgb(pf.pixel_value(&px), &map);
                assert_eq!(conv.pixel(&px), want, "{}", pf.describe());
                let mut one = [0u32; 1];
                conv.pixels_into(&px, &mut one);
                assert_eq!(one[0], want, "{}", pf.describe());
                let mut c = Vec::new();
                pf.write_cpixel(v, &mut c);
                assert_eq!(c.len(), conv.cpx());
                let cwant = pf.to_rgb(pf.cpixel_value(&c), &map);
                assert_eq!(conv.cpixel(&c), cwant, "{}", pf.describe());
                assert_eq!(cwant, want, "{}", pf.describe());
                conv.cpixels_into(&c, &mut one);
                assert_eq!(one[0], want, "{}", pf.describe());
            }
        }
    }

    #[test]
    fn unit_reports_missing_bytes_and_invalid_input() {
        let got = unit(&[1, 2], |r| r.u32());
        assert!(matches!(got, Ok(Unit::Need(2))));
        let got = unit(&[0, 0, 0, 9, 1], |r| r.u32());
        assert!(matches!(got, Ok(Unit::Got(9, 4))));
        let got: Result<Unit<()>, _> = unit(&[], |_| Err(RfbError::malformed("x", "y").into()));
        assert!(got.is_err());
    }
}
