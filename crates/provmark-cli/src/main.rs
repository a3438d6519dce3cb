//! The `provmark` binary.
#![forbid(unsafe_code)]

fn main() {}
