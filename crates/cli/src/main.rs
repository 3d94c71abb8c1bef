//! The `rsign` command line.
fn main() {}
