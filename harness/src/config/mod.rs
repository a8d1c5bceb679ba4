//! What the people running a test hand the harness: the terminal's
//! declaration ([`declaration`]), the scenario with its durations and
//! bounds ([`scenario`]) and the witness's questions ([`witness`]). Parsed
//! and validated here, with the file, line and key of any mistake.

pub mod declaration;
pub mod scenario;
pub mod witness;
