//! Serving side of provmark: keyed logit bias and watermarked token selection, allocation-free
//! per token.
//!
//! The library is tensor-free: it reads the model's logits or probabilities for one step as
//! plain slices — over the full vocabulary or over a truncated candidate list (top-k/top-p ids
//! plus values) — and either biases them in place or chooses the next token with the caller's
//! RNG. Everything keyed comes from [`provmark_core::Watermark`], so the detector sees the very
//! values used here.
//!
//! * [`Embedder`] — one stream key (the master key or one account's subkey); `Send + Sync`.
//!   * (a) [`Embedder::bias_logits`], [`Embedder::bias_candidate_logits`]: green-list bias in
//!     place;
//!   * (b) [`Embedder::choose`]: green list (exact rejection sampler from the biased
//!     distribution) or Gumbel-max (pruned argmax);
//!   * (c) [`Embedder::choose_batch`], [`Embedder::bias_logits_batch`]: many sequences.
//! * [`SequenceState`] — per-sequence memory for the repeated-context skip (spec §4.3).
//! * [`Scratch`] — per-thread working memory; [`sample_plain`] is the unwatermarked baseline.
//! * [`bench`](mod@bench) — the serving benchmark behind `provmark bench serving`.
//!
//! Per-token calls never allocate once [`Scratch`] and [`SequenceState`] were created with
//! their capacities (see each type for the amortised growth beyond them).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
mod dist;
mod embedder;
mod error;
mod sequence;

pub use dist::{sample_plain, Dist, Scratch};
pub use embedder::{Choice, Embedder};
pub use error::{EmbedError, Result};
pub use sequence::SequenceState;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedder_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Embedder>();
        check::<Embedder<provmark_core::prf::Aes128Prf>>();
        check::<SequenceState>();
        check::<Scratch>();
    }
}
