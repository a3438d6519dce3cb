//! Runtime choice among the PRFs a profile may name.

use super::{Aes128Prf, Prf, SbwPrf, SbwState, SynthIdPrf, VllmDualKeyPrf, VllmPhiloxPrf};

/// Every PRF provmark knows, chosen at run time from a profile's `prf` field.
///
/// Schemes, the embedder and the detector take `Watermark<AnyPrf>` from a profile; adding a PRF
/// means adding a variant here and in [`AnyState`], nothing else.
// The native variant carries the expanded AES key schedule (~0.7 KiB). An `AnyPrf` is built once
// per profile or account and then borrowed, so its size costs nothing per token, while boxing
// would add an indirection to the native hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyPrf {
    /// `provmark-aes128-v1`.
    Native(Aes128Prf),
    /// vLLM's `philox4x32-10-v1` (Gumbel and dual-key Gumbel watermarks).
    Vllm(VllmPhiloxPrf),
    /// vLLM's dual-key Gumbel (both derived keys; see [`VllmDualKeyPrf`]).
    VllmDualKey(VllmDualKeyPrf),
    /// vLLM's SBW greenness (selfhash or lefthash).
    Sbw(SbwPrf),
    /// SynthID-Text's reference hash (g-values packed into the word).
    SynthId(SynthIdPrf),
}

/// The absorbed-context state of an [`AnyPrf`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum AnyState {
    /// State of the native PRF.
    Native([u8; 16]),
    /// State of [`VllmPhiloxPrf`].
    Vllm([u32; 4]),
    /// State of [`VllmDualKeyPrf`].
    VllmDualKey([[u32; 4]; 2]),
    /// State of [`SbwPrf`].
    Sbw(SbwState),
    /// State of [`SynthIdPrf`] (the context hash).
    SynthId(i64),
}

/// A state used with a PRF other than the one that absorbed it: a programming error.
#[cold]
#[inline(never)]
fn mismatched_state() -> ! {
    panic!("AnyPrf: state was absorbed by a different PRF")
}

impl Prf for AnyPrf {
    type State = AnyState;

    fn id(&self) -> &'static str {
        match self {
            AnyPrf::Native(p) => p.id(),
            AnyPrf::Vllm(p) => p.id(),
            AnyPrf::VllmDualKey(p) => p.id(),
            AnyPrf::Sbw(p) => p.id(),
            AnyPrf::SynthId(p) => p.id(),
        }
    }

    #[inline]
    fn absorb(&self, context: &[u32]) -> AnyState {
        match self {
            AnyPrf::Native(p) => AnyState::Native(p.absorb(context)),
            AnyPrf::Vllm(p) => AnyState::Vllm(p.absorb(context)),
            AnyPrf::VllmDualKey(p) => AnyState::VllmDualKey(p.absorb(context)),
            AnyPrf::Sbw(p) => AnyState::Sbw(p.absorb(context)),
            AnyPrf::SynthId(p) => AnyState::SynthId(p.absorb(context)),
        }
    }

    #[inline]
    fn word(&self, state: &AnyState, token: u32) -> u64 {
        match (self, state) {
            (AnyPrf::Native(p), AnyState::Native(s)) => p.word(s, token),
            (AnyPrf::Vllm(p), AnyState::Vllm(s)) => p.word(s, token),
            (AnyPrf::VllmDualKey(p), AnyState::VllmDualKey(s)) => p.word(s, token),
            (AnyPrf::Sbw(p), AnyState::Sbw(s)) => p.word(s, token),
            (AnyPrf::SynthId(p), AnyState::SynthId(s)) => p.word(s, token),
            _ => mismatched_state(),
        }
    }

    fn words(&self, state: &AnyState, tokens: &[u32], out: &mut [u64]) {
        match (self, state) {
            (AnyPrf::Native(p), AnyState::Native(s)) => p.words(s, tokens, out),
            (AnyPrf::Vllm(p), AnyState::Vllm(s)) => p.words(s, tokens, out),
            (AnyPrf::VllmDualKey(p), AnyState::VllmDualKey(s)) => p.words(s, tokens, out),
            (AnyPrf::Sbw(p), AnyState::Sbw(s)) => p.words(s, tokens, out),
            (AnyPrf::SynthId(p), AnyState::SynthId(s)) => p.words(s, tokens, out),
            _ => mismatched_state(),
        }
    }

    fn absorb_many(&self, contexts: &[u32], rows: usize, out: &mut Vec<AnyState>) {
        match self {
            AnyPrf::Native(p) => p.absorb_lanes(contexts, rows, |s| out.push(AnyState::Native(s))),
            _ => {
                let width = contexts.len().checked_div(rows).unwrap_or(0);
                for r in 0..rows {
                    out.push(self.absorb(&contexts[r * width..(r + 1) * width]));
                }
            }
        }
    }

    fn pair_words(&self, states: &[AnyState], tokens: &[u32], out: &mut [u64]) {
        match self {
            AnyPrf::Native(p) if states.iter().all(|s| matches!(s, AnyState::Native(_))) => p
                .pair_words_lanes(
                    |i| match states[i] {
                        AnyState::Native(s) => s,
                        _ => [0; 16],
                    },
                    &tokens[..tokens.len().min(states.len())],
                    out,
                ),
            _ => {
                for ((o, s), &t) in out.iter_mut().zip(states).zip(tokens) {
                    *o = self.word(s, t);
                }
            }
        }
    }

    #[inline]
    fn keyed_input(&self, state: &AnyState, token: u32) -> Option<(u64, u32)> {
        match (self, state) {
            (AnyPrf::Sbw(p), AnyState::Sbw(s)) => p.keyed_input(s, token),
            _ => None,
        }
    }

    #[inline]
    fn uniform(&self, word: u64) -> f64 {
        match self {
            AnyPrf::Native(p) => p.uniform(word),
            AnyPrf::Vllm(p) => p.uniform(word),
            AnyPrf::VllmDualKey(p) => p.uniform(word),
            AnyPrf::Sbw(p) => p.uniform(word),
            AnyPrf::SynthId(p) => p.uniform(word),
        }
    }
}
