//! Generation: clean (plain sampling) or watermarked (through `provmark-embed`).
//!
//! Both paths use `provmark-embed`'s samplers — [`provmark_embed::sample_plain`] for clean text
//! and [`Embedder::choose`] for watermarked text — so the simulation and a real serving stack
//! embed the watermark with the very same code.

use provmark_embed::{Dist, Embedder, Scratch, SequenceState};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::SimError;
use crate::hash::mix2;
use crate::model::{Candidates, SimLm};

/// Length of the synthetic prompt of [`Generator::sample`].
pub const SAMPLE_PROMPT_TOKENS: usize = 8;

/// One generated sample: its index, prompt, ids and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The sample's index k (what `provmark generate --count` numbers).
    pub index: u64,
    /// The synthetic prompt the response answers (not part of `ids` or `text`).
    pub prompt: Vec<u32>,
    /// Generated token ids (the prompt is not included).
    pub ids: Vec<u32>,
    /// `ids` decoded.
    pub text: String,
}

/// Reusable generation state (candidate buffer, sampler scratch, the embedder's per-sequence
/// state): build one per thread and generate many sequences without allocating per token.
#[derive(Debug)]
pub struct Generator<'a> {
    lm: &'a SimLm,
    embedder: Option<&'a Embedder>,
    cands: Candidates,
    scratch: Scratch,
    seq: Option<SequenceState>,
    context: Vec<u32>,
    watermarked_steps: usize,
}

impl<'a> Generator<'a> {
    /// A generator for `lm`, watermarking through `embedder` when one is given (clean text
    /// otherwise). The embedder's vocabulary must cover the model's tokenizer.
    pub fn new(lm: &'a SimLm, embedder: Option<&'a Embedder>) -> Result<Self, SimError> {
        if let Some(e) = embedder {
            if e.vocab_size() < lm.vocab_size() {
                return Err(SimError::Embed(format!(
                    "embedder vocabulary {} is smaller than the tokenizer's {}",
                    e.vocab_size(),
                    lm.vocab_size()
                )));
            }
        }
        Ok(Generator {
            lm,
            embedder,
            cands: lm.candidate_buffer(),
            scratch: Scratch::with_capacity(lm.config().top_k),
            seq: embedder.map(|e| e.new_sequence(256)),
            context: Vec::new(),
            watermarked_steps: 0,
        })
    }

    /// Steps of the last generation that carried the watermark (0 for clean generation; fewer
    /// than the tokens generated when contexts repeated or lacked h preceding ids).
    pub fn watermarked_steps(&self) -> usize {
        self.watermarked_steps
    }

    /// Generates `n_tokens` after `prompt` into `out` (cleared first; the prompt is not copied).
    ///
    /// With an embedder, every position with at least h preceding ids (prompt included) goes
    /// through [`Embedder::choose`]; positions without a full context are sampled plainly.
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
        self.watermarked_steps = 0;
        if let Some(seq) = self.seq.as_mut() {
            seq.reset();
        }
        let vocab = self.lm.vocab_size();
        for _ in 0..n_tokens {
            self.lm.candidates(&self.context, &mut self.cands);
            let dist = Dist::CandidateLogits {
                ids: self.cands.ids(),
                logits: self.cands.logits(),
            };
            let token = match (self.embedder, self.seq.as_mut()) {
                (Some(e), Some(seq)) if self.context.len() >= e.context_width() => {
                    let c = e
                        .choose(seq, &self.context, dist, &mut self.scratch, rng)
                        .map_err(|err| SimError::Embed(err.to_string()))?;
                    self.watermarked_steps += usize::from(c.watermarked);
                    c.token
                }
                _ => provmark_embed::sample_plain(vocab, dist, &mut self.scratch, rng)
                    .map_err(|err| SimError::Embed(err.to_string()))?,
            };
            observe(&self.cands, token);
            self.context.push(token);
            out.push(token);
        }
        Ok(())
    }

    /// Sample `index` of a run seeded with `seed`: a synthetic prompt of
    /// [`SAMPLE_PROMPT_TOKENS`] words ([`SimLm::prompt_into`]), then `n_tokens` generated ids and
    /// their text, all drawn with [`sample_rng`]`(seed, index)`. Deterministic in (model,
    /// embedder key, seed, index) — what `provmark generate --seed S --count K` prints for
    /// k = 0..K. The prompt supplies the first steps' context, so every generated position is
    /// watermarked (except repeated contexts).
    pub fn sample(&mut self, seed: u64, index: u64, n_tokens: usize) -> Result<Sample, SimError> {
        let mut rng = sample_rng(seed, index);
        let mut prompt = Vec::with_capacity(SAMPLE_PROMPT_TOKENS);
        self.lm
            .prompt_into(&mut rng, SAMPLE_PROMPT_TOKENS, &mut prompt);
        let mut ids = Vec::with_capacity(n_tokens);
        self.generate_into(&prompt, n_tokens, &mut rng, &mut ids)?;
        let text = self.lm.decode(&ids)?;
        Ok(Sample {
            index,
            prompt,
            ids,
            text,
        })
    }
}

/// Generates `n_tokens` token ids after `prompt`: watermarked through `embedder` when given,
/// clean otherwise. The prompt is not returned.
///
/// ```
/// use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
/// use provmark_embed::Embedder;
/// use provmark_sim::{generate, sample_rng, SimConfig, SimLm};
/// use provmark_tokenize::Tokenizer;
/// let tok = Tokenizer::openai("o200k_base")?;
/// let lm = SimLm::new(SimConfig::new(1), &tok)?;
/// let profile = Profile::from_secret(SecretKey::from_bytes([9; 32]), Scheme::DEFAULT_GREEN, 2,
///     TokenizerSpec::default_openai())?;
/// let embedder = Embedder::from_profile(&profile, Some("acct-7"), tok.vocab_size())?;
/// let marked = generate(&lm, Some(&embedder), &[], 20, &mut sample_rng(5, 0))?;
/// let clean = generate(&lm, None, &[], 20, &mut sample_rng(5, 0))?;
/// assert_eq!((marked.len(), clean.len()), (20, 20));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate<R: RngCore + ?Sized>(
    lm: &SimLm,
    embedder: Option<&Embedder>,
    prompt: &[u32],
    n_tokens: usize,
    rng: &mut R,
) -> Result<Vec<u32>, SimError> {
    let mut out = Vec::with_capacity(n_tokens);
    Generator::new(lm, embedder)?.generate_into(prompt, n_tokens, rng, &mut out)?;
    Ok(out)
}

/// [`generate`], returning the ids and their text.
pub fn generate_text<R: RngCore + ?Sized>(
    lm: &SimLm,
    embedder: Option<&Embedder>,
    prompt: &[u32],
    n_tokens: usize,
    rng: &mut R,
) -> Result<(Vec<u32>, String), SimError> {
    let ids = generate(lm, embedder, prompt, n_tokens, rng)?;
    let text = lm.decode(&ids)?;
    Ok((ids, text))
}

/// The RNG of sample `index` under `seed`: ChaCha8 (portable, reproducible on every platform).
pub fn sample_rng(seed: u64, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix2(mix2(seed, 0x7361_6d70_6c65), index))
}
