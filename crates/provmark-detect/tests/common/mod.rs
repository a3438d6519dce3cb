//! Shared helpers of the validation tests: exact acceptance bounds for false-positive counts,
//! clean-sample generators, and the real-corpus reader.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use provmark_detect::tail::binomial_upper;
use provmark_detect::{Evidence, Statistic};
use rand::Rng;

/// Levels the false-positive rate is checked at.
pub const ALPHAS: [f64; 2] = [1e-2, 1e-3];
/// Two-sided level of the acceptance interval (99.9%).
pub const BOUND_LEVEL: f64 = 1e-3;

/// Full-size validation in release builds (or with `PROVMARK_FULL_VALIDATION=1`); reduced sizes
/// in debug builds so that `cargo test` stays fast.
pub fn full() -> bool {
    !cfg!(debug_assertions) || std::env::var_os("PROVMARK_FULL_VALIDATION").is_some()
}

/// `../shared` of the checkout, or `$PROVMARK_SHARED`.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("PROVMARK_SHARED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    dir.is_dir().then_some(dir)
}

/// log pmf of Binomial(n, a) at x.
fn ln_binom_pmf(n: u64, a: f64, x: u64) -> f64 {
    let mut lc = 0.0;
    // ln C(n, x) by a sum of logs (x is small here: at most a few thousand).
    for j in 0..x {
        lc += ((n - j) as f64).ln() - ((j + 1) as f64).ln();
    }
    lc + x as f64 * a.ln() + (n - x) as f64 * (-a).ln_1p()
}

/// The exact distribution of a sum of independent Binomial(c_g, a_g), truncated at `cap`
/// (the truncated mass is below 1e-30 for the caps used).
fn poisson_binomial(groups: &[(u64, f64)], cap: usize) -> Vec<f64> {
    let mut pmf = vec![0.0; cap + 1];
    pmf[0] = 1.0;
    for &(c, a) in groups {
        if c == 0 || a <= 0.0 {
            continue;
        }
        let mean = c as f64 * a;
        let top = ((mean + 40.0 * mean.sqrt() + 60.0) as u64)
            .min(c)
            .min(cap as u64);
        let mut b = Vec::with_capacity(top as usize + 1);
        let mut lp = ln_binom_pmf(c, a, 0);
        for x in 0..=top {
            if x > 0 {
                lp += ((c - x + 1) as f64).ln() - (x as f64).ln() + a.ln() - (-a).ln_1p();
            }
            b.push(lp.exp());
        }
        let mut next = vec![0.0; cap + 1];
        for (i, &p) in pmf.iter().enumerate() {
            if p == 0.0 {
                continue;
            }
            for (j, &q) in b.iter().enumerate() {
                if i + j > cap {
                    break;
                }
                next[i + j] += p * q;
            }
        }
        pmf = next;
    }
    pmf
}

/// Acceptance interval `[lo, hi]` of a count distributed as the sum of independent
/// Binomial(c_g, a_g): `P(X < lo) ≤ level/2` and `P(X > hi) ≤ level/2`, exactly.
pub fn acceptance(groups: &[(u64, f64)], level: f64) -> (u64, u64) {
    let mean: f64 = groups.iter().map(|&(c, a)| c as f64 * a).sum();
    let total: u64 = groups.iter().map(|&(c, _)| c).sum();
    let cap = ((mean + 15.0 * mean.sqrt() + 80.0) as u64).min(total) as usize;
    let pmf = poisson_binomial(groups, cap);
    let mut cdf = 0.0;
    let mut lo = 0u64;
    for (x, &p) in pmf.iter().enumerate() {
        // lo = the largest x with P(X < x) ≤ level/2.
        if cdf <= level / 2.0 {
            lo = x as u64;
        }
        cdf += p;
    }
    let mut cdf = 0.0;
    let mut hi = cap as u64;
    for (x, &p) in pmf.iter().enumerate() {
        cdf += p;
        if 1.0 - cdf <= level / 2.0 {
            hi = x as u64;
            break;
        }
    }
    (lo, hi)
}

/// The exact size of the level-`alpha` binomial test with `n` trials: `P(p ≤ alpha)` under H0
/// (below alpha, because the statistic is discrete).
pub fn binomial_size(n: u64, gamma: f64, alpha: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let la = alpha.log10();
    // Smallest k with P(X ≥ k) ≤ alpha (p decreases in k).
    let (mut lo, mut hi) = (0u64, n + 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if binomial_upper(mid, n, gamma).log10_p <= la {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    if lo > n {
        0.0
    } else {
        binomial_upper(lo, n, gamma).p_value()
    }
}

/// False-positive tally of one (source, scheme): hits at each alpha, samples grouped by the
/// number of scored tokens (the exact size depends on it for the discrete binomial test).
#[derive(Default)]
pub struct Tally {
    pub samples: u64,
    pub hits: [u64; 2],
    pub by_scored: BTreeMap<u64, u64>,
    pub gamma: Option<f64>,
    pub scored_tokens: u64,
}

impl Tally {
    pub fn add(&mut self, ev: &Evidence) {
        self.samples += 1;
        self.scored_tokens += ev.scored_tokens;
        *self.by_scored.entry(ev.scored_tokens).or_default() += 1;
        if let Statistic::Binomial { gamma, .. } = ev.statistic {
            self.gamma = Some(gamma);
        }
        for (h, a) in self.hits.iter_mut().zip(ALPHAS) {
            if ev.log10_p <= a.log10() {
                *h += 1;
            }
        }
    }

    /// Checks every alpha: the hit count lies in the exact 99.9% acceptance interval around the
    /// test's exact size, and never above the interval around the nominal alpha. Prints one
    /// table row per alpha.
    pub fn check(&self, source: &str, scheme: &str) {
        assert!(self.samples > 0, "{source}/{scheme}: no samples");
        for (i, alpha) in ALPHAS.into_iter().enumerate() {
            let groups: Vec<(u64, f64)> = self
                .by_scored
                .iter()
                .map(|(&n, &c)| {
                    let size = match self.gamma {
                        Some(g) => binomial_size(n, g, alpha),
                        None if n == 0 => 0.0,
                        None => alpha,
                    };
                    (c, size)
                })
                .collect();
            let exact_mean: f64 = groups.iter().map(|&(c, a)| c as f64 * a).sum();
            let (lo, hi) = acceptance(&groups, BOUND_LEVEL);
            let (_, hi_nominal) = acceptance(&[(self.samples, alpha)], BOUND_LEVEL);
            let hits = self.hits[i];
            println!(
                "FPR | {source:<26} | {scheme:<6} | alpha {alpha:.0e} | samples {:>7} | mean scored {:>6.1} | hits {hits:>5} | share {:.5} | exact size {:.5} | 99.9% bound [{lo}, {hi}] | nominal upper {hi_nominal}",
                self.samples,
                self.scored_tokens as f64 / self.samples as f64,
                hits as f64 / self.samples as f64,
                exact_mean / self.samples as f64,
            );
            assert!(
                (lo..=hi).contains(&hits),
                "{source}/{scheme} at alpha {alpha}: {hits} hits outside [{lo}, {hi}]"
            );
            assert!(
                hits <= hi_nominal,
                "{source}/{scheme}: {hits} > nominal bound {hi_nominal}"
            );
        }
    }
}

impl Tally {
    /// Prints the hit counts beside the 99.9% upper bound around the nominal alpha (for
    /// dependent samples, where no exact interval applies).
    pub fn report(&self, source: &str, scheme: &str) {
        for (i, alpha) in ALPHAS.into_iter().enumerate() {
            let (_, hi_nominal) = acceptance(&[(self.samples, alpha)], BOUND_LEVEL);
            let hits = self.hits[i];
            println!(
                "FPR | {source:<26} | {scheme:<6} | alpha {alpha:.0e} | samples {:>7} | hits {hits:>5} | share {:.5} | nominal upper {hi_nominal}",
                self.samples,
                hits as f64 / self.samples as f64,
            );
        }
    }
}

/// Fixed boilerplate phrases shared by many samples (templated text).
pub fn boilerplate() -> Vec<Vec<u32>> {
    (0..30u32)
        .map(|p| (0..4 + p % 9).map(|j| 200 + p * 37 + j * 11).collect())
        .collect()
}

/// A clean token sequence with realistic repetition: Zipf-like ids (log-uniform over 100k),
/// spans copied from earlier in the sample (8% of steps), shared boilerplate phrases (3%).
pub fn random_clean<R: Rng>(rng: &mut R, len: usize, boiler: &[Vec<u32>]) -> Vec<u32> {
    let mut ids: Vec<u32> = Vec::with_capacity(len + 16);
    while ids.len() < len {
        let r: f64 = rng.random();
        if r < 0.08 && ids.len() >= 8 {
            let span = rng.random_range(2..8usize);
            let start = rng.random_range(0..ids.len() - span);
            for j in 0..span {
                ids.push(ids[start + j]);
            }
        } else if r < 0.11 {
            ids.extend_from_slice(&boiler[rng.random_range(0..boiler.len())]);
        } else {
            let u: f64 = rng.random();
            ids.push((100_000f64.powf(u) as u32).min(99_999));
        }
    }
    ids.truncate(len);
    ids
}

/// Every text field (≥ 20 bytes, not an id) of every record in `../shared/corpora/*.jsonl`.
pub fn real_texts() -> Option<Vec<String>> {
    let dir = shared_dir()?.join("corpora");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).ok()?;
        for line in text.lines() {
            let Ok(serde_json::Value::Object(map)) =
                serde_json::from_str::<serde_json::Value>(line)
            else {
                continue;
            };
            for (k, v) in map {
                if k == "id" || k.ends_with("_id") || k == "entry_point" {
                    continue;
                }
                if let serde_json::Value::String(s) = v {
                    if s.len() >= 20 {
                        out.push(s);
                    }
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {}
