//! In-process bindings: terminals simulated in memory, with no socket and
//! no wire format, to prove the seam between checks and bindings.

pub mod screen;
