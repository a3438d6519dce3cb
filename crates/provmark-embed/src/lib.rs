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

/// vLLM-compatible generation, re-exported from `provmark_interop::vllm`: a Rust serving engine
/// that watermarks with [`vllm::VllmWatermarker`] (Gumbel-max, dual-key Gumbel, SBW bias, with
/// vLLM's `philox4x32-10-v1` PRF, float32 selection and repeated-context rule) emits tokens that
/// vLLM's own detector detects — token-exact on vLLM's 18 published goldens (tests in
/// `provmark-interop`) — and that `provmark check`/`scan` detect with a profile from
/// `provmark keygen --import vllm`.
///
/// ```
/// use provmark_embed::vllm::{Route, VllmAlgorithm, VllmConfig, VllmWatermarker};
/// let wm = VllmWatermarker::new(42, &VllmConfig::new(VllmAlgorithm::Gumbel)).unwrap();
/// let mut req = wm.request(&[11, 12, 13, 14]);
/// let logits: Vec<f32> = (0..1000).map(|i| (i % 7) as f32 * 0.5).collect();
/// // `None` on steps vLLM leaves unwatermarked (a repeated context): sample normally there.
/// if let Some(token) = wm.select(&req, &logits, Route::A).unwrap() {
///     req.push(token);
/// }
/// ```
pub use provmark_interop::vllm;

/// SynthID-Text's reference logits processor (tournament reweighting, context-repetition
/// skip), re-exported from `provmark_interop::synthid`; see [`synthid::SynthIdProcessor`].
pub use provmark_interop::synthid;

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
