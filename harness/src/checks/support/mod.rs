//! Helpers shared by several checks, one file per subject (`data*` for the
//! data checks). What the screen checks share: every check drives consoles
//! through the binding's neutral [`crate::binding::Console`] only, wrapped in a
//! [`Tracked`]; exclusivity is judged causally by [`causal`]; every input
//! stimulus is a trial of [`stimulus`].

pub mod causal;
pub mod coverage;
pub mod data;
pub mod open;
pub mod operate;
pub mod patch;
pub mod probes;
pub mod stimulus;
pub mod storm;
pub mod storm_run;
pub mod timeline;
pub mod tracked;

use std::time::Duration;

use crate::binding::screen::Rect;
use crate::checks::CheckCtx;

pub use coverage::Coverage;
pub use open::*;
pub use probes::*;
pub use timeline::{Timeline, TimelineEntry};
pub use tracked::*;

/// The side of the small region used for pings and sustained requests.
pub const PING_SIDE: u16 = 64;

/// Milliseconds as a duration.
pub fn ms(v: u64) -> Duration {
    CheckCtx::ms(v)
}

/// The small region at the origin that is always answered.
pub fn ping_rect(screen: Rect) -> Rect {
    Rect::new(0, 0, screen.w.min(PING_SIDE), screen.h.min(PING_SIDE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_region_fits_tiny_screens() {
        assert_eq!(
            ping_rect(Rect::new(0, 0, 1024, 768)),
            Rect::new(0, 0, 64, 64)
        );
        assert_eq!(ping_rect(Rect::new(0, 0, 40, 30)), Rect::new(0, 0, 40, 30));
    }
}
