//! The watermark's share of a real decode step (`provmark bench serving --model`).
//!
//! Each step runs the model's forward pass once (batch 1), then, on the same logits, the plain
//! sampler, the green-list selection and the Gumbel selection, each timed on its own (with its
//! own sequence state and RNG, so each method's sequence is continued from the plain one's token
//! and the three see identical inputs). The share of a method is its selection time minus plain
//! sampling's, over a whole unwatermarked step (forward + plain sampling) — all measured in the
//! same steps of the same run, so machine drift cancels in the ratio.

use std::time::Instant;

use provmark_embed::{Dist, Embedder, Scratch};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::{ChatTemplate, Llama, Result};
use provmark_tokenize::Tokenizer;

/// Medians over the measured steps.
#[derive(Clone, Debug, Serialize)]
pub struct DecodeBench {
    /// Decode steps measured.
    pub steps: usize,
    /// Median forward pass (ms).
    pub forward_ms: f64,
    /// Median plain sampling (µs).
    pub plain_us: f64,
    /// Median green-list selection (µs).
    pub green_us: f64,
    /// Median Gumbel selection (µs).
    pub gumbel_us: f64,
    /// (green − plain) / (forward + plain), from the medians.
    pub green_step_share: f64,
    /// (gumbel − plain) / (forward + plain), from the medians.
    pub gumbel_step_share: f64,
    /// Unwatermarked decode tokens per second (1 / (forward + plain)).
    pub decode_tokens_per_s: f64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Runs `steps` decode steps (restarting the conversation when it ends) and times them.
pub fn decode_step_costs(
    model: &Llama,
    tok: &Tokenizer,
    green: &Embedder,
    gumbel: &Embedder,
    steps: usize,
) -> Result<DecodeBench> {
    let template = ChatTemplate::for_tokenizer(tok)?;
    let prompts = [
        "Explain how a refrigerator keeps food cold.",
        "Write a short story about a dog who learns to swim.",
        "What should I pack for a weekend hiking trip?",
    ];
    let vocab = model.config().vocab_size;
    let mut scratch = Scratch::with_capacity(vocab);
    let (mut f, mut p, mut g, mut u) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut k = 0;
    while f.len() < steps {
        let mut ids = template.user_turn(tok, prompts[k % prompts.len()]);
        k += 1;
        let mut cache = model.new_cache();
        let mut logits = model.prefill(&mut cache, &ids)?;
        let mut seq_g = green.new_sequence(512);
        let mut seq_u = gumbel.new_sequence(512);
        for _ in 0..256 {
            if f.len() >= steps {
                break;
            }
            let ctx = &ids[ids.len() - green.context_width()..];
            let mut r1 = rng.clone();
            let t = Instant::now();
            let token =
                provmark_embed::sample_plain(vocab, Dist::Logits(&logits), &mut scratch, &mut rng)?;
            p.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            let _ = green.choose(
                &mut seq_g,
                ctx,
                Dist::Logits(&logits),
                &mut scratch,
                &mut r1,
            )?;
            g.push(t.elapsed().as_secs_f64() * 1e6);
            let ctx = &ids[ids.len() - gumbel.context_width()..];
            let t = Instant::now();
            let _ = gumbel.choose(
                &mut seq_u,
                ctx,
                Dist::Logits(&logits),
                &mut scratch,
                &mut r1,
            )?;
            u.push(t.elapsed().as_secs_f64() * 1e6);
            if template.is_end(token) {
                break;
            }
            ids.push(token);
            let t = Instant::now();
            logits = model.decode(std::slice::from_mut(&mut cache), &[token])?;
            f.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let forward_ms = median(&mut f);
    let plain_us = median(&mut p);
    let green_us = median(&mut g);
    let gumbel_us = median(&mut u);
    let step_us = forward_ms * 1e3 + plain_us;
    Ok(DecodeBench {
        steps: f.len(),
        forward_ms,
        plain_us,
        green_us,
        gumbel_us,
        green_step_share: (green_us - plain_us) / step_us,
        gumbel_step_share: (gumbel_us - plain_us) / step_us,
        decode_tokens_per_s: 1e6 / step_us,
    })
}
