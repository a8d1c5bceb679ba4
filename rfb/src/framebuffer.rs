//! The console-side (and terminal-side) image: canonical RGB pixels.

use crate::limits::Limits;
use crate::pixel::Rgb;
use crate::rect::Rect;
use crate::RfbError;

/// A screen image of `width` x `height` canonical pixels (`0x00RRGGBB`).
#[derive(Clone, PartialEq, Eq)]
pub struct Framebuffer {
    width: u16,
    height: u16,
    pixels: Vec<Rgb>,
}

impl std::fmt::Debug for Framebuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Framebuffer({}x{})", self.width, self.height)
    }
}

impl Framebuffer {
    /// A black image, after checking the size against `limits`.
    pub fn new(width: u16, height: u16, limits: &Limits) -> Result<Self, RfbError> {
        limits.check_screen(width, height)?;
        Ok(Framebuffer {
            width,
            height,
            pixels: vec![0; usize::from(width) * usize::from(height)],
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u16 {
        self.height
    }

    /// The whole screen as a rectangle.
    pub fn bounds(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }

    /// All pixels, row-major.
    pub fn pixels(&self) -> &[Rgb] {
        &self.pixels
    }

    /// All pixels, mutable.
    pub fn pixels_mut(&mut self) -> &mut [Rgb] {
        &mut self.pixels
    }

    /// Resizes to `width` x `height` (black), checking `limits`.
    pub fn resize(&mut self, width: u16, height: u16, limits: &Limits) -> Result<(), RfbError> {
        limits.check_screen(width, height)?;
        self.width = width;
        self.height = height;
        self.pixels.clear();
        self.pixels
            .resize(usize::from(width) * usize::from(height), 0);
        Ok(())
    }

    /// The pixel at `(x, y)`, or `None` outside the screen.
    pub fn get(&self, x: u16, y: u16) -> Option<Rgb> {
        if x >= self.width || y >= self.height {
            return None;
        }
        self.pixels
            .get(usize::from(y) * usize::from(self.width) + usize::from(x))
            .copied()
    }

    /// Sets the pixel at `(x, y)`; ignored outside the screen.
    pub fn set(&mut self, x: u16, y: u16, v: Rgb) {
        if x < self.width && y < self.height {
            let i = usize::from(y) * usize::from(self.width) + usize::from(x);
            if let Some(p) = self.pixels.get_mut(i) {
                *p = v;
            }
        }
    }

    /// Fills the part of `r` inside the screen.
    pub fn fill(&mut self, r: Rect, v: Rgb) {
        let Some(c) = r.intersect(&self.bounds()) else {
            return;
        };
        let w = usize::from(self.width);
        for y in c.y..c.y + c.h {
            let start = usize::from(y) * w + usize::from(c.x);
            self.pixels[start..start + usize::from(c.w)].fill(v);
        }
    }

    /// Writes `row` (canonical pixels) at `(x, y)`, clipped to the screen.
    pub fn write_row(&mut self, x: u16, y: u16, row: &[Rgb]) {
        if y >= self.height || x >= self.width {
            return;
        }
        let n = row.len().min(usize::from(self.width - x));
        let start = usize::from(y) * usize::from(self.width) + usize::from(x);
        self.pixels[start..start + n].copy_from_slice(&row[..n]);
    }

    /// Copies the rectangle of size `dst.w` x `dst.h` at `(src_x, src_y)` to
    /// `dst` (CopyRect), clipped to the screen on both ends.
    pub fn copy_rect(&mut self, src_x: u16, src_y: u16, dst: Rect) {
        let src = Rect::new(src_x, src_y, dst.w, dst.h);
        if !src.within(self.width, self.height) || !dst.within(self.width, self.height) {
            // Clip conservatively: copy pixel by pixel through a buffer.
            let mut tmp = Vec::with_capacity(dst.area().min(1 << 24) as usize);
            for dy in 0..dst.h {
                for dx in 0..dst.w {
                    tmp.push(
                        self.get(src_x.saturating_add(dx), src_y.saturating_add(dy))
                            .unwrap_or(0),
                    );
                }
            }
            let mut it = tmp.into_iter();
            for dy in 0..dst.h {
                for dx in 0..dst.w {
                    let v = it.next().unwrap_or(0);
                    self.set(dst.x.saturating_add(dx), dst.y.saturating_add(dy), v);
                }
            }
            return;
        }
        let w = usize::from(self.width);
        let rows: Vec<(usize, usize)> = if src_y >= dst.y {
            (0..dst.h).map(|i| (i as usize, i as usize)).collect()
        } else {
            (0..dst.h).rev().map(|i| (i as usize, i as usize)).collect()
        };
        for (i, _) in rows {
            let s = (usize::from(src_y) + i) * w + usize::from(src_x);
            let d = (usize::from(dst.y) + i) * w + usize::from(dst.x);
            self.pixels.copy_within(s..s + usize::from(dst.w), d);
        }
    }

    /// A copy of the part of `r` inside the screen.
    pub fn crop(&self, r: Rect) -> Option<Framebuffer> {
        let c = r.intersect(&self.bounds())?;
        let mut pixels = Vec::with_capacity(c.area() as usize);
        for y in c.y..c.y + c.h {
            let start = usize::from(y) * usize::from(self.width) + usize::from(c.x);
            pixels.extend_from_slice(&self.pixels[start..start + usize::from(c.w)]);
        }
        Some(Framebuffer {
            width: c.w,
            height: c.h,
            pixels,
        })
    }

    /// Compares with `other` (same size), skipping pixels inside any of
    /// `ignore`. Returns the number of differing pixels and their bounding box,
    /// or `None` when equal. Images of different sizes differ everywhere.
    pub fn diff(&self, other: &Framebuffer, ignore: &[Rect]) -> Option<(u64, Rect)> {
        if self.width != other.width || self.height != other.height {
            return Some((
                u64::from(self.width) * u64::from(self.height),
                self.bounds().union(&other.bounds()),
            ));
        }
        let w = usize::from(self.width);
        let mut count = 0u64;
        let mut bbox: Option<Rect> = None;
        for (i, (a, b)) in self.pixels.iter().zip(other.pixels.iter()).enumerate() {
            if a != b {
                let x = (i % w) as u16;
                let y = (i / w) as u16;
                if ignore.iter().any(|r| r.contains(x, y)) {
                    continue;
                }
                count += 1;
                let p = Rect::new(x, y, 1, 1);
                bbox = Some(match bbox {
                    Some(b) => b.union(&p),
                    None => p,
                });
            }
        }
        bbox.map(|b| (count, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_screen_is_refused_before_allocation() {
        assert!(Framebuffer::new(65535, 65535, &Limits::DEFAULT).is_err());
    }

    #[test]
    fn copy_rect_handles_overlap_both_ways() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(4, 4, &l).expect("fb");
        for y in 0..4 {
            for x in 0..4 {
                fb.set(x, y, u32::from(y * 4 + x));
            }
        }
        let orig = fb.clone();
        fb.copy_rect(0, 0, Rect::new(0, 1, 4, 3));
        for y in 1..4 {
            for x in 0..4 {
                assert_eq!(fb.get(x, y), orig.get(x, y - 1));
            }
        }
        let mut fb2 = orig.clone();
        fb2.copy_rect(0, 1, Rect::new(0, 0, 4, 3));
        for y in 0..3 {
            for x in 0..4 {
                assert_eq!(fb2.get(x, y), orig.get(x, y + 1));
            }
        }
    }

    #[test]
    fn diff_respects_ignore_regions() {
        let l = Limits::DEFAULT;
        let a = Framebuffer::new(8, 8, &l).expect("fb");
        let mut b = a.clone();
        b.set(2, 3, 5);
        b.set(6, 6, 5);
        assert_eq!(a.diff(&b, &[]), Some((2, Rect::new(2, 3, 5, 4))));
        assert_eq!(
            a.diff(&b, &[Rect::new(6, 6, 2, 2)]),
            Some((1, Rect::new(2, 3, 1, 1)))
        );
        assert_eq!(a.diff(&a, &[]), None);
    }
}
