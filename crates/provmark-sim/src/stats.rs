//! Measurements of the simulation: entropy profile and re-tokenization rate.

use provmark_tokenize::Tokenizer;

/// Summary of a set of per-step entropies (nats).
#[derive(Clone, Debug, PartialEq)]
pub struct EntropySummary {
    /// Steps summarised.
    pub steps: usize,
    /// Mean entropy.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// 10th, 25th, 75th, 80th, 90th, 95th and 99th percentiles.
    pub quantiles: [(f64, f64); 7],
    /// Share of steps with entropy below 0.1 nats.
    pub share_below_0_1: f64,
    /// Share of steps with entropy below 0.01 nats.
    pub share_below_0_01: f64,
}

impl EntropySummary {
    /// Summarises `values` (sorted in place). `None` when empty.
    pub fn from_values(values: &mut [f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let q = |p: f64| values[((p * (n - 1) as f64).round() as usize).min(n - 1)];
        let qs = [0.10, 0.25, 0.75, 0.80, 0.90, 0.95, 0.99];
        let mut quantiles = [(0.0, 0.0); 7];
        for (slot, &p) in quantiles.iter_mut().zip(&qs) {
            *slot = (p, q(p));
        }
        Some(EntropySummary {
            steps: n,
            mean: values.iter().sum::<f64>() / n as f64,
            median: q(0.5),
            quantiles,
            share_below_0_1: values.iter().filter(|&&h| h < 0.1).count() as f64 / n as f64,
            share_below_0_01: values.iter().filter(|&&h| h < 0.01).count() as f64 / n as f64,
        })
    }

    /// The quantile at `p` if it is one of those kept.
    pub fn quantile(&self, p: f64) -> Option<f64> {
        self.quantiles
            .iter()
            .find(|(q, _)| (q - p).abs() < 1e-12)
            .map(|&(_, v)| v)
    }
}

/// Re-tokenization count for one or more texts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retokenization {
    /// Generated positions examined.
    pub positions: usize,
    /// Positions whose token survives decode → encode: the re-encoded text has a token with the
    /// same id covering exactly the same byte range.
    pub preserved: usize,
    /// Sequences examined.
    pub sequences: usize,
    /// Sequences that re-encode to exactly the same ids.
    pub identical_sequences: usize,
}

impl Retokenization {
    /// Share of positions preserved (1 when nothing was examined).
    pub fn rate(&self) -> f64 {
        if self.positions == 0 {
            1.0
        } else {
            self.preserved as f64 / self.positions as f64
        }
    }

    /// Adds another count.
    pub fn add(&mut self, other: Retokenization) {
        self.positions += other.positions;
        self.preserved += other.preserved;
        self.sequences += other.sequences;
        self.identical_sequences += other.identical_sequences;
    }
}

/// Measures how many of `ids` survive decode → encode with `tok`.
///
/// Definition: decode `ids` to bytes, re-encode the text, and align the two token sequences by
/// byte offset. Position i is *preserved* when the re-encoding contains a token with id
/// `ids[i]` spanning exactly the bytes that `ids[i]` spanned. (A merge or split anywhere only
/// costs the positions it touches, unlike an exact-prefix criterion.) Ids that do not decode to
/// valid UTF-8 count as not preserved.
pub fn retokenization(tok: &Tokenizer, ids: &[u32]) -> Retokenization {
    let mut r = Retokenization {
        positions: ids.len(),
        sequences: 1,
        ..Default::default()
    };
    let Ok(text) = tok.decode(ids) else {
        return r;
    };
    let (re, ranges) = tok.encode_with_offsets(&text);
    if re == ids {
        r.identical_sequences = 1;
        r.preserved = ids.len();
        return r;
    }
    let mut j = 0;
    let mut start = 0usize;
    for &id in ids {
        let len = tok.token_bytes(id).map_or(0, |b| b.len());
        let end = start + len;
        while j < ranges.len() && ranges[j].start < start {
            j += 1;
        }
        if j < ranges.len() && ranges[j].start == start && ranges[j].end == end && re[j] == id {
            r.preserved += 1;
        }
        start = end;
    }
    r
}
