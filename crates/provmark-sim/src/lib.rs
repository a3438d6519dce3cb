//! A simulated language model (a simulation, not a real model) for provmark's demos, tests, benchmarks and evaluation
#![forbid(unsafe_code)]
#![deny(missing_docs)]
