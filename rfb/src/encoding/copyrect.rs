//! CopyRect encoding (RFC 6143 section 7.7.2): the source position of a
//! rectangle the client already holds.

use super::conv::{unit, Step, Unit};
use crate::framebuffer::Framebuffer;
use crate::rect::Rect;
use crate::RfbError;

/// CopyRect decoder for one rectangle.
#[derive(Debug)]
pub(crate) struct CopyRectDecoder {
    dst: Rect,
    src_in_bounds: bool,
}

impl CopyRectDecoder {
    /// A decoder for the destination `dst`.
    pub(crate) fn new(dst: Rect) -> Self {
        CopyRectDecoder {
            dst,
            src_in_bounds: true,
        }
    }

    /// Whether the source rectangle lay within the screen (meaningful once done).
    pub(crate) fn src_in_bounds(&self) -> bool {
        self.src_in_bounds
    }

    /// Reads the 4-byte source position and performs the copy.
    pub(crate) fn step(&mut self, input: &[u8], fb: &mut Framebuffer) -> Result<Step, RfbError> {
        match unit(input, |r| Ok((r.u16()?, r.u16()?)))? {
            Unit::Need(n) => Ok(Step::more(0, n)),
            Unit::Got((sx, sy), used) => {
                let src = Rect::new(sx, sy, self.dst.w, self.dst.h);
                self.src_in_bounds = src.within(fb.width(), fb.height());
                fb.copy_rect(sx, sy, self.dst);
                Ok(Step::done(used))
            }
        }
    }
}

/// Appends the CopyRect payload (source position).
pub(crate) fn encode(src_x: u16, src_y: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&src_x.to_be_bytes());
    out.extend_from_slice(&src_y.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;

    #[test]
    fn copy_rect_waits_for_its_source_then_copies() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(4, 1, &l).expect("fb");
        fb.set(0, 0, 3);
        let mut d = CopyRectDecoder::new(Rect::new(2, 0, 1, 1));
        let mut p = Vec::new();
        encode(0, 0, &mut p);
        assert_eq!(d.step(&p[..3], &mut fb).ok(), Some(Step::more(0, 1)));
        assert_eq!(d.step(&p, &mut fb).ok(), Some(Step::done(4)));
        assert_eq!(fb.get(2, 0), Some(3));
        assert!(d.src_in_bounds());
    }

    #[test]
    fn copy_rect_from_outside_the_screen_is_flagged() {
        let l = Limits::DEFAULT;
        let mut fb = Framebuffer::new(4, 1, &l).expect("fb");
        let mut d = CopyRectDecoder::new(Rect::new(0, 0, 2, 1));
        let mut p = Vec::new();
        encode(3, 0, &mut p);
        assert_eq!(d.step(&p, &mut fb).ok(), Some(Step::done(4)));
        assert!(!d.src_in_bounds());
    }
}
