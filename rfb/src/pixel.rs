//! Pixel formats and colour maps.
//!
//! The codec keeps every framebuffer in one canonical form, `0x00RRGGBB` with
//! eight bits per channel, whatever format travels on the wire. Converting at
//! the edge keeps comparisons (incremental image vs fresh full update) exact.

use crate::error::{ReadError, RfbError};
use crate::reader::Reader;

/// A canonical pixel: `0x00RRGGBB`.
pub type Rgb = u32;

/// The PIXEL_FORMAT structure of RFC 6143 section 7.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PixelFormat {
    /// 8, 16 or 32.
    pub bits_per_pixel: u8,
    /// Useful bits in a pixel value.
    pub depth: u8,
    /// Multi-byte pixels are big-endian.
    pub big_endian: bool,
    /// True colour (else colour-mapped).
    pub true_colour: bool,
    /// Largest red value (true colour only).
    pub red_max: u16,
    /// Largest green value.
    pub green_max: u16,
    /// Largest blue value.
    pub blue_max: u16,
    /// Bits to shift right to reach red.
    pub red_shift: u8,
    /// Bits to shift right to reach green.
    pub green_shift: u8,
    /// Bits to shift right to reach blue.
    pub blue_shift: u8,
}

impl PixelFormat {
    /// 32 bpp, depth 24, little-endian true colour, shifts 16/8/0: what the
    /// harness asks every terminal for.
    pub const RGB888: PixelFormat = PixelFormat {
        bits_per_pixel: 32,
        depth: 24,
        big_endian: false,
        true_colour: true,
        red_max: 255,
        green_max: 255,
        blue_max: 255,
        red_shift: 16,
        green_shift: 8,
        blue_shift: 0,
    };

    /// 16 bpp RGB565, little-endian.
    pub const RGB565: PixelFormat = PixelFormat {
        bits_per_pixel: 16,
        depth: 16,
        big_endian: false,
        true_colour: true,
        red_max: 31,
        green_max: 63,
        blue_max: 31,
        red_shift: 11,
        green_shift: 5,
        blue_shift: 0,
    };

    /// 8 bpp colour-mapped.
    pub const MAPPED8: PixelFormat = PixelFormat {
        bits_per_pixel: 8,
        depth: 8,
        big_endian: false,
        true_colour: false,
        red_max: 0,
        green_max: 0,
        blue_max: 0,
        red_shift: 0,
        green_shift: 0,
        blue_shift: 0,
    };

    /// Wire size of the structure.
    pub const WIRE_LEN: usize = 16;

    /// Bytes per pixel on the wire (1, 2 or 4).
    pub fn bytes_per_pixel(&self) -> usize {
        usize::from(self.bits_per_pixel / 8)
    }

    /// Checks the fields make sense: bpp 8/16/32, depth 1..=bpp, and for true
    /// colour each channel's max is 2^n-1 and fits in the pixel after its shift.
    pub fn validate(&self) -> Result<(), RfbError> {
        if !matches!(self.bits_per_pixel, 8 | 16 | 32) {
            return Err(RfbError::InvalidValue {
                field: "bits-per-pixel",
                value: u64::from(self.bits_per_pixel),
            });
        }
        if self.depth == 0 || self.depth > self.bits_per_pixel {
            return Err(RfbError::InvalidValue {
                field: "depth",
                value: u64::from(self.depth),
            });
        }
        if self.true_colour {
            for (name, max, shift) in [
                ("red-max", self.red_max, self.red_shift),
                ("green-max", self.green_max, self.green_shift),
                ("blue-max", self.blue_max, self.blue_shift),
            ] {
                let bits = 16 - max.leading_zeros();
                if max == 0 || u32::from(max).count_ones() != bits {
                    return Err(RfbError::InvalidValue {
                        field: name,
                        value: u64::from(max),
                    });
                }
                if u32::from(shift) + bits > u32::from(self.bits_per_pixel) {
                    return Err(RfbError::InvalidValue {
                        field: "colour-shift",
                        value: u64::from(shift),
                    });
                }
            }
        }
        Ok(())
    }

    /// Decodes the 16-byte structure. Does not validate: call [`Self::validate`].
    pub fn read(r: &mut Reader<'_>) -> Result<Self, ReadError> {
        let b = r.array::<16>()?;
        Ok(PixelFormat {
            bits_per_pixel: b[0],
            depth: b[1],
            big_endian: b[2] != 0,
            true_colour: b[3] != 0,
            red_max: u16::from_be_bytes([b[4], b[5]]),
            green_max: u16::from_be_bytes([b[6], b[7]]),
            blue_max: u16::from_be_bytes([b[8], b[9]]),
            red_shift: b[10],
            green_shift: b[11],
            blue_shift: b[12],
        })
    }

    /// Encodes the 16-byte structure (with its three bytes of padding).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.bits_per_pixel);
        out.push(self.depth);
        out.push(u8::from(self.big_endian));
        out.push(u8::from(self.true_colour));
        out.extend_from_slice(&self.red_max.to_be_bytes());
        out.extend_from_slice(&self.green_max.to_be_bytes());
        out.extend_from_slice(&self.blue_max.to_be_bytes());
        out.push(self.red_shift);
        out.push(self.green_shift);
        out.push(self.blue_shift);
        out.extend_from_slice(&[0, 0, 0]);
    }

    /// Reads one wire pixel value from exactly `bytes_per_pixel()` bytes.
    /// Shorter input yields 0 for the missing bytes (callers pass exact slices).
    pub fn pixel_value(&self, bytes: &[u8]) -> u32 {
        match self.bits_per_pixel {
            8 => u32::from(bytes.first().copied().unwrap_or(0)),
            16 => {
                let a = [
                    bytes.first().copied().unwrap_or(0),
                    bytes.get(1).copied().unwrap_or(0),
                ];
                u32::from(if self.big_endian {
                    u16::from_be_bytes(a)
                } else {
                    u16::from_le_bytes(a)
                })
            }
            _ => {
                let mut a = [0u8; 4];
                for (i, v) in a.iter_mut().enumerate() {
                    *v = bytes.get(i).copied().unwrap_or(0);
                }
                if self.big_endian {
                    u32::from_be_bytes(a)
                } else {
                    u32::from_le_bytes(a)
                }
            }
        }
    }

    /// Appends a wire pixel value in this format's size and byte order.
    pub fn write_value(&self, v: u32, out: &mut Vec<u8>) {
        match self.bits_per_pixel {
            8 => out.push(v as u8),
            16 => {
                let v = v as u16;
                out.extend_from_slice(&if self.big_endian {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                })
            }
            _ => out.extend_from_slice(&if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }),
        }
    }

    /// Converts a wire pixel value to canonical RGB. Colour-mapped values are
    /// looked up in `map` (black where the map has no entry).
    pub fn to_rgb(&self, v: u32, map: &ColourMap) -> Rgb {
        if !self.true_colour {
            return map.get(v);
        }
        let ch = |shift: u8, max: u16| -> u32 {
            let max = u32::from(max);
            if max == 0 {
                return 0;
            }
            let c = v.checked_shr(u32::from(shift)).unwrap_or(0) & max;
            (c * 255 + max / 2) / max
        };
        (ch(self.red_shift, self.red_max) << 16)
            | (ch(self.green_shift, self.green_max) << 8)
            | ch(self.blue_shift, self.blue_max)
    }

    /// Converts canonical RGB to a wire pixel value. Colour-mapped formats pick
    /// the nearest entry of `map`.
    pub fn from_rgb(&self, rgb: Rgb, map: &ColourMap) -> u32 {
        if !self.true_colour {
            return map.nearest(rgb);
        }
        let ch = |c: u32, shift: u8, max: u16| -> u32 {
            let max = u32::from(max);
            ((c * max + 127) / 255)
                .checked_shl(u32::from(shift))
                .unwrap_or(0)
        };
        ch((rgb >> 16) & 0xff, self.red_shift, self.red_max)
            | ch((rgb >> 8) & 0xff, self.green_shift, self.green_max)
            | ch(rgb & 0xff, self.blue_shift, self.blue_max)
    }

    /// Length of a ZRLE/TRLE CPIXEL: 3 when the format is 32 bpp true colour
    /// with depth <= 24 and all colour bits in the low or the high three bytes,
    /// else `bytes_per_pixel()`.
    pub fn cpixel_len(&self) -> usize {
        if self.true_colour && self.bits_per_pixel == 32 && self.depth <= 24 {
            let mask = |max: u16, shift: u8| {
                u32::from(max)
                    .checked_shl(u32::from(shift))
                    .unwrap_or(u32::MAX)
            };
            let all = mask(self.red_max, self.red_shift)
                | mask(self.green_max, self.green_shift)
                | mask(self.blue_max, self.blue_shift);
            if all & 0xff00_0000 == 0 || all & 0x0000_00ff == 0 {
                return 3;
            }
        }
        self.bytes_per_pixel()
    }

    /// Whether a 3-byte CPIXEL holds the low three bytes of the value (else the
    /// high three). Meaningful only when [`Self::cpixel_len`] is 3.
    pub fn cpixel_low_bytes(&self) -> bool {
        let mask = |max: u16, shift: u8| {
            u32::from(max)
                .checked_shl(u32::from(shift))
                .unwrap_or(u32::MAX)
        };
        let all = mask(self.red_max, self.red_shift)
            | mask(self.green_max, self.green_shift)
            | mask(self.blue_max, self.blue_shift);
        all & 0xff00_0000 == 0
    }

    /// Reads a CPIXEL value from exactly `cpixel_len()` bytes.
    pub fn cpixel_value(&self, bytes: &[u8]) -> u32 {
        if self.cpixel_len() != 3 {
            return self.pixel_value(bytes);
        }
        let mut a = [0u8; 4];
        // Expand the three bytes to four in wire byte order, then reuse pixel_value.
        match (self.cpixel_low_bytes(), self.big_endian) {
            (true, false) => a[..3].copy_from_slice(&bytes[..3.min(bytes.len())]),
            (true, true) => {
                a[1..1 + 3.min(bytes.len())].copy_from_slice(&bytes[..3.min(bytes.len())])
            }
            (false, false) => {
                a[1..1 + 3.min(bytes.len())].copy_from_slice(&bytes[..3.min(bytes.len())])
            }
            (false, true) => a[..3.min(bytes.len())].copy_from_slice(&bytes[..3.min(bytes.len())]),
        }
        self.pixel_value(&a)
    }

    /// Appends a CPIXEL for value `v`.
    pub fn write_cpixel(&self, v: u32, out: &mut Vec<u8>) {
        if self.cpixel_len() != 3 {
            self.write_value(v, out);
            return;
        }
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        match (self.cpixel_low_bytes(), self.big_endian) {
            (true, false) | (false, true) => out.extend_from_slice(&b[..3]),
            (true, true) | (false, false) => out.extend_from_slice(&b[1..]),
        }
    }

    /// A short human description, for evidence, e.g. `32bpp depth 24 LE true-colour rgb 255/255/255 shift 16/8/0`.
    pub fn describe(&self) -> String {
        if self.true_colour {
            format!(
                "{}bpp depth {} {} true-colour max {}/{}/{} shift {}/{}/{}",
                self.bits_per_pixel,
                self.depth,
                if self.big_endian { "BE" } else { "LE" },
                self.red_max,
                self.green_max,
                self.blue_max,
                self.red_shift,
                self.green_shift,
                self.blue_shift
            )
        } else {
            format!(
                "{}bpp depth {} colour-mapped",
                self.bits_per_pixel, self.depth
            )
        }
    }
}

/// A colour map (palette) for colour-mapped pixel formats, as set by
/// SetColourMapEntries. Entries hold 16-bit channels as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColourMap {
    entries: Vec<[u16; 3]>,
}

impl ColourMap {
    /// Most entries a map can hold (an 8-bit index covers 256; 16-bit formats 65536).
    pub const MAX_ENTRIES: usize = 65536;

    /// An empty map: every index reads as black.
    pub fn new() -> Self {
        ColourMap {
            entries: Vec::new(),
        }
    }

    /// A 256-entry map with a 3-3-2 colour cube (red in bits 5-7, green 2-4, blue 0-1),
    /// the map the mock terminal uses for colour-mapped clients.
    pub fn rgb332() -> Self {
        let mut entries = Vec::with_capacity(256);
        for i in 0u32..256 {
            let r = (i >> 5) & 7;
            let g = (i >> 2) & 7;
            let b = i & 3;
            let s = |c: u32, max: u32| ((c * 65535) / max) as u16;
            entries.push([s(r, 7), s(g, 7), s(b, 3)]);
        }
        ColourMap { entries }
    }

    /// Sets `colours` starting at `first`, growing the map as needed.
    /// Fails if the entries would pass [`Self::MAX_ENTRIES`].
    pub fn set(&mut self, first: u16, colours: &[[u16; 3]]) -> Result<(), RfbError> {
        let end = usize::from(first) + colours.len();
        if end > Self::MAX_ENTRIES {
            return Err(RfbError::LimitExceeded {
                field: "colour-map-entries",
                value: end as u64,
                limit: Self::MAX_ENTRIES as u64,
            });
        }
        if self.entries.len() < end {
            self.entries.resize(end, [0, 0, 0]);
        }
        self.entries[usize::from(first)..end].copy_from_slice(colours);
        Ok(())
    }

    /// The entries, in index order.
    pub fn entries(&self) -> &[[u16; 3]] {
        &self.entries
    }

    /// Canonical RGB for index `i` (black if unset).
    pub fn get(&self, i: u32) -> Rgb {
        match self.entries.get(i as usize) {
            Some([r, g, b]) => {
                (u32::from(r >> 8) << 16) | (u32::from(g >> 8) << 8) | u32::from(b >> 8)
            }
            None => 0,
        }
    }

    /// Index of the entry nearest to `rgb` (0 for an empty map).
    pub fn nearest(&self, rgb: Rgb) -> u32 {
        let (r, g, b) = ((rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff);
        let mut best = (u32::MAX, 0u32);
        for (i, e) in self.entries.iter().enumerate() {
            let d = |a: u32, c: u16| {
                let c = u32::from(c >> 8);
                a.abs_diff(c) * a.abs_diff(c)
            };
            let dist = d(r, e[0]) + d(g, e[1]) + d(b, e[2]);
            if dist < best.0 {
                best = (dist, i as u32);
                if dist == 0 {
                    break;
                }
            }
        }
        best.1
    }
}

impl Default for ColourMap {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb888_round_trips_exactly() {
        let pf = PixelFormat::RGB888;
        let map = ColourMap::new();
        for rgb in [0u32, 0x00ff_ffff, 0x0012_3456, 0x00ab_cdef] {
            let v = pf.from_rgb(rgb, &map);
            let mut out = Vec::new();
            pf.write_value(v, &mut out);
            assert_eq!(pf.to_rgb(pf.pixel_value(&out), &map), rgb);
            let mut c = Vec::new();
            pf.write_cpixel(v, &mut c);
            assert_eq!(c.len(), 3);
            assert_eq!(pf.to_rgb(pf.cpixel_value(&c), &map), rgb);
        }
    }

    #[test]
    fn validate_rejects_nonsense() {
        assert!(PixelFormat::RGB888.validate().is_ok());
        assert!(PixelFormat::RGB565.validate().is_ok());
        assert!(PixelFormat::MAPPED8.validate().is_ok());
        let mut bad = PixelFormat::RGB888;
        bad.bits_per_pixel = 24;
        assert!(bad.validate().is_err());
        let mut bad = PixelFormat::RGB888;
        bad.red_max = 254;
        assert!(bad.validate().is_err());
        let mut bad = PixelFormat::RGB888;
        bad.red_shift = 30;
        assert!(bad.validate().is_err());
    }

    #[test]
    fn colour_map_nearest_finds_exact_entry() {
        let map = ColourMap::rgb332();
        let pf = PixelFormat::MAPPED8;
        for i in [0u32, 7, 100, 255] {
            let rgb = map.get(i);
            assert_eq!(map.get(pf.from_rgb(rgb, &map)), rgb);
        }
    }

    #[test]
    fn wire_round_trip() {
        let mut out = Vec::new();
        PixelFormat::RGB565.write(&mut out);
        assert_eq!(out.len(), PixelFormat::WIRE_LEN);
        let mut r = Reader::new(&out);
        assert_eq!(PixelFormat::read(&mut r).ok(), Some(PixelFormat::RGB565));
    }
}
