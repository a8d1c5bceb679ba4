//! Copies of one rectangle of the screen, compared in place with the live
//! framebuffer within the rectangles an update painted, and the pixels that
//! never count as a reaction ([`Exclusions`]). Only the rectangle's pixels
//! are copied, so a check's memory does not grow with the screen size the
//! terminal announces beyond one copy of what it watches.

use crate::binding::screen::{Image, Rect};
use crate::binding::DamageKind;

use super::{Coverage, Tracked};
use crate::binding::UpdateInfo;

/// A copy of one rectangle of the screen.
pub struct Patch {
    screen: Rect,
    area: Rect,
    img: Image,
}

impl Patch {
    /// Copies the part of `area` on the screen of `t` (`None` when `area` is
    /// wholly off the screen).
    pub fn capture(t: &Tracked, area: Rect) -> Option<Patch> {
        t.with_framebuffer(|fb| Patch::of(fb, area))
    }

    /// Copies the part of `area` on `fb`.
    pub fn of(fb: &Image, area: Rect) -> Option<Patch> {
        let screen = fb.bounds();
        let area = area.intersect(&screen)?;
        let img = fb.crop(area)?;
        Some(Patch { screen, area, img })
    }

    /// The rectangle copied (screen coordinates).
    pub fn area(&self) -> Rect {
        self.area
    }

    /// The copied pixels, as an image of the area's size.
    pub fn image(&self) -> &Image {
        &self.img
    }

    /// The row spans of `areas` inside the patch: for each, its column and
    /// row on the screen and the index ranges of its pixels in the live
    /// framebuffer and in the patch.
    fn spans<'a>(&'a self, live: &Image, areas: &'a [Rect]) -> impl Iterator<Item = Span> + 'a {
        let w = usize::from(live.width());
        let pw = usize::from(self.area.w);
        let area = self.area;
        areas
            .iter()
            .filter_map(move |a| a.intersect(&area))
            .flat_map(move |c| {
                (c.y..c.y + c.h).map(move |y| {
                    let n = usize::from(c.w);
                    let src = usize::from(y) * w + usize::from(c.x);
                    let dst = usize::from(y - area.y) * pw + usize::from(c.x - area.x);
                    Span {
                        x: c.x,
                        y,
                        live: src..src + n,
                        patch: dst..dst + n,
                    }
                })
            })
    }

    /// Copies the live pixels of `areas` into the patch.
    pub fn refresh(&mut self, live: &Image, areas: &[Rect]) {
        if live.bounds() != self.screen {
            return;
        }
        let spans: Vec<Span> = self.spans(live, areas).collect();
        for sp in spans {
            if let (Some(s), Some(d)) = (
                live.pixels().get(sp.live),
                self.img.pixels_mut().get_mut(sp.patch),
            ) {
                d.copy_from_slice(s);
            }
        }
    }

    /// Calls `each` for every pixel of `areas` (within the patch) that
    /// differs between the patch and `live`. A screen whose size changed
    /// differs everywhere.
    pub fn for_each_change(&self, live: &Image, areas: &[Rect], mut each: impl FnMut(u16, u16)) {
        if live.bounds() != self.screen {
            for y in self.area.y..self.area.y + self.area.h {
                for x in self.area.x..self.area.x + self.area.w {
                    each(x, y);
                }
            }
            return;
        }
        for sp in self.spans(live, areas) {
            let (Some(s), Some(d)) = (live.pixels().get(sp.live), self.img.pixels().get(sp.patch))
            else {
                continue;
            };
            if s == d {
                continue;
            }
            for (i, (p, q)) in s.iter().zip(d).enumerate() {
                if p != q {
                    each(sp.x + i as u16, sp.y);
                }
            }
        }
    }

    /// Differing pixels of `areas` not excluded by `skip`: count and bounding
    /// box, `None` when there are none. Overlapping areas count a pixel once.
    pub fn diff(&self, live: &Image, areas: &[Rect], skip: &Exclusions) -> Option<(u64, Rect)> {
        let mut seen = (areas.len() > 1).then(|| Coverage::of(self.area));
        let mut count = 0u64;
        let mut bbox: Option<Rect> = None;
        self.for_each_change(live, areas, |x, y| {
            if skip.excludes(x, y) {
                return;
            }
            if let Some(s) = seen.as_mut() {
                if !s.mark(x, y) {
                    return;
                }
            }
            count += 1;
            let p = Rect::new(x, y, 1, 1);
            bbox = Some(bbox.map_or(p, |b| b.union(&p)));
        });
        bbox.map(|b| (count, b))
    }
}

/// One row of an area, as index ranges into the live image and the patch.
struct Span {
    x: u16,
    y: u16,
    live: std::ops::Range<usize>,
    patch: std::ops::Range<usize>,
}

/// Pixels that never count as a reaction.
#[derive(Default)]
pub struct Exclusions {
    /// The declaration's `[screen] ignore` regions.
    pub ignore: Vec<Rect>,
    /// Pixels that changed on their own during the control period.
    pub self_changing: Option<Coverage>,
    /// Where a pointer the terminal draws into the image may have been.
    pub footprints: Vec<Rect>,
}

impl Exclusions {
    /// Only the declared `ignore` regions.
    pub fn declared(ignore: &[Rect]) -> Self {
        Exclusions {
            ignore: ignore.to_vec(),
            ..Exclusions::default()
        }
    }

    /// Whether the pixel is excluded.
    pub fn excludes(&self, x: u16, y: u16) -> bool {
        self.ignore.iter().any(|r| r.contains(x, y))
            || self.footprints.iter().any(|r| r.contains(x, y))
            || self
                .self_changing
                .as_ref()
                .is_some_and(|m| m.contains(x, y))
    }
}

/// The rectangles an update painted, clipped to `within` (a resize paints
/// everything).
pub fn damage(u: &UpdateInfo, within: Rect) -> Vec<Rect> {
    let mut out = Vec::new();
    for r in &u.damage {
        if r.kind == DamageKind::Resize {
            return vec![within];
        }
        if !r.paints() {
            continue;
        }
        if let Some(c) = r.rect.intersect(&within) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fb(w: u16, h: u16) -> Image {
        crate::binding::screen::blank_image(w, h).expect("small framebuffer")
    }

    #[test]
    fn patch_diff_looks_only_inside_the_areas_and_skips_exclusions() {
        let a = fb(16, 16);
        let p = Patch::of(&a, Rect::new(8, 8, 8, 8)).expect("on screen");
        let mut b = a.clone();
        b.set(1, 1, 7);
        b.set(10, 10, 7);
        b.set(11, 10, 7);
        let none = Exclusions::default();
        let all = [Rect::new(0, 0, 16, 16)];
        assert_eq!(p.diff(&b, &all, &none), Some((2, Rect::new(10, 10, 2, 1))));
        let ignore = Exclusions::declared(&[Rect::new(11, 10, 1, 1)]);
        assert_eq!(
            p.diff(&b, &all, &ignore),
            Some((1, Rect::new(10, 10, 1, 1)))
        );
        let mut mask = Coverage::of(Rect::new(8, 8, 8, 8));
        mask.mark(10, 10);
        mask.mark(11, 10);
        let masked = Exclusions {
            self_changing: Some(mask),
            ..Exclusions::default()
        };
        assert_eq!(p.diff(&b, &all, &masked), None);
        // Only the damaged areas are looked at; overlapping areas count once.
        assert_eq!(p.diff(&b, &[Rect::new(0, 0, 8, 8)], &none), None);
        let both = [Rect::new(8, 8, 8, 8), Rect::new(10, 10, 2, 2)];
        assert_eq!(p.diff(&b, &both, &none).map(|d| d.0), Some(2));
        // A refresh folds the change into the reference.
        let mut p = p;
        p.refresh(&b, &[Rect::new(10, 10, 1, 1)]);
        assert_eq!(p.diff(&b, &all, &none), Some((1, Rect::new(11, 10, 1, 1))));
        // A resized screen differs everywhere.
        let c = fb(20, 16);
        assert_eq!(p.diff(&c, &all, &none).map(|d| d.0), Some(64));
    }
}
