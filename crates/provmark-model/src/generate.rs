//! Chat answers from the model, every step through the serving library's call
//! ([`Embedder::choose_batch_per_row`]: logits in, token out) — the path a serving engine takes.
//!
//! Answers decode in batches with continuous refill: each row keeps its own KV cache, sequence
//! state and RNG (seeded from the run's seed and the answer's index), so an answer is the same
//! token for token whatever batch size produced it.

use provmark_embed::{Choice, Dist, Embedder, Scratch, SequenceState};
use provmark_tokenize::Tokenizer;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::chat::ChatTemplate;
use crate::llama::{entropy, KvCache, Llama};
use crate::{ModelError, Result};

/// How tokens are drawn from the model's distribution (before any watermark).
#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    /// Tokens generated at most per answer.
    pub max_tokens: usize,
    /// Logits are divided by this; must be > 0.
    pub temperature: f32,
    /// Nucleus: keep the fewest most likely tokens whose probability reaches this (1 = all).
    pub top_p: f32,
    /// Keep only the k most likely tokens (0 = all).
    pub top_k: usize,
    /// Seed of the run; answer i draws from a ChaCha20 stream (seed, i).
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            max_tokens: 256,
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            seed: 0,
        }
    }
}

impl Sampling {
    /// Rejects values that cannot define a distribution.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(ModelError::Input(format!(
                "temperature must be a positive number, not {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(ModelError::Input(format!(
                "top_p must be in (0, 1], not {}",
                self.top_p
            )));
        }
        if self.max_tokens == 0 {
            return Err(ModelError::Input("max_tokens must be at least 1".into()));
        }
        Ok(())
    }
}

/// Why an answer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// The model ended its turn (`<|im_end|>` or end of text).
    Stop,
    /// `max_tokens` was reached.
    Length,
}

/// One generated answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// Index of the prompt in the request.
    pub index: usize,
    /// The prompt token ids (chat template applied), as the model saw them.
    pub prompt_ids: Vec<u32>,
    /// The answer's token ids (without the end-of-turn token).
    pub ids: Vec<u32>,
    /// The answer's text.
    pub text: String,
    /// Why it ended.
    pub finish: Finish,
    /// Steps that carried the watermark (a repeated context is sampled plainly).
    pub watermarked_steps: usize,
    /// Entropy (nats) of the distribution each token was drawn from (after temperature, top-k
    /// and top-p, before the watermark), one per token of `ids`.
    pub entropies: Vec<f32>,
    /// Log-probability (nats) of each token of `ids` under the unwatermarked model at
    /// temperature 1 (for perplexities).
    pub logprobs: Vec<f32>,
}

/// Everything fixed for a run of answers.
pub struct Generator<'a> {
    model: &'a Llama,
    tok: &'a Tokenizer,
    template: ChatTemplate,
    embedder: Option<&'a Embedder>,
    sampling: Sampling,
}

/// Per-row decoding state.
struct Row {
    index: usize,
    prompt_ids: Vec<u32>,
    cache: KvCache,
    ids: Vec<u32>,
    entropies: Vec<f32>,
    logprobs: Vec<f32>,
    watermarked: usize,
    next_logits: Vec<f32>,
    done: Option<Finish>,
}

impl<'a> Generator<'a> {
    /// A generator; `embedder: None` samples plainly (the unwatermarked baseline).
    pub fn new(
        model: &'a Llama,
        tok: &'a Tokenizer,
        embedder: Option<&'a Embedder>,
        sampling: Sampling,
    ) -> Result<Generator<'a>> {
        sampling.validate()?;
        if tok.vocab_size() > model.config().vocab_size {
            return Err(ModelError::Input(format!(
                "the tokenizer has {} tokens but the model only {}",
                tok.vocab_size(),
                model.config().vocab_size
            )));
        }
        if let Some(e) = embedder {
            if e.vocab_size() != model.config().vocab_size {
                return Err(ModelError::Input(format!(
                    "the embedder was built for {} tokens, the model has {}",
                    e.vocab_size(),
                    model.config().vocab_size
                )));
            }
        }
        Ok(Generator {
            model,
            tok,
            template: ChatTemplate::for_tokenizer(tok)?,
            embedder,
            sampling,
        })
    }

    /// The chat template in use.
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// Answers `prompts` (user messages), `batch` rows at a time, calling `each` with every
    /// answer as it completes (in completion order; `Answer::index` says which prompt).
    pub fn run(
        &self,
        prompts: &[String],
        batch: usize,
        mut each: impl FnMut(Answer) -> Result<()>,
    ) -> Result<()> {
        self.run_indexed(prompts.iter().cloned().enumerate(), batch, &mut each)
    }

    /// As [`Generator::run`], with the caller's indices (the RNG stream of an answer is its
    /// index, so a resumed run continues with the same answers).
    pub fn run_indexed(
        &self,
        prompts: impl IntoIterator<Item = (usize, String)>,
        batch: usize,
        each: &mut dyn FnMut(Answer) -> Result<()>,
    ) -> Result<()> {
        let batch = batch.max(1);
        let vocab = self.model.config().vocab_size;
        let mut pending = prompts.into_iter();
        let mut rows: Vec<Row> = Vec::new();
        let mut seqs: Vec<SequenceState> = Vec::new();
        let mut rngs: Vec<ChaCha20Rng> = Vec::new();
        let mut scratch = Scratch::with_capacity(vocab);
        let mut masked = Vec::new();
        let mut order: Vec<u32> = Vec::new();
        let h = self.embedder.map_or(0, |e| e.context_width());
        loop {
            // Refill free slots.
            while rows.len() < batch {
                let Some((index, prompt)) = pending.next() else {
                    break;
                };
                let prompt_ids = self.template.user_turn(self.tok, &prompt);
                let mut cache = self.model.new_cache();
                let next_logits = self.model.prefill(&mut cache, &prompt_ids)?;
                rows.push(Row {
                    index,
                    prompt_ids,
                    cache,
                    ids: Vec::new(),
                    entropies: Vec::new(),
                    logprobs: Vec::new(),
                    watermarked: 0,
                    next_logits,
                    done: None,
                });
                seqs.push(self.embedder.map_or_else(
                    || SequenceState::new(0, 0, false),
                    |e| e.new_sequence(self.sampling.max_tokens),
                ));
                let mut rng = ChaCha20Rng::seed_from_u64(self.sampling.seed);
                rng.set_stream(index as u64);
                rngs.push(rng);
            }
            if rows.is_empty() {
                return Ok(());
            }
            // One token per row.
            let mut next = Vec::with_capacity(rows.len());
            for (r, row) in rows.iter_mut().enumerate() {
                self.shape(&row.next_logits, &mut masked, &mut order);
                row.entropies.push(entropy(&masked) as f32);
                let token = match self.embedder {
                    Some(e) => {
                        let full: Vec<u32>;
                        let ctx: &[u32] = if row.ids.len() >= h {
                            &row.ids[row.ids.len() - h..]
                        } else {
                            full = row
                                .prompt_ids
                                .iter()
                                .chain(row.ids.iter())
                                .copied()
                                .collect();
                            &full[full.len().saturating_sub(h)..]
                        };
                        let mut out = [Choice {
                            token: 0,
                            watermarked: false,
                        }];
                        e.choose_batch_per_row(
                            std::slice::from_mut(&mut seqs[r]),
                            ctx,
                            Dist::Logits(&masked),
                            &mut scratch,
                            std::slice::from_mut(&mut rngs[r]),
                            &mut out,
                        )?;
                        row.watermarked += usize::from(out[0].watermarked);
                        out[0].token
                    }
                    None => provmark_embed::sample_plain(
                        vocab,
                        Dist::Logits(&masked),
                        &mut scratch,
                        &mut rngs[r],
                    )?,
                };
                if self.template.is_end(token) {
                    row.entropies.pop();
                    row.done = Some(Finish::Stop);
                } else {
                    row.logprobs
                        .push(token_logprob(&row.next_logits, token) as f32);
                    row.ids.push(token);
                    if row.ids.len() >= self.sampling.max_tokens {
                        row.done = Some(Finish::Length);
                    }
                }
                next.push(token);
            }
            // Finished rows leave; the others take one forward step together.
            let mut r = 0;
            while r < rows.len() {
                if let Some(finish) = rows[r].done {
                    let row = rows.remove(r);
                    seqs.remove(r);
                    rngs.remove(r);
                    next.remove(r);
                    let text = self.tok.decode_lossy(&row.ids);
                    each(Answer {
                        index: row.index,
                        prompt_ids: row.prompt_ids,
                        ids: row.ids,
                        text,
                        finish,
                        watermarked_steps: row.watermarked,
                        entropies: row.entropies,
                        logprobs: row.logprobs,
                    })?;
                } else {
                    r += 1;
                }
            }
            if rows.is_empty() {
                continue;
            }
            let mut caches: Vec<KvCache> = rows
                .iter_mut()
                .map(|r| std::mem::replace(&mut r.cache, KvCache::empty()))
                .collect();
            let logits = self.model.decode(&mut caches, &next);
            for (row, cache) in rows.iter_mut().zip(caches) {
                row.cache = cache;
            }
            let logits = logits?;
            for (row, l) in rows.iter_mut().zip(logits.chunks(vocab)) {
                row.next_logits.clear();
                row.next_logits.extend_from_slice(l);
            }
        }
    }

    /// Temperature, top-k and top-p applied to `logits`, written to `out` (excluded tokens get
    /// `-inf`). `order` is scratch space.
    fn shape(&self, logits: &[f32], out: &mut Vec<f32>, order: &mut Vec<u32>) {
        let s = &self.sampling;
        out.clear();
        out.extend(logits.iter().map(|&l| l / s.temperature));
        shape_in_place(out, s.top_k, s.top_p, order);
    }
}

/// ln p(token) under the softmax of `logits`.
fn token_logprob(logits: &[f32], token: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    logits[token as usize] as f64 - max - sum.ln()
}

/// Masks (`-inf`) every token outside the top `k` (0 = no limit) and outside the nucleus of
/// probability `top_p` (1 = no limit). Ties at the boundary are kept in id order.
pub fn shape_in_place(logits: &mut [f32], top_k: usize, top_p: f32, order: &mut Vec<u32>) {
    let n = logits.len();
    let k = if top_k == 0 { n } else { top_k.min(n) };
    if k >= n && top_p >= 1.0 {
        return;
    }
    order.clear();
    order.extend(0..n as u32);
    let by_logit = |a: &u32, b: &u32| {
        logits[*b as usize]
            .total_cmp(&logits[*a as usize])
            .then(a.cmp(b))
    };
    if k < n {
        order.select_nth_unstable_by(k - 1, by_logit);
        order.truncate(k);
    }
    order.sort_unstable_by(by_logit);
    let mut keep = order.len();
    if top_p < 1.0 {
        let max = logits[order[0] as usize] as f64;
        let weights: Vec<f64> = order
            .iter()
            .map(|&i| (logits[i as usize] as f64 - max).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        for (j, w) in weights.iter().enumerate() {
            acc += w / total;
            if acc >= top_p as f64 {
                keep = j + 1;
                break;
            }
        }
    }
    let mut kept = vec![false; n];
    for &i in &order[..keep] {
        kept[i as usize] = true;
    }
    for (l, k) in logits.iter_mut().zip(kept) {
        if !k {
            *l = f32::NEG_INFINITY;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn top_k_and_top_p_mask_the_tail() {
        let mut order = Vec::new();
        let mut l = vec![0.0f32, 3.0, 1.0, 2.0];
        shape_in_place(&mut l, 2, 1.0, &mut order);
        assert_eq!(l, vec![f32::NEG_INFINITY, 3.0, f32::NEG_INFINITY, 2.0]);
        // One token holds > 99% of the mass: top-p 0.9 keeps it alone.
        let mut l = vec![0.0f32, 10.0, 0.0];
        shape_in_place(&mut l, 0, 0.9, &mut order);
        assert_eq!(l, vec![f32::NEG_INFINITY, 10.0, f32::NEG_INFINITY]);
        let mut l = vec![1.0f32, 1.0];
        shape_in_place(&mut l, 0, 1.0, &mut order);
        assert_eq!(l, vec![1.0, 1.0]);
    }
}
