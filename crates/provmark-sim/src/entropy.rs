//! The per-step entropy target of the simulation and the logit shapes that realise it.

use crate::error::SimError;

/// A target distribution of per-step entropy (nats) at temperature 1, given by quantile anchors.
///
/// # Target (chat model sampled at temperature 1)
///
/// [`EntropyProfile::chat`] is a quantile function of the Shannon entropy (nats) of the
/// next-token distribution at one step. Its anchors and their sources:
///
/// | quantile | entropy (nats) | source |
/// |---|---|---|
/// | 0.50 | 0.01 | Wang et al. 2025, *Beyond the 80/20 Rule* (arXiv:2506.01939): over 50% of the tokens of Qwen3-8B responses have entropy below 0.01 |
/// | 0.80 | 0.672 | same paper: the 80th percentile of token entropy is 0.672 |
/// | 0.00 | 1e-4 | assumption: floor of the near-deterministic steps |
/// | 0.90 | 1.2 | assumption (the paper gives no upper quantiles in text) |
/// | 0.97 | 2.2 | assumption |
/// | 1.00 | 3.3 | assumption: below ln 50 so that a top-50 candidate list can realise it |
///
/// Between anchors the quantile function is linear in ln(entropy). The mean of this target is
/// 0.34 nats. A second, independent figure brackets it: Yang & Holtzman 2025, *How Alignment
/// Shrinks the Generative Horizon* (arXiv:2506.17871), report that alignment tuning reduces the
/// branching factor (the exponential of the mean per-token entropy) of outputs to about 1.2, i.e. a
/// mean near ln 1.2 = 0.18 nats, against about 12 (2.5 nats) for base models. The Wang et al.
/// figures come from chain-of-thought math responses, which are lower-entropy than open chat;
/// the upper tail above was set so that the mean (0.34) lies between the aligned-model figure and
/// a more open-ended chat response — that placement is our assumption, not a measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct EntropyProfile {
    anchors: Vec<(f64, f64)>,
}

impl EntropyProfile {
    /// The chat-model target described in the [type docs](EntropyProfile): median 0.01 nats, 80th
    /// percentile 0.672 nats, mean 0.34 nats.
    pub fn chat() -> Self {
        EntropyProfile {
            anchors: vec![
                (0.0, 1e-4),
                (0.5, 0.01),
                (0.8, 0.672),
                (0.9, 1.2),
                (0.97, 2.2),
                (1.0, 3.3),
            ],
        }
    }

    /// A base (not instruction-tuned) model's target, for sensitivity runs: mean ≈ 2.4 nats.
    /// Only the mean is sourced — Yang & Holtzman 2025 (arXiv:2506.17871) measure a branching
    /// factor of about 12 for base models, e^2.48 — the quantile shape (10% below 0.3 nats,
    /// median 2.6, maximum 5.5) is an assumption. Needs `top_k` ≥ 245 (ln k > 5.5); use 1000.
    pub fn base_model() -> Self {
        EntropyProfile {
            anchors: vec![
                (0.0, 0.01),
                (0.1, 0.3),
                (0.3, 1.5),
                (0.5, 2.6),
                (0.8, 3.8),
                (1.0, 5.5),
            ],
        }
    }

    /// A custom target from `(quantile, entropy in nats)` anchors: the first quantile must be 0,
    /// the last 1, quantiles strictly increasing, entropies positive, finite and non-decreasing.
    ///
    /// ```
    /// use provmark_sim::EntropyProfile;
    /// let p = EntropyProfile::from_quantiles(&[(0.0, 0.001), (0.5, 0.5), (1.0, 3.0)]).unwrap();
    /// assert!((p.quantile(0.5) - 0.5).abs() < 1e-12);
    /// assert!(EntropyProfile::from_quantiles(&[(0.0, 1.0), (0.5, 0.5), (1.0, 3.0)]).is_err());
    /// ```
    pub fn from_quantiles(anchors: &[(f64, f64)]) -> Result<Self, SimError> {
        let bad = |reason: &str| SimError::InvalidConfig {
            field: "entropy",
            reason: reason.to_string(),
        };
        if anchors.len() < 2 {
            return Err(bad("needs at least two anchors"));
        }
        if anchors[0].0 != 0.0 || anchors[anchors.len() - 1].0 != 1.0 {
            return Err(bad("the first quantile must be 0 and the last 1"));
        }
        for w in anchors.windows(2) {
            if w[1].0.partial_cmp(&w[0].0) != Some(std::cmp::Ordering::Greater) {
                return Err(bad("quantiles must be strictly increasing"));
            }
            if w[1].1.partial_cmp(&w[0].1) == Some(std::cmp::Ordering::Less) {
                return Err(bad("entropies must be non-decreasing"));
            }
        }
        if anchors.iter().any(|&(_, h)| !(h.is_finite() && h > 0.0)) {
            return Err(bad("entropies must be positive and finite"));
        }
        Ok(EntropyProfile {
            anchors: anchors.to_vec(),
        })
    }

    /// The anchors `(quantile, entropy)`.
    pub fn anchors(&self) -> &[(f64, f64)] {
        &self.anchors
    }

    /// The largest entropy the target asks for.
    pub fn max_entropy(&self) -> f64 {
        self.anchors[self.anchors.len() - 1].1
    }

    /// The target entropy at quantile `q` (clamped to [0, 1]); linear in ln(entropy) between
    /// anchors.
    pub fn quantile(&self, q: f64) -> f64 {
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let a = &self.anchors;
        let mut i = 1;
        while i < a.len() - 1 && a[i].0 < q {
            i += 1;
        }
        let (q0, h0) = a[i - 1];
        let (q1, h1) = a[i];
        let f = ((q - q0) / (q1 - q0)).clamp(0.0, 1.0);
        (h0.ln() + f * (h1.ln() - h0.ln())).exp()
    }

    /// The exact mean of the target (nats).
    pub fn mean(&self) -> f64 {
        self.anchors
            .windows(2)
            .map(|w| {
                let ((q0, h0), (q1, h1)) = (w[0], w[1]);
                let seg = if (h1 - h0).abs() < 1e-15 * h0 {
                    h0
                } else {
                    (h1 - h0) / (h1 / h0).ln()
                };
                (q1 - q0) * seg
            })
            .sum()
    }
}

/// Slope of the power-law tail of the candidate logits: the logit of the rank-i candidate
/// (i ≥ 2) is `-TAIL_SLOPE · ln i - gap`. An assumption: next-token probabilities behind the top
/// candidate fall off roughly like a Zipf law with exponent ≈ 1 to 1.5.
pub(crate) const TAIL_SLOPE: f64 = 1.2;

/// Points of the shape table.
const TABLE_POINTS: usize = 2048;
/// Largest top-1 gap in the table (entropy ≈ 1e-9 nats there).
const MAX_GAP: f64 = 24.0;

/// The one-parameter family of candidate logit shapes and its entropy table.
///
/// Shape parameter t ∈ [−1, MAX_GAP]: for t ≥ 0 the logits are `-s0·ln i - t·[i ≥ 2]` (a gap t
/// between the top candidate and a Zipf tail); for t < 0 the gap is 0 and the slope shrinks to
/// `s0·(1 + t)` (flat at t = −1). Entropy falls strictly as t grows.
#[derive(Clone, Debug)]
pub(crate) struct ShapeTable {
    ln_rank: Vec<f64>,
    t: Vec<f64>,
    ln_h: Vec<f64>,
}

impl ShapeTable {
    pub(crate) fn new(k: usize) -> Self {
        let ln_rank: Vec<f64> = (1..=k).map(|i| (i as f64).ln()).collect();
        let mut t = Vec::with_capacity(TABLE_POINTS);
        let mut ln_h = Vec::with_capacity(TABLE_POINTS);
        let mut logits = vec![0.0f64; k];
        for j in 0..TABLE_POINTS {
            let tj = -1.0 + (MAX_GAP + 1.0) * j as f64 / (TABLE_POINTS - 1) as f64;
            Self::fill(&ln_rank, tj, &mut logits);
            let h = entropy_of_logits(&logits).max(1e-300);
            t.push(tj);
            ln_h.push(h.ln());
        }
        ShapeTable { ln_rank, t, ln_h }
    }

    /// The largest entropy the family reaches (uniform over k).
    pub(crate) fn max_entropy(&self) -> f64 {
        self.ln_h[0].exp()
    }

    /// The shape parameter whose entropy is `h` (clamped to the table's range).
    pub(crate) fn param_for(&self, h: f64) -> f64 {
        let lh = h.max(1e-300).ln();
        // ln_h is decreasing in the index.
        if lh >= self.ln_h[0] {
            return self.t[0];
        }
        let last = self.ln_h.len() - 1;
        if lh <= self.ln_h[last] {
            return self.t[last];
        }
        let (mut lo, mut hi) = (0usize, last);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if self.ln_h[mid] > lh {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let f = (self.ln_h[lo] - lh) / (self.ln_h[lo] - self.ln_h[hi]);
        self.t[lo] + f * (self.t[hi] - self.t[lo])
    }

    /// Writes the logits of shape `t` for ranks 1..=out.len() at temperature 1.
    #[inline]
    pub(crate) fn logit(&self, t: f64, rank0: usize) -> f64 {
        let (slope, gap) = if t < 0.0 {
            (TAIL_SLOPE * (1.0 + t), 0.0)
        } else {
            (TAIL_SLOPE, t)
        };
        if rank0 == 0 {
            0.0
        } else {
            -slope * self.ln_rank[rank0] - gap
        }
    }

    fn fill(ln_rank: &[f64], t: f64, out: &mut [f64]) {
        let (slope, gap) = if t < 0.0 {
            (TAIL_SLOPE * (1.0 + t), 0.0)
        } else {
            (TAIL_SLOPE, t)
        };
        for (i, o) in out.iter_mut().enumerate() {
            *o = if i == 0 {
                0.0
            } else {
                -slope * ln_rank[i] - gap
            };
        }
    }
}

/// Shannon entropy (nats) of softmax(logits), computed stably in f64.
pub fn entropy_of_logits(logits: &[f64]) -> f64 {
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return 0.0;
    }
    let mut z = 0.0;
    let mut s = 0.0;
    for &l in logits {
        let d = l - m;
        let e = d.exp();
        z += e;
        s += e * d;
    }
    // H = ln Z − Σ p·d with d = l − m.
    (z.ln() - s / z).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_profile_hits_sourced_anchors() {
        let p = EntropyProfile::chat();
        assert!((p.quantile(0.5) - 0.01).abs() < 1e-12);
        assert!((p.quantile(0.8) - 0.672).abs() < 1e-12);
        let m = p.mean();
        assert!((0.30..0.38).contains(&m), "mean {m}");
    }

    #[test]
    fn base_model_profile_mean_matches_its_source() {
        let m = EntropyProfile::base_model().mean();
        assert!((m - 12f64.ln()).abs() < 0.15, "mean {m}");
    }

    #[test]
    fn shape_table_inverts_entropy() {
        let table = ShapeTable::new(50);
        assert!((table.max_entropy() - 50f64.ln()).abs() < 1e-9);
        for &h in &[1e-4, 1e-2, 0.3, 0.672, 1.5, 3.3] {
            let t = table.param_for(h);
            let logits: Vec<f64> = (0..50).map(|i| table.logit(t, i)).collect();
            let got = entropy_of_logits(&logits);
            assert!((got / h - 1.0).abs() < 0.01, "target {h}, got {got}");
        }
    }

    #[test]
    fn entropy_of_uniform_and_point_mass() {
        assert!((entropy_of_logits(&[0.0; 4]) - 4f64.ln()).abs() < 1e-12);
        assert!(entropy_of_logits(&[0.0, -1000.0]) < 1e-12);
    }
}
