//! Helpers shared by several checks, one file per subject.

pub mod data;
