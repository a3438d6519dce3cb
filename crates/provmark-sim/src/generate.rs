//! Generation: clean (plain sampling) or watermarked (through `provmark-embed`).

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::SimError;
use crate::hash::mix2;
use crate::model::{Candidates, SimLm};

/// One generated sample: its index, ids and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The sample's index k (what `provmark generate --count` numbers).
    pub index: u64,
    /// Generated token ids (the prompt is not included).
    pub ids: Vec<u32>,
    /// `ids` decoded.
    pub text: String,
}

/// Reusable generation state: candidate buffer and output buffer (allocate once per thread).
#[derive(Debug)]
pub struct Generator<'a> {
    lm: &'a SimLm,
    cands: Candidates,
    context: Vec<u32>,
}

impl<'a> Generator<'a> {
    /// A generator for `lm`.
    pub fn new(lm: &'a SimLm) -> Self {
        Generator {
            lm,
            cands: lm.candidate_buffer(),
            context: Vec::new(),
        }
    }

    /// Generates `n_tokens` after `prompt` into `out` (cleared first), sampling plainly.
    pub fn generate_into<R: RngCore + ?Sized>(
        &mut self,
        prompt: &[u32],
        n_tokens: usize,
        rng: &mut R,
        out: &mut Vec<u32>,
    ) -> Result<(), SimError> {
        self.generate_observed(prompt, n_tokens, rng, out, |_, _| {})
    }

    /// Like [`Generator::generate_into`], calling `observe(candidates, chosen)` after each step
    /// (for measurements such as the entropy profile).
    pub fn generate_observed<R, F>(
        &mut self,
        prompt: &[u32],
        n_tokens: usize,
        rng: &mut R,
        out: &mut Vec<u32>,
        mut observe: F,
    ) -> Result<(), SimError>
    where
        R: RngCore + ?Sized,
        F: FnMut(&Candidates, u32),
    {
        out.clear();
        self.context.clear();
        self.context.extend_from_slice(prompt);
        for _ in 0..n_tokens {
            self.lm.candidates(&self.context, &mut self.cands);
            let t = sample_candidates(&self.cands, rng);
            observe(&self.cands, t);
            self.context.push(t);
            out.push(t);
        }
        Ok(())
    }
}

/// Draws one candidate from the softmax of the logits with one uniform from `rng`.
fn sample_candidates<R: RngCore + ?Sized>(c: &Candidates, rng: &mut R) -> u32 {
    let logits = c.logits();
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f64 = logits.iter().map(|&l| f64::from(l - m).exp()).sum();
    let u = (rng.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0) * z;
    let mut acc = 0.0;
    for (i, &l) in logits.iter().enumerate() {
        acc += f64::from(l - m).exp();
        if u < acc {
            return c.ids()[i];
        }
    }
    c.ids()[c.len() - 1]
}

/// Generates `n_tokens` token ids after `prompt` (clean; the prompt is not returned).
///
/// ```
/// use provmark_sim::{generate, SimConfig, SimLm};
/// use provmark_tokenize::Tokenizer;
/// use rand::SeedableRng;
/// let tok = Tokenizer::openai("o200k_base")?;
/// let lm = SimLm::new(SimConfig::new(1), &tok)?;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
/// let ids = generate(&lm, &[], 20, &mut rng)?;
/// assert_eq!(ids.len(), 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate<R: RngCore + ?Sized>(
    lm: &SimLm,
    prompt: &[u32],
    n_tokens: usize,
    rng: &mut R,
) -> Result<Vec<u32>, SimError> {
    let mut out = Vec::with_capacity(n_tokens);
    Generator::new(lm).generate_into(prompt, n_tokens, rng, &mut out)?;
    Ok(out)
}

/// The RNG of sample `index` under `seed`: ChaCha8 (portable, reproducible on every platform).
pub fn sample_rng(seed: u64, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix2(mix2(seed, 0x7361_6d70_6c65), index))
}
