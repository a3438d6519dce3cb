//! The serving benchmark: cost per generated token of plain sampling, green-list sampling and
//! Gumbel selection, measured in the same run (`provmark bench serving`, `cargo bench -p
//! provmark-embed --bench serving`).
//!
//! # Workload (synthetic, stated)
//! Each step's distribution is chat-LLM-like: a few dominant tokens with probabilities
//! 0.55, 0.20, 0.10, 0.05 and the remaining 0.10 spread as a Zipf tail (p ∝ rank^−1.1) over
//! the rest of the vocabulary; logits are ln p. Sixteen such rows with independent random
//! token orders rotate, so no step sees the previous step's layout. Candidate lists are the
//! top-k of the same rows in descending order, as top-k samplers hand them over. Every step
//! has a fresh context (the repeated-context table is consulted and filled as in serving, and
//! reset every 4,096 steps). Schemes: green γ = 0.25, δ = 2; Gumbel; context width 2; RNG:
//! `rand::rngs::StdRng` (ChaCha12).

use std::hint::black_box;
use std::time::{Duration, Instant};

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use rand::seq::SliceRandom;
use rand::{rngs::StdRng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{Dist, EmbedError, Embedder, Result, Scratch, SequenceState};

/// Probabilities of the dominant tokens of every benchmark row.
pub const DOMINANT: [f64; 4] = [0.55, 0.20, 0.10, 0.05];
/// Zipf exponent of the tail.
pub const ZIPF_EXPONENT: f64 = 1.1;
const ROWS: usize = 16;
const RESET_EVERY: u64 = 4096;

/// The per-step benchmark state: distributions, embedders, scratch, sequence states, RNG.
#[derive(Debug)]
pub struct Workload {
    vocab: usize,
    rows: Rows,
    green: Embedder,
    gumbel: Embedder,
    green_seq: SequenceState,
    gumbel_seq: SequenceState,
    scratch: Scratch,
    bias_buf: Vec<f32>,
    rng: StdRng,
}

#[derive(Debug)]
struct Rows {
    candidates: Option<usize>,
    /// Full rows (empty when benchmarking candidate lists).
    full: Vec<Vec<f32>>,
    cand_ids: Vec<Vec<u32>>,
    cand_logits: Vec<Vec<f32>>,
}

impl Rows {
    fn dist(&self, step: u64) -> Dist<'_> {
        let r = (step % ROWS as u64) as usize;
        match self.candidates {
            None => Dist::Logits(&self.full[r]),
            Some(_) => Dist::CandidateLogits {
                ids: &self.cand_ids[r],
                logits: &self.cand_logits[r],
            },
        }
    }
}

/// Logits of the benchmark shape by rank (rank 0 = most likely), for a vocabulary of `vocab`.
pub fn chat_logits_by_rank(vocab: usize) -> Vec<f32> {
    let d = DOMINANT.len().min(vocab);
    let tail: f64 = (1..=vocab.saturating_sub(d))
        .map(|r| (r as f64).powf(-ZIPF_EXPONENT))
        .sum();
    let tail_mass = 1.0 - DOMINANT.iter().sum::<f64>();
    (0..vocab)
        .map(|r| {
            let p = if r < d {
                DOMINANT[r]
            } else {
                tail_mass * ((r - d + 1) as f64).powf(-ZIPF_EXPONENT) / tail
            };
            p.ln() as f32
        })
        .collect()
}

impl Workload {
    /// Builds the workload for a vocabulary size and optionally a candidate-list length.
    pub fn new(vocab: usize, candidates: Option<usize>, seed: u64) -> Result<Self> {
        if vocab == 0 {
            return Err(EmbedError::EmptyVocabulary);
        }
        let k = candidates.map(|k| k.clamp(1, vocab));
        let by_rank = chat_logits_by_rank(vocab);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut perm: Vec<u32> = (0..vocab as u32).collect();
        let (mut full, mut cand_ids, mut cand_logits) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROWS {
            perm.shuffle(&mut rng);
            match k {
                None => {
                    let mut row = vec![0f32; vocab];
                    for (r, &id) in perm.iter().enumerate() {
                        row[id as usize] = by_rank[r];
                    }
                    full.push(row);
                }
                Some(k) => {
                    cand_ids.push(perm[..k].to_vec());
                    cand_logits.push(by_rank[..k].to_vec());
                }
            }
        }
        let profile = |scheme| {
            Profile::from_secret(
                SecretKey::from_bytes([0x5a; 32]),
                scheme,
                2,
                TokenizerSpec::default_openai(),
            )
            .map_err(|_| EmbedError::UnsupportedScheme("benchmark profile"))
        };
        let green = Embedder::from_profile(&profile(Scheme::DEFAULT_GREEN)?, None, vocab)?;
        let gumbel = Embedder::from_profile(&profile(Scheme::Gumbel)?, None, vocab)?;
        let n = k.unwrap_or(vocab);
        Ok(Workload {
            vocab,
            rows: Rows {
                candidates: k,
                full,
                cand_ids,
                cand_logits,
            },
            green_seq: green.new_sequence(RESET_EVERY as usize),
            gumbel_seq: gumbel.new_sequence(RESET_EVERY as usize),
            green,
            gumbel,
            scratch: Scratch::with_capacity(n),
            bias_buf: vec![0.0; n],
            rng,
        })
    }

    /// Vocabulary size.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Candidate-list length, if any.
    pub fn candidates(&self) -> Option<usize> {
        self.rows.candidates
    }

    fn context(step: u64) -> [u32; 2] {
        [(step & 0xFFFF_FFFF) as u32, (step >> 32) as u32 ^ 0x1234]
    }

    /// One plain (unwatermarked) step.
    pub fn plain(&mut self, step: u64) -> Result<u32> {
        let dist = self.rows.dist(step);
        crate::sample_plain(self.vocab, dist, &mut self.scratch, &mut self.rng)
    }

    /// One green-list step through [`Embedder::choose`] (rejection sampler).
    pub fn green(&mut self, step: u64) -> Result<u32> {
        if step % RESET_EVERY == 0 {
            self.green_seq.reset();
        }
        let dist = self.rows.dist(step);
        let c = self.green.choose(
            &mut self.green_seq,
            &Self::context(step),
            dist,
            &mut self.scratch,
            &mut self.rng,
        )?;
        Ok(c.token)
    }

    /// One green-list step the classic way: copy the logits, bias them in place, plain sample.
    pub fn green_bias_in_place(&mut self, step: u64) -> Result<u32> {
        if step % RESET_EVERY == 0 {
            self.green_seq.reset();
        }
        let r = (step % ROWS as u64) as usize;
        let ctx = Self::context(step);
        match self.rows.candidates {
            None => {
                self.bias_buf.copy_from_slice(&self.rows.full[r]);
                self.green
                    .bias_logits(&mut self.green_seq, &ctx, &mut self.bias_buf)?;
                crate::sample_plain(
                    self.vocab,
                    Dist::Logits(&self.bias_buf),
                    &mut self.scratch,
                    &mut self.rng,
                )
            }
            Some(_) => {
                self.bias_buf.copy_from_slice(&self.rows.cand_logits[r]);
                let ids = &self.rows.cand_ids[r];
                self.green.bias_candidate_logits(
                    &mut self.green_seq,
                    &ctx,
                    ids,
                    &mut self.bias_buf,
                )?;
                let dist = Dist::CandidateLogits {
                    ids,
                    logits: &self.bias_buf,
                };
                crate::sample_plain(self.vocab, dist, &mut self.scratch, &mut self.rng)
            }
        }
    }

    /// One Gumbel selection step.
    pub fn gumbel(&mut self, step: u64) -> Result<u32> {
        if step % RESET_EVERY == 0 {
            self.gumbel_seq.reset();
        }
        let dist = self.rows.dist(step);
        let c = self.gumbel.choose(
            &mut self.gumbel_seq,
            &Self::context(step),
            dist,
            &mut self.scratch,
            &mut self.rng,
        )?;
        Ok(c.token)
    }
}

/// Settings of [`bench_serving`].
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Interleaved rounds (each runs plain, green and Gumbel once); the medians are reported.
    pub rounds: usize,
    /// Target duration of one method's part of a round.
    pub round_time: Duration,
    /// Seed of the workload and the sampling RNG.
    pub seed: u64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            rounds: 15,
            round_time: Duration::from_millis(40),
            seed: 1,
        }
    }
}

/// Result of [`bench_serving`]: median nanoseconds per generated token, same run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServingBench {
    /// Vocabulary size.
    pub vocab: usize,
    /// Candidate-list length (`null`: full vocabulary).
    pub candidates: Option<usize>,
    /// Plain softmax + sample.
    pub plain_ns: f64,
    /// Green list (γ 0.25, δ 2): exact rejection sampler from the biased distribution.
    pub green_ns: f64,
    /// Gumbel-max selection.
    pub gumbel_ns: f64,
    /// `green_ns / plain_ns`.
    pub green_ratio: f64,
    /// `gumbel_ns / plain_ns`.
    pub gumbel_ratio: f64,
    /// Interleaved rounds measured.
    pub rounds: usize,
    /// Tokens per method per round.
    pub tokens_per_round: u64,
    /// One line describing the synthetic workload.
    pub workload: String,
}

fn time_per_token(n: u64, mut f: impl FnMut(u64) -> Result<u32>, start_step: u64) -> Result<f64> {
    let t = Instant::now();
    for i in 0..n {
        black_box(f(start_step + i)?);
    }
    Ok(t.elapsed().as_nanos() as f64 / n as f64)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Measures plain, green-list and Gumbel cost per generated token at one vocabulary size, over
/// the full vocabulary (`candidates = None`) or a top-k candidate list, in interleaved rounds
/// of the same run (so machine noise hits all three alike), and reports the medians.
///
/// ```
/// use provmark_embed::bench::{bench_serving, BenchConfig};
/// let cfg = BenchConfig { rounds: 3, round_time: std::time::Duration::from_millis(1), seed: 1 };
/// let r = bench_serving(1000, Some(50), &cfg).unwrap();
/// assert_eq!(r.candidates, Some(50));
/// assert!(r.plain_ns > 0.0 && r.green_ns > 0.0 && r.gumbel_ns > 0.0);
/// ```
pub fn bench_serving(
    vocab: usize,
    candidates: Option<usize>,
    config: &BenchConfig,
) -> Result<ServingBench> {
    let mut w = Workload::new(vocab, candidates, config.seed)?;
    // Warm up every path and calibrate the round length on the plain sampler.
    let probe = 8u64;
    let mut step = 0u64;
    let mut warm = 0.0f64;
    for _ in 0..3 {
        warm = time_per_token(probe, |s| w.plain(s), step)?;
        time_per_token(probe, |s| w.green(s), step)?;
        time_per_token(probe, |s| w.gumbel(s), step)?;
        step += probe;
    }
    let n = ((config.round_time.as_nanos() as f64 / warm.max(1.0)) as u64).clamp(16, 10_000_000);
    let rounds = config.rounds.max(1);
    let (mut p, mut g, mut b) = (
        Vec::with_capacity(rounds),
        Vec::with_capacity(rounds),
        Vec::with_capacity(rounds),
    );
    for _ in 0..rounds {
        p.push(time_per_token(n, |s| w.plain(s), step)?);
        g.push(time_per_token(n, |s| w.green(s), step)?);
        b.push(time_per_token(n, |s| w.gumbel(s), step)?);
        step += n;
    }
    let (plain_ns, green_ns, gumbel_ns) = (median(&mut p), median(&mut g), median(&mut b));
    Ok(ServingBench {
        vocab,
        candidates: w.candidates(),
        plain_ns,
        green_ns,
        gumbel_ns,
        green_ratio: green_ns / plain_ns,
        gumbel_ratio: gumbel_ns / plain_ns,
        rounds,
        tokens_per_round: n,
        workload: format!(
            "synthetic chat-LLM-like logits: dominant p = {DOMINANT:?} + Zipf(s = {ZIPF_EXPONENT}) tail; green γ 0.25 δ 2; h = 2; StdRng"
        ),
    })
}
