//! Running the catalog: selection, lanes, order, prerequisites, time
//! limits and aborts ([`runner`]), emitting one event stream to the sinks.

pub mod abort;
pub mod events;
pub mod plan;
pub mod runner;
pub mod select;
