//! `provmark bench serving`: the serving cost of the watermark on this machine.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use provmark_embed::bench::{bench_serving, BenchConfig};

/// Arguments of `provmark bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(clap::Subcommand)]
enum BenchWhat {
    /// Median nanoseconds per generated token: plain sampling, green-list and Gumbel selection,
    /// measured in interleaved rounds of the same run.
    Serving {
        /// Vocabulary size (repeatable; default 50000, 128000 and 200000).
        #[arg(long = "vocab")]
        vocab: Vec<usize>,
        /// Candidate-list length (top-k); without it the full vocabulary is used. Repeatable.
        #[arg(long = "candidates")]
        candidates: Vec<usize>,
        /// Also measure the full vocabulary when --candidates is given.
        #[arg(long)]
        full: bool,
        /// Interleaved rounds per configuration.
        #[arg(long, default_value_t = 15)]
        rounds: usize,
        /// Milliseconds per method per round.
        #[arg(long, default_value_t = 40)]
        round_ms: u64,
        /// One JSON object per configuration (one line each).
        #[arg(long)]
        json: bool,
        /// Measure whole decode steps of this GGUF model instead (forward pass + selection at
        /// batch 1): the watermark's share of a step, against plain sampling in the same steps.
        #[arg(long, value_name = "GGUF")]
        model: Option<std::path::PathBuf>,
        /// --model: decode steps measured.
        #[arg(long, default_value_t = 300)]
        steps: usize,
    },
}

/// Runs `bench`.
pub fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let BenchWhat::Serving {
        vocab,
        candidates,
        full,
        rounds,
        round_ms,
        json,
        model,
        steps,
    } = a.what;
    if let Some(path) = model {
        return model_bench(&path, steps, json);
    }
    let vocabs = if vocab.is_empty() {
        vec![50_000, 128_000, 200_000]
    } else {
        vocab
    };
    let mut cands: Vec<Option<usize>> = candidates.iter().map(|&c| Some(c)).collect();
    if cands.is_empty() || full {
        cands.insert(0, None);
    }
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let cfg = BenchConfig {
        rounds,
        round_time: Duration::from_millis(round_ms),
        seed: 1,
    };
    if !json {
        println!("| vocab | candidates | plain ns/token | green ns/token | gumbel ns/token | green / plain | gumbel / plain |");
        println!("|---:|---:|---:|---:|---:|---:|---:|");
    }
    for &v in &vocabs {
        for &c in &cands {
            if c.is_some_and(|c| c > v) {
                continue;
            }
            let r = bench_serving(v, c, &cfg)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "| {} | {} | {:.0} | {:.0} | {:.0} | {:.3}x | {:.3}x |",
                    r.vocab,
                    c.map_or("full".to_string(), |c| c.to_string()),
                    r.plain_ns,
                    r.green_ns,
                    r.gumbel_ns,
                    r.green_ratio,
                    r.gumbel_ratio
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `bench serving --model`: the watermark's share of a real decode step.
fn model_bench(path: &std::path::Path, steps: usize, json: bool) -> anyhow::Result<ExitCode> {
    use provmark_core::{Profile, Scheme, SecretKey};
    if steps == 0 {
        bail!("--steps must be at least 1");
    }
    let model = provmark_model::load(path)?;
    let tok = provmark_tokenize::Tokenizer::from_file(path)?;
    let vocab = model.config().vocab_size;
    // Throwaway keys: only the cost is measured.
    let key = |s| Profile::from_secret(SecretKey::from_bytes([9; 32]), s, 2, tok.spec());
    let green = provmark_embed::Embedder::from_profile(&key(Scheme::DEFAULT_GREEN)?, None, vocab)?;
    let gumbel = provmark_embed::Embedder::from_profile(&key(Scheme::Gumbel)?, None, vocab)?;
    let r = provmark_model::bench::decode_step_costs(&model, &tok, &green, &gumbel, steps)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} decode steps of {} (batch 1): forward {:.2} ms, plain sampling {:.1} us, green {:.1} us, gumbel {:.1} us",
            r.steps,
            path.display(),
            r.forward_ms,
            r.plain_us,
            r.green_us,
            r.gumbel_us
        );
        println!(
            "watermark share of a decode step: green {:.3}%  gumbel {:.3}%  ({:.1} tokens/s unwatermarked)",
            r.green_step_share * 100.0,
            r.gumbel_step_share * 100.0,
            r.decode_tokens_per_s
        );
    }
    Ok(ExitCode::SUCCESS)
}
