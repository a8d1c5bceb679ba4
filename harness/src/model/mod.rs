//! The model: what every layer above shares. Check and condition ids and
//! the conditions' official wording ([`ids`]), verdicts and the one
//! condition judge ([`verdict`]), images as evidence ([`png`],
//! [`screenshots`]), time as records write it ([`time`]), and the atomic
//! files of a run directory ([`files`], with the test kill points of
//! [`hook`]). It imports nothing from the rest of the crate.

pub mod files;
pub mod hook;
pub mod ids;
pub mod lang;
pub mod latency;
pub mod png;
pub mod screenshots;
pub mod time;
pub mod verdict;
