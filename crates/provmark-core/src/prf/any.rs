//! Runtime choice among the PRFs a profile may name.

use super::{Aes128Prf, Prf};

/// Every PRF provmark knows, chosen at run time from a profile's `prf` field.
///
/// Schemes, the embedder and the detector take `Watermark<AnyPrf>` from a profile; adding a PRF
/// means adding a variant here and in [`AnyState`], nothing else.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyPrf {
    /// `provmark-aes128-v1`.
    Native(Aes128Prf),
}

/// The absorbed-context state of an [`AnyPrf`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum AnyState {
    /// State of the native PRF.
    Native([u8; 16]),
}

impl Prf for AnyPrf {
    type State = AnyState;

    fn id(&self) -> &'static str {
        match self {
            AnyPrf::Native(p) => p.id(),
        }
    }

    #[inline]
    fn absorb(&self, context: &[u32]) -> AnyState {
        match self {
            AnyPrf::Native(p) => AnyState::Native(p.absorb(context)),
        }
    }

    #[inline]
    fn word(&self, state: &AnyState, token: u32) -> u64 {
        match (self, state) {
            (AnyPrf::Native(p), AnyState::Native(s)) => p.word(s, token),
        }
    }

    fn words(&self, state: &AnyState, tokens: &[u32], out: &mut [u64]) {
        match (self, state) {
            (AnyPrf::Native(p), AnyState::Native(s)) => p.words(s, tokens, out),
        }
    }

    #[inline]
    fn uniform(&self, word: u64) -> f64 {
        match self {
            AnyPrf::Native(p) => p.uniform(word),
        }
    }
}
