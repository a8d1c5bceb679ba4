//! Decoding of the tile format TRLE and ZRLE share (RFC 6143 sections 7.7.5
//! and 7.7.6): each tile starts with a subencoding byte, then raw CPIXELs,
//! one solid CPIXEL, a palette with packed indices, or runs (plain or over a
//! palette).
//!
//! [`TileDecoder`] is resumable at a finer grain than a tile: the tile header
//! with its palette, one row of raw or packed pixels, or one run is the unit,
//! so even a 64x64 ZRLE tile never has to be buffered whole and re-parsing
//! after a short read costs at most one small unit.
//!
//! Within a tile, each pixel coding has a loop of its own that takes every
//! whole unit available in one go and writes straight to the framebuffer;
//! the position in the tile is kept as row and column, so runs never divide.

use super::conv::{unit, Conv, Step, Unit};
use crate::framebuffer::Framebuffer;
use crate::pixel::Rgb;
use crate::rect::Rect;
use crate::RfbError;

/// Largest palette a tile may carry (palette RLE, subencodings 130..=255).
pub(crate) const MAX_PALETTE: usize = 127;

/// How the pixels of the current tile are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A row of CPIXELs per unit.
    Raw,
    /// A row of `bits`-bit palette indices per unit.
    Packed { bits: u32 },
    /// One (CPIXEL, length) run per unit.
    PlainRle,
    /// One palette-index run per unit.
    PaletteRle,
}

/// The tile being decoded.
#[derive(Debug, Clone, Copy)]
struct Tile {
    x: u32,
    y: u32,
    w: u32,
    /// Row and column of the next pixel inside the tile.
    row: u32,
    col: u32,
    /// Pixels of the tile not yet written.
    left: u32,
    mode: Mode,
}

impl Tile {
    /// Writes a run of `len` pixels (at most `left`) from the current
    /// position, wrapping across tile rows.
    #[inline]
    fn put_run(&mut self, fb: &mut Framebuffer, len: u32, c: Rgb) {
        let mut n = len;
        while n > 0 {
            let k = (self.w - self.col).min(n);
            fb.span_mut(self.x + self.col, self.y + self.row, k).fill(c);
            n -= k;
            self.col += k;
            if self.col == self.w {
                self.col = 0;
                self.row += 1;
            }
        }
        self.left -= len;
    }

    /// Counts one whole row as written.
    #[inline]
    fn row_done(&mut self) {
        self.row += 1;
        self.left -= self.w;
    }
}

/// What a pixel loop did with its input: bytes consumed and, when the tile
/// is not finished, at least how many more bytes its next unit needs.
type Progress = (usize, usize);

/// Resumable decoder for the tiles of one TRLE or ZRLE rectangle.
#[derive(Debug)]
pub(crate) struct TileDecoder {
    name: &'static str,
    size: u32,
    /// ZRLE forbids the palette-reuse subencodings.
    reuse: bool,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    tx: u32,
    ty: u32,
    tile: Option<Tile>,
}

impl TileDecoder {
    /// A TRLE decoder (16x16 tiles, palette reuse allowed) for `rect`.
    pub(crate) fn trle(rect: Rect) -> Self {
        Self::new("TRLE", super::trle::TRLE_TILE, true, rect)
    }

    /// A decoder for the tiles of a ZRLE rectangle (64x64, no palette reuse).
    pub(crate) fn zrle(rect: Rect) -> Self {
        Self::new("ZRLE", super::zrle::ZRLE_TILE, false, rect)
    }

    fn new(name: &'static str, size: u32, reuse: bool, rect: Rect) -> Self {
        TileDecoder {
            name,
            size,
            reuse,
            x: u32::from(rect.x),
            y: u32::from(rect.y),
            w: u32::from(rect.w),
            h: u32::from(rect.h),
            tx: 0,
            ty: 0,
            tile: None,
        }
    }

    /// Whether every tile has been decoded.
    pub(crate) fn done(&self) -> bool {
        self.tile.is_none() && (self.w == 0 || self.ty >= self.h)
    }

    fn bad(&self, reason: String) -> RfbError {
        RfbError::malformed(self.name, reason)
    }

    fn next_tile(&mut self) {
        self.tile = None;
        self.tx += self.size;
        if self.tx >= self.w {
            self.tx = 0;
            self.ty += self.size;
        }
    }

    /// Decodes every whole unit in `input`. `palette` is the last palette
    /// sent, kept by the caller across tiles (and, for TRLE reuse, rectangles).
    pub(crate) fn step(
        &mut self,
        input: &[u8],
        fb: &mut Framebuffer,
        conv: &Conv<'_>,
        palette: &mut Vec<Rgb>,
    ) -> Result<Step, RfbError> {
        let mut used = 0;
        loop {
            let rest = input.get(used..).unwrap_or(&[]);
            let Some(mut t) = self.tile else {
                if self.done() {
                    return Ok(Step::done(used));
                }
                match self.header(rest, fb, conv, palette)? {
                    Unit::Need(n) => return Ok(Step::more(used, n)),
                    Unit::Got((), n) => used += n,
                }
                continue;
            };
            let (n, need) = match t.mode {
                Mode::Raw => raw_rows(&mut t, rest, fb, conv),
                Mode::Packed { bits } => packed_rows(&mut t, bits, rest, fb, palette, self.name)?,
                Mode::PlainRle => plain_runs(&mut t, rest, fb, conv, self.name)?,
                Mode::PaletteRle => palette_runs(&mut t, rest, fb, palette, self.name)?,
            };
            used += n;
            if t.left == 0 {
                self.next_tile();
            } else {
                self.tile = Some(t);
                return Ok(Step::more(used, need));
            }
        }
    }

    /// Parses the next tile's subencoding byte and palette: a solid tile is
    /// filled at once, any other becomes the current tile.
    fn header(
        &mut self,
        rest: &[u8],
        fb: &mut Framebuffer,
        conv: &Conv<'_>,
        palette: &mut Vec<Rgb>,
    ) -> Result<Unit<()>, RfbError> {
        let cpx = conv.cpx();
        let tw = self.size.min(self.w - self.tx);
        let th = self.size.min(self.h - self.ty);
        let (x, y) = (self.x + self.tx, self.y + self.ty);
        let parsed = unit(rest, |r| {
            let sub = r.u8()?;
            let n = match sub {
                1 => 1,
                2..=16 => usize::from(sub),
                130..=255 => usize::from(sub - 128),
                _ => 0,
            };
            Ok((sub, r.take(n * cpx)?))
        })?;
        let ((sub, pal), n) = match parsed {
            Unit::Need(n) => return Ok(Unit::Need(n)),
            Unit::Got(v, n) => (v, n),
        };
        let mode = match sub {
            0 => Mode::Raw,
            1 => {
                fb.fill_area(x, y, tw, th, conv.cpixel(pal));
                self.next_tile();
                return Ok(Unit::Got((), n));
            }
            2..=16 | 130..=255 => {
                palette.clear();
                palette.extend(pal.chunks_exact(cpx).map(|c| conv.cpixel(c)));
                if sub <= 16 {
                    Mode::Packed {
                        bits: packed_bits(palette.len()),
                    }
                } else {
                    Mode::PaletteRle
                }
            }
            127 | 129 if self.reuse => {
                if palette.is_empty() || (sub == 127 && palette.len() > 16) {
                    return Err(self.bad(format!(
                        "subencoding {sub} reuses a palette of {} entries",
                        palette.len()
                    )));
                }
                if sub == 127 {
                    Mode::Packed {
                        bits: packed_bits(palette.len()),
                    }
                } else {
                    Mode::PaletteRle
                }
            }
            128 => Mode::PlainRle,
            _ => return Err(self.bad(format!("tile subencoding {sub} is not defined"))),
        };
        self.tile = Some(Tile {
            x,
            y,
            w: tw,
            row: 0,
            col: 0,
            left: tw * th,
            mode,
        });
        Ok(Unit::Got((), n))
    }
}

/// Bits per packed index for a palette of `n` entries.
pub(crate) fn packed_bits(n: usize) -> u32 {
    match n {
        0..=2 => 1,
        3..=4 => 2,
        _ => 4,
    }
}

/// Raw tile rows: `w` CPIXELs each.
fn raw_rows(t: &mut Tile, input: &[u8], fb: &mut Framebuffer, conv: &Conv<'_>) -> Progress {
    let row_bytes = t.w as usize * conv.cpx();
    let mut used = 0;
    while t.left > 0 {
        let Some(src) = input.get(used..used + row_bytes) else {
            return (used, row_bytes - (input.len() - used));
        };
        conv.cpixels_into(src, fb.span_mut(t.x, t.y + t.row, t.w));
        used += row_bytes;
        t.row_done();
    }
    (used, 0)
}

/// Packed palette rows: `w` indices of `bits` bits each, most significant
/// first, each row padded to a whole byte.
fn packed_rows(
    t: &mut Tile,
    bits: u32,
    input: &[u8],
    fb: &mut Framebuffer,
    palette: &[Rgb],
    name: &'static str,
) -> Result<Progress, RfbError> {
    let row_bytes = (t.w * bits).div_ceil(8) as usize;
    // Indices are masked to 4 bits, so a 16-entry table needs no bounds
    // check; indices past the palette are refused before they are used.
    let mut table = [0 as Rgb; 16];
    for (d, s) in table.iter_mut().zip(palette) {
        *d = *s;
    }
    let checked = palette.len() < (1 << bits);
    let mut used = 0;
    while t.left > 0 {
        let Some(src) = input.get(used..used + row_bytes) else {
            return Ok((used, row_bytes - (input.len() - used)));
        };
        if checked {
            if let Some(i) = index_past(src, bits, t.w, palette.len()) {
                return Err(RfbError::malformed(
                    name,
                    format!("packed index {i} past a palette of {}", palette.len()),
                ));
            }
        }
        let dst = fb.span_mut(t.x, t.y + t.row, t.w);
        match bits {
            1 => unpack::<1, 8>(src, &table, dst),
            2 => unpack::<2, 4>(src, &table, dst),
            _ => unpack::<4, 2>(src, &table, dst),
        }
        used += row_bytes;
        t.row_done();
    }
    Ok((used, 0))
}

/// Writes the pixels of one packed row into `dst` (which may be shorter
/// than the row when the tile runs off the screen): `PER` pixels of
/// `BITS` bits from each byte of `src`, most significant first.
#[inline]
fn unpack<const BITS: u32, const PER: usize>(src: &[u8], table: &[Rgb; 16], dst: &mut [Rgb]) {
    let mask = (1u8 << BITS) - 1;
    let index = |b: u8, j: usize| usize::from((b >> (8 - BITS * (j as u32 + 1))) & mask & 15);
    let full = dst.len() / PER;
    let mut chunks = dst.chunks_exact_mut(PER);
    for (c, &b) in (&mut chunks).zip(src) {
        if let Ok(c) = <&mut [Rgb; PER]>::try_from(c) {
            if BITS == 1 {
                // Two colours: a select per pixel, which vectorises.
                let (p0, p1) = (table[0], table[1]);
                for (j, d) in c.iter_mut().enumerate() {
                    *d = if b & (0x80 >> j) != 0 { p1 } else { p0 };
                }
            } else {
                for (j, d) in c.iter_mut().enumerate() {
                    *d = table[index(b, j)];
                }
            }
        }
    }
    let tail = chunks.into_remainder();
    if let Some(&b) = src.get(full) {
        for (j, d) in tail.iter_mut().enumerate() {
            *d = table[index(b, j)];
        }
    }
}

/// The first of the `w` indices of a packed row that is not below `len`.
fn index_past(src: &[u8], bits: u32, w: u32, len: usize) -> Option<usize> {
    let per = 8 / bits;
    let mask = (1u8 << bits) - 1;
    (0..w).find_map(|k| {
        let b = src.get((k / per) as usize).copied().unwrap_or(0);
        let shift = 8 - bits * (k % per + 1);
        let i = usize::from((b >> shift) & mask);
        (i >= len).then_some(i)
    })
}

/// Plain RLE: a CPIXEL and a run length per run.
fn plain_runs(
    t: &mut Tile,
    input: &[u8],
    fb: &mut Framebuffer,
    conv: &Conv<'_>,
    name: &'static str,
) -> Result<Progress, RfbError> {
    let cpx = conv.cpx();
    let mut used = 0;
    while t.left > 0 {
        let rest = input.get(used..).unwrap_or(&[]);
        let (Some(px), Some(lenb)) = (rest.get(..cpx), rest.get(cpx..)) else {
            return Ok((used, cpx + 1 - rest.len()));
        };
        let Some((len, n)) = run_length(lenb, t.left, name)? else {
            return Ok((used, 1));
        };
        used += cpx + n;
        t.put_run(fb, len, conv.cpixel(px));
    }
    Ok((used, 0))
}

/// Palette RLE: an index byte per run, with a run length when its top bit
/// is set (else the run is one pixel).
fn palette_runs(
    t: &mut Tile,
    input: &[u8],
    fb: &mut Framebuffer,
    palette: &[Rgb],
    name: &'static str,
) -> Result<Progress, RfbError> {
    let mut used = 0;
    while t.left > 0 {
        let Some(&b) = input.get(used) else {
            return Ok((used, 1));
        };
        let (len, n) = if b & 0x80 != 0 {
            let lenb = input.get(used + 1..).unwrap_or(&[]);
            match run_length(lenb, t.left, name)? {
                Some((len, n)) => (len, n + 1),
                None => return Ok((used, 1)),
            }
        } else {
            (1, 1)
        };
        let i = usize::from(b & 0x7f);
        let Some(&c) = palette.get(i) else {
            return Err(RfbError::malformed(
                name,
                format!("run index {i} past a palette of {}", palette.len()),
            ));
        };
        used += n;
        t.put_run(fb, len, c);
    }
    Ok((used, 0))
}

/// Reads a run length from the start of `b` (one plus the sum of bytes up
/// to the first that is not 255): `Some((length, bytes))`, or `None` when
/// `b` ends first. Refuses as soon as the length passes the `left` pixels
/// of the tile, even before the length is complete.
#[inline]
pub(crate) fn run_length(
    b: &[u8],
    left: u32,
    name: &'static str,
) -> Result<Option<(u32, usize)>, RfbError> {
    let mut len: u32 = 1;
    for (i, &v) in b.iter().enumerate() {
        len += u32::from(v);
        if len > left {
            return Err(RfbError::malformed(
                name,
                format!("run of at least {len} pixels passes the {left} left in its tile"),
            ));
        }
        if v != 255 {
            return Ok(Some((len, i + 1)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::pixel::{ColourMap, PixelFormat};

    #[test]
    fn run_length_reads_the_rfc_forms_and_waits_for_the_rest() {
        for (bytes, want) in [
            (&[0u8][..], 1u32),
            (&[254], 255),
            (&[255, 0], 256),
            (&[255, 1], 257),
            (&[255, 255, 0], 511),
        ] {
            assert_eq!(
                run_length(bytes, 4096, "TRLE"),
                Ok(Some((want, bytes.len())))
            );
        }
        assert_eq!(run_length(&[255, 255], 4096, "TRLE"), Ok(None));
        assert_eq!(run_length(&[], 4096, "TRLE"), Ok(None));
        assert!(run_length(&[255], 16, "TRLE").is_err());
    }

    #[test]
    fn packed_rows_clip_at_the_screen_edge_and_check_every_index() {
        let l = Limits::DEFAULT;
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        // A 5-pixel-wide screen, a 16-wide tile of 2-bit indices over a
        // 3-colour palette: the pixels past column 4 are dropped.
        let mut fb = Framebuffer::new(5, 1, &l).expect("fb");
        let mut p = vec![3, 1, 0, 0, 2, 0, 0, 3, 0, 0];
        p.extend_from_slice(&[0b0001_1000, 0b0110_0000, 0, 0]);
        let mut pal = Vec::new();
        let s = TileDecoder::trle(Rect::new(0, 0, 16, 1))
            .step(&p, &mut fb, &conv, &mut pal)
            .expect("decodes");
        assert_eq!(s, Step::done(p.len()));
        assert_eq!(fb.pixels(), &[1, 2, 3, 1, 2]);
        // Index 3 off the screen is still refused.
        let last = p.len() - 1;
        p[last] = 0b0000_0011;
        let err = TileDecoder::trle(Rect::new(0, 0, 16, 1)).step(&p, &mut fb, &conv, &mut pal);
        assert!(matches!(err, Err(RfbError::MalformedEncoding { .. })));
    }

    #[test]
    fn a_unit_cut_short_asks_for_no_more_than_it_can_need() {
        let l = Limits::DEFAULT;
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        let mut fb = Framebuffer::new(4, 4, &l).expect("fb");
        let mut pal = Vec::new();
        let rect = Rect::new(0, 0, 4, 4);
        // Plain RLE, one pixel byte of three: two more and a length byte.
        let mut d = TileDecoder::trle(rect);
        let s = d.step(&[128, 9], &mut fb, &conv, &mut pal).expect("step");
        assert_eq!((s.used, s.need), (1, 3));
        // A raw row missing five bytes.
        let mut d = TileDecoder::trle(rect);
        let s = d.step(&[0; 8], &mut fb, &conv, &mut pal).expect("step");
        assert_eq!((s.used, s.need), (1, 5));
        // A palette run (top bit set) whose length byte is still to come.
        let mut d = TileDecoder::trle(rect);
        let s = d
            .step(&[130, 1, 1, 1, 2, 2, 2, 0x81], &mut fb, &conv, &mut pal)
            .expect("step");
        assert_eq!((s.used, s.need), (7, 1));
    }
}
