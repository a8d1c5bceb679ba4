//! `s301-mocks`: the terminal side. A deterministic mock dedicated terminal
//! (専用端末) that speaks the default binding, with faults to inject.
#![forbid(unsafe_code)]
