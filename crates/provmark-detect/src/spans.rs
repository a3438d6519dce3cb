//! The most watermarked spans of a long text, with a p-value that pays for the search.
//!
//! **Search grid.** Windows run over the sequence of *scored* positions (after dedup and
//! skipping). Lengths are dyadic — `min_scored · 2^j` scored positions, up to the number scored —
//! and for each length the stride is half the length (starts `0, L/2, L, …`), plus one window
//! flush with the end when the grid leaves a remainder. Every window on this grid counts as
//! tested, whatever its score.
//!
//! **Correction.** A window's exact p-value (same statistic and tail as the whole-text test) is
//! multiplied by the number W of windows on the grid (Bonferroni, valid under any dependence
//! — and windows overlap, so they are strongly dependent). Spans are reported when
//! `min(1, W · p) ≤ alpha`. Greedy choice: the most significant window first, then the next that
//! overlaps no chosen one, up to `max_spans`.
//!
//! A dyadic grid with half-length stride covers any contiguous watermarked run of `m ≥ 2·L`
//! scored positions with a window of length `L ≥ m/4` lying fully inside it, so the search loses
//! at most a constant factor of the run's length while W stays about `n / (min_scored / 4)`.

use serde::Serialize;

use crate::error::{DetectError, Result};
use crate::score::Evidence;
use crate::statistic::{gumbel_fixed, gumbel_sum_f64, Statistic};
use crate::tail;

/// Span search settings.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct SpanOptions {
    /// Report a span when its adjusted p-value is ≤ alpha (default 1e-6, like `check`).
    pub alpha: f64,
    /// Shortest window, in scored positions (default 16; rounded up to an even number ≥ 2).
    pub min_scored: u32,
    /// At most this many spans (default 5).
    pub max_spans: usize,
}

impl Default for SpanOptions {
    fn default() -> Self {
        SpanOptions {
            alpha: 1e-6,
            min_scored: 16,
            max_spans: 5,
        }
    }
}

impl SpanOptions {
    /// Sets alpha.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets the shortest window.
    pub fn min_scored(mut self, n: u32) -> Self {
        self.min_scored = n;
        self
    }

    /// Sets the maximum number of spans.
    pub fn max_spans(mut self, n: usize) -> Self {
        self.max_spans = n;
        self
    }
}

/// One reported span.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Span {
    /// First token of the span (index into the ids): the first scored position of the window.
    pub token_start: u64,
    /// One past the last token: the last scored position of the window + 1.
    pub token_end: u64,
    /// Byte offset of `token_start` in the text, when offsets were given.
    pub byte_start: Option<usize>,
    /// Byte offset one past the end of the last token, when offsets were given.
    pub byte_end: Option<usize>,
    /// Scored positions in the window.
    pub scored_tokens: u64,
    /// The window's statistic.
    pub statistic: Statistic,
    /// The window's own (unadjusted) log10 p.
    pub log10_p: f64,
    /// log10 of `min(1, W · p)`, W = windows tested.
    pub adjusted_log10_p: f64,
}

/// The result of a span search.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SpanSearch {
    /// Non-overlapping spans significant at alpha after the correction, most significant first.
    pub spans: Vec<Span>,
    /// W: windows on the grid (the Bonferroni factor).
    pub windows_tested: u64,
}

enum Prefix {
    /// Green list (`per` = 1) or tournament (`per` = layers): prefix sums of successes.
    Green {
        gamma: f64,
        per: u64,
        ones: Vec<u64>,
    },
    Gumbel {
        fixed: Vec<u128>,
        /// `Some(α)` for vLLM's dual-key statistic.
        dual_key: Option<f64>,
    },
}

impl Prefix {
    fn stat(&self, a: usize, b: usize) -> Statistic {
        match self {
            Prefix::Green { gamma, per, ones } => Statistic::Binomial {
                successes: ones[b] - ones[a],
                trials: (b - a) as u64 * per,
                gamma: *gamma,
            },
            Prefix::Gumbel {
                fixed,
                dual_key: None,
            } => Statistic::Gamma {
                sum: gumbel_sum_f64(fixed[b] - fixed[a]),
                count: (b - a) as u64,
            },
            Prefix::Gumbel {
                fixed,
                dual_key: Some(alpha),
            } => Statistic::DualKeyGamma {
                sum: gumbel_sum_f64(fixed[b] - fixed[a]),
                count: (b - a) as u64,
                alpha: *alpha,
            },
        }
    }

    /// Whether the window scores above its null mean (otherwise p ≥ about 1/2: skip the tail).
    fn above_mean(&self, a: usize, b: usize) -> bool {
        match self {
            Prefix::Green { gamma, per, ones } => {
                (ones[b] - ones[a]) as f64 > gamma * ((b - a) as u64 * per) as f64
            }
            Prefix::Gumbel { fixed, .. } => gumbel_sum_f64(fixed[b] - fixed[a]) > (b - a) as f64,
        }
    }
}

/// The windows of the grid for `n` scored positions, as (start, end) in scored ordinals.
fn grid(n: usize, min_len: usize) -> impl Iterator<Item = (usize, usize)> {
    let lengths =
        std::iter::successors(Some(min_len), |&l| l.checked_mul(2)).take_while(move |&l| l <= n);
    lengths.flat_map(move |l| {
        let stride = l / 2;
        let last_grid_start = (n - l) / stride * stride;
        let tail = (last_grid_start + l < n).then_some((n - l, n));
        (0..=last_grid_start)
            .step_by(stride)
            .map(move |s| (s, s + l))
            .chain(tail)
    })
}

/// Finds the most watermarked spans of a text scored with
/// [`Options::keep_positions`](crate::Options::keep_positions).
///
/// `offsets`, when given, holds the byte range of every token of the text (from the tokenizer's
/// `encode_with_offsets`); it must have one entry per token.
///
/// ```
/// use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
/// use provmark_detect::{find_spans, score_ids, Options, SpanOptions};
/// let profile = Profile::from_secret(SecretKey::from_bytes([1; 32]), Scheme::Gumbel, 2,
///     TokenizerSpec::default_openai()).unwrap();
/// let ids: Vec<u32> = (0..500).map(|i| (i * 7919) % 5000).collect();
/// let ev = score_ids(&profile.watermark(None), &ids, &Options::for_profile(&profile).keep_positions(true)).unwrap();
/// let found = find_spans(&ev, None, &SpanOptions::default()).unwrap();
/// assert!(found.spans.is_empty()); // clean text
/// assert!(found.windows_tested > 0);
/// ```
pub fn find_spans(
    ev: &Evidence,
    offsets: Option<&[(usize, usize)]>,
    opts: &SpanOptions,
) -> Result<SpanSearch> {
    let pos = ev.positions.as_ref().ok_or_else(|| {
        DetectError::param(
            "evidence",
            "has no per-position scores; score with keep_positions(true)",
        )
    })?;
    if !(opts.alpha > 0.0 && opts.alpha <= 1.0) {
        return Err(DetectError::param(
            "alpha",
            format!("{} is not in (0, 1]", opts.alpha),
        ));
    }
    if pos.index.len() != pos.score.len() {
        return Err(DetectError::param(
            "evidence",
            "positions and scores differ in length",
        ));
    }
    if let Some(off) = offsets {
        if off.len() as u64 != ev.total_tokens {
            return Err(DetectError::BadOffsets(format!(
                "{} offsets for {} tokens",
                off.len(),
                ev.total_tokens
            )));
        }
    }
    let n = pos.index.len();
    let min_len = (opts.min_scored.max(2) as usize).next_multiple_of(2);
    let prefix = match ev.statistic {
        Statistic::Binomial { gamma, trials, .. } => {
            // Trials per scored position: 1 (green list) or the number of layers (tournament).
            let per = if n == 0 {
                1
            } else {
                (trials / n as u64).max(1)
            };
            let mut ones = Vec::with_capacity(n + 1);
            ones.push(0u64);
            let mut c = 0;
            for &s in &pos.score {
                // `as` saturates: NaN and negatives count 0.
                c += (s.round() as u64).min(per);
                ones.push(c);
            }
            Prefix::Green { gamma, per, ones }
        }
        Statistic::Gamma { .. } | Statistic::DualKeyGamma { .. } => {
            let dual_key = match ev.statistic {
                Statistic::DualKeyGamma { alpha, .. } => Some(alpha),
                _ => None,
            };
            let mut fixed = Vec::with_capacity(n + 1);
            fixed.push(0u128);
            let mut c = 0u128;
            for &s in &pos.score {
                c += u128::from(gumbel_fixed(s));
                fixed.push(c);
            }
            Prefix::Gumbel { fixed, dual_key }
        }
    };
    let mut windows_tested = 0u64;
    let mut candidates: Vec<(f64, usize, usize)> = Vec::new();
    for (a, b) in grid(n, min_len) {
        windows_tested += 1;
        if prefix.above_mean(a, b) {
            let lp = prefix.stat(a, b).tail().log10_p;
            candidates.push((lp, a, b));
        }
    }
    // Most significant first; ties broken by position so the result is deterministic.
    candidates.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let log_alpha = opts.alpha.log10();
    let mut chosen: Vec<(usize, usize)> = Vec::new();
    let mut spans = Vec::new();
    for (lp, a, b) in candidates {
        if spans.len() >= opts.max_spans {
            break;
        }
        let adj = tail::bonferroni(tail::TailProb { log10_p: lp }, windows_tested).log10_p;
        if adj > log_alpha {
            break; // sorted: no later window can pass
        }
        if chosen.iter().any(|&(c, d)| a < d && c < b) {
            continue;
        }
        chosen.push((a, b));
        let token_start = pos.index[a] as usize;
        let token_end = pos.index[b - 1] as usize + 1;
        let (byte_start, byte_end) = match offsets {
            Some(off) => {
                let (s, e) = (off[token_start].0, off[token_end - 1].1);
                if s > e {
                    return Err(DetectError::BadOffsets(format!(
                        "token {token_start}..{token_end} maps to bytes {s}..{e}"
                    )));
                }
                (Some(s), Some(e))
            }
            None => (None, None),
        };
        spans.push(Span {
            token_start: token_start as u64,
            token_end: token_end as u64,
            byte_start,
            byte_end,
            scored_tokens: (b - a) as u64,
            statistic: prefix.stat(a, b),
            log10_p: lp,
            adjusted_log10_p: adj,
        });
    }
    Ok(SpanSearch {
        spans,
        windows_tested,
    })
}

#[cfg(test)]
mod tests {
    use super::grid;

    #[test]
    fn grid_covers_every_position_at_each_length_and_counts_windows() {
        for n in [0usize, 1, 15, 16, 17, 40, 100, 1000] {
            let w: Vec<_> = grid(n, 16).collect();
            let mut l = 16;
            while l <= n {
                let of_len: Vec<_> = w.iter().filter(|(a, b)| b - a == l).collect();
                assert!(of_len
                    .iter()
                    .all(|&&(a, b)| b <= n && a % (l / 2) == 0 || b == n));
                let mut covered = vec![false; n];
                for &&(a, b) in &of_len {
                    covered[a..b].iter_mut().for_each(|c| *c = true);
                }
                assert!(covered.iter().all(|&c| c), "n={n} l={l}");
                l *= 2;
            }
            if n < 16 {
                assert!(w.is_empty());
            }
        }
        // n = 40: L=16 stride 8 → starts 0..24 (4) + tail (24,40)? 24+16=40 → no tail; L=32 stride 16 → 0 (1) + tail (8,40).
        assert_eq!(grid(40, 16).count(), 4 + 2);
    }
}
