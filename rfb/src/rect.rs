//! Screen rectangles.

/// A rectangle in screen coordinates. `x + w` and `y + h` may exceed the
/// screen: use [`Rect::within`] to judge that, never assume it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    /// Left edge.
    pub x: u16,
    /// Top edge.
    pub y: u16,
    /// Width.
    pub w: u16,
    /// Height.
    pub h: u16,
}

impl Rect {
    /// A rectangle from its four fields.
    pub const fn new(x: u16, y: u16, w: u16, h: u16) -> Self {
        Rect { x, y, w, h }
    }

    /// Number of pixels (never overflows).
    pub fn area(&self) -> u64 {
        u64::from(self.w) * u64::from(self.h)
    }

    /// Right edge, exclusive, widened so it cannot overflow.
    pub fn right(&self) -> u32 {
        u32::from(self.x) + u32::from(self.w)
    }

    /// Bottom edge, exclusive, widened so it cannot overflow.
    pub fn bottom(&self) -> u32 {
        u32::from(self.y) + u32::from(self.h)
    }

    /// Whether the rectangle lies wholly inside a `width` x `height` screen.
    pub fn within(&self, width: u16, height: u16) -> bool {
        self.right() <= u32::from(width) && self.bottom() <= u32::from(height)
    }

    /// The part of `self` inside `other`, if any.
    pub fn intersect(&self, other: &Rect) -> Option<Rect> {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = self.right().min(other.right());
        let y1 = self.bottom().min(other.bottom());
        if u32::from(x0) >= x1 || u32::from(y0) >= y1 {
            return None;
        }
        // x1 - x0 fits u16 because both edges come from u16 rectangles.
        Some(Rect::new(
            x0,
            y0,
            (x1 - u32::from(x0)) as u16,
            (y1 - u32::from(y0)) as u16,
        ))
    }

    /// Whether `(px, py)` lies in the rectangle.
    pub fn contains(&self, px: u16, py: u16) -> bool {
        px >= self.x
            && u32::from(px) < self.right()
            && py >= self.y
            && u32::from(py) < self.bottom()
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, other: &Rect) -> Rect {
        let x0 = self.x.min(other.x);
        let y0 = self.y.min(other.y);
        let x1 = self.right().max(other.right()).min(u32::from(u16::MAX));
        let y1 = self.bottom().max(other.bottom()).min(u32::from(u16::MAX));
        Rect::new(
            x0,
            y0,
            (x1 - u32::from(x0)) as u16,
            (y1 - u32::from(y0)) as u16,
        )
    }
}

impl std::fmt::Display for Rect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}+{}+{}", self.w, self.h, self.x, self.y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_uses_wide_arithmetic() {
        assert!(Rect::new(0, 0, 640, 400).within(640, 400));
        assert!(!Rect::new(632, 0, 16, 16).within(640, 400));
        assert!(!Rect::new(65535, 65535, 65535, 65535).within(640, 400));
    }

    #[test]
    fn intersect_and_union() {
        let a = Rect::new(0, 0, 10, 10);
        let b = Rect::new(5, 5, 10, 10);
        assert_eq!(a.intersect(&b), Some(Rect::new(5, 5, 5, 5)));
        assert_eq!(a.union(&b), Rect::new(0, 0, 15, 15));
        assert_eq!(a.intersect(&Rect::new(10, 0, 5, 5)), None);
    }
}
