//! TRLE encoding (RFC 6143 section 7.7.5): the encoder of the tile format
//! TRLE shares with ZRLE (16-pixel tiles here, 64 in ZRLE). Tiles are decoded
//! by [`super::tiles::TileDecoder`].

use super::tiles::{packed_bits, MAX_PALETTE};
use crate::pixel::PixelFormat;

pub(crate) use super::tiles::TileDecoder;

/// Tile edge of TRLE.
pub(crate) const TRLE_TILE: u32 = 16;

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
    use crate::encoding::conv::{Conv, Step};
    use crate::encoding::tiles::run_length;
    use crate::framebuffer::Framebuffer;
    use crate::limits::Limits;
    use crate::pixel::ColourMap;
    use crate::rect::Rect;
    use crate::RfbError;

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
            assert_eq!(
                run_length(&out, 4096, "TRLE"),
                Ok(Some((len as u32, out.len())))
            );
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
