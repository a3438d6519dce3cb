//! Scheme parameters and the keyed per-(context, token) decisions shared by embedder and detector.
//!
//! The embedding crate decides *how* to sample; the detection crate decides *how* to pool. Both
//! ask a [`Watermark`] the one question that must never differ between them: what is the keyed
//! value of token `v` after context `c`?

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::prf::Prf;

/// Largest context width a profile may use.
pub const MAX_CONTEXT_WIDTH: usize = 16;

/// The watermarking scheme and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Scheme {
    /// Green-list logit bias (Kirchenbauer et al. 2023): a keyed fraction `gamma` of the
    /// vocabulary is green after each context; `delta` is added to green logits.
    /// Detector statistic: green count k of n scored tokens, Binomial(n, gamma) under H0.
    Green {
        /// Green fraction, in (0, 1).
        gamma: f64,
        /// Logit bias added to green tokens, ≥ 0.
        delta: f64,
    },
    /// Gumbel-max / exponential sampling (Aaronson 2022): choose argmax u_v^(1/p_v).
    /// Detector statistic: S = Σ −ln(1 − u) over n scored tokens, Gamma(n, 1) under H0.
    Gumbel,
    /// Tournament sampling (SynthID-Text; Dathathri et al., Nature 2024): the PRF word carries
    /// one keyed g-value bit per layer (bit d = layer d, e.g. [`SynthIdPrf`](crate::prf::SynthIdPrf)).
    /// Per-token score: the number of 1 bits among the `layers` low bits. Detector statistic:
    /// Σ g over n scored tokens, Binomial(n·layers, ½) under H0.
    Tournament {
        /// Number of layers (g-value bits per token), 1 ..= 64.
        layers: u32,
    },
    /// vLLM's dual-key Gumbel: the PRF word holds key A's 32-bit word in its low half and key
    /// B's in its high half ([`VllmDualKeyPrf`](crate::prf::VllmDualKeyPrf)); each half maps to
    /// a uniform through [`Prf::uniform`]. Per-token score `(1−α)·(−ln(1−u_A)) + α·(−ln(1−u_B))`.
    /// Under H0 the sum over n tokens is a sum of n Exp(1/(1−α)) and n Exp(1/α) variables.
    DualKeyGumbel {
        /// Weight of key B (vLLM's routing probability), in [0, 1].
        alpha: f64,
    },
}

impl Scheme {
    /// Default green-list parameters (γ = 0.25, δ = 2.0, the KGW reference defaults).
    pub const DEFAULT_GREEN: Scheme = Scheme::Green {
        gamma: 0.25,
        delta: 2.0,
    };

    /// Short name used on the command line and in reports (`green`, `gumbel`).
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Green { .. } => "green",
            Scheme::Gumbel => "gumbel",
            Scheme::Tournament { .. } => "tournament",
            Scheme::DualKeyGumbel { .. } => "dual_key_gumbel",
        }
    }

    /// Checks parameter domains.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Scheme::Green { gamma, delta } => {
                if !(gamma > 0.0 && gamma < 1.0) {
                    return Err(CoreError::param(
                        "gamma",
                        format!("{gamma} is not in (0, 1)"),
                    ));
                }
                if !(delta.is_finite() && delta >= 0.0) {
                    return Err(CoreError::param(
                        "delta",
                        format!("{delta} is not a finite number ≥ 0"),
                    ));
                }
                Ok(())
            }
            Scheme::Gumbel => Ok(()),
            Scheme::Tournament { layers } => {
                if !(1..=64).contains(&layers) {
                    return Err(CoreError::param(
                        "layers",
                        format!("{layers} is not in 1..=64"),
                    ));
                }
                Ok(())
            }
            Scheme::DualKeyGumbel { alpha } => {
                if !(0.0..=1.0).contains(&alpha) {
                    return Err(CoreError::param(
                        "alpha",
                        format!("{alpha} is not in [0, 1]"),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Default context width h for both native schemes. See the spec, section "Context width".
pub const DEFAULT_CONTEXT_WIDTH: usize = 2;

/// Checks a context width.
pub fn validate_context_width(h: usize) -> Result<()> {
    if h > MAX_CONTEXT_WIDTH {
        return Err(CoreError::param(
            "context_width",
            format!("{h} exceeds the maximum of {MAX_CONTEXT_WIDTH}"),
        ));
    }
    Ok(())
}

/// A scheme bound to one keyed PRF (one stream: the master key or one account's subkey).
///
/// ```
/// use provmark_core::{prf::{Aes128Prf, Prf}, Scheme, SecretKey, Watermark};
/// let key = SecretKey::from_bytes([3; 32]);
/// let wm = Watermark::new(Aes128Prf::new(&key, 2), Scheme::DEFAULT_GREEN, 2).unwrap();
/// let state = wm.absorb(&[10, 11]);
/// let s = wm.score(&state, 12);
/// assert!(s == 0.0 || s == 1.0);
/// ```
#[derive(Clone, Debug)]
pub struct Watermark<P> {
    prf: P,
    scheme: Scheme,
    width: usize,
}

impl<P: Prf> Watermark<P> {
    /// Binds a scheme to a PRF. The PRF must have been built for `width`.
    pub fn new(prf: P, scheme: Scheme, width: usize) -> Result<Self> {
        scheme.validate()?;
        validate_context_width(width)?;
        Ok(Watermark { prf, scheme, width })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The context width h.
    pub fn context_width(&self) -> usize {
        self.width
    }

    /// The PRF.
    pub fn prf(&self) -> &P {
        &self.prf
    }

    /// Absorbs a context of exactly `context_width` ids (oldest first).
    #[inline]
    pub fn absorb(&self, context: &[u32]) -> P::State {
        self.prf.absorb(context)
    }

    /// The keyed uniform of `token` under an absorbed context.
    #[inline]
    pub fn uniform(&self, state: &P::State, token: u32) -> f64 {
        self.prf.uniform(self.prf.word(state, token))
    }

    /// Green-list membership: `uniform < gamma` (always false for non-green schemes).
    #[inline]
    pub fn is_green(&self, state: &P::State, token: u32) -> bool {
        match self.scheme {
            Scheme::Green { gamma, .. } => self.uniform(state, token) < gamma,
            _ => false,
        }
    }

    /// The detector's per-token score: 1 or 0 (green), −ln(1 − u) (Gumbel), the number of 1
    /// g-values (tournament), or the weighted pair of Gumbel scores (dual-key).
    #[inline]
    pub fn score(&self, state: &P::State, token: u32) -> f64 {
        match self.scheme {
            Scheme::Green { gamma, .. } => {
                if self.uniform(state, token) < gamma {
                    1.0
                } else {
                    0.0
                }
            }
            Scheme::Gumbel => -(-self.uniform(state, token)).ln_1p(),
            Scheme::Tournament { layers } => {
                let w = self.prf.word(state, token);
                let mask = u64::MAX >> (64 - layers.clamp(1, 64));
                f64::from((w & mask).count_ones())
            }
            Scheme::DualKeyGumbel { alpha } => {
                let w = self.prf.word(state, token);
                let sa = -(-self.prf.uniform(w & 0xFFFF_FFFF)).ln_1p();
                let sb = -(-self.prf.uniform(w >> 32)).ln_1p();
                sa * (1.0 - alpha) + sb * alpha
            }
        }
    }
}
