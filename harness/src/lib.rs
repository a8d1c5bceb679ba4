//! `s301-harness`: the dispatch side of s301.
//!
//! It stands in for the fire dispatch system (消防指令システム): it opens
//! console (指令台) sessions to a dedicated terminal, drives them, takes the
//! terminal's data, and judges each check of the catalog.
//!
//! Layers, each knowing only the one below:
//! - [`binding`]: how bytes travel (the default binding: RFB over WebSocket
//!   or TCP, JSON over HTTP). Checks see typed events, never sockets.
//! - [`checks`]: the check catalog, one file per condition.
//! - [`runner`]: sequences checks, applies timeouts, emits events.
//! - [`report`]: turns the finished run into records.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod binding;
pub mod checks;
pub mod config;
pub mod model;
pub mod run;
pub mod sinks;

// Older paths, kept while the move settles.
pub use binding::tls;
pub use config::{declaration, scenario};
pub use model::{ids as catalog, verdict};
pub use run::runner;
pub use sinks::{history, integrity, liveness, record, report, witness};
