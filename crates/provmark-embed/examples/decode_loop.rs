//! A decode loop using provmark-embed with a TOY logits source.
//!
//! The "model" below is a toy: a deterministic function of the last two tokens that produces
//! peaked logits over a 5,000-token vocabulary. It is not a language model; it stands where a
//! real model's forward pass would return its logits (or its top-k candidates).
//!
//! Run: `cargo run -p provmark-embed --example decode_loop`

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_embed::{Dist, Embedder, Scratch};
use rand::{rngs::StdRng, SeedableRng};

const VOCAB: usize = 5_000;

/// TOY logits source (not a model): a few favoured tokens chosen from the last two ids.
fn toy_logits(prev: &[u32], out: &mut [f32]) {
    let seed = prev
        .iter()
        .fold(0x9E37_79B9u32, |h, &t| (h ^ t).wrapping_mul(0x0100_0193));
    for (i, l) in out.iter_mut().enumerate() {
        let h = (seed ^ i as u32).wrapping_mul(0x2C1B_3C6D) >> 8;
        *l = -((h % 1000) as f32) / 120.0; // tail in (−8.3, 0]
    }
    for k in 0..4u32 {
        let fav = (seed.rotate_left(7 * k) % VOCAB as u32) as usize;
        out[fav] = 6.0 - k as f32;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // In production the profile comes from `Profile::load`; a fixed secret keeps this demo
    // deterministic.
    for scheme in [Scheme::DEFAULT_GREEN, Scheme::Gumbel] {
        let profile = Profile::from_secret(
            SecretKey::from_bytes([42; 32]),
            scheme,
            2,
            TokenizerSpec::default_openai(),
        )?;
        // Once per request: derive the account's subkey.
        let embedder = Embedder::from_profile(&profile, Some("account-7"), VOCAB)?;
        // Once per worker: scratch; once per sequence: the repeated-context memory.
        let max_tokens = 200;
        let mut scratch = Scratch::with_capacity(VOCAB);
        let mut seq = embedder.new_sequence(max_tokens);
        let mut rng = StdRng::seed_from_u64(7);

        let mut tokens: Vec<u32> = vec![101, 2023]; // the prompt's last tokens supply the context
        tokens.reserve(max_tokens);
        let mut logits = vec![0f32; VOCAB];
        let mut watermarked = 0;
        for _ in 0..max_tokens {
            toy_logits(&tokens[tokens.len() - 2..], &mut logits);
            let choice = embedder.choose(
                &mut seq,
                &tokens,
                Dist::Logits(&logits),
                &mut scratch,
                &mut rng,
            )?;
            watermarked += choice.watermarked as usize;
            tokens.push(choice.token);
        }

        // What the detector will compute: score each first-occurrence (context, token) once.
        let wm = embedder.watermark();
        let mut seen = std::collections::HashSet::new();
        let (mut n, mut score) = (0usize, 0.0f64);
        for w in tokens.windows(3) {
            if seen.insert((w[0], w[1], w[2])) {
                n += 1;
                score += wm.score(&wm.absorb(&w[..2]), w[2]);
            }
        }
        println!(
            "{}: {} tokens generated, {} watermarked (the rest repeated a context); \
             detector view: {} unique scored pairs, statistic {:.1} (null mean {:.1})",
            scheme.name(),
            max_tokens,
            watermarked,
            n,
            score,
            match scheme {
                Scheme::Green { gamma, .. } => gamma * n as f64,
                _ => n as f64,
            }
        );
    }
    Ok(())
}
