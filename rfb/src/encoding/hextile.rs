//! Hextile encoding (RFC 6143 section 7.7.4): 16x16 tiles, each raw or a
//! background plus small sub-rectangles. Decoded one whole tile at a time;
//! the background and foreground colours carry over between the tiles of
//! one rectangle.

use super::conv::{unit, Conv, Step, Unit};
use super::rre::{cover, most_frequent};
use crate::framebuffer::Framebuffer;
use crate::pixel::{PixelFormat, Rgb};
use crate::rect::Rect;
use crate::RfbError;

/// Tile edge in pixels.
const TILE: u32 = 16;
/// Subencoding bit: the tile is raw pixels.
const RAW: u8 = 1;
/// Subencoding bit: a background pixel follows.
const BG: u8 = 2;
/// Subencoding bit: a foreground pixel follows.
const FG: u8 = 4;
/// Subencoding bit: a sub-rectangle count follows.
const ANY: u8 = 8;
/// Subencoding bit: each sub-rectangle carries its own pixel.
const COLOURED: u8 = 16;

/// The bytes of one parsed tile, borrowed from the input.
enum Body<'a> {
    Raw(&'a [u8]),
    Rects {
        bg: Option<&'a [u8]>,
        fg: Option<&'a [u8]>,
        coloured: bool,
        subs: &'a [u8],
    },
}

/// Resumable Hextile decoder for one rectangle.
#[derive(Debug)]
pub(crate) struct HextileDecoder {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    /// Offset of the next tile within the rectangle.
    tx: u32,
    ty: u32,
    bg: Option<Rgb>,
    fg: Option<Rgb>,
}

impl HextileDecoder {
    /// A decoder for `rect`.
    pub(crate) fn new(rect: Rect) -> Self {
        HextileDecoder {
            x: u32::from(rect.x),
            y: u32::from(rect.y),
            w: u32::from(rect.w),
            h: u32::from(rect.h),
            tx: 0,
            ty: 0,
            bg: None,
            fg: None,
        }
    }

    fn done(&self) -> bool {
        self.w == 0 || self.ty >= self.h
    }

    /// Decodes every whole tile in `input`.
    pub(crate) fn step(
        &mut self,
        input: &[u8],
        fb: &mut Framebuffer,
        conv: &Conv<'_>,
    ) -> Result<Step, RfbError> {
        let bpp = conv.bpp();
        let mut used = 0;
        while !self.done() {
            let tw = TILE.min(self.w - self.tx);
            let th = TILE.min(self.h - self.ty);
            let rest = input.get(used..).unwrap_or(&[]);
            let parsed = unit(rest, |r| {
                let sub = r.u8()?;
                if sub & RAW != 0 {
                    return Ok(Body::Raw(r.take((tw * th) as usize * bpp)?));
                }
                if sub & 0xe0 != 0 {
                    return Err(RfbError::malformed(
                        "Hextile",
                        format!("subencoding mask {sub:#04x} has undefined bits set"),
                    )
                    .into());
                }
                let bg = if sub & BG != 0 {
                    Some(r.take(bpp)?)
                } else {
                    None
                };
                let fg = if sub & FG != 0 {
                    Some(r.take(bpp)?)
                } else {
                    None
                };
                let coloured = sub & COLOURED != 0;
                let subs = if sub & ANY != 0 {
                    let n = usize::from(r.u8()?);
                    r.take(n * (2 + if coloured { bpp } else { 0 }))?
                } else {
                    &[]
                };
                Ok(Body::Rects {
                    bg,
                    fg,
                    coloured,
                    subs,
                })
            })?;
            let (body, n) = match parsed {
                Unit::Need(n) => return Ok(Step::more(used, n)),
                Unit::Got(b, n) => (b, n),
            };
            let (x0, y0) = (self.x + self.tx, self.y + self.ty);
            match body {
                Body::Raw(data) => {
                    for (row, src) in data.chunks_exact(tw as usize * bpp).enumerate() {
                        conv.pixels_into(src, fb.span_mut(x0, y0 + row as u32, tw));
                    }
                }
                Body::Rects {
                    bg,
                    fg,
                    coloured,
                    subs,
                } => {
                    let bg = match bg {
                        Some(b) => conv.pixel(b),
                        None => self.bg.ok_or_else(|| {
                            RfbError::malformed(
                                "Hextile",
                                "the first non-raw tile of the rectangle has no background",
                            )
                        })?,
                    };
                    self.bg = Some(bg);
                    if let Some(f) = fg {
                        self.fg = Some(conv.pixel(f));
                    }
                    fb.fill_area(x0, y0, tw, th, bg);
                    let each = 2 + if coloured { bpp } else { 0 };
                    for s in subs.chunks_exact(each) {
                        let (px, geo) = s.split_at(each - 2);
                        let colour = if coloured {
                            conv.pixel(px)
                        } else {
                            self.fg.ok_or_else(|| {
                                RfbError::malformed(
                                    "Hextile",
                                    "sub-rectangles use the foreground before any was given",
                                )
                            })?
                        };
                        let (xy, wh) = match geo {
                            [a, b] => (u32::from(*a), u32::from(*b)),
                            _ => (0, 0),
                        };
                        let (sx, sy, sw, sh) = (xy >> 4, xy & 15, (wh >> 4) + 1, (wh & 15) + 1);
                        if sx + sw > tw || sy + sh > th {
                            return Err(RfbError::malformed(
                                "Hextile",
                                format!(
                                    "sub-rectangle {sw}x{sh}+{sx}+{sy} extends past its \
                                     {tw}x{th} tile"
                                ),
                            ));
                        }
                        fb.fill_area(x0 + sx, y0 + sy, sw, sh, colour);
                    }
                }
            }
            used += n;
            self.tx += TILE;
            if self.tx >= self.w {
                self.tx = 0;
                self.ty += TILE;
            }
        }
        Ok(Step::done(used))
    }
}

/// Appends the Hextile payload for the `w` x `h` image `vals` (wire values).
pub(crate) fn encode(vals: &[u32], w: u32, h: u32, pf: &PixelFormat, out: &mut Vec<u8>) {
    let bpp = pf.bytes_per_pixel();
    // What a decoder will assume when a tile leaves the colour out. Both are
    // forgotten after a raw tile, and the foreground after a coloured tile,
    // because decoders disagree on what those leave behind.
    let mut last_bg: Option<u32> = None;
    let mut last_fg: Option<u32> = None;
    let mut tile = Vec::with_capacity((TILE * TILE) as usize);
    for ty in (0..h).step_by(TILE as usize) {
        for tx in (0..w).step_by(TILE as usize) {
            let tw = TILE.min(w - tx);
            let th = TILE.min(h - ty);
            tile.clear();
            for row in ty..ty + th {
                let start = (row * w + tx) as usize;
                tile.extend_from_slice(vals.get(start..start + tw as usize).unwrap_or(&[]));
            }
            let raw_len = (tw * th) as usize * bpp;
            let bg = most_frequent(&tile);
            let others: Vec<u32> = {
                let mut o = Vec::new();
                for &v in &tile {
                    if v != bg && !o.contains(&v) {
                        o.push(v);
                        if o.len() > 1 {
                            break;
                        }
                    }
                }
                o
            };
            let bg_cost = if last_bg == Some(bg) { 0 } else { bpp };
            let mut mask = if last_bg == Some(bg) { 0 } else { BG };
            match others.as_slice() {
                [] => {
                    out.push(mask);
                    if mask & BG != 0 {
                        pf.write_value(bg, out);
                    }
                    last_bg = Some(bg);
                    continue;
                }
                [fg] => {
                    if let Some(subs) = cover(&tile, tw, th, bg, 255) {
                        let fg_cost = if last_fg == Some(*fg) { 0 } else { bpp };
                        if 1 + bg_cost + fg_cost + 1 + 2 * subs.len() < 1 + raw_len {
                            mask |= ANY;
                            if fg_cost > 0 {
                                mask |= FG;
                            }
                            out.push(mask);
                            if mask & BG != 0 {
                                pf.write_value(bg, out);
                            }
                            if mask & FG != 0 {
                                pf.write_value(*fg, out);
                            }
                            push_subs(&subs, None, out);
                            last_bg = Some(bg);
                            last_fg = Some(*fg);
                            continue;
                        }
                    }
                }
                _ => {
                    if let Some(subs) = cover(&tile, tw, th, bg, 255) {
                        if 1 + bg_cost + 1 + (2 + bpp) * subs.len() < 1 + raw_len {
                            mask |= ANY | COLOURED;
                            out.push(mask);
                            if mask & BG != 0 {
                                pf.write_value(bg, out);
                            }
                            push_subs(&subs, Some(pf), out);
                            last_bg = Some(bg);
                            last_fg = None;
                            continue;
                        }
                    }
                }
            }
            out.push(RAW);
            for &v in &tile {
                pf.write_value(v, out);
            }
            last_bg = None;
            last_fg = None;
        }
    }
}

/// Appends a sub-rectangle count and the sub-rectangles (with their pixel
/// when `coloured` gives the format).
fn push_subs(subs: &[super::rre::SubRect], coloured: Option<&PixelFormat>, out: &mut Vec<u8>) {
    out.push(subs.len() as u8);
    for &(x, y, sw, sh, v) in subs {
        if let Some(pf) = coloured {
            pf.write_value(v, out);
        }
        out.push(((x << 4) | y) as u8);
        out.push((((sw - 1) << 4) | (sh - 1)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::pixel::ColourMap;

    fn decode_all(p: &[u8], rect: Rect, fb: &mut Framebuffer) -> Result<Step, RfbError> {
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        HextileDecoder::new(rect).step(p, fb, &conv)
    }

    #[test]
    fn hextile_round_trips_solid_mono_coloured_and_raw_tiles() {
        let l = Limits::DEFAULT;
        let (w, h) = (50u32, 35u32);
        let vals: Vec<u32> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                match x / 16 {
                    0 => 0x10,
                    1 => {
                        if (x + y) % 7 == 0 {
                            0x20
                        } else {
                            0x10
                        }
                    }
                    2 => (x * 3 + y) % 5,
                    _ => i.wrapping_mul(2_654_435_761) & 0x00ff_ffff,
                }
            })
            .collect();
        let mut p = Vec::new();
        encode(&vals, w, h, &PixelFormat::RGB888, &mut p);
        let mut fb = Framebuffer::new(64, 64, &l).expect("fb");
        let s = decode_all(&p, Rect::new(3, 2, w as u16, h as u16), &mut fb).expect("decode");
        assert_eq!(s, Step::done(p.len()));
        for (i, v) in vals.iter().enumerate() {
            let (x, y) = (3 + (i as u32 % w) as u16, 2 + (i as u32 / w) as u16);
            assert_eq!(fb.get(x, y), Some(*v), "pixel {x},{y}");
        }
    }

    #[test]
    fn hextile_first_tile_without_background_is_rejected() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(16, 16, &l).expect("fb");
        let err = decode_all(&[0], Rect::new(0, 0, 16, 16), &mut fb);
        assert!(matches!(
            err,
            Err(RfbError::MalformedEncoding {
                encoding: "Hextile",
                ..
            })
        ));
    }

    #[test]
    fn hextile_sub_rectangle_past_its_tile_is_rejected() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(16, 16, &l).expect("fb");
        // 8x8 tile, background, one coloured sub-rectangle 4x1 at x=6.
        let p = [BG | ANY | COLOURED, 0, 0, 0, 0, 1, 9, 9, 9, 0, 0x60, 0x30];
        let err = decode_all(&p, Rect::new(0, 0, 8, 8), &mut fb);
        assert!(matches!(
            err,
            Err(RfbError::MalformedEncoding {
                encoding: "Hextile",
                ..
            })
        ));
    }

    #[test]
    fn hextile_waits_for_a_whole_tile() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(16, 16, &l).expect("fb");
        let p = [BG | ANY, 1, 0, 0, 0];
        let s = decode_all(&p, Rect::new(0, 0, 16, 16), &mut fb).expect("step");
        assert_eq!(s, Step::more(0, 1));
    }
}
