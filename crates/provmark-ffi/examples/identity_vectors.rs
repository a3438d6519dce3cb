//! Writes the Python/Rust bit-identity vectors: `identity_vectors DIR [CASES]` writes two
//! profiles (`green.json`, `gumbel.json`, fixed test keys) and `vectors.json`, random batches
//! with what the Rust serving library gives for them — the biased logits of each row (green;
//! every row a fresh sequence) and the token of each row chosen with one ChaCha8 RNG seeded
//! by the case's seed, rows in order. `crates/provmark-python/tests/test_identity.py` replays
//! them through the Python package.

use std::path::PathBuf;

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_embed::{Dist, Embedder, Scratch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: identity_vectors DIR [CASES]")?);
    let n: usize = args.next().map_or(Ok(300), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0x1DE7);
    let mut cases = Vec::new();
    for (name, scheme) in [("green", Scheme::DEFAULT_GREEN), ("gumbel", Scheme::Gumbel)] {
        let profile = Profile::from_secret(
            SecretKey::from_bytes([0x3c; 32]),
            scheme,
            2,
            TokenizerSpec::default_openai(),
        )?;
        let path = dir.join(format!("{name}.json"));
        let _ = std::fs::remove_file(&path);
        profile.save_new(&path)?;
        for i in 0..n {
            cases.push(case(&profile, name, i, &mut rng)?);
        }
    }
    std::fs::write(dir.join("vectors.json"), serde_json::to_vec(&cases)?)?;
    Ok(())
}

fn case(
    profile: &Profile,
    name: &str,
    i: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Value, Box<dyn std::error::Error>> {
    let rows = rng.random_range(1..5usize);
    let vocab = rng.random_range(2..3000usize);
    let len = profile.context_width + rng.random_range(0..6usize);
    let account = (i % 3 == 1).then(|| format!("acct-{}", rng.random::<u16>()));
    let seed: u64 = rng.random();
    let temp: f32 = rng.random_range(0.2..4.0);
    let ids: Vec<Vec<u32>> = (0..rows)
        .map(|_| {
            (0..len)
                .map(|_| rng.random_range(0..vocab as u32))
                .collect()
        })
        .collect();
    let logits: Vec<Vec<f32>> = (0..rows)
        .map(|_| {
            let mut row: Vec<f32> = (0..vocab)
                .map(|_| {
                    if rng.random_ratio(1, 20) {
                        f32::NEG_INFINITY
                    } else {
                        rng.random_range(-10.0f32..10.0) / temp
                    }
                })
                .collect();
            row[rng.random_range(0..vocab)] = 1.0; // never all masked
            row
        })
        .collect();
    let emb = Embedder::from_profile(profile, account.as_deref(), vocab)?;
    let biased: Vec<Value> = ids
        .iter()
        .zip(&logits)
        .map(|(ctx, row)| {
            let mut seq = emb.new_sequence(16);
            let mut out = row.clone();
            match emb.bias_logits(&mut seq, ctx, &mut out) {
                Ok(true) => json!(out.iter().map(|x| x.to_bits()).collect::<Vec<u32>>()),
                _ => Value::Null,
            }
        })
        .collect();
    let mut scratch = Scratch::with_capacity(vocab);
    let mut choose_rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tokens = Vec::new();
    for (ctx, row) in ids.iter().zip(&logits) {
        let mut seq = emb.new_sequence(16);
        let c = emb.choose(
            &mut seq,
            ctx,
            Dist::Logits(row),
            &mut scratch,
            &mut choose_rng,
        )?;
        tokens.push(c.token);
    }
    let bits = |rows: &[Vec<f32>]| -> Vec<Vec<u32>> {
        rows.iter()
            .map(|r| r.iter().map(|x| x.to_bits()).collect())
            .collect()
    };
    Ok(json!({
        "profile": name,
        "account": account,
        "seed": seed,
        "input_ids": ids,
        "logits_bits": bits(&logits),
        "biased_bits": biased,
        "tokens": tokens,
    }))
}
