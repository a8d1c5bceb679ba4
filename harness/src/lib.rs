//! `s301-harness`: the dispatch side of s301.
//!
//! It stands in for the fire dispatch system (消防指令システム): it opens
//! console (指令台) sessions to a dedicated terminal, drives them, takes the
//! terminal's data, and judges each check of the catalog.
//!
//! Six layers, each using only those below it (see docs/architecture.md;
//! `tests/architecture.rs` keeps it so):
//! - [`model`]: ids, verdicts and the one condition judge, evidence images,
//!   bounded figures, atomic files;
//! - [`config`]: the declaration, the scenario, the witness's questions;
//! - [`binding`]: how bytes travel, behind binding-neutral screen and data
//!   traits (the default RFB and HTTP bindings, an in-memory one);
//! - [`checks`]: the catalog, one literal per check;
//! - [`run`]: selection, lanes, order, time limits, one event stream;
//! - [`sinks`]: the record, the reports, the seal, the witness, history.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod binding;
pub mod checks;
pub mod config;
pub mod model;
pub mod run;
pub mod sinks;
