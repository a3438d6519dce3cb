//! The pooled corpus test used by the evaluation: one test over all records with global
//! deduplication, following the detection rules of the spec (§6) — each unique
//! (context, token) pair is scored once, positions without a full context are skipped — and
//! the supervised filter (score only contexts that occur in our own served outputs).
//!
//! Selection (which pairs count) is separated from scoring (under which key), so a corpus is
//! selected once and then scored under thousands of account keys cheaply. p-values come from
//! `provmark-detect`'s exact tails.

use std::collections::HashSet;

use provmark_core::prf::AnyPrf;
use provmark_core::{Scheme, Watermark};
use provmark_detect::tail::{bonferroni, TailProb};
use provmark_detect::Statistic;
use rayon::prelude::*;

use crate::lang::pack;

/// Largest context width the evaluation's exact pair keys support.
pub const MAX_WIDTH: usize = 6;

/// The set of `width`-token contexts occurring in `records` (our served outputs): the
/// supervised filter.
pub fn context_set(records: &[Vec<u32>], width: usize) -> HashSet<u128> {
    let mut set = HashSet::new();
    for r in records {
        for i in width..r.len() {
            set.insert(pack(&r[i - width..i]));
        }
    }
    set
}

/// The unique scored pairs of a corpus, in order of first occurrence.
#[derive(Debug, Clone, Default)]
pub struct Pairs {
    width: usize,
    /// `width + 1` ids per pair: the context then the token.
    flat: Vec<u32>,
    /// Tokens scanned (all tokens of the records read so far) at each pair boundary checkpoint:
    /// `(tokens_scanned, pairs_selected)`.
    pub checkpoints: Vec<(u64, usize)>,
    /// Total tokens scanned.
    pub total_tokens: u64,
}

impl Pairs {
    /// Number of selected (scored) pairs.
    pub fn len(&self) -> usize {
        self.flat.len() / (self.width + 1)
    }

    /// Whether no pair was selected.
    pub fn is_empty(&self) -> bool {
        self.flat.is_empty()
    }

    /// The first `n` pairs only.
    pub fn truncated(&self, n: usize) -> Pairs {
        let n = n.min(self.len());
        Pairs {
            width: self.width,
            flat: self.flat[..n * (self.width + 1)].to_vec(),
            checkpoints: Vec::new(),
            total_tokens: 0,
        }
    }

    fn iter(&self) -> std::slice::ChunksExact<'_, u32> {
        self.flat.chunks_exact(self.width + 1)
    }
}

/// Selects the pairs a pooled scan scores: positions with a full `width`-token context, whose
/// context is in `filter` (when given), each unique pair once across all records. Records a
/// checkpoint whenever the scanned-token count crosses one of `token_checkpoints`.
pub fn select_pairs(
    records: &[Vec<u32>],
    width: usize,
    filter: Option<&HashSet<u128>>,
    token_checkpoints: &[u64],
) -> Pairs {
    let mut seen = HashSet::new();
    let mut flat = Vec::new();
    let mut checkpoints = Vec::new();
    let mut scanned = 0u64;
    let mut next_cp = 0usize;
    for r in records {
        for i in 0..r.len() {
            scanned += 1;
            if i >= width {
                let ctx = &r[i - width..i];
                let keep = filter.is_none_or(|f| f.contains(&pack(ctx)));
                if keep && seen.insert(pack(&r[i - width..=i])) {
                    flat.extend_from_slice(&r[i - width..=i]);
                }
            }
            while next_cp < token_checkpoints.len() && scanned >= token_checkpoints[next_cp] {
                checkpoints.push((scanned, flat.len() / (width + 1)));
                next_cp += 1;
            }
        }
    }
    Pairs {
        width,
        flat,
        checkpoints,
        total_tokens: scanned,
    }
}

/// A running test statistic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Running {
    /// Green-list count.
    Green {
        /// Green tokens.
        k: u64,
        /// Scored tokens.
        n: u64,
        /// Green fraction.
        gamma: f64,
    },
    /// Gumbel score sum.
    Gumbel {
        /// Σ −ln(1 − u).
        sum: f64,
        /// Scored tokens.
        n: u64,
    },
}

impl Running {
    /// An empty statistic for `scheme`.
    pub fn new(scheme: Scheme) -> Running {
        match scheme {
            Scheme::Green { gamma, .. } => Running::Green { k: 0, n: 0, gamma },
            _ => Running::Gumbel { sum: 0.0, n: 0 },
        }
    }

    /// Adds one token's score (1/0 for green, −ln(1−u) for Gumbel).
    #[inline]
    pub fn add(&mut self, score: f64) {
        match self {
            Running::Green { k, n, .. } => {
                *n += 1;
                if score > 0.5 {
                    *k += 1;
                }
            }
            Running::Gumbel { sum, n } => {
                *n += 1;
                *sum += score;
            }
        }
    }

    /// Scored tokens.
    pub fn scored(&self) -> u64 {
        match *self {
            Running::Green { n, .. } | Running::Gumbel { n, .. } => n,
        }
    }

    /// The statistic in `provmark-detect`'s report form.
    pub fn statistic(&self) -> Statistic {
        match *self {
            Running::Green { k, n, gamma } => Statistic::Binomial {
                successes: k,
                trials: n,
                gamma,
            },
            Running::Gumbel { sum, n } => Statistic::Gamma { sum, count: n },
        }
    }

    /// Exact upper-tail probability under H0.
    pub fn tail(&self) -> TailProb {
        self.statistic().tail()
    }

    /// Mean per-token score (green share, or mean Gumbel score; 1/γ·… not applied).
    pub fn mean(&self) -> f64 {
        match *self {
            Running::Green { k, n, .. } => k as f64 / n.max(1) as f64,
            Running::Gumbel { sum, n } => sum / n.max(1) as f64,
        }
    }
}

/// Scores the selected pairs under one key.
pub fn score_pairs(wm: &Watermark<AnyPrf>, pairs: &Pairs) -> Running {
    let mut r = Running::new(wm.scheme());
    let h = pairs.width;
    for p in pairs.iter() {
        let st = wm.absorb(&p[..h]);
        r.add(wm.score(&st, p[h]));
    }
    r
}

/// Scores the pairs; returns the statistic at every checkpoint of `pairs`, and the total.
pub fn score_curve(wm: &Watermark<AnyPrf>, pairs: &Pairs) -> (Vec<(u64, Running)>, Running) {
    let mut r = Running::new(wm.scheme());
    let h = pairs.width;
    let mut out = Vec::new();
    let mut cp = pairs.checkpoints.iter().peekable();
    for (i, p) in pairs.iter().enumerate() {
        while let Some(&&(tokens, at)) = cp.peek() {
            if at <= i {
                out.push((tokens, r));
                cp.next();
            } else {
                break;
            }
        }
        let st = wm.absorb(&p[..h]);
        r.add(wm.score(&st, p[h]));
    }
    for &(tokens, _) in cp {
        out.push((tokens, r));
    }
    (out, r)
}

/// One account's result in a ranking.
#[derive(Debug, Clone, Copy)]
pub struct AccountScore {
    /// Index into the account list.
    pub index: usize,
    /// Raw (unadjusted) tail.
    pub tail: TailProb,
    /// Bonferroni-adjusted tail (× number of accounts tested).
    pub adjusted: TailProb,
}

/// Tests every account key on the selected pairs (in parallel) and ranks them, most
/// significant first. `watermark_of(i)` builds account `i`'s keyed scheme.
pub fn rank_accounts<F>(count: usize, watermark_of: F, pairs: &Pairs) -> Vec<AccountScore>
where
    F: Fn(usize) -> Watermark<AnyPrf> + Sync,
{
    let mut v: Vec<AccountScore> = (0..count)
        .into_par_iter()
        .map(|i| {
            let tail = score_pairs(&watermark_of(i), pairs).tail();
            AccountScore {
                index: i,
                tail,
                adjusted: bonferroni(tail, count as u64),
            }
        })
        .collect();
    v.sort_by(|a, b| {
        a.tail
            .log10_p
            .total_cmp(&b.tail.log10_p)
            .then(a.index.cmp(&b.index))
    });
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dedup_and_context_rules() {
        let recs = vec![vec![1, 2, 3, 1, 2, 3, 1, 2, 3], vec![1, 2, 3]];
        let p = select_pairs(&recs, 2, None, &[]);
        // Unique (ctx, tok): (1,2)->3, (2,3)->1, (3,1)->2 — three pairs.
        assert_eq!(p.len(), 3);
        assert_eq!(p.total_tokens, 12);
        let f = context_set(&[vec![7, 1, 2, 9]], 2);
        let q = select_pairs(&recs, 2, Some(&f), &[]);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn checkpoints_count_scanned_tokens() {
        let recs: Vec<Vec<u32>> = (0..10)
            .map(|r| (0..10).map(|i| r * 10 + i).collect())
            .collect();
        let p = select_pairs(&recs, 1, None, &[5, 50, 1000]);
        assert_eq!(p.checkpoints.len(), 2);
        assert_eq!(p.checkpoints[0], (5, 4));
        assert_eq!(p.checkpoints[1].0, 50);
    }
}
