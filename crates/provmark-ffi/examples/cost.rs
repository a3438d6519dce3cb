//! Per-token cost of the Rust call, for the Rust / C / Python overhead table
//! (`crates/provmark-python/bench/cost.py` runs it beside `examples/c/cost.c` and the Python
//! `Sampler`). `cost PROFILE VOCAB TOKENS` prints `{"lang":"rust","vocab":…,"ns_per_token":…}`.
//!
//! Each step: the same pseudo-random logits (xorshift, identical in the three programs), the
//! growing history as context, one `Embedder::choose` with a sampler-owned ChaCha8 RNG.

use std::time::Instant;

use provmark_core::Profile;
use provmark_embed::{Dist, Embedder, Scratch};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        return Err("usage: cost PROFILE VOCAB TOKENS".into());
    }
    let (profile, _) = Profile::load(args[1].as_ref())?;
    let vocab: usize = args[2].parse()?;
    let tokens: usize = args[3].parse()?;
    let logits = logits(vocab);
    let emb = Embedder::from_profile(&profile, Some("account-42"), vocab)?;
    let mut seq = emb.new_sequence(tokens + 16);
    let mut scratch = Scratch::with_capacity(vocab);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut history = vec![11u32, 12];
    let start = Instant::now();
    for _ in 0..tokens {
        let c = emb.choose(
            &mut seq,
            &history,
            Dist::Logits(&logits),
            &mut scratch,
            &mut rng,
        )?;
        history.push(c.token);
    }
    let ns = start.elapsed().as_nanos() as f64 / tokens as f64;
    println!("{{\"lang\":\"rust\",\"vocab\":{vocab},\"ns_per_token\":{ns:.1}}}");
    Ok(())
}

/// The benchmark's logits: xorshift64 from a fixed seed, (x >> 40) % 1000 / 250.
fn logits(vocab: usize) -> Vec<f32> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..vocab)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) % 1000) as f32 / 250.0
        })
        .collect()
}
