//! Sets of pixels of one rectangle, one bit per pixel.

use crate::binding::screen::Rect;

/// A set of pixels of one rectangle, one bit per pixel: which pixels of a
/// screen have been painted (ST-02), or which changed on their own during a
/// control period (the input checks).
#[derive(Debug, Clone)]
pub struct Coverage {
    area: Rect,
    bits: Vec<u64>,
}

impl Coverage {
    /// Nothing marked on a `width` x `height` screen. The size is a screen
    /// size the binding already accepted (at most the limits' pixel count),
    /// so the bitmap is bounded.
    pub fn new(width: u16, height: u16) -> Self {
        Coverage::of(Rect::new(0, 0, width, height))
    }

    /// Nothing marked within `area` (screen coordinates).
    pub fn of(area: Rect) -> Self {
        let n = usize::from(area.w) * usize::from(area.h);
        Coverage {
            area,
            bits: vec![0; n.div_ceil(64)],
        }
    }

    /// Screen width (of a set made with [`Coverage::new`]).
    pub fn width(&self) -> u16 {
        self.area.w
    }

    /// Screen height (of a set made with [`Coverage::new`]).
    pub fn height(&self) -> u16 {
        self.area.h
    }

    fn index(&self, x: u16, y: u16) -> Option<usize> {
        if !self.area.contains(x, y) {
            return None;
        }
        let (dx, dy) = (usize::from(x - self.area.x), usize::from(y - self.area.y));
        Some(dy * usize::from(self.area.w) + dx)
    }

    /// Marks one pixel; `true` if it was not marked before.
    pub fn mark(&mut self, x: u16, y: u16) -> bool {
        let Some(i) = self.index(x, y) else {
            return false;
        };
        match self.bits.get_mut(i / 64) {
            Some(word) => {
                let bit = 1u64 << (i % 64);
                let fresh = *word & bit == 0;
                *word |= bit;
                fresh
            }
            None => false,
        }
    }

    /// Whether a pixel is marked.
    pub fn contains(&self, x: u16, y: u16) -> bool {
        self.index(x, y)
            .and_then(|i| self.bits.get(i / 64).map(|w| w & (1u64 << (i % 64)) != 0))
            .unwrap_or(false)
    }

    /// Marks the part of `r` inside the set's area.
    pub fn add(&mut self, r: Rect) {
        let Some(c) = r.intersect(&self.area) else {
            return;
        };
        for y in c.y..c.y + c.h {
            for x in c.x..c.x + c.w {
                self.mark(x, y);
            }
        }
    }

    /// Pixels marked, and their bounding box.
    pub fn marked(&self) -> (u64, Option<Rect>) {
        self.scan(false)
    }

    /// Pixels not marked, and their bounding box.
    pub fn uncovered(&self) -> (u64, Option<Rect>) {
        self.scan(true)
    }

    fn scan(&self, unmarked: bool) -> (u64, Option<Rect>) {
        // Cheap per pixel (it runs after every update, also under a flood
        // of updates): count and bounds as plain integers, skipping words
        // with nothing to report.
        let mut count = 0u64;
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0usize, 0usize);
        let w = usize::from(self.area.w);
        let n = w * usize::from(self.area.h);
        for (wi, word) in self.bits.iter().enumerate() {
            let mut hits = if unmarked { !*word } else { *word };
            while hits != 0 {
                let b = hits.trailing_zeros() as usize;
                hits &= hits - 1;
                let i = wi * 64 + b;
                if i >= n {
                    break;
                }
                count += 1;
                let (x, y) = (i % w, i / w);
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        let bbox = (count > 0).then(|| {
            Rect::new(
                self.area.x + x0 as u16,
                self.area.y + y0 as u16,
                (x1 - x0 + 1) as u16,
                (y1 - y0 + 1) as u16,
            )
        });
        (count, bbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_reports_uncovered_pixels_and_clips() {
        let mut c = Coverage::new(10, 4);
        c.add(Rect::new(0, 0, 10, 2));
        c.add(Rect::new(8, 2, 100, 100));
        let (n, bbox) = c.uncovered();
        assert_eq!(n, 16);
        assert_eq!(bbox, Some(Rect::new(0, 2, 8, 2)));
        c.add(Rect::new(0, 2, 8, 2));
        assert_eq!(c.uncovered(), (0, None));
    }

    #[test]
    fn coverage_bounds_holes_across_words_and_rows() {
        let mut c = Coverage::new(100, 3);
        c.add(Rect::new(0, 0, 70, 1));
        c.add(Rect::new(71, 0, 29, 1));
        c.add(Rect::new(0, 1, 100, 1));
        c.add(Rect::new(0, 2, 5, 1));
        c.add(Rect::new(6, 2, 94, 1));
        assert_eq!(c.uncovered(), (2, Some(Rect::new(5, 0, 66, 3))));
    }
}
