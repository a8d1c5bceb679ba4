//! Bindings that simulate a terminal in process: no socket, no bytes. They
//! prove the seam between checks and bindings, and let the checks' logic be
//! tested against faults injected exactly where they belong.

pub mod data;
pub mod screen;
