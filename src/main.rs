//! The `s301` command line.
fn main() {}
