//! Keyed pseudo-random functions addressable per (context, token).
//!
//! A PRF here is a two-stage function: [`Prf::absorb`] turns the `h` context token ids into a
//! small state (once per step or scored position), and [`Prf::word`] maps (state, candidate token)
//! to a 64-bit word. Because the word of token `v` depends on nothing but (key, context, v), a
//! full-vocabulary pass, a top-k pass and the detector see identical values by construction.
//!
//! Schemes never look inside a PRF: they read [`Prf::word`] (bits, e.g. tournament g-values)
//! and [`Prf::uniform`] (a uniform in (0, 1)). New PRFs — for instance to detect another
//! system's watermark — implement this trait and every scheme runs on them unchanged.

mod any;
mod native;
mod philox;
mod synthid;
mod vllm;

pub use any::{AnyPrf, AnyState};
pub use native::{Aes128Prf, NATIVE_PRF_ID};
pub use philox::philox4x32_10;
pub use synthid::{
    synthid_accumulate, synthid_g_value, synthid_hash_iv, SynthIdPrf, SYNTHID_DEFAULT_KEYS,
    SYNTHID_PRF_ID,
};
pub use vllm::{
    derive_vllm_key, sbw_gamma_threshold, sbw_green_uniform, sbw_token_hash, vllm_dual_keys,
    vllm_uniform_f32, SbwPrf, SbwState, SbwVariant, VllmDualKeyPrf, VllmPhiloxPrf,
    VLLM_DUAL_KEY_PRF_ID, VLLM_PHILOX_PRF_ID, VLLM_SBW_LEFTHASH_PRF_ID,
    VLLM_SBW_LEFTHASH_RAW_PRF_ID, VLLM_SBW_SELFHASH_PRF_ID,
};

/// A keyed PRF over (context, token).
///
/// Implementations must be deterministic and identical on every platform.
pub trait Prf: Send + Sync {
    /// State after absorbing one context (cheap to copy).
    type State: Copy + Send + Sync;

    /// Versioned identifier written into profiles (e.g. `provmark-aes128-v1`).
    fn id(&self) -> &'static str;

    /// Absorbs the context, oldest token first. `context.len()` is the profile's context width.
    fn absorb(&self, context: &[u32]) -> Self::State;

    /// The keyed word of `token` under an absorbed context.
    fn word(&self, state: &Self::State, token: u32) -> u64;

    /// Words of many candidates under one context; `out.len()` must equal `tokens.len()`.
    /// Implementations may override this with a pipelined version; results must equal
    /// [`Prf::word`] element by element.
    fn words(&self, state: &Self::State, tokens: &[u32], out: &mut [u64]) {
        for (o, &t) in out.iter_mut().zip(tokens) {
            *o = self.word(state, t);
        }
    }

    /// The keyed input the word of `token` actually depends on, when that is coarser than
    /// (context, token): two positions with equal `Some` values have equal words whatever their
    /// contexts. A detector that treats scored positions as independent must then deduplicate
    /// on this value as well as on (context, token).
    ///
    /// `None` (the default) means the word depends on the whole context and the token (up to
    /// negligible hash collisions), as for provmark's own PRF. vLLM's SBW returns its per-token
    /// seed: selfhash seeds ignore the oldest context token and take a min over the others (a
    /// quarter of positions or more get a seed that depends on the token alone), and lefthash
    /// seeds a sum that ignores order.
    #[inline]
    fn keyed_input(&self, state: &Self::State, token: u32) -> Option<(u64, u32)> {
        let _ = (state, token);
        None
    }

    /// Absorbs `rows` contexts at once: `contexts` holds them row-major, `contexts.len() / rows`
    /// ids each; their states are appended to `out` in order. Results must equal
    /// [`Prf::absorb`] row by row; implementations may override this with a pipelined version
    /// (the detector scores independent positions in batches).
    fn absorb_many(&self, contexts: &[u32], rows: usize, out: &mut Vec<Self::State>) {
        let width = contexts.len().checked_div(rows).unwrap_or(0);
        for r in 0..rows {
            out.push(self.absorb(&contexts[r * width..(r + 1) * width]));
        }
    }

    /// Words of many (state, token) pairs: `out[i] = word(states[i], tokens[i])`. Results must
    /// equal [`Prf::word`] element by element; implementations may pipeline.
    fn pair_words(&self, states: &[Self::State], tokens: &[u32], out: &mut [u64]) {
        for ((o, s), &t) in out.iter_mut().zip(states).zip(tokens) {
            *o = self.word(s, t);
        }
    }

    /// Maps a word to a uniform variate strictly inside (0, 1).
    ///
    /// The default takes the top 52 bits: `((w >> 12) + 0.5) · 2^-52`.
    fn uniform(&self, word: u64) -> f64 {
        word_to_uniform(word)
    }
}

/// `((w >> 12) + 0.5) · 2^-52`: a uniform in (0, 1) that is never 0 or 1.
///
/// 52 bits (not 53) so that `(2^52 − 1) + 0.5` is exact in an f64: with 53 bits the largest word
/// would round to exactly 1.0 and the Gumbel score −ln(1 − u) would be infinite. Every value is
/// computed exactly: the smallest is 2^-53, the largest 1 − 2^-53.
///
/// ```
/// use provmark_core::prf::word_to_uniform;
/// assert_eq!(word_to_uniform(0), 2f64.powi(-53));
/// assert_eq!(word_to_uniform(u64::MAX), 1.0 - 2f64.powi(-53));
/// assert!(word_to_uniform(u64::MAX) < 1.0);
/// ```
#[inline]
pub fn word_to_uniform(word: u64) -> f64 {
    ((word >> 12) as f64 + 0.5) * (1.0 / 4_503_599_627_370_496.0)
}
