//! RRE encoding (RFC 6143 section 7.7.3): a background colour and a list of
//! solid sub-rectangles. Decoded one sub-rectangle at a time.

use super::conv::{unit, Conv, Step, Unit};
use crate::framebuffer::Framebuffer;
use crate::pixel::PixelFormat;
use crate::rect::Rect;
use crate::RfbError;

/// Resumable RRE decoder for one rectangle.
#[derive(Debug)]
pub(crate) struct RreDecoder {
    rect: Rect,
    /// Sub-rectangles still to come; `None` before the header.
    left: Option<u32>,
}

impl RreDecoder {
    /// A decoder for `rect`.
    pub(crate) fn new(rect: Rect) -> Self {
        RreDecoder { rect, left: None }
    }

    /// Decodes the header and every whole sub-rectangle in `input`.
    pub(crate) fn step(
        &mut self,
        input: &[u8],
        fb: &mut Framebuffer,
        conv: &Conv<'_>,
    ) -> Result<Step, RfbError> {
        let bpp = conv.bpp();
        let (x0, y0) = (u32::from(self.rect.x), u32::from(self.rect.y));
        let (w, h) = (u32::from(self.rect.w), u32::from(self.rect.h));
        let mut used = 0;
        loop {
            let rest = input.get(used..).unwrap_or(&[]);
            match self.left {
                None => match unit(rest, |r| Ok((r.u32()?, r.take(bpp)?)))? {
                    Unit::Need(n) => return Ok(Step::more(used, n)),
                    Unit::Got((count, bg), n) => {
                        used += n;
                        fb.fill_area(x0, y0, w, h, conv.pixel(bg));
                        self.left = Some(count);
                    }
                },
                Some(0) => return Ok(Step::done(used)),
                Some(left) => {
                    // Whole sub-rectangles only: pixel, x, y, w, h.
                    let each = bpp + 8;
                    let n = (rest.len() / each).min(left as usize);
                    if n == 0 {
                        return Ok(Step::more(used, each - rest.len()));
                    }
                    for s in rest.chunks_exact(each).take(n) {
                        let (px, geo) = s.split_at(bpp);
                        let f = |i: usize| match (geo.get(i), geo.get(i + 1)) {
                            (Some(a), Some(b)) => u32::from(u16::from_be_bytes([*a, *b])),
                            _ => 0,
                        };
                        let (sx, sy, sw, sh) = (f(0), f(2), f(4), f(6));
                        if sx + sw > w || sy + sh > h {
                            return Err(RfbError::malformed(
                                "RRE",
                                format!(
                                    "sub-rectangle {sw}x{sh}+{sx}+{sy} extends past its \
                                     {w}x{h} rectangle"
                                ),
                            ));
                        }
                        fb.fill_area(x0 + sx, y0 + sy, sw, sh, conv.pixel(px));
                    }
                    used += n * each;
                    self.left = Some(left - n as u32);
                }
            }
        }
    }
}

/// A solid sub-rectangle found by [`cover`]: x, y, w, h, pixel value.
pub(crate) type SubRect = (u32, u32, u32, u32, u32);

/// Covers every pixel of the `w` x `h` image `vals` that differs from `bg`
/// with solid, non-overlapping sub-rectangles (greedy: widest run first, then
/// as many rows down as match). Gives up with `None` once more than `max`
/// would be needed.
pub(crate) fn cover(vals: &[u32], w: u32, h: u32, bg: u32, max: usize) -> Option<Vec<SubRect>> {
    let (wu, hu) = (w as usize, h as usize);
    let mut covered = vec![false; wu * hu];
    let mut out = Vec::new();
    let at = |x: usize, y: usize| vals.get(y * wu + x).copied();
    for y in 0..hu {
        for x in 0..wu {
            let i = y * wu + x;
            let v = vals.get(i).copied()?;
            if v == bg || covered.get(i).copied().unwrap_or(true) {
                continue;
            }
            let mut x1 = x + 1;
            while x1 < wu && at(x1, y) == Some(v) && !covered[y * wu + x1] {
                x1 += 1;
            }
            let mut y1 = y + 1;
            while y1 < hu && (x..x1).all(|xx| at(xx, y1) == Some(v) && !covered[y1 * wu + xx]) {
                y1 += 1;
            }
            for yy in y..y1 {
                covered[yy * wu + x..yy * wu + x1].fill(true);
            }
            if out.len() == max {
                return None;
            }
            out.push((x as u32, y as u32, (x1 - x) as u32, (y1 - y) as u32, v));
        }
    }
    Some(out)
}

/// The most frequent value of `vals` (ties: the first seen); 0 when empty.
pub(crate) fn most_frequent(vals: &[u32]) -> u32 {
    let mut counts: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    let mut best = (0usize, vals.first().copied().unwrap_or(0));
    for &v in vals {
        let c = counts.entry(v).or_insert(0);
        *c += 1;
        if *c > best.0 {
            best = (*c, v);
        }
    }
    best.1
}

/// Appends the RRE payload for the `w` x `h` image `vals` (wire values).
pub(crate) fn encode(vals: &[u32], w: u32, h: u32, pf: &PixelFormat, out: &mut Vec<u8>) {
    let bg = most_frequent(vals);
    let subs = cover(vals, w, h, bg, usize::MAX).unwrap_or_default();
    out.extend_from_slice(&(subs.len() as u32).to_be_bytes());
    pf.write_value(bg, out);
    for (x, y, sw, sh, v) in subs {
        pf.write_value(v, out);
        for f in [x, y, sw, sh] {
            out.extend_from_slice(&(f as u16).to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::pixel::{ColourMap, Rgb};

    fn rgb(pf: &PixelFormat, v: u32) -> Rgb {
        pf.to_rgb(v, &ColourMap::new())
    }

    #[test]
    fn cover_reproduces_the_image() {
        let (w, h) = (7u32, 5u32);
        let vals: Vec<u32> = (0..w * h).map(|i| (i % 3) * ((i / 7) % 2)).collect();
        let bg = most_frequent(&vals);
        let subs = cover(&vals, w, h, bg, usize::MAX).expect("cover");
        let mut img = vec![bg; (w * h) as usize];
        for (x, y, sw, sh, v) in subs {
            for yy in y..y + sh {
                for xx in x..x + sw {
                    img[(yy * w + xx) as usize] = v;
                }
            }
        }
        assert_eq!(img, vals);
        assert!(cover(&vals, w, h, bg, 1).is_none());
    }

    #[test]
    fn rre_round_trips_one_byte_at_a_time() {
        let l = Limits::DEFAULT;
        let pf = PixelFormat::RGB888;
        let vals: Vec<u32> = (0..36u32)
            .map(|i| if i % 5 == 0 { 0x00ff_0000 } else { 7 })
            .collect();
        let mut p = Vec::new();
        encode(&vals, 6, 6, &pf, &mut p);
        let map = ColourMap::new();
        let conv = Conv::new(&pf, &map);
        let mut fb = Framebuffer::new(8, 8, &l).expect("fb");
        let mut d = RreDecoder::new(Rect::new(1, 1, 6, 6));
        let mut buf = Vec::new();
        let mut done = false;
        for b in p {
            buf.push(b);
            let s = d.step(&buf, &mut fb, &conv).expect("step");
            buf.drain(..s.used);
            done = s.done;
        }
        assert!(done && buf.is_empty());
        for (i, v) in vals.iter().enumerate() {
            let (x, y) = (1 + (i % 6) as u16, 1 + (i / 6) as u16);
            assert_eq!(fb.get(x, y), Some(rgb(&pf, *v)));
        }
    }

    #[test]
    fn rre_sub_rectangle_outside_its_rectangle_is_rejected() {
        let l = Limits::DEFAULT;
        let map = ColourMap::new();
        let conv = Conv::new(&PixelFormat::RGB888, &map);
        let mut fb = Framebuffer::new(8, 8, &l).expect("fb");
        let mut p = vec![0, 0, 0, 1, 0, 0, 0, 0];
        p.extend_from_slice(&[1, 1, 1, 0, 0, 3, 0, 0, 0, 2, 0, 1]);
        let err = RreDecoder::new(Rect::new(0, 0, 4, 4)).step(&p, &mut fb, &conv);
        assert!(matches!(
            err,
            Err(RfbError::MalformedEncoding {
                encoding: "RRE",
                ..
            })
        ));
    }
}
