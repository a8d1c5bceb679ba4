//! What consumes the runner's event stream and the finished run: the
//! record (screenshots, transcript slices: [`record`]), the reports
//! (report.json, HTML, JUnit, 適合宣言: [`report`]), the seal
//! ([`integrity`]), the dead-terminal watch ([`liveness`]), the witness's
//! questions ([`witness`]), and the comparison of recorded runs
//! ([`history`]).

pub mod history;
pub mod integrity;
pub mod liveness;
pub mod record;
pub mod report;
pub mod witness;
pub mod witness_bundle;
pub mod witness_ui;
