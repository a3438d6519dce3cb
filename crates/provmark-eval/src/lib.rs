//! provmark-eval: the simulated distillation threat and provmark's evaluation tables.
//!
//! Everything here is a **simulation**: the teacher is a simulated language model over real
//! `o200k_base` tokens, never a real model. See `docs/EVALUATION.md` for what the simulation
//! does and does not show.
//!
//! * [`lang`] — the simulated language, teacher and clean-source models, watermarked generation.
//! * [`ngram`] — the student: an interpolated n-gram model.
//! * [`pooled`] — the pooled corpus test (global dedup, supervised filter, account ranking).
//! * [`distill`] — the threat end to end from a seed (`provmark eval distill`).
//! * [`tables`] — every table of `docs/EVALUATION.md` (`provmark eval tables`).
//! * [`demo`] — the bundled demo corpus (`provmark eval demo`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod demo;
pub mod distill;
pub mod error;
pub mod lang;
pub mod ngram;
pub mod pooled;
pub mod real;
pub mod real_distill;
pub mod report;
pub mod tables;

pub use distill::{run_distill, DistillConfig, DistillOutcome, StudentTokenizer, World};
pub use error::{EvalError, Result};
