//! Entropy profile and re-tokenization rate of the simulated language model.
//!
//! `cargo run --release -p provmark-sim --example sim_stats [-- SAMPLES TOKENS SEED]`
//! (defaults: 200 samples × 200 tokens, seed 1).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_embed::Embedder;

use provmark_sim::stats::{retokenization, EntropySummary, Retokenization};
use provmark_sim::{sample_rng, EntropyProfile, Generator, SimConfig, SimLm, SAMPLE_PROMPT_TOKENS};
use provmark_tokenize::Tokenizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let samples: u64 = args.first().map_or(Ok(200), |s| s.parse())?;
    let tokens: usize = args.get(1).map_or(Ok(200), |s| s.parse())?;
    let seed: u64 = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let tok = Tokenizer::openai("o200k_base")?;
    println!("provmark-sim (a simulated language model, not a real one) over o200k_base");
    println!("{samples} samples x {tokens} tokens, seed {seed}, top-k 50, order 3\n");
    println!(
        "{:>5} {:>7} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9}",
        "T", "mean", "median", "p25", "p75", "p80", "p90", "p95", "p99", "<0.1nats", "<0.01nats"
    );
    let mut retok = Retokenization::default();
    let mut first_text = String::new();
    let mut freq: HashMap<u32, usize> = HashMap::new();
    let chat = |t: f64| SimConfig {
        temperature: t,
        ..SimConfig::new(seed)
    };
    // Sensitivity row: the base-model profile (top-1000 candidates), reported after the chat rows.
    let base = SimConfig {
        entropy: EntropyProfile::base_model(),
        top_k: 1000,
        ..SimConfig::new(seed)
    };
    for (label, cfg) in [("1.00", chat(1.0)), ("0.70", chat(0.7)), ("base", base)] {
        let chat_t1 = label == "1.00";
        let lm = SimLm::new(cfg, &tok)?;
        let mut g = Generator::new(&lm, None)?;
        let mut ent = Vec::with_capacity(samples as usize * tokens);
        let mut ids = Vec::new();
        for k in 0..samples {
            // Exactly what `Generator::sample` does: a synthetic prompt, then the response.
            let mut rng = sample_rng(seed, k);
            let mut prompt = Vec::new();
            lm.prompt_into(&mut rng, SAMPLE_PROMPT_TOKENS, &mut prompt);
            g.generate_observed(&prompt, tokens, &mut rng, &mut ids, |c, _| {
                ent.push(c.entropy())
            })?;
            if chat_t1 {
                retok.add(retokenization(&tok, &ids));
                for &id in &ids {
                    *freq.entry(id).or_default() += 1;
                }
                if k == 0 {
                    first_text = tok.decode(&ids)?;
                }
            }
        }
        let s = EntropySummary::from_values(&mut ent).ok_or("no steps")?;
        let q = |p| s.quantile(p).unwrap_or(f64::NAN);
        println!(
            "{:>5} {:>7.3} {:>8.4} {:>7.4} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>9.3} {:>9.3}",
            label,
            s.mean,
            s.median,
            q(0.25),
            q(0.75),
            q(0.80),
            q(0.90),
            q(0.95),
            q(0.99),
            s.share_below_0_1,
            s.share_below_0_01
        );
    }
    println!(
        "\nre-tokenization (T=1): {} of {} positions preserved = {:.5}; {} of {} samples identical",
        retok.preserved,
        retok.positions,
        retok.rate(),
        retok.identical_sequences,
        retok.sequences
    );
    let mut top: Vec<(u32, usize)> = freq.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let total = retok.positions as f64;
    print!("most frequent tokens (T=1):");
    for &(id, n) in top.iter().take(10) {
        print!(" {:?} {:.3}", tok.decode(&[id])?, n as f64 / total);
    }
    println!("\ndistinct tokens emitted (T=1): {}", top.len());
    println!("\nsample 0 (T=1):\n{first_text}");

    // Watermarked generation through provmark-embed (demo key, not a secret), h = 2.
    println!("\nwatermarked vs clean, T=1 (demo key; green share over unique (2-token context, token) pairs; ns/token is one short timing run, not a benchmark):");
    let lm = SimLm::new(SimConfig::new(seed), &tok)?;
    for (name, scheme) in [
        ("clean", None),
        ("green g=0.25 d=2", Some(Scheme::DEFAULT_GREEN)),
        ("gumbel", Some(Scheme::Gumbel)),
    ] {
        let green_profile = Profile::from_secret(
            SecretKey::from_bytes([42; 32]),
            Scheme::DEFAULT_GREEN,
            2,
            TokenizerSpec::default_openai(),
        )?;
        let embedder = match scheme {
            Some(s) => {
                let p = Profile::from_secret(
                    SecretKey::from_bytes([42; 32]),
                    s,
                    2,
                    TokenizerSpec::default_openai(),
                )?;
                Some(Embedder::from_profile(&p, None, tok.vocab_size())?)
            }
            None => None,
        };
        let wm = green_profile.watermark(None);
        let mut g = Generator::new(&lm, embedder.as_ref())?;
        let mut seen = HashSet::new();
        let (mut green, mut n, mut marked) = (0u64, 0u64, 0usize);
        let t0 = Instant::now();
        let mut all = Vec::new();
        for k in 0..samples {
            let s = g.sample(seed, k, tokens)?;
            marked += g.watermarked_steps();
            all.push(s.ids);
        }
        let ns = t0.elapsed().as_nanos() as f64 / (samples as f64 * tokens as f64);
        for ids in &all {
            for w in ids.windows(3) {
                if seen.insert((w[0], w[1], w[2])) {
                    n += 1;
                    green += u64::from(wm.is_green(&wm.absorb(&w[..2]), w[2]));
                }
            }
        }
        println!(
            "  {name:<17} green share {:.4} over {n} unique pairs; watermarked steps {:.3}; {ns:.0} ns/token",
            green as f64 / n as f64,
            marked as f64 / (samples as f64 * tokens as f64)
        );
    }
    Ok(())
}
