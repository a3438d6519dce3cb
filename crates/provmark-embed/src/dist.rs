//! Next-token distributions as the serving stack hands them over, and the plain sampler.
//!
//! A [`Dist`] borrows the model's output for one step: logits or probabilities, over the full
//! vocabulary or over a truncated candidate list (top-k / top-p: ids plus their values). Nothing
//! is copied; the plain sampler writes one cumulative sum into a caller-owned [`Scratch`] and
//! every further draw from the same step is a binary search in it.
//!
//! # Accepted values
//! * Logits: any finite `f32`, or `-inf` meaning "masked" (the token can never be chosen).
//!   `NaN` and `+inf` are errors. At least one entry must be unmasked.
//! * Probabilities: finite and `>= 0`; they need not sum to 1 (they are normalised implicitly).
//!   `0` means masked. Negative, `NaN` and infinite values are errors; all-zero is an error.
//! * Candidate ids must be below the vocabulary size. Ids should be distinct; duplicates are not
//!   detected and each entry is treated as its own candidate.

use rand::RngCore;

use crate::error::{EmbedError, Result};

/// The model's output for one decoding step, borrowed.
#[derive(Clone, Copy, Debug)]
pub enum Dist<'a> {
    /// Logits over the full vocabulary (`len == vocab_size`; position = token id).
    Logits(&'a [f32]),
    /// Probabilities (or unnormalised weights) over the full vocabulary.
    Probs(&'a [f32]),
    /// A truncated candidate list with logits: `logits[i]` belongs to token `ids[i]`.
    CandidateLogits {
        /// Candidate token ids.
        ids: &'a [u32],
        /// Their logits.
        logits: &'a [f32],
    },
    /// A truncated candidate list with probabilities: `probs[i]` belongs to token `ids[i]`.
    CandidateProbs {
        /// Candidate token ids.
        ids: &'a [u32],
        /// Their probabilities (or unnormalised weights).
        probs: &'a [f32],
    },
}

impl<'a> Dist<'a> {
    /// The logits or probabilities, in list order.
    pub fn values(&self) -> &'a [f32] {
        match *self {
            Dist::Logits(v) | Dist::Probs(v) => v,
            Dist::CandidateLogits { logits, .. } => logits,
            Dist::CandidateProbs { probs, .. } => probs,
        }
    }

    /// The candidate ids, or `None` for a full-vocabulary distribution.
    pub fn ids(&self) -> Option<&'a [u32]> {
        match *self {
            Dist::Logits(_) | Dist::Probs(_) => None,
            Dist::CandidateLogits { ids, .. } | Dist::CandidateProbs { ids, .. } => Some(ids),
        }
    }

    /// Whether the values are probabilities (otherwise logits).
    pub fn is_probs(&self) -> bool {
        matches!(self, Dist::Probs(_) | Dist::CandidateProbs { .. })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.values().len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.values().is_empty()
    }

    /// Token id of entry `i` (`i` itself for a full-vocabulary distribution).
    #[inline]
    pub(crate) fn id(&self, i: usize) -> u32 {
        match self.ids() {
            None => i as u32,
            Some(ids) => ids[i],
        }
    }

    /// Checks the shape: lengths agree, full vocabularies have `vocab` entries, candidate ids
    /// are in range. Values are checked by the passes that read them.
    pub(crate) fn check_shape(&self, vocab: usize) -> Result<()> {
        match *self {
            Dist::Logits(v) | Dist::Probs(v) => {
                if v.len() != vocab {
                    return Err(EmbedError::LengthMismatch {
                        what: "full-vocabulary values vs vocabulary size",
                        expected: vocab,
                        found: v.len(),
                    });
                }
            }
            Dist::CandidateLogits {
                ids,
                logits: values,
            }
            | Dist::CandidateProbs { ids, probs: values } => {
                if ids.len() != values.len() {
                    return Err(EmbedError::LengthMismatch {
                        what: "candidate values vs candidate ids",
                        expected: ids.len(),
                        found: values.len(),
                    });
                }
                check_ids(ids, vocab)?;
            }
        }
        if self.is_empty() {
            return Err(EmbedError::AllMasked);
        }
        Ok(())
    }

    /// Row `row` of a batch whose slices hold `rows` equal rows.
    pub(crate) fn row(&self, row: usize, rows: usize) -> Result<Dist<'a>> {
        fn part<'b, T>(s: &'b [T], row: usize, rows: usize, what: &'static str) -> Result<&'b [T]> {
            if rows == 0 || s.len() % rows != 0 {
                return Err(EmbedError::LengthMismatch {
                    what,
                    expected: rows * (s.len() / rows.max(1)).max(1),
                    found: s.len(),
                });
            }
            let n = s.len() / rows;
            Ok(&s[row * n..(row + 1) * n])
        }
        const W: &str = "batch values vs rows (each row must have the same length)";
        const I: &str = "batch candidate ids vs rows (each row must have the same length)";
        Ok(match *self {
            Dist::Logits(v) => Dist::Logits(part(v, row, rows, W)?),
            Dist::Probs(v) => Dist::Probs(part(v, row, rows, W)?),
            Dist::CandidateLogits { ids, logits } => Dist::CandidateLogits {
                ids: part(ids, row, rows, I)?,
                logits: part(logits, row, rows, W)?,
            },
            Dist::CandidateProbs { ids, probs } => Dist::CandidateProbs {
                ids: part(ids, row, rows, I)?,
                probs: part(probs, row, rows, W)?,
            },
        })
    }
}

#[inline]
pub(crate) fn check_ids(ids: &[u32], vocab: usize) -> Result<()> {
    // Branch-free scan first (vectorises); locate the culprit only on failure.
    let max = ids.iter().copied().max().unwrap_or(0);
    if (max as usize) >= vocab {
        let (index, &id) = ids
            .iter()
            .enumerate()
            .find(|(_, &id)| id as usize >= vocab)
            .unwrap_or((0, &max));
        return Err(EmbedError::CandidateOutOfRange { index, id, vocab });
    }
    Ok(())
}

/// Caller-owned working memory for sampling: one cumulative-sum buffer.
///
/// Create it once per worker thread with the largest list it will see
/// ([`Scratch::with_capacity`]); then no sampling call allocates. If a call sees a longer list,
/// the buffer grows once to that length (amortised: it never shrinks, so growth happens at most
/// once per new maximum).
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    cdf: Vec<f64>,
}

impl Scratch {
    /// Scratch for lists of up to `n` entries (use the vocabulary size for full-vocabulary calls).
    pub fn with_capacity(n: usize) -> Self {
        Scratch { cdf: vec![0.0; n] }
    }

    /// Entries the buffer holds without growing.
    pub fn capacity(&self) -> usize {
        self.cdf.len()
    }

    pub(crate) fn buf(&mut self, n: usize) -> &mut [f64] {
        if self.cdf.len() < n {
            self.cdf.resize(n, 0.0);
        }
        &mut self.cdf[..n]
    }
}

/// A cumulative sum over one step's weights, ready for repeated draws.
pub(crate) struct Cdf<'s> {
    pub(crate) cdf: &'s [f64],
}

impl Cdf<'_> {
    /// Total weight.
    #[inline]
    pub(crate) fn total(&self) -> f64 {
        self.cdf[self.cdf.len() - 1]
    }

    /// Draws an entry index with probability weight / total from one `next_u64` (its top 53
    /// bits); also returns the 11 unused low bits, which are independent of the index.
    /// Zero-weight entries are never returned: the search finds the first cumulative sum
    /// strictly above the target.
    #[inline]
    pub(crate) fn draw_with_spare<R: RngCore + ?Sized>(&self, rng: &mut R) -> (usize, u64) {
        let r = rng.next_u64();
        let x = (r >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0) * self.total();
        let i = self.cdf.partition_point(|&c| c <= x);
        let i = if i < self.cdf.len() {
            i
        } else {
            self.last_positive()
        };
        (i, r & 0x7FF)
    }

    /// [`Cdf::draw_with_spare`] without the spare bits.
    #[inline]
    pub(crate) fn draw<R: RngCore + ?Sized>(&self, rng: &mut R) -> usize {
        self.draw_with_spare(rng).0
    }

    /// Rounding can make the target equal the total (probability about 2^−53): then the
    /// last entry with positive weight is the one whose interval ends at the total.
    #[cold]
    fn last_positive(&self) -> usize {
        (1..self.cdf.len())
            .rev()
            .find(|&i| self.cdf[i] > self.cdf[i - 1])
            .unwrap_or(0)
    }
}

/// A logit is usable when finite or `-inf` (masked): false for NaN and `+inf`.
#[inline]
pub(crate) fn logit_ok(x: f32) -> bool {
    x < f32::INFINITY
}

/// A probability is usable when finite and `>= 0`.
#[inline]
pub(crate) fn prob_ok(p: f32) -> bool {
    (0.0..f32::INFINITY).contains(&p)
}

/// Validates logits and returns their maximum (the softmax shift). `-inf` is masked.
#[inline]
pub(crate) fn max_logit(values: &[f32]) -> Result<f32> {
    let mut m = f32::NEG_INFINITY;
    let mut bad = false;
    for &x in values {
        // NaN and +inf both fail `x < inf`.
        bad |= !logit_ok(x);
        m = if x > m { x } else { m };
    }
    if bad {
        let (index, &value) = values
            .iter()
            .enumerate()
            .find(|(_, &x)| !logit_ok(x))
            .unwrap_or((0, &f32::NAN));
        return Err(EmbedError::InvalidLogit { index, value });
    }
    if m == f32::NEG_INFINITY {
        return Err(EmbedError::AllMasked);
    }
    Ok(m)
}

/// Validates probabilities (finite, >= 0).
#[inline]
pub(crate) fn check_probs(values: &[f32]) -> Result<()> {
    let mut bad = false;
    for &p in values {
        bad |= !prob_ok(p);
    }
    if bad {
        let (index, &value) = values
            .iter()
            .enumerate()
            .find(|(_, &p)| !prob_ok(p))
            .unwrap_or((0, &f32::NAN));
        return Err(EmbedError::InvalidProbability { index, value });
    }
    Ok(())
}

/// Builds the cumulative sum of the step's plain weights (softmax numerators for logits, the
/// probabilities themselves otherwise) into `scratch`. The shape must have been checked.
pub(crate) fn build_cdf<'s>(dist: &Dist<'_>, scratch: &'s mut Scratch) -> Result<Cdf<'s>> {
    let values = dist.values();
    let buf = scratch.buf(values.len());
    let mut acc = 0.0f64;
    if dist.is_probs() {
        check_probs(values)?;
        for (c, &p) in buf.iter_mut().zip(values) {
            acc += p as f64;
            *c = acc;
        }
        if acc <= 0.0 {
            return Err(EmbedError::AllMasked);
        }
    } else {
        let m = max_logit(values)?;
        // Two passes: the exponentials are independent (they overlap in the pipeline), then
        // the prefix sum runs in a register.
        for (c, &l) in buf.iter_mut().zip(values) {
            *c = (l - m).exp() as f64;
        }
        for c in buf.iter_mut() {
            acc += *c;
            *c = acc;
        }
    }
    Ok(Cdf { cdf: buf })
}

/// Plain (unwatermarked) sampling: softmax of the logits (or the normalised probabilities), one
/// draw from `rng`. Validates everything [`Dist`] documents.
///
/// This is the baseline every watermarked path is measured against and the path repeated
/// contexts take; it shares the cumulative-sum code with the green-list sampler.
///
/// ```
/// use provmark_embed::{sample_plain, Dist, Scratch};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// let mut scratch = Scratch::with_capacity(4);
/// let logits = [0.0f32, 3.0, f32::NEG_INFINITY, 1.0];
/// let t = sample_plain(4, Dist::Logits(&logits), &mut scratch, &mut rng).unwrap();
/// assert_ne!(t, 2); // masked
/// ```
pub fn sample_plain<R: RngCore + ?Sized>(
    vocab_size: usize,
    dist: Dist<'_>,
    scratch: &mut Scratch,
    rng: &mut R,
) -> Result<u32> {
    dist.check_shape(vocab_size)?;
    let cdf = build_cdf(&dist, scratch)?;
    Ok(dist.id(cdf.draw(rng)))
}
