//! The console-side (and terminal-side) image: canonical RGB pixels.

use crate::limits::Limits;
use crate::pixel::Rgb;
use crate::rect::Rect;
use crate::RfbError;

/// Pixel buffers of at least this many bytes are reserved with at least
/// [`LARGE_RESERVE`] bytes of capacity.
pub const LARGE_BUFFER: usize = 1 << 20;

/// The capacity a large pixel buffer reserves: just over the largest
/// threshold (32 MiB on 64-bit glibc) above which the system allocator
/// always maps a block of its own and unmaps it when freed. A screen of,
/// say, 3840x2160 (31.6 MiB) would otherwise fall below that threshold once
/// it has risen, and every copy freed would stay in the heap, so memory
/// would grow with each console opened. The capacity beyond the pixels is
/// address space only: pages never written take no memory.
pub const LARGE_RESERVE: usize = (32 << 20) + 4096;

/// An empty buffer with room for `n` pixels (see [`LARGE_RESERVE`]).
fn room_for(n: usize) -> Vec<Rgb> {
    let px = std::mem::size_of::<Rgb>();
    if n.saturating_mul(px) < LARGE_BUFFER {
        Vec::with_capacity(n)
    } else {
        Vec::with_capacity(n.max(LARGE_RESERVE / px))
    }
}

/// A zeroed buffer of `n` pixels (see [`LARGE_RESERVE`]).
fn pixel_buffer(n: usize) -> Vec<Rgb> {
    let mut v = room_for(n);
    v.resize(n, 0);
    v
}

/// A screen image of `width` x `height` canonical pixels (`0x00RRGGBB`).
#[derive(PartialEq, Eq)]
pub struct Framebuffer {
    width: u16,
    height: u16,
    pixels: Vec<Rgb>,
}

impl Clone for Framebuffer {
    fn clone(&self) -> Self {
        let mut pixels = room_for(self.pixels.len());
        pixels.extend_from_slice(&self.pixels);
        Framebuffer {
            width: self.width,
            height: self.height,
            pixels,
        }
    }
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
            pixels: pixel_buffer(usize::from(width) * usize::from(height)),
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
        let n = usize::from(width) * usize::from(height);
        if n > self.pixels.capacity() {
            self.pixels = pixel_buffer(n);
        } else {
            self.pixels.clear();
            self.pixels.resize(n, 0);
        }
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
    /// `dst` (CopyRect), clipped to the screen on both ends: destination
    /// pixels outside the screen are dropped, and destination pixels whose
    /// source lies outside the screen become black. Overlapping source and
    /// destination are handled like `memmove`. The work done is bounded by the
    /// screen area, whatever the rectangle claims.
    pub fn copy_rect(&mut self, src_x: u16, src_y: u16, dst: Rect) {
        let Some(clip) = dst.intersect(&self.bounds()) else {
            return;
        };
        let w = usize::from(self.width);
        let width = i64::from(self.width);
        let height = i64::from(self.height);
        // Offset from a destination pixel to its source pixel.
        let dx = i64::from(src_x) - i64::from(dst.x);
        let dy = i64::from(src_y) - i64::from(dst.y);
        let x0 = i64::from(clip.x);
        let x1 = x0 + i64::from(clip.w);
        // Source columns that lie on screen, expressed as destination columns.
        let cx0 = x0.max(-dx);
        let cx1 = x1.min(width - dx);
        let rows: Box<dyn Iterator<Item = u16>> = if dy >= 0 {
            Box::new(clip.y..clip.y + clip.h)
        } else {
            Box::new((clip.y..clip.y + clip.h).rev())
        };
        for y in rows {
            let d_row = usize::from(y) * w;
            let sy = i64::from(y) + dy;
            if (0..height).contains(&sy) && cx0 < cx1 {
                // All values are within the screen here, so the casts are exact.
                let s = (sy as usize) * w + ((cx0 + dx) as usize);
                let d = d_row + cx0 as usize;
                let n = (cx1 - cx0) as usize;
                self.pixels.copy_within(s..s + n, d);
                let left = (d_row + x0 as usize)..d;
                let right = (d + n)..(d_row + x1 as usize);
                self.pixels[left].fill(0);
                self.pixels[right].fill(0);
            } else {
                self.pixels[d_row + x0 as usize..d_row + x1 as usize].fill(0);
            }
        }
    }

    /// The on-screen part of the `len` pixels starting at `(x, y)` on one
    /// row, for decoders writing rectangles that may run off the screen.
    /// Coordinates are `u32` because a rectangle's far edge can pass
    /// `u16::MAX`. Empty when `(x, y)` lies off the screen.
    pub fn span_mut(&mut self, x: u32, y: u32, len: u32) -> &mut [Rgb] {
        let (fw, fh) = (u32::from(self.width), u32::from(self.height));
        if x >= fw || y >= fh {
            return &mut [];
        }
        let n = len.min(fw - x) as usize;
        let start = y as usize * fw as usize + x as usize;
        self.pixels.get_mut(start..start + n).unwrap_or(&mut [])
    }

    /// Fills the on-screen part of the `w` x `h` area at `(x, y)`; like
    /// [`Self::fill`] but with coordinates that may pass `u16::MAX`.
    pub fn fill_area(&mut self, x: u32, y: u32, w: u32, h: u32, v: Rgb) {
        let fh = u32::from(self.height);
        if y >= fh {
            return;
        }
        let rows = h.min(fh - y);
        for row in 0..rows {
            self.span_mut(x, y + row, w).fill(v);
        }
    }

    /// A copy of the part of `r` inside the screen.
    pub fn crop(&self, r: Rect) -> Option<Framebuffer> {
        let c = r.intersect(&self.bounds())?;
        let mut pixels = room_for(c.area() as usize);
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
    fn large_buffers_reserve_past_the_allocators_mapping_threshold() {
        let fb = Framebuffer::new(3840, 2160, &Limits::DEFAULT)
            .expect("a 4K screen is within the limits");
        assert!(fb.pixels.capacity() * 4 >= LARGE_RESERVE);
        assert_eq!(fb.pixels().len(), 3840 * 2160);
        assert!(fb.clone().pixels.capacity() * 4 >= LARGE_RESERVE);
        let crop = fb.crop(Rect::new(0, 0, 1024, 1024)).expect("on screen");
        assert!(crop.pixels.capacity() * 4 >= LARGE_RESERVE);
        // Small images are left as they are.
        let small = Framebuffer::new(64, 64, &Limits::DEFAULT).expect("a small screen");
        assert_eq!(small.clone().pixels.capacity(), 64 * 64);
    }

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
    fn copy_rect_from_off_screen_source_is_black_and_bounded() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(4, 4, &l).expect("fb");
        fb.fill(fb.bounds(), 7);
        // Source half off the right edge: the off-screen half becomes black.
        fb.copy_rect(2, 0, Rect::new(0, 0, 4, 1));
        assert_eq!(&fb.pixels()[..4], &[7, 7, 0, 0]);
        // A huge rectangle far off screen costs nothing and changes nothing.
        let before = fb.clone();
        fb.copy_rect(65535, 65535, Rect::new(60000, 60000, 65535, 65535));
        assert_eq!(fb, before);
        // Destination partly off screen: only the on-screen part is written.
        fb.copy_rect(0, 0, Rect::new(3, 3, 65535, 65535));
        assert_eq!(fb.get(3, 3), Some(7));
    }

    #[test]
    fn span_mut_clips_to_the_screen() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(4, 2, &l).expect("fb");
        assert_eq!(fb.span_mut(2, 1, 10).len(), 2);
        assert_eq!(fb.span_mut(4, 0, 1).len(), 0);
        assert_eq!(fb.span_mut(0, 2, 1).len(), 0);
        assert_eq!(fb.span_mut(70000, 0, 1).len(), 0);
        fb.fill_area(1, 1, 100_000, 100_000, 9);
        assert_eq!(fb.pixels(), &[0, 0, 0, 0, 0, 9, 9, 9]);
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
