//! `provmark generate`: text from the *simulated* language model (a simulation for demos and
//! tests, not a real model), watermarked with a profile unless `--no-watermark`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use provmark_embed::Embedder;
use provmark_sim::{Generator, SimConfig, SimLm};
use provmark_tokenize::Tokenizer;
use serde::Serialize;

use crate::common::load_profile;

/// Arguments of `provmark generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Watermark profile (its tokenizer is the simulated model's vocabulary).
    #[arg(long)]
    profile: PathBuf,
    /// Watermark with this account's subkey instead of the master key.
    #[arg(long, conflicts_with = "no_watermark")]
    account: Option<String>,
    /// Tokens per sample.
    #[arg(long, default_value_t = 200)]
    tokens: usize,
    /// Number of samples.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Sampling seed; sample k is a deterministic function of (model, key, seed, k).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Generate clean (unwatermarked) text with the same model and seed.
    #[arg(long)]
    no_watermark: bool,
    /// One JSON object per sample: {"id", "text", "tokens", "account", "watermarked"}.
    #[arg(long)]
    jsonl: bool,
    /// Which simulated model (its seed).
    #[arg(long, default_value_t = 0)]
    model_seed: u64,
    /// Sampling temperature of the simulated model.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    temperature: f64,
    /// Hugging Face tokenizer.json to use instead of the path recorded in the profile.
    #[arg(long, value_name = "FILE")]
    tokenizer: Option<PathBuf>,
}

#[derive(Serialize)]
struct Line<'a> {
    id: String,
    text: &'a str,
    tokens: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
    watermarked: bool,
}

/// Runs `generate`.
pub fn run(a: GenerateArgs) -> anyhow::Result<ExitCode> {
    if a.tokens == 0 {
        bail!("--tokens must be at least 1");
    }
    let profile = load_profile(&a.profile)?;
    let tok = Tokenizer::for_profile(&profile.tokenizer, a.tokenizer.as_deref())
        .context("cannot load the profile's tokenizer")?;
    let config = SimConfig {
        temperature: a.temperature,
        ..SimConfig::new(a.model_seed)
    };
    let lm = SimLm::new(config, &tok)?;
    let embedder = if a.no_watermark {
        None
    } else {
        Some(
            Embedder::from_profile(&profile, a.account.as_deref(), tok.vocab_size())?
                .with_skip_repeated_contexts(profile.skip_repeated_contexts),
        )
    };
    let mut gen = Generator::new(&lm, embedder.as_ref())?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for k in 0..a.count {
        let s = gen.sample(a.seed, k, a.tokens)?;
        if a.jsonl {
            let line = Line {
                id: format!("sample-{}-{k}", a.seed),
                text: &s.text,
                tokens: s.ids.len(),
                account: a.account.as_deref(),
                watermarked: embedder.is_some(),
            };
            serde_json::to_writer(&mut out, &line)?;
            writeln!(out)?;
        } else {
            if k > 0 {
                writeln!(out)?;
            }
            writeln!(out, "{}", s.text.trim_start())?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
