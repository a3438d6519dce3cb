//! The raw test statistics, their exact null tails, and mergeable accumulators.
//!
//! * Green list: `k` green of `n` scored tokens; under H0 `k ~ Binomial(n, γ)`.
//! * Gumbel: `S = Σ −ln(1 − u)` over `n` scored tokens; under H0 `S ~ Gamma(n, 1)`.
//! * Tournament (SynthID-Text): `Σ g` over `n` scored tokens × `L` layers, compared with
//!   Binomial(n·L, ½) (exact only if the layers' g-values are independent).
//! * vLLM dual-key Gumbel: `S = Σ (1−α)·E_A + α·E_B`; exact tail [`tail::dual_key_upper`].
//!
//! [`Statistic`] serialises to exactly the JSON that `check` and `scan` print, so anyone can
//! recompute the p-value from the report. [`Accumulator`] collects per-token scores and merges
//! across shards; merging is exact and order-independent (the Gumbel sum is kept in fixed
//! point, see [`Accumulator`]), so a scan split over threads, partitions or machines reports the
//! same statistic bit for bit.

use provmark_core::Scheme;
use serde::{Deserialize, Serialize};

use crate::error::{DetectError, Result};
use crate::tail::{self, TailProb};

/// A test statistic together with its null distribution's parameters.
///
/// ```
/// use provmark_detect::Statistic;
/// let s = Statistic::Binomial { successes: 30, trials: 40, gamma: 0.25 };
/// assert_eq!(
///     serde_json::to_string(&s).unwrap(),
///     r#"{"kind":"binomial","successes":30,"trials":40,"gamma":0.25}"#
/// );
/// assert!(s.tail().log10_p < -9.0);
/// let g = Statistic::Gamma { sum: 12.5, count: 10 };
/// assert_eq!(serde_json::to_string(&g).unwrap(), r#"{"kind":"gamma","sum":12.5,"count":10}"#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Statistic {
    /// `successes` of `trials` Bernoulli(γ) trials; H0: Binomial(trials, gamma).
    Binomial {
        /// Green count k.
        successes: u64,
        /// Scored trials n.
        trials: u64,
        /// Success probability under H0.
        gamma: f64,
    },
    /// A sum of `count` Exp(1) scores; H0: Gamma(count, 1).
    Gamma {
        /// S = Σ −ln(1 − u).
        sum: f64,
        /// Scored tokens n.
        count: u64,
    },
    /// vLLM's dual-key Gumbel score: a sum over `count` tokens of `(1−α)·E_A + α·E_B` with
    /// `E_A, E_B` independent Exp(1) under H0; exact tail [`tail::dual_key_upper`].
    DualKeyGamma {
        /// S = Σ (1−α)·(−ln(1 − u_A)) + α·(−ln(1 − u_B)).
        sum: f64,
        /// Scored tokens n.
        count: u64,
        /// Weight α of key B.
        alpha: f64,
    },
}

impl Statistic {
    /// Number of trials (Binomial) or scored tokens (Gamma). For a tournament scheme the
    /// binomial trials are scored tokens × layers.
    pub fn scored(&self) -> u64 {
        match *self {
            Statistic::Binomial { trials, .. } => trials,
            Statistic::Gamma { count, .. } | Statistic::DualKeyGamma { count, .. } => count,
        }
    }

    /// The exact upper-tail probability under H0, in log space (`P(X ≥ k)` or `P(S ≥ s)`).
    /// Nothing scored gives p = 1.
    pub fn tail(&self) -> TailProb {
        match *self {
            Statistic::Binomial {
                successes,
                trials,
                gamma,
            } => tail::binomial_upper(successes, trials, gamma),
            Statistic::Gamma { sum, count } => tail::gamma_upper(count, sum),
            Statistic::DualKeyGamma { sum, count, alpha } => {
                tail::dual_key_upper(sum, count, alpha)
            }
        }
    }

    /// Checks the statistic's domain (useful after deserialising one from a report).
    pub fn validate(&self) -> Result<()> {
        match *self {
            Statistic::Binomial {
                successes,
                trials,
                gamma,
            } => {
                if !(gamma > 0.0 && gamma < 1.0) {
                    return Err(DetectError::param(
                        "gamma",
                        format!("{gamma} is not in (0, 1)"),
                    ));
                }
                if successes > trials {
                    return Err(DetectError::param(
                        "successes",
                        format!("{successes} exceeds trials {trials}"),
                    ));
                }
                Ok(())
            }
            Statistic::Gamma { sum, .. } => {
                if !(sum.is_finite() && sum >= 0.0) {
                    return Err(DetectError::param(
                        "sum",
                        format!("{sum} is not a finite number ≥ 0"),
                    ));
                }
                Ok(())
            }
            Statistic::DualKeyGamma { sum, alpha, .. } => {
                if !(sum.is_finite() && sum >= 0.0) {
                    return Err(DetectError::param(
                        "sum",
                        format!("{sum} is not a finite number ≥ 0"),
                    ));
                }
                if !(0.0..=1.0).contains(&alpha) {
                    return Err(DetectError::param(
                        "alpha",
                        format!("{alpha} is not in [0, 1]"),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Fixed-point scale of Gumbel scores: one unit is 2^-52.
///
/// A score is at most −ln(2^-54) ≈ 37.4 < 2^6, so one scaled score fits in 58 bits and a `u128`
/// sum holds 2^70 of them. Rounding is ≤ 2^-52 per score, i.e. a relative error ≤ 2.2e-16 of a
/// sum whose scores average 1 under H0 — as accurate as sequential f64 summation, but exactly
/// associative.
const GUMBEL_SCALE: f64 = 4_503_599_627_370_496.0; // 2^52

/// Converts one Gumbel score to fixed point (negative or NaN inputs count as 0).
#[inline(always)]
pub(crate) fn gumbel_fixed(score: f64) -> u64 {
    // `as` saturates: NaN → 0, negatives → 0; scores come from `−ln(1 − u)` with u in (0, 1).
    (score * GUMBEL_SCALE) as u64
}

/// Converts a fixed-point Gumbel sum back to f64.
#[inline]
pub(crate) fn gumbel_sum_f64(fixed: u128) -> f64 {
    fixed as f64 / GUMBEL_SCALE
}

/// A mergeable accumulator of per-token scores for one scheme.
///
/// ```
/// use provmark_core::Scheme;
/// use provmark_detect::Accumulator;
/// let mut a = Accumulator::for_scheme(&Scheme::Gumbel).unwrap();
/// let mut b = a.clone();
/// a.add(0.5);
/// b.add(2.0);
/// b.add(0.25);
/// a.merge(&b).unwrap();
/// assert_eq!(a.scored(), 3);
/// assert_eq!(a.statistic(), provmark_detect::Statistic::Gamma { sum: 2.75, count: 3 });
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Accumulator {
    /// Green counts (green list: one trial per token; tournament: one per layer).
    Binomial {
        /// Successes so far (green tokens, or 1-valued g-values).
        successes: u64,
        /// Trials so far (scored tokens × `per_token`).
        trials: u64,
        /// Success probability under H0 (γ; ½ for tournaments).
        gamma: f64,
        /// Trials per scored token (1; the number of layers for tournaments).
        per_token: u64,
    },
    /// Gumbel sums, in fixed point (units of 2^-52) so that merging is exact.
    Gamma {
        /// Σ score · 2^52 (each term rounded down).
        sum_fixed: u128,
        /// Scored tokens so far.
        count: u64,
    },
    /// vLLM dual-key Gumbel sums, in the same fixed point as [`Accumulator::Gamma`].
    DualKeyGamma {
        /// Σ score · 2^52 (each term rounded down).
        sum_fixed: u128,
        /// Scored tokens so far.
        count: u64,
        /// Weight α of key B.
        alpha: f64,
    },
}

impl Accumulator {
    /// An empty accumulator for a scheme's statistic.
    pub fn for_scheme(scheme: &Scheme) -> Result<Self> {
        match *scheme {
            Scheme::Green { gamma, .. } => Ok(Accumulator::Binomial {
                successes: 0,
                trials: 0,
                gamma,
                per_token: 1,
            }),
            Scheme::Tournament { layers } => Ok(Accumulator::Binomial {
                successes: 0,
                trials: 0,
                gamma: 0.5,
                per_token: u64::from(layers.clamp(1, 64)),
            }),
            Scheme::Gumbel => Ok(Accumulator::Gamma {
                sum_fixed: 0,
                count: 0,
            }),
            Scheme::DualKeyGumbel { alpha } => Ok(Accumulator::DualKeyGamma {
                sum_fixed: 0,
                count: 0,
                alpha,
            }),
            #[allow(unreachable_patterns)]
            other => Err(DetectError::UnsupportedScheme(other.name().to_string())),
        }
    }

    /// Adds one token's score ([`Watermark::score`](provmark_core::Watermark::score)): 1 or 0
    /// for green, the number of 1 g-values for a tournament (rounded to the nearest integer and
    /// capped at the trials per token), −ln(1 − u) for Gumbel.
    #[inline]
    pub fn add(&mut self, score: f64) {
        match self {
            Accumulator::Binomial {
                successes,
                trials,
                per_token,
                ..
            } => {
                // `as` saturates: NaN and negatives count 0.
                *successes += (score.round() as u64).min(*per_token);
                *trials += *per_token;
            }
            Accumulator::Gamma { sum_fixed, count }
            | Accumulator::DualKeyGamma {
                sum_fixed, count, ..
            } => {
                *sum_fixed += u128::from(gumbel_fixed(score));
                *count += 1;
            }
        }
    }

    /// Adds another accumulator of the same kind and parameters (a shard, a partition, a thread).
    pub fn merge(&mut self, other: &Accumulator) -> Result<()> {
        match (self, other) {
            (
                Accumulator::Binomial {
                    successes,
                    trials,
                    gamma,
                    per_token,
                },
                Accumulator::Binomial {
                    successes: s2,
                    trials: t2,
                    gamma: g2,
                    per_token: p2,
                },
            ) => {
                if gamma.to_bits() != g2.to_bits() || per_token != p2 {
                    return Err(DetectError::MergeMismatch(format!(
                        "gamma {gamma} vs {g2}, trials per token {per_token} vs {p2}"
                    )));
                }
                *successes += s2;
                *trials += t2;
                Ok(())
            }
            (
                Accumulator::Gamma { sum_fixed, count },
                Accumulator::Gamma {
                    sum_fixed: s2,
                    count: c2,
                },
            ) => {
                *sum_fixed += s2;
                *count += c2;
                Ok(())
            }
            (
                Accumulator::DualKeyGamma {
                    sum_fixed,
                    count,
                    alpha,
                },
                Accumulator::DualKeyGamma {
                    sum_fixed: s2,
                    count: c2,
                    alpha: a2,
                },
            ) => {
                if alpha.to_bits() != a2.to_bits() {
                    return Err(DetectError::MergeMismatch(format!(
                        "dual-key alpha {alpha} vs {a2}"
                    )));
                }
                *sum_fixed += s2;
                *count += c2;
                Ok(())
            }
            _ => Err(DetectError::MergeMismatch(
                "statistics of different kinds".into(),
            )),
        }
    }

    /// Number of scored tokens so far.
    pub fn scored(&self) -> u64 {
        match *self {
            Accumulator::Binomial {
                trials, per_token, ..
            } => trials / per_token.max(1),
            Accumulator::Gamma { count, .. } | Accumulator::DualKeyGamma { count, .. } => count,
        }
    }

    /// The statistic so far.
    pub fn statistic(&self) -> Statistic {
        match *self {
            Accumulator::Binomial {
                successes,
                trials,
                gamma,
                ..
            } => Statistic::Binomial {
                successes,
                trials,
                gamma,
            },
            Accumulator::Gamma { sum_fixed, count } => Statistic::Gamma {
                sum: gumbel_sum_f64(sum_fixed),
                count,
            },
            Accumulator::DualKeyGamma {
                sum_fixed,
                count,
                alpha,
            } => Statistic::DualKeyGamma {
                sum: gumbel_sum_f64(sum_fixed),
                count,
                alpha,
            },
        }
    }
}
