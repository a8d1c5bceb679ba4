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
pub mod catalog;
pub mod checks;
pub mod declaration;
pub mod history;
pub mod integrity;
pub mod liveness;
pub mod record;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod tls;
pub mod verdict;
pub mod witness;
