//! Corpus scan for provmark: pooled distillation evidence over large corpora and verifiable evidence reports
#![forbid(unsafe_code)]
#![deny(missing_docs)]
