//! TRLE encoding (RFC 6143 section 7.7.5) and the tile format it shares with
//! ZRLE: each tile starts with a subencoding byte, then raw CPIXELs, one solid
//! CPIXEL, a palette with packed indices, or runs (plain or over a palette).
//!
//! [`TileDecoder`] is resumable at a finer grain than a tile: the tile header
//! with its palette, one row of raw or packed pixels, or one run is the unit,
//! so even a 64x64 ZRLE tile never has to be buffered whole and re-parsing
//! after a short read costs at most one small unit.

use super::conv::{unit, Conv, Step, Unit};
use crate::error::ReadError;
use crate::framebuffer::Framebuffer;
use crate::pixel::{PixelFormat, Rgb};
use crate::reader::Reader;
use crate::rect::Rect;
use crate::RfbError;

/// Tile edge of TRLE.
pub(crate) const TRLE_TILE: u32 = 16;
/// Largest palette a tile may carry (palette RLE, subencodings 130..=255).
const MAX_PALETTE: usize = 127;

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
    h: u32,
    /// Pixels of the tile already written.
    pos: u32,
    mode: Mode,
}

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
    row: Vec<Rgb>,
}

impl TileDecoder {
    /// A TRLE decoder (16x16 tiles, palette reuse allowed) for `rect`.
    pub(crate) fn trle(rect: Rect) -> Self {
        Self::new("TRLE", TRLE_TILE, true, rect)
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
            row: Vec::new(),
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
        let cpx = conv.cpx();
        let mut used = 0;
        loop {
            let rest = input.get(used..).unwrap_or(&[]);
            let Some(mut t) = self.tile else {
                if self.done() {
                    return Ok(Step::done(used));
                }
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
                let (sub, pal) = match parsed {
                    Unit::Need(n) => return Ok(Step::more(used, n)),
                    Unit::Got(v, n) => {
                        used += n;
                        v
                    }
                };
                let mode = match sub {
                    0 => Mode::Raw,
                    1 => {
                        fb.fill_area(x, y, tw, th, conv.cpixel(pal));
                        self.next_tile();
                        continue;
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
                    h: th,
                    pos: 0,
                    mode,
                });
                continue;
            };
            let total = t.w * t.h;
            let left = total - t.pos;
            match t.mode {
                Mode::Raw => match unit(rest, |r| r.take(t.w as usize * cpx))? {
                    Unit::Need(n) => return Ok(Step::more(used, n)),
                    Unit::Got(src, n) => {
                        used += n;
                        let row = t.pos / t.w;
                        conv.cpixels_into(src, fb.span_mut(t.x, t.y + row, t.w));
                        t.pos += t.w;
                    }
                },
                Mode::Packed { bits } => {
                    let row_bytes = ((t.w * bits).div_ceil(8)) as usize;
                    match unit(rest, |r| r.take(row_bytes))? {
                        Unit::Need(n) => return Ok(Step::more(used, n)),
                        Unit::Got(src, n) => {
                            self.row.clear();
                            let per = 8 / bits;
                            let mask = (1u8 << bits) - 1;
                            'bytes: for &b in src {
                                for k in 0..per {
                                    if self.row.len() == t.w as usize {
                                        break 'bytes;
                                    }
                                    let shift = 8 - bits * (k + 1);
                                    let i = usize::from((b >> shift) & mask);
                                    let Some(&c) = palette.get(i) else {
                                        return Err(self.bad(format!(
                                            "packed index {i} past a palette of {}",
                                            palette.len()
                                        )));
                                    };
                                    self.row.push(c);
                                }
                            }
                            used += n;
                            let row = t.pos / t.w;
                            let dst = fb.span_mut(t.x, t.y + row, t.w);
                            for (d, s) in dst.iter_mut().zip(&self.row) {
                                *d = *s;
                            }
                            t.pos += t.w;
                        }
                    }
                }
                Mode::PlainRle => {
                    let parsed = unit(rest, |r| {
                        let px = r.take(cpx)?;
                        Ok((px, run_length(r, left, self.name)?))
                    })?;
                    match parsed {
                        Unit::Need(n) => return Ok(Step::more(used, n)),
                        Unit::Got((px, len), n) => {
                            used += n;
                            put_run(fb, &t, len, conv.cpixel(px));
                            t.pos += len;
                        }
                    }
                }
                Mode::PaletteRle => {
                    let parsed = unit(rest, |r| {
                        let b = r.u8()?;
                        let len = if b & 0x80 != 0 {
                            run_length(r, left, self.name)?
                        } else {
                            1
                        };
                        Ok((usize::from(b & 0x7f), len))
                    })?;
                    match parsed {
                        Unit::Need(n) => return Ok(Step::more(used, n)),
                        Unit::Got((i, len), n) => {
                            let Some(&c) = palette.get(i) else {
                                return Err(self.bad(format!(
                                    "run index {i} past a palette of {}",
                                    palette.len()
                                )));
                            };
                            used += n;
                            put_run(fb, &t, len, c);
                            t.pos += len;
                        }
                    }
                }
            }
            if t.pos >= total {
                self.next_tile();
            } else {
                self.tile = Some(t);
            }
        }
    }
}

/// Bits per packed index for a palette of `n` entries.
fn packed_bits(n: usize) -> u32 {
    match n {
        0..=2 => 1,
        3..=4 => 2,
        _ => 4,
    }
}

/// Reads a run length (one plus the sum of bytes up to the first that is not
/// 255), refusing as soon as it passes the `left` pixels of the tile.
fn run_length(r: &mut Reader<'_>, left: u32, name: &'static str) -> Result<u32, ReadError> {
    let mut len: u32 = 1;
    loop {
        let b = r.u8()?;
        len += u32::from(b);
        if len > left {
            return Err(RfbError::malformed(
                name,
                format!("run of at least {len} pixels passes the {left} left in its tile"),
            )
            .into());
        }
        if b != 255 {
            return Ok(len);
        }
    }
}

/// Writes a run of `len` pixels from the tile's current position, wrapping
/// across tile rows.
fn put_run(fb: &mut Framebuffer, t: &Tile, len: u32, c: Rgb) {
    let mut p = t.pos;
    let end = t.pos + len;
    while p < end {
        let (row, col) = (p / t.w, p % t.w);
        let n = (t.w - col).min(end - p);
        fb.span_mut(t.x + col, t.y + row, n).fill(c);
        p += n;
    }
}

/// Appends a run length in the TRLE/ZRLE form.
fn push_run_length(len: usize, out: &mut Vec<u8>) {
    let mut l = len - 1;
    while l >= 255 {
        out.push(255);
        l -= 255;
    }
    out.push(l as u8);
}

/// Bytes a run length of `len` takes.
fn run_length_bytes(len: usize) -> usize {
    (len - 1) / 255 + 1
}

/// Appends the tiles of the `w` x `h` image `vals` (wire values) in the TRLE
/// tile format with `size`-pixel tiles. With `reuse`, a tile whose packed
/// palette equals the previous tile's is sent with subencoding 127.
pub(crate) fn encode_tiles(
    vals: &[u32],
    w: u32,
    h: u32,
    size: u32,
    reuse: bool,
    pf: &PixelFormat,
    out: &mut Vec<u8>,
) {
    let cpx = pf.cpixel_len();
    let mut tile: Vec<u32> = Vec::with_capacity((size * size) as usize);
    let mut prev_palette: Option<Vec<u32>> = None;
    for ty in (0..h).step_by(size as usize) {
        for tx in (0..w).step_by(size as usize) {
            let tw = size.min(w - tx);
            let th = size.min(h - ty);
            tile.clear();
            for row in ty..ty + th {
                let start = (row * w + tx) as usize;
                tile.extend_from_slice(vals.get(start..start + tw as usize).unwrap_or(&[]));
            }
            let palette = encode_tile(&tile, tw, cpx, prev_palette.as_deref(), reuse, pf, out);
            prev_palette = palette;
        }
    }
}

/// Appends one tile, choosing the smallest of the subencodings this encoder
/// knows. Returns the palette it sent (or reused), for palette reuse.
fn encode_tile(
    tile: &[u32],
    tw: u32,
    cpx: usize,
    prev: Option<&[u32]>,
    reuse: bool,
    pf: &PixelFormat,
    out: &mut Vec<u8>,
) -> Option<Vec<u32>> {
    let n = tile.len();
    // Palette in order of first appearance, given up past MAX_PALETTE.
    let mut palette: Vec<u32> = Vec::new();
    let mut fits = true;
    let mut last = None;
    for &v in tile {
        if last == Some(v) {
            continue;
        }
        last = Some(v);
        if !palette.contains(&v) {
            if palette.len() == MAX_PALETTE {
                fits = false;
                break;
            }
            palette.push(v);
        }
    }
    if fits && palette.len() == 1 {
        out.push(1);
        pf.write_cpixel(palette.first().copied().unwrap_or(0), out);
        return None;
    }
    // Runs.
    let mut runs: Vec<(u32, usize)> = Vec::new();
    for &v in tile {
        match runs.last_mut() {
            Some((rv, len)) if *rv == v => *len += 1,
            _ => runs.push((v, 1)),
        }
    }
    let raw = n * cpx;
    let plain: usize = runs.iter().map(|&(_, l)| cpx + run_length_bytes(l)).sum();
    let mut best = (raw, 0u8);
    if plain < best.0 {
        best = (plain, 128);
    }
    let reusing = reuse && fits && prev == Some(palette.as_slice());
    if fits {
        let p = palette.len();
        let pal_cost = if reusing { 0 } else { p * cpx };
        let prle: usize = pal_cost
            + runs
                .iter()
                .map(|&(_, l)| if l == 1 { 1 } else { 1 + run_length_bytes(l) })
                .sum::<usize>();
        if prle < best.0 && !reusing {
            best = (prle, 128 + p as u8);
        }
        if p <= 16 {
            let bits = packed_bits(p);
            let th = n / tw as usize;
            let packed = pal_cost + (tw * bits).div_ceil(8) as usize * th;
            if packed < best.0 {
                best = (packed, if reusing { 127 } else { p as u8 });
            }
        }
    }
    let index = |v: u32| palette.iter().position(|&c| c == v).unwrap_or(0) as u8;
    let sub = best.1;
    out.push(sub);
    match sub {
        0 => {
            for &v in tile {
                pf.write_cpixel(v, out);
            }
            None
        }
        128 => {
            for &(v, l) in &runs {
                pf.write_cpixel(v, out);
                push_run_length(l, out);
            }
            None
        }
        127 | 2..=16 => {
            if sub != 127 {
                for &c in &palette {
                    pf.write_cpixel(c, out);
                }
            }
            let bits = packed_bits(palette.len());
            for row in tile.chunks(tw as usize) {
                let mut acc: u8 = 0;
                let mut filled = 0;
                for &v in row {
                    acc |= index(v) << (8 - bits - filled);
                    filled += bits;
                    if filled == 8 {
                        out.push(acc);
                        acc = 0;
                        filled = 0;
                    }
                }
                if filled > 0 {
                    out.push(acc);
                }
            }
            Some(palette)
        }
        _ => {
            for &c in &palette {
                pf.write_cpixel(c, out);
            }
            for &(v, l) in &runs {
                if l == 1 {
                    out.push(index(v));
                } else {
                    out.push(index(v) | 0x80);
                    push_run_length(l, out);
                }
            }
            Some(palette)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::pixel::ColourMap;

    fn decode(p: &[u8], rect: Rect, fb: &mut Framebuffer) -> Result<Step, RfbError> {
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        let mut pal = Vec::new();
        TileDecoder::trle(rect).step(p, fb, &conv, &mut pal)
    }

    #[test]
    fn run_length_encoding_matches_the_rfc_examples() {
        for (len, want) in [
            (1usize, vec![0u8]),
            (255, vec![254]),
            (256, vec![255, 0]),
            (257, vec![255, 1]),
            (510, vec![255, 254]),
            (511, vec![255, 255, 0]),
        ] {
            let mut out = Vec::new();
            push_run_length(len, &mut out);
            assert_eq!(out, want, "length {len}");
            assert_eq!(run_length_bytes(len), want.len());
            let mut r = Reader::new(&out);
            assert_eq!(run_length(&mut r, 4096, "TRLE").ok(), Some(len as u32));
        }
    }

    #[test]
    fn trle_round_trips_every_subencoding_byte_by_byte() {
        let l = Limits::DEFAULT;
        let (w, h) = (83u32, 37u32);
        let vals: Vec<u32> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                match x / 16 {
                    0 => 0x0011_2233,                       // solid
                    1 => [1, 2, 3][((x + y) % 3) as usize], // packed
                    2 => {
                        if y < 8 {
                            5
                        } else {
                            6
                        }
                    } // runs
                    3 => (x * 7 + y * 13) % 40,             // palette RLE
                    _ => i.wrapping_mul(2_654_435_761) & 0x00ff_ffff, // raw
                }
            })
            .collect();
        let mut p = Vec::new();
        encode_tiles(&vals, w, h, TRLE_TILE, true, &PixelFormat::RGB888, &mut p);
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        let mut fb = Framebuffer::new(100, 50, &l).expect("fb");
        let mut d = TileDecoder::trle(Rect::new(5, 6, w as u16, h as u16));
        let mut pal = Vec::new();
        let mut buf = Vec::new();
        let mut done = false;
        for b in &p {
            buf.push(*b);
            let s = d.step(&buf, &mut fb, &conv, &mut pal).expect("step");
            buf.drain(..s.used);
            done = s.done;
        }
        assert!(done && buf.is_empty());
        for (i, v) in vals.iter().enumerate() {
            let (x, y) = (5 + (i as u32 % w) as u16, 6 + (i as u32 / w) as u16);
            assert_eq!(fb.get(x, y), Some(*v), "pixel {x},{y}");
        }
    }

    #[test]
    fn trle_palette_reuse_uses_the_previous_palette() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(32, 1, &l).expect("fb");
        // Tile 1: packed palette of 2 (pixels 0,1 alternating); tile 2: reuse.
        let mut p = vec![2, 1, 0, 0, 2, 0, 0];
        p.extend_from_slice(&[0x55, 0x55]);
        p.extend_from_slice(&[127, 0xff, 0x00]);
        assert_eq!(
            decode(&p, Rect::new(0, 0, 32, 1), &mut fb),
            Ok(Step::done(p.len()))
        );
        assert_eq!(fb.get(0, 0), Some(1));
        assert_eq!(fb.get(1, 0), Some(2));
        assert_eq!(fb.get(16, 0), Some(2));
        assert_eq!(fb.get(31, 0), Some(1));
    }

    #[test]
    fn trle_reuse_without_a_palette_is_rejected() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(16, 1, &l).expect("fb");
        let err = decode(&[127, 0, 0], Rect::new(0, 0, 16, 1), &mut fb);
        assert!(matches!(
            err,
            Err(RfbError::MalformedEncoding {
                encoding: "TRLE",
                ..
            })
        ));
    }

    #[test]
    fn trle_undefined_subencoding_is_rejected() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(16, 1, &l).expect("fb");
        for sub in [17u8, 100, 126] {
            let err = decode(&[sub], Rect::new(0, 0, 16, 1), &mut fb);
            assert!(
                matches!(err, Err(RfbError::MalformedEncoding { .. })),
                "{sub}"
            );
        }
    }

    #[test]
    fn trle_run_past_the_tile_is_rejected_without_waiting() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(4, 4, &l).expect("fb");
        // Plain RLE, 4x4 tile (16 pixels), run of 17.
        let err = decode(&[128, 1, 2, 3, 16], Rect::new(0, 0, 4, 4), &mut fb);
        assert!(matches!(err, Err(RfbError::MalformedEncoding { .. })));
        // Endless 255 bytes fail as soon as the length passes the tile.
        let err = decode(&[128, 1, 2, 3, 255], Rect::new(0, 0, 4, 4), &mut fb);
        assert!(matches!(err, Err(RfbError::MalformedEncoding { .. })));
    }

    #[test]
    fn trle_palette_index_past_the_palette_is_rejected() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(4, 1, &l).expect("fb");
        // Palette RLE with 2 entries, index 5.
        let err = decode(&[130, 1, 1, 1, 2, 2, 2, 5], Rect::new(0, 0, 4, 1), &mut fb);
        assert!(matches!(err, Err(RfbError::MalformedEncoding { .. })));
        // Packed palette of 3 (2 bits), index 3.
        let err = decode(
            &[3, 1, 1, 1, 2, 2, 2, 3, 3, 3, 0xc0],
            Rect::new(0, 0, 4, 1),
            &mut fb,
        );
        assert!(matches!(err, Err(RfbError::MalformedEncoding { .. })));
    }
}
