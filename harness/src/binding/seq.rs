//! The harness's causal clock: one counter shared by every console.
//!
//! Every message the harness writes and every event it observes takes the
//! next number. If a check sends on console B after it saw an event on
//! console A, B's number is larger: the order is causal, not a comparison of
//! arrival times across connections.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// A position in the harness's causal order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Seq(pub u64);

static CLOCK: AtomicU64 = AtomicU64::new(1);

/// The next number.
pub fn next() -> Seq {
    Seq(CLOCK.fetch_add(1, Ordering::SeqCst))
}

#[cfg(test)]
mod tests {
    #[test]
    fn strictly_increasing() {
        let a = super::next();
        let b = super::next();
        assert!(b > a);
    }
}
