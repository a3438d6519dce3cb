//! A simulated language for distillation experiments (a simulation, not a real model).
//!
//! The [`Language`] is a first-order Markov "grammar" over whole-word tokens of a real tokenizer
//! (`o200k_base` by default): every word has `K` successor words. A [`SimModel`] puts logits on
//! those successors; the teacher and the clean source are two different models of the same
//! language (same successor graph, independently perturbed logits), so a student trained on a
//! mix sees both at the same contexts and learns a mixture — the dilution that makes the
//! distilled watermark faint (Sander et al., NeurIPS 2024, report a green share of 0.2588
//! against 0.25 for 5% watermarked data).
//!
//! Why whole words: every token decodes to `" " + lowercase ASCII word` and encodes back to the
//! same single id, so text round-trips exactly through the teacher's tokenizer and can be
//! re-tokenized by a different one (the cross-tokenizer student).

use std::collections::HashSet;

use provmark_core::prf::{AnyPrf, Prf};
use provmark_core::{Scheme, Watermark};
use provmark_tokenize::Tokenizer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

use crate::error::{EvalError, Result};

/// Successors per word (the candidate list of every generation step).
pub const SUCCESSORS: usize = 32;

/// A Markov language over whole-word tokens.
#[derive(Debug, Clone)]
pub struct Language {
    /// Token id (in the source tokenizer) of each word index.
    ids: Vec<u32>,
    /// Word index of each token id (`u32::MAX` if the id is not a word of the language).
    index_of: Vec<u32>,
    /// `SUCCESSORS` successor word indices per word.
    succ: Vec<u32>,
    /// Popular words: where responses start.
    starts: Vec<u32>,
}

impl Language {
    /// Builds a language of up to `words` words from `tokenizer`'s whole-word tokens (lowest ids
    /// first: BPE merges frequent words early), with successor lists drawn from `seed`.
    pub fn build(tokenizer: &Tokenizer, words: usize, seed: u64) -> Result<Language> {
        let vocab = tokenizer.vocab_size();
        let mut ids = Vec::with_capacity(words);
        for id in 0..vocab as u32 {
            if ids.len() >= words {
                break;
            }
            let Some(bytes) = tokenizer.token_bytes(id) else {
                continue;
            };
            if bytes.len() < 3 || bytes[0] != b' ' || !bytes[1..].iter().all(u8::is_ascii_lowercase)
            {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            if tokenizer.encode(&text) == [id] {
                ids.push(id);
            }
        }
        if ids.len() < 4 * SUCCESSORS {
            return Err(EvalError::Setup(format!(
                "tokenizer has only {} whole-word tokens; need at least {}",
                ids.len(),
                4 * SUCCESSORS
            )));
        }
        let w = ids.len();
        let mut index_of = vec![u32::MAX; vocab];
        for (i, &id) in ids.iter().enumerate() {
            index_of[id as usize] = i as u32;
        }
        // Zipf-like popularity: word r is chosen as a successor with weight 1 / (r + 20).
        let mut cdf = Vec::with_capacity(w);
        let mut acc = 0.0f64;
        for r in 0..w {
            acc += 1.0 / (r as f64 + 20.0);
            cdf.push(acc);
        }
        let mut rng = ChaCha12Rng::seed_from_u64(seed ^ 0x6c61_6e67);
        let mut succ = Vec::with_capacity(w * SUCCESSORS);
        let mut row = Vec::with_capacity(SUCCESSORS);
        for _ in 0..w {
            row.clear();
            while row.len() < SUCCESSORS {
                let x = rng.random::<f64>() * acc;
                let j = cdf.partition_point(|&c| c < x).min(w - 1) as u32;
                if !row.contains(&j) {
                    row.push(j);
                }
            }
            succ.extend_from_slice(&row);
        }
        let starts = (0..(w.min(500) as u32)).collect();
        Ok(Language {
            ids,
            index_of,
            succ,
            starts,
        })
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the language has no words (never true for a built language).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Token id of word `w`.
    pub fn id(&self, w: u32) -> u32 {
        self.ids[w as usize]
    }

    /// Word index of a token id, if it is a word of this language.
    pub fn word_of(&self, id: u32) -> Option<u32> {
        self.index_of
            .get(id as usize)
            .copied()
            .filter(|&w| w != u32::MAX)
    }

    /// Successor word indices of word `w`.
    pub fn successors(&self, w: u32) -> &[u32] {
        let s = w as usize * SUCCESSORS;
        &self.succ[s..s + SUCCESSORS]
    }

    /// A random word, uniform over the language (the substitution/insertion attacks).
    pub fn random_id<R: Rng>(&self, rng: &mut R) -> u32 {
        self.ids[rng.random_range(0..self.ids.len())]
    }
}

/// One simulated model of a [`Language`]: logits over every word's successors.
#[derive(Debug, Clone)]
pub struct SimModel {
    logits: Vec<f32>,
}

impl SimModel {
    /// A model with per-word peakedness drawn from `seed`: successor `j` (in a random order) has
    /// logit `−a·ln(j + 1) + 0.3·N(0,1)` with `a` uniform in [0.6, 3.0], which spreads the
    /// per-step entropy from near 0 to about 3 nats (measured by [`SimModel::mean_entropy`]).
    pub fn new(lang: &Language, seed: u64) -> SimModel {
        let mut rng = ChaCha12Rng::seed_from_u64(seed ^ 0x6d6f_6465);
        let mut logits = Vec::with_capacity(lang.len() * SUCCESSORS);
        let mut order: Vec<usize> = (0..SUCCESSORS).collect();
        for _ in 0..lang.len() {
            let a: f64 = rng.random_range(0.6..3.0);
            for i in (1..SUCCESSORS).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            for &j in &order {
                logits.push((-a * ((j + 1) as f64).ln() + 0.3 * normal(&mut rng)) as f32);
            }
        }
        SimModel { logits }
    }

    /// A different model of the same language: this model's logits plus `sigma`·N(0,1) noise
    /// drawn from `seed` (the clean "other source" of the student's training mix).
    pub fn perturbed(&self, sigma: f64, seed: u64) -> SimModel {
        let mut rng = ChaCha12Rng::seed_from_u64(seed ^ 0x7065_7274);
        SimModel {
            logits: self
                .logits
                .iter()
                .map(|&l| (l as f64 + sigma * normal(&mut rng)) as f32)
                .collect(),
        }
    }

    fn row(&self, w: u32) -> &[f32] {
        let s = w as usize * SUCCESSORS;
        &self.logits[s..s + SUCCESSORS]
    }

    /// Mean entropy (nats) of the next-word distribution at `temperature`, weighted by how often
    /// each word occurs in `sample` (a generated word sequence).
    pub fn mean_entropy(&self, lang: &Language, sample: &[u32], temperature: f64) -> f64 {
        let mut p = [0.0f64; SUCCESSORS];
        let mut total = 0.0;
        let mut n = 0usize;
        for &id in sample {
            let Some(w) = lang.word_of(id) else { continue };
            softmax(self.row(w), temperature, &[], 0.0, &mut p);
            total += p
                .iter()
                .filter(|&&x| x > 0.0)
                .map(|&x| -x * x.ln())
                .sum::<f64>();
            n += 1;
        }
        if n == 0 {
            0.0
        } else {
            total / n as f64
        }
    }
}

/// p = softmax(logits / T + bias·mask).
fn softmax(
    logits: &[f32],
    temperature: f64,
    green: &[bool],
    delta: f64,
    p: &mut [f64; SUCCESSORS],
) {
    let inv_t = 1.0 / temperature;
    let mut max = f64::NEG_INFINITY;
    for (j, &l) in logits.iter().enumerate() {
        let mut x = l as f64 * inv_t;
        if green.get(j).copied().unwrap_or(false) {
            x += delta;
        }
        p[j] = x;
        max = max.max(x);
    }
    let mut z = 0.0;
    for x in p.iter_mut() {
        *x = (*x - max).exp();
        z += *x;
    }
    for x in p.iter_mut() {
        *x /= z;
    }
}

fn sample_index<R: Rng>(p: &[f64; SUCCESSORS], rng: &mut R) -> usize {
    let mut x: f64 = rng.random();
    for (j, &pj) in p.iter().enumerate() {
        if x < pj {
            return j;
        }
        x -= pj;
    }
    SUCCESSORS - 1
}

/// A standard normal variate (Box–Muller).
pub(crate) fn normal<R: Rng>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Packs up to 7 token ids (each < 2^18) into a u128 — an exact key for contexts and pairs.
#[inline]
pub(crate) fn pack(ids: &[u32]) -> u128 {
    let mut k: u128 = ids.len() as u128;
    for &t in ids {
        k = (k << 18) | (t as u128 & 0x3ffff);
    }
    k
}

/// Reusable per-thread generation state (the repeated-context set), so generating many
/// responses allocates nothing per token.
#[derive(Default)]
pub struct GenScratch {
    seen: HashSet<u128>,
}

/// Generates one response of `len` tokens from `model`, appending the token ids to `out`.
///
/// With `watermark`, every step whose `h`-token context is complete and (when
/// `skip_repeated` is set) new within this response selects with the scheme — green list:
/// `δ` added to the logits of green successors; Gumbel: `argmin −ln(u)/p` — exactly as the
/// spec's §4 describes; other steps sample plainly. Without it the response is clean.
#[allow(clippy::too_many_arguments)]
pub fn generate<R: Rng>(
    lang: &Language,
    model: &SimModel,
    watermark: Option<&Watermark<AnyPrf>>,
    skip_repeated: bool,
    temperature: f64,
    len: usize,
    rng: &mut R,
    scratch: &mut GenScratch,
    out: &mut Vec<u32>,
) {
    let start = out.len();
    scratch.seen.clear();
    let mut w = lang.starts[rng.random_range(0..lang.starts.len())];
    out.push(lang.id(w));
    let mut p = [0.0f64; SUCCESSORS];
    let mut cand = [0u32; SUCCESSORS];
    let mut words = [0u64; SUCCESSORS];
    let mut green = [false; SUCCESSORS];
    while out.len() - start < len {
        let succ = lang.successors(w);
        for (c, &s) in cand.iter_mut().zip(succ) {
            *c = lang.id(s);
        }
        let logits = model.row(w);
        let generated = out.len() - start;
        let chosen = match watermark {
            Some(wm) if generated >= wm.context_width() => {
                let h = wm.context_width();
                let ctx = &out[out.len() - h..];
                if skip_repeated && !scratch.seen.insert(pack(ctx)) {
                    softmax(logits, temperature, &[], 0.0, &mut p);
                    sample_index(&p, rng)
                } else {
                    let state = wm.absorb(ctx);
                    wm.prf().words(&state, &cand, &mut words);
                    match wm.scheme() {
                        Scheme::Green { gamma, delta } => {
                            for (g, &x) in green.iter_mut().zip(&words) {
                                *g = wm.prf().uniform(x) < gamma;
                            }
                            softmax(logits, temperature, &green, delta, &mut p);
                            sample_index(&p, rng)
                        }
                        _ => {
                            // Gumbel-max: argmin −ln(u)/p, ties to the lowest token id.
                            softmax(logits, temperature, &[], 0.0, &mut p);
                            let mut best = 0usize;
                            let mut best_v = f64::INFINITY;
                            for j in 0..SUCCESSORS {
                                if p[j] <= 0.0 {
                                    continue;
                                }
                                let v = -wm.prf().uniform(words[j]).ln() / p[j];
                                if v < best_v || (v == best_v && cand[j] < cand[best]) {
                                    best_v = v;
                                    best = j;
                                }
                            }
                            best
                        }
                    }
                }
            }
            _ => {
                softmax(logits, temperature, &[], 0.0, &mut p);
                sample_index(&p, rng)
            }
        };
        w = succ[chosen];
        out.push(lang.id(w));
    }
}

/// A clean-text sampler with precomputed cumulative tables (fast: one binary search per
/// token), used where millions of clean samples are needed (calibration).
#[derive(Debug, Clone)]
pub struct FastSampler {
    cdf: Vec<f32>,
}

impl FastSampler {
    /// Precomputes `model`'s cumulative distributions at `temperature`.
    pub fn new(lang: &Language, model: &SimModel, temperature: f64) -> FastSampler {
        let mut cdf = Vec::with_capacity(lang.len() * SUCCESSORS);
        let mut p = [0.0f64; SUCCESSORS];
        for w in 0..lang.len() as u32 {
            softmax(model.row(w), temperature, &[], 0.0, &mut p);
            let mut acc = 0.0;
            for &x in &p {
                acc += x;
                cdf.push(acc as f32);
            }
        }
        FastSampler { cdf }
    }

    /// Appends a clean response of `len` tokens to `out`.
    pub fn generate<R: Rng>(&self, lang: &Language, len: usize, rng: &mut R, out: &mut Vec<u32>) {
        let mut w = lang.starts[rng.random_range(0..lang.starts.len())];
        out.push(lang.id(w));
        for _ in 1..len {
            let s = w as usize * SUCCESSORS;
            let row = &self.cdf[s..s + SUCCESSORS];
            let x: f32 = rng.random::<f32>() * row[SUCCESSORS - 1];
            let j = row.partition_point(|&c| c <= x).min(SUCCESSORS - 1);
            w = lang.successors(w)[j];
            out.push(lang.id(w));
        }
    }
}
