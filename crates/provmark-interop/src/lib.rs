//! provmark-interop: other systems' watermarks, bit-exact — vLLM's native watermarks (Gumbel-max,
//! dual-key Gumbel, SBW) and Google DeepMind's SynthID-Text reference.
//!
//! The keyed PRFs live in `provmark_core::prf` ([`VllmPhiloxPrf`](provmark_core::prf::VllmPhiloxPrf),
//! [`SbwPrf`](provmark_core::prf::SbwPrf), [`SynthIdPrf`](provmark_core::prf::SynthIdPrf)) behind
//! the same `Prf` trait as provmark's own, so provmark's detector scores them unchanged. This crate
//! holds what is specific to the foreign *algorithms*:
//!
//! * [`vllm`] — generation (Gumbel-max selection in float32, dual-key routing, SBW logit bias,
//!   vLLM's generation-time repeated-context rule) and vLLM's own detector statistics and
//!   p-values, reproduced to reference precision;
//! * [`synthid`] — the tournament reweighting, the stateful logits processor, detection masks
//!   and the mean / weighted-mean scores;
//! * `exact` (feature `detect`, on by default) — the exact null tail of vLLM's dual-key
//!   weighted sum, re-exported from `provmark_detect::tail`;
//! * [`import`] — profiles from imported keys with the references' defaults;
//! * [`keys`] — parsing imported keys (vLLM's integer, SynthID's key list) without ever echoing
//!   them;
//! * [`reference`](mod@reference) — the reference implementations' p-value formulas (vLLM's gamma survival, its
//!   regularised upper incomplete gamma, its z-test), kept apart from provmark's exact tails.
//!
//! Specifications: `shared/notes/interop/VLLM.md` and `SYNTHID.md` (written from the public
//! sources; vectors copied into `testdata/interop/`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "detect")]
pub mod exact;
pub mod import;
pub mod keys;
pub mod reference;
pub mod synthid;
pub mod vllm;

mod error;

pub use error::{InteropError, Result};
