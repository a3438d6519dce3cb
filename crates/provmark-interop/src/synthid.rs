//! SynthID-Text (Google DeepMind reference, `google-deepmind/synthid-text` @ addb4a1):
//! tournament reweighting, the stateful logits processor, detection masks and the mean /
//! weighted-mean scores (SYNTHID.md, sections cited as §n).
//!
//! The keyed g-values come from [`SynthIdPrf`]: bit d of `prf.word(&prf.absorb(context), v)` is
//! the g-value of layer d of the n-gram `context ‖ v`.
//!
//! ```
//! use provmark_core::prf::{SynthIdPrf, SYNTHID_DEFAULT_KEYS};
//! use provmark_interop::synthid::{detect, DetectOptions};
//! let prf = SynthIdPrf::new(&SYNTHID_DEFAULT_KEYS, 4).unwrap();
//! let tokens = [464, 3835, 338, 649, 22321, 2450, 6653, 326, 262, 649, 3835, 468];
//! let d = detect(&prf, &tokens, &DetectOptions::default());
//! assert_eq!((d.g_sum, d.scored_windows), (127, 8));
//! assert!((d.mean - 0.5291666666666667).abs() < 1e-15);
//! ```

use std::collections::{HashMap, VecDeque};

use provmark_core::prf::{Prf, SynthIdPrf};

use crate::error::{InteropError, Result};

/// The reference's default `context_history_size`.
pub const DEFAULT_CONTEXT_HISTORY_SIZE: usize = 1024;
/// The reference's default `ngram_len`.
pub const DEFAULT_NGRAM_LEN: usize = 5;
/// The value the reference puts in place of non-finite log-probabilities (`−1e12`, in float32).
pub const LOG_ZERO: f32 = -1e12;

/// The reference's FIFO of recent context hashes (initialised to `size` zeros), with O(1)
/// membership instead of a scan of the whole window.
#[derive(Clone, Debug)]
struct HashFifo {
    order: VecDeque<i64>,
    counts: HashMap<i64, u32>,
}

impl HashFifo {
    fn new(size: usize) -> Self {
        let size = size.max(1);
        let mut counts = HashMap::with_capacity(size + 1);
        counts.insert(0, size as u32);
        HashFifo {
            order: std::iter::repeat_n(0, size).collect(),
            counts,
        }
    }

    fn contains(&self, h: i64) -> bool {
        self.counts.contains_key(&h)
    }

    /// Pushes `h` to the front and drops the oldest entry.
    fn push(&mut self, h: i64) {
        if let Some(old) = self.order.pop_back() {
            if let Some(c) = self.counts.get_mut(&old) {
                *c -= 1;
                if *c == 0 {
                    self.counts.remove(&old);
                }
            }
        }
        self.order.push_front(h);
        *self.counts.entry(h).or_insert(0) += 1;
    }
}

/// The two-leaf tournament update (§6.1 step 6, `update_scores`) in float32, in place: for each
/// layer d in order, `m = Σ g_d(v)·p_v` and `p_v ← p_v·(1 + g_d(v) − m)`. `g_words[i]` holds the
/// g-values of candidate i (bit d = layer d); `depth` layers are applied.
///
/// ```
/// use provmark_interop::synthid::tournament_update;
/// let mut p = [0.25f32; 4];
/// tournament_update(&mut p, &[1, 0, 1, 0], 1);
/// assert_eq!(p, [0.375, 0.125, 0.375, 0.125]);
/// ```
pub fn tournament_update(probs: &mut [f32], g_words: &[u64], depth: usize) {
    for d in 0..depth {
        let m: f32 = probs
            .iter()
            .zip(g_words)
            .map(|(&p, &w)| if (w >> d) & 1 == 1 { p } else { 0.0 })
            .sum();
        for (p, &w) in probs.iter_mut().zip(g_words) {
            let g = ((w >> d) & 1) as f32;
            *p *= 1.0 + g - m;
        }
    }
}

/// `softmax` in float32 (max-subtracted), in place.
pub fn softmax_f32(x: &mut [f32]) {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = (f64::from(*v - m).exp()) as f32;
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// Configuration of the reference's logits processor (§1).
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessorConfig {
    /// `temperature` > 0.
    pub temperature: f32,
    /// `top_k` > 1 (ignored when `apply_top_k` is false).
    pub top_k: usize,
    /// `apply_top_k`.
    pub apply_top_k: bool,
    /// `context_history_size`.
    pub context_history_size: usize,
    /// `skip_first_ngram_calls`.
    pub skip_first_ngram_calls: bool,
}

impl Default for ProcessorConfig {
    /// The reference's defaults with the notebook's TOP_K = 40 and TEMPERATURE = 0.5.
    fn default() -> Self {
        ProcessorConfig {
            temperature: 0.5,
            top_k: 40,
            apply_top_k: true,
            context_history_size: DEFAULT_CONTEXT_HISTORY_SIZE,
            skip_first_ngram_calls: false,
        }
    }
}

/// The result of one processor call: the candidates (vocabulary ids, by decreasing processed
/// score), their watermarked log-probabilities (or the unwatermarked scores on skipped steps),
/// and the unwatermarked scores. Buffers are reused across calls.
#[derive(Clone, Debug, Default)]
pub struct ProcessorStep {
    /// Candidate token ids.
    pub indices: Vec<u32>,
    /// Scores to sample from (`softmax` then multinomial).
    pub scores: Vec<f32>,
    /// The processed top-k scores before watermarking.
    pub unwatermarked: Vec<f32>,
    /// Whether this step was watermarked.
    pub watermarked: bool,
}

/// One sequence's state of the reference's `SynthIDLogitsProcessor.watermarked_call` (§6.1):
/// context initialised to zeros, the FIFO of recent context hashes initialised to zeros.
#[derive(Clone, Debug)]
pub struct SynthIdProcessor {
    prf: SynthIdPrf,
    config: ProcessorConfig,
    context: Vec<u32>,
    history: HashFifo,
    num_calls: usize,
    order: Vec<u32>,
    g: Vec<u64>,
}

impl SynthIdProcessor {
    /// A processor for one sequence. The PRF's width is `ngram_len − 1`.
    pub fn new(prf: SynthIdPrf, config: ProcessorConfig) -> Result<Self> {
        if !(config.temperature.is_finite() && config.temperature > 0.0) {
            return Err(InteropError::param(
                "temperature",
                "must be a finite number > 0",
            ));
        }
        if config.apply_top_k && config.top_k < 2 {
            return Err(InteropError::param("top_k", "must be > 1"));
        }
        if config.context_history_size == 0 {
            return Err(InteropError::param(
                "context_history_size",
                "must be positive",
            ));
        }
        let width = prf.width();
        Ok(SynthIdProcessor {
            prf,
            context: vec![0; width],
            history: HashFifo::new(config.context_history_size),
            num_calls: 0,
            config,
            order: Vec::new(),
            g: Vec::new(),
        })
    }

    /// One call. `last_token` is the token sampled at the previous step (`input_ids[-1]`); it
    /// is ignored on the first call, whose context is all zeros. `scores` are the raw logits of
    /// the whole vocabulary.
    pub fn call(&mut self, last_token: u32, scores: &[f32], out: &mut ProcessorStep) -> Result<()> {
        if scores.is_empty() || scores.len() > u32::MAX as usize {
            return Err(InteropError::InvalidLogits(format!(
                "{} scores",
                scores.len()
            )));
        }
        let t = self.config.temperature;
        // Top-k by processed score, descending; ties to the lower id.
        self.order.clear();
        self.order.extend(0..scores.len() as u32);
        let key = |i: u32| scores[i as usize] / t;
        let k = if self.config.apply_top_k {
            self.config.top_k.min(scores.len())
        } else {
            scores.len()
        };
        let cmp = |a: &u32, b: &u32| key(*b).total_cmp(&key(*a)).then(a.cmp(b));
        if k < self.order.len() {
            self.order.select_nth_unstable_by(k - 1, cmp);
            self.order.truncate(k);
        }
        self.order.sort_unstable_by(cmp);
        out.indices.clear();
        out.indices.extend_from_slice(&self.order);
        out.unwatermarked.clear();
        out.unwatermarked.extend(self.order.iter().map(|&i| key(i)));

        if self.num_calls > 0 && !self.context.is_empty() {
            self.context.rotate_left(1);
            if let Some(last) = self.context.last_mut() {
                *last = last_token;
            }
        }
        self.num_calls += 1;
        out.scores.clear();
        out.scores.extend_from_slice(&out.unwatermarked);
        out.watermarked = false;
        if self.config.skip_first_ngram_calls && self.num_calls < self.prf.width() + 1 {
            return Ok(());
        }
        let hc = self.prf.absorb(&self.context);
        self.g.clear();
        for &v in &self.order {
            self.g.push(self.prf.word(&hc, v));
        }
        let repeated = self.history.contains(hc);
        self.history.push(hc);
        if repeated {
            return Ok(());
        }
        softmax_f32(&mut out.scores);
        tournament_update(&mut out.scores, &self.g, self.prf.depth());
        for s in out.scores.iter_mut() {
            let l = (f64::from(*s).ln()) as f32;
            *s = if l.is_finite() { l } else { LOG_ZERO };
        }
        out.watermarked = true;
        Ok(())
    }
}

/// The g-value words of every sliding n-gram of `tokens` (§7.1): entry i is the n-gram
/// `tokens[i .. i+n]`, n = width + 1. Empty when `tokens` is shorter than n.
pub fn g_values(prf: &SynthIdPrf, tokens: &[u32]) -> Vec<u64> {
    let n = prf.width() + 1;
    if tokens.len() < n {
        return Vec::new();
    }
    tokens
        .windows(n)
        .map(|w| prf.word(&prf.absorb(&w[..n - 1]), w[n - 1]))
        .collect()
}

/// `compute_eos_token_mask` (§7.2): true before the first `eos`, false from it on.
pub fn eos_mask(tokens: &[u32], eos: u32) -> Vec<bool> {
    let first = tokens
        .iter()
        .position(|&t| t == eos)
        .unwrap_or(tokens.len());
    (0..tokens.len()).map(|i| i < first).collect()
}

/// `compute_context_repetition_mask` (§7.2): for the contexts `tokens[i .. i+n−1]`,
/// i = 0 ..= L−n, true unless the context hash is in the FIFO of the last `history_size` hashes
/// (initialised to zeros); each hash is pushed after the check.
pub fn context_repetition_mask(prf: &SynthIdPrf, tokens: &[u32], history_size: usize) -> Vec<bool> {
    let h = prf.width();
    if tokens.len() < h + 1 {
        return Vec::new();
    }
    let mut fifo = HashFifo::new(history_size);
    tokens[..tokens.len() - 1]
        .windows(h.max(1))
        .take(tokens.len() - h)
        .map(|ctx| {
            let hc = prf.absorb(&ctx[..h]);
            let fresh = !fifo.contains(hc);
            fifo.push(hc);
            fresh
        })
        .collect()
}

/// The reference's default layer weights: `linspace(10, 1, depth)` scaled to sum to `depth`.
pub fn default_weights(depth: usize) -> Vec<f64> {
    let w: Vec<f64> = if depth == 1 {
        vec![10.0]
    } else {
        (0..depth)
            .map(|d| 10.0 - 9.0 * d as f64 / (depth - 1) as f64)
            .collect()
    };
    let s: f64 = w.iter().sum();
    w.iter().map(|x| x * depth as f64 / s).collect()
}

/// `mean_score` (§7.3, in f64): Σ g·mask / (depth·Σ mask). NaN when nothing is unmasked.
pub fn mean_score(g_words: &[u64], depth: usize, mask: &[bool]) -> f64 {
    let (sum, n) = masked_sums(g_words, depth, mask, None);
    sum / (depth as f64 * n as f64)
}

/// `weighted_mean_score` (§7.3, in f64): Σ g·w_d·mask / (depth·Σ mask), `weights` as given
/// (already normalised; see [`default_weights`]).
pub fn weighted_mean_score(g_words: &[u64], depth: usize, mask: &[bool], weights: &[f64]) -> f64 {
    let (sum, n) = masked_sums(g_words, depth, mask, Some(weights));
    sum / (depth as f64 * n as f64)
}

fn masked_sums(
    g_words: &[u64],
    depth: usize,
    mask: &[bool],
    weights: Option<&[f64]>,
) -> (f64, u64) {
    let mut sum = 0.0;
    let mut n = 0u64;
    for (&w, _) in g_words.iter().zip(mask).filter(|(_, &m)| m) {
        n += 1;
        for d in 0..depth {
            if (w >> d) & 1 == 1 {
                sum += weights.map_or(1.0, |ws| ws[d]);
            }
        }
    }
    (sum, n)
}

/// Detection options (the notebook's masking).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectOptions {
    /// Apply the context-repetition mask (reference default: yes).
    pub mask_repeated_contexts: bool,
    /// FIFO size of the context-repetition mask.
    pub context_history_size: usize,
    /// EOS token: windows at or after the first EOS are masked.
    pub eos_token: Option<u32>,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            mask_repeated_contexts: true,
            context_history_size: DEFAULT_CONTEXT_HISTORY_SIZE,
            eos_token: None,
        }
    }
}

/// A SynthID detection: the reference's scores and the exact test's inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthIdDetection {
    /// Windows (n-grams) scored after masking.
    pub scored_windows: u64,
    /// Σ g over the scored windows and all layers: Binomial(trials, ½) under H0.
    pub g_sum: u64,
    /// `scored_windows × depth`.
    pub trials: u64,
    /// The reference's mean score (NaN when nothing is scored).
    pub mean: f64,
    /// The reference's weighted-mean score with default weights (NaN when nothing is scored).
    pub weighted_mean: f64,
}

/// Scores `tokens` (the generated tokens only, §7.1) the way the reference notebook does:
/// g-values of every n-gram, masked by context repetition and EOS.
///
/// Under H0 each g-value of a distinct n-gram is a fair bit; the reference's repetition mask
/// drops repeated *contexts* within the FIFO window, which makes the scored n-grams distinct
/// within that window (not beyond it: use a global dedup for corpus tests).
pub fn detect(prf: &SynthIdPrf, tokens: &[u32], opts: &DetectOptions) -> SynthIdDetection {
    let g = g_values(prf, tokens);
    let n = prf.width() + 1;
    let mut mask = if opts.mask_repeated_contexts {
        context_repetition_mask(prf, tokens, opts.context_history_size)
    } else {
        vec![true; g.len()]
    };
    if let Some(eos) = opts.eos_token {
        let e = eos_mask(tokens, eos);
        for (m, &e) in mask.iter_mut().zip(e.get(n - 1..).unwrap_or(&[])) {
            *m &= e;
        }
    }
    let depth = prf.depth();
    let (sum, scored) = masked_sums(&g, depth, &mask, None);
    SynthIdDetection {
        scored_windows: scored,
        g_sum: sum as u64,
        trials: scored * depth as u64,
        mean: mean_score(&g, depth, &mask),
        weighted_mean: weighted_mean_score(&g, depth, &mask, &default_weights(depth)),
    }
}
