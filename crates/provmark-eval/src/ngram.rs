//! The student: an interpolated (Witten–Bell) n-gram language model over token ids.
//!
//! Training counts every (context, next token) for context lengths 1..=c; generation samples
//! the interpolated distribution exactly: at the longest seen context with `n` continuations of
//! `t` distinct types, take a uniformly random observed continuation with probability
//! `n / (n + t)`, else back off one order (down to the unigram). Witten–Bell's interpolation
//! is `P(w|ctx) = (n(ctx,w) + t(ctx)·P(w|ctx')) / (n(ctx) + t(ctx))`; the sampler above draws
//! from exactly that distribution.

use rand::Rng;

use crate::error::{EvalError, Result};
use crate::lang::pack;

/// Largest student context (tokens) supported (exact packed keys).
pub const MAX_STUDENT_CONTEXT: usize = 7;

#[derive(Debug, Default)]
struct Level {
    keys: Vec<u128>,
    offsets: Vec<u32>,
    distinct: Vec<u32>,
    tokens: Vec<u32>,
}

/// A trained n-gram student.
#[derive(Debug)]
pub struct NgramStudent {
    levels: Vec<Level>,
    unigram: Vec<u32>,
    starts: Vec<u32>,
}

impl NgramStudent {
    /// Trains on `sequences` with contexts of up to `context` tokens (order `context + 1`).
    /// Ids must be below 2^18.
    pub fn train(sequences: &[Vec<u32>], context: usize) -> Result<NgramStudent> {
        if context == 0 || context > MAX_STUDENT_CONTEXT {
            return Err(EvalError::Param(format!(
                "student context must be 1..={MAX_STUDENT_CONTEXT}, got {context}"
            )));
        }
        let unigram: Vec<u32> = sequences.iter().flatten().copied().collect();
        if unigram.is_empty() {
            return Err(EvalError::Param("empty training corpus".into()));
        }
        if unigram.iter().any(|&t| t >= 1 << 18) {
            return Err(EvalError::Param(
                "token id above 2^18 in the training corpus".into(),
            ));
        }
        let starts = sequences
            .iter()
            .filter_map(|s| s.first().copied())
            .collect();
        let mut levels = Vec::with_capacity(context);
        let mut pairs: Vec<(u128, u32)> = Vec::with_capacity(unigram.len());
        for k in 1..=context {
            pairs.clear();
            for s in sequences {
                for i in k..s.len() {
                    pairs.push((pack(&s[i - k..i]), s[i]));
                }
            }
            pairs.sort_unstable();
            let mut lv = Level::default();
            lv.tokens.reserve(pairs.len());
            let mut i = 0;
            while i < pairs.len() {
                let key = pairs[i].0;
                lv.keys.push(key);
                lv.offsets.push(lv.tokens.len() as u32);
                let mut distinct = 0u32;
                let mut prev = u32::MAX;
                while i < pairs.len() && pairs[i].0 == key {
                    if pairs[i].1 != prev {
                        distinct += 1;
                        prev = pairs[i].1;
                    }
                    lv.tokens.push(pairs[i].1);
                    i += 1;
                }
                lv.distinct.push(distinct);
            }
            lv.offsets.push(lv.tokens.len() as u32);
            levels.push(lv);
        }
        Ok(NgramStudent {
            levels,
            unigram,
            starts,
        })
    }

    /// Longest context the student uses.
    pub fn context(&self) -> usize {
        self.levels.len()
    }

    /// Samples the next token after `history`.
    pub fn next<R: Rng>(&self, history: &[u32], rng: &mut R) -> u32 {
        let top = self.levels.len().min(history.len());
        for k in (1..=top).rev() {
            let lv = &self.levels[k - 1];
            let key = pack(&history[history.len() - k..]);
            if let Ok(g) = lv.keys.binary_search(&key) {
                let lo = lv.offsets[g] as usize;
                let n = lv.offsets[g + 1] as usize - lo;
                let t = lv.distinct[g] as usize;
                if rng.random_range(0..n + t) < n {
                    return lv.tokens[lo + rng.random_range(0..n)];
                }
            }
        }
        self.unigram[rng.random_range(0..self.unigram.len())]
    }

    /// Generates one sequence of `len` tokens (starting like a training sequence), appended to `out`.
    pub fn generate<R: Rng>(&self, len: usize, rng: &mut R, out: &mut Vec<u32>) {
        let start = out.len();
        out.push(self.starts[rng.random_range(0..self.starts.len())]);
        while out.len() - start < len {
            let t = self.next(&out[start..], rng);
            out.push(t);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn deterministic_corpus_is_replayed() {
        // One training sequence with unique contexts: the student can only replay it
        // (probability n/(n+t) = 1/2 per step to use the seen continuation, else back off to
        // lower orders that also only know this sequence's tokens).
        let seq: Vec<u32> = (0..50).collect();
        let s = NgramStudent::train(std::slice::from_ref(&seq), 2).unwrap();
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(1);
        let mut out = Vec::new();
        s.generate(100, &mut rng, &mut out);
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(|t| *t < 50));
        // The most frequent transition should be the training one (t -> t+1).
        let follow = out.windows(2).filter(|w| w[1] == w[0] + 1).count();
        assert!(follow > 40, "{follow}");
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(NgramStudent::train(&[], 2).is_err());
        assert!(NgramStudent::train(&[vec![1, 2]], 0).is_err());
        assert!(NgramStudent::train(&[vec![1, 2]], 9).is_err());
        assert!(NgramStudent::train(&[vec![1 << 20]], 2).is_err());
    }
}
