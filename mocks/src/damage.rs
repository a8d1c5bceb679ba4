//! Damage: what a console has not yet seen.
//!
//! A session keeps the image it last sent to its console. The difference
//! between that image and the desktop, found 16x16 tile by tile and merged into
//! rectangles, is what an incremental update must carry. Each rectangle is
//! then shrunk to the exact bounding box of its changed pixels.

use s301_rfb::{Framebuffer, Rect};

/// Side of a damage tile.
pub const TILE: u16 = 16;

/// Above this many rectangles the damage is sent as their bounding box.
const MAX_RECTS: usize = 256;

/// The parts of `region` where `current` and `sent` differ, as disjoint
/// rectangles tightly bounding the changed pixels. Both images must be the
/// same size; `region` is clipped to them.
pub fn damage(current: &Framebuffer, sent: &Framebuffer, region: Rect) -> Vec<Rect> {
    if current.width() != sent.width() || current.height() != sent.height() {
        return current.bounds().intersect(&region).into_iter().collect();
    }
    let Some(region) = region.intersect(&current.bounds()) else {
        return Vec::new();
    };
    // Rectangles still open for growing downwards: (x0, x1, y0, y1) in pixels.
    let mut open: Vec<(u32, u32, u32, u32)> = Vec::new();
    let mut done: Vec<(u32, u32, u32, u32)> = Vec::new();
    let (rx0, ry0) = (u32::from(region.x), u32::from(region.y));
    let (rx1, ry1) = (region.right(), region.bottom());
    let tile = u32::from(TILE);
    let mut ty = ry0 - ry0 % tile;
    while ty < ry1 {
        let y0 = ty.max(ry0);
        let y1 = (ty + tile).min(ry1);
        // Horizontal runs of dirty tiles in this tile row.
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let mut tx = rx0 - rx0 % tile;
        while tx < rx1 {
            let x0 = tx.max(rx0);
            let x1 = (tx + tile).min(rx1);
            if differs(current, sent, x0, x1, y0, y1) {
                match runs.last_mut() {
                    Some(last) if last.1 == x0 => last.1 = x1,
                    _ => runs.push((x0, x1)),
                }
            }
            tx += tile;
        }
        // Extend an open rectangle with the same span, close the others.
        let mut still_open = Vec::with_capacity(runs.len());
        for (x0, x1) in runs {
            if let Some(i) = open
                .iter()
                .position(|o| o.0 == x0 && o.1 == x1 && o.3 == y0)
            {
                let mut o = open.swap_remove(i);
                o.3 = y1;
                still_open.push(o);
            } else {
                still_open.push((x0, x1, y0, y1));
            }
        }
        done.append(&mut open);
        open = still_open;
        ty += tile;
    }
    done.append(&mut open);
    let mut rects: Vec<Rect> = done
        .into_iter()
        .filter_map(|(x0, x1, y0, y1)| tighten(current, sent, to_rect(x0, x1, y0, y1)))
        .collect();
    if rects.len() > MAX_RECTS {
        let all = rects.iter().skip(1).fold(rects[0], |acc, r| acc.union(r));
        rects = vec![all];
    }
    rects.sort_by_key(|r| (r.y, r.x));
    rects
}

/// A rectangle from pixel edges that came from `u16` coordinates.
fn to_rect(x0: u32, x1: u32, y0: u32, y1: u32) -> Rect {
    let c = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    Rect::new(c(x0), c(y0), c(x1 - x0), c(y1 - y0))
}

/// Whether any pixel in the columns `x0..x1` of rows `y0..y1` differs.
fn differs(a: &Framebuffer, b: &Framebuffer, x0: u32, x1: u32, y0: u32, y1: u32) -> bool {
    let w = usize::from(a.width());
    let (pa, pb) = (a.pixels(), b.pixels());
    (y0..y1).any(|y| {
        let s = y as usize * w + x0 as usize;
        let e = y as usize * w + x1 as usize;
        pa.get(s..e) != pb.get(s..e)
    })
}

/// The bounding box of the differing pixels inside `r`, if any.
fn tighten(a: &Framebuffer, b: &Framebuffer, r: Rect) -> Option<Rect> {
    let w = usize::from(a.width());
    let (pa, pb) = (a.pixels(), b.pixels());
    let (mut x0, mut x1, mut y0, mut y1) = (u32::MAX, 0u32, u32::MAX, 0u32);
    for y in u32::from(r.y)..r.bottom() {
        let s = y as usize * w + usize::from(r.x);
        let e = s + usize::from(r.w);
        let (Some(ra), Some(rb)) = (pa.get(s..e), pb.get(s..e)) else {
            continue;
        };
        let first = ra.iter().zip(rb).position(|(p, q)| p != q);
        if let Some(f) = first {
            let l = ra.iter().zip(rb).rposition(|(p, q)| p != q).unwrap_or(f);
            x0 = x0.min(u32::from(r.x) + f as u32);
            x1 = x1.max(u32::from(r.x) + l as u32 + 1);
            y0 = y0.min(y);
            y1 = y + 1;
        }
    }
    (x0 < x1).then(|| to_rect(x0, x1, y0, y1))
}

/// Copies the part of `r` inside both images from `src` to `dst` (images of
/// the same size).
pub fn copy_region(src: &Framebuffer, dst: &mut Framebuffer, r: Rect) {
    if src.width() != dst.width() || src.height() != dst.height() {
        return;
    }
    let Some(c) = r.intersect(&src.bounds()) else {
        return;
    };
    let w = usize::from(src.width());
    for y in c.y..c.y + c.h {
        let s = usize::from(y) * w + usize::from(c.x);
        let e = s + usize::from(c.w);
        if let (Some(from), Some(to)) = (src.pixels().get(s..e), dst.pixels_mut().get_mut(s..e)) {
            to.copy_from_slice(from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use s301_rfb::Limits;

    fn fb(w: u16, h: u16) -> Framebuffer {
        Framebuffer::new(w, h, &Limits::DEFAULT).expect("fb")
    }

    #[test]
    fn equal_images_have_no_damage() {
        let a = fb(64, 48);
        assert!(damage(&a, &a.clone(), a.bounds()).is_empty());
    }

    #[test]
    fn one_pixel_change_is_one_tight_rectangle() {
        let a = fb(64, 48);
        let mut b = a.clone();
        b.set(20, 33, 7);
        assert_eq!(damage(&b, &a, a.bounds()), vec![Rect::new(20, 33, 1, 1)]);
        // Outside the asked region it is not reported.
        assert!(damage(&b, &a, Rect::new(0, 0, 16, 16)).is_empty());
    }

    #[test]
    fn adjacent_dirty_tiles_merge_and_separate_ones_do_not() {
        let a = fb(64, 64);
        let mut b = a.clone();
        // A block spanning tiles (0,0),(1,0),(0,1),(1,1).
        b.fill(Rect::new(10, 10, 12, 12), 1);
        // A separate change far away.
        b.set(60, 60, 1);
        let d = damage(&b, &a, a.bounds());
        assert_eq!(d, vec![Rect::new(10, 10, 12, 12), Rect::new(60, 60, 1, 1)]);
    }

    #[test]
    fn region_not_on_tile_grid_is_respected() {
        let a = fb(64, 64);
        let mut b = a.clone();
        b.fill(Rect::new(0, 0, 64, 64), 9);
        let d = damage(&b, &a, Rect::new(5, 7, 30, 9));
        assert_eq!(d, vec![Rect::new(5, 7, 30, 9)]);
        // A region past the screen is clipped.
        let d = damage(&b, &a, Rect::new(60, 60, 1000, 1000));
        assert_eq!(d, vec![Rect::new(60, 60, 4, 4)]);
        assert!(damage(&b, &a, Rect::new(64, 0, 10, 10)).is_empty());
    }

    #[test]
    fn copy_region_makes_damage_disappear() {
        let a = fb(40, 40);
        let mut b = a.clone();
        b.fill(Rect::new(3, 3, 30, 30), 5);
        let mut sent = a.clone();
        copy_region(&b, &mut sent, Rect::new(0, 0, 20, 40));
        assert_eq!(
            damage(&b, &sent, b.bounds()),
            vec![Rect::new(20, 3, 13, 30)]
        );
        copy_region(&b, &mut sent, Rect::new(20, 0, 500, 500));
        assert!(damage(&b, &sent, b.bounds()).is_empty());
    }

    proptest! {
        #[test]
        fn damage_covers_every_change_and_only_changes_inside_region(
            pts in proptest::collection::vec((0u16..70, 0u16..50), 0..40),
            rx in 0u16..80, ry in 0u16..60, rw in 0u16..90, rh in 0u16..70,
        ) {
            let a = fb(70, 50);
            let mut b = a.clone();
            for (x, y) in &pts {
                b.set(*x, *y, 0x123456);
            }
            let region = Rect::new(rx, ry, rw, rh);
            let d = damage(&b, &a, region);
            for (x, y) in &pts {
                let inside = region.contains(*x, *y);
                let covered = d.iter().any(|r| r.contains(*x, *y));
                prop_assert_eq!(inside, covered, "({}, {})", x, y);
            }
            for r in &d {
                prop_assert!(r.within(70, 50));
                prop_assert!(region.intersect(r) == Some(*r));
            }
            // Rectangles do not overlap.
            for (i, r) in d.iter().enumerate() {
                for s in d.iter().skip(i + 1) {
                    prop_assert!(r.intersect(s).is_none(), "{} overlaps {}", r, s);
                }
            }
        }
    }
}
