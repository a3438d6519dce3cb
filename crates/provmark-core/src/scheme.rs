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

    /// The detector's per-token score: 1 or 0 (green) or −ln(1 − u) (Gumbel).
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
        }
    }
}
