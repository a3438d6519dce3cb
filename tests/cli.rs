//! End-to-end tests through the `provmark` binary.
