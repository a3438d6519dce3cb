//! `provmark generate`: chat answers from a real model (SmolLM2 GGUF on candle), every token
//! chosen by the serving library's call — watermarked with the profile's key (or an account's
//! subkey) unless `--no-watermark`.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use provmark_embed::Embedder;
use provmark_model::{Generator, Sampling};
use provmark_tokenize::Tokenizer;
use serde::Serialize;

use crate::common::load_profile;

/// Arguments of `provmark generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Watermark profile, made for this model's tokenizer (`keygen --model GGUF`).
    #[arg(long)]
    profile: PathBuf,
    /// The GGUF model (after tools/fetch-model.sh: models/SmolLM2-135M-Instruct.Q8_0.gguf).
    #[arg(long, default_value = provmark_model::DEFAULT_MODEL)]
    model: PathBuf,
    /// One user message to answer.
    #[arg(long, conflicts_with = "prompts")]
    prompt: Option<String>,
    /// A JSONL file of prompts (`{"prompt": "…"}` per line; `-` reads standard input).
    #[arg(long, value_name = "FILE")]
    prompts: Option<PathBuf>,
    /// Watermark with this account's subkey instead of the master key.
    #[arg(long, conflicts_with = "no_watermark")]
    account: Option<String>,
    /// Generate clean (unwatermarked) answers with the same model, sampling and seed.
    #[arg(long)]
    no_watermark: bool,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Sampling temperature (> 0). The default 0.7 keeps this 135M-parameter model fluent; at 1.0
    /// over the full vocabulary its answers wander.
    #[arg(long, default_value_t = 0.7, allow_negative_numbers = true)]
    temperature: f32,
    /// Nucleus sampling: keep the most likely tokens up to this probability (1 = off).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    top_p: f32,
    /// Keep only the k most likely tokens (0 = off).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Seed; answer i is a deterministic function of (model, key, seed, i, prompt).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Answers decoded together per forward pass (the same answers at any batch size).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// One JSON object per answer: {"index", "prompt", "text", "tokens", "account",
    /// "watermarked", "finish"}.
    #[arg(long)]
    jsonl: bool,
}

#[derive(Serialize)]
struct Line<'a> {
    index: usize,
    prompt: &'a str,
    text: &'a str,
    tokens: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
    watermarked: bool,
    finish: provmark_model::Finish,
    seed: u64,
}

/// Reads `{"prompt": …}` lines (blank lines skipped).
pub fn read_prompts(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        ))
    };
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: not JSON", path.display(), i + 1))?;
        let Some(p) = v.get("prompt").and_then(|p| p.as_str()) else {
            bail!(
                "{} line {}: no string field \"prompt\"",
                path.display(),
                i + 1
            );
        };
        out.push(p.to_string());
    }
    if out.is_empty() {
        bail!("{} holds no prompts", path.display());
    }
    Ok(out)
}

/// Runs `generate`.
pub fn run(a: GenerateArgs) -> anyhow::Result<ExitCode> {
    let prompts = match (&a.prompt, &a.prompts) {
        (Some(p), None) => vec![p.clone()],
        (None, Some(f)) => read_prompts(f)?,
        _ => bail!("give --prompt TEXT or --prompts FILE.jsonl"),
    };
    let sampling = Sampling {
        max_tokens: a.max_tokens,
        temperature: a.temperature,
        top_p: a.top_p,
        top_k: a.top_k,
        seed: a.seed,
    };
    sampling.validate()?;
    let profile = load_profile(&a.profile)?;
    let model = provmark_model::load(&a.model)?;
    let tok = Tokenizer::from_file(&a.model)
        .with_context(|| format!("cannot read the tokenizer of {}", a.model.display()))?;
    if tok.spec() != profile.tokenizer && !same_identity(&tok, &profile) {
        bail!(
            "the profile was made for {}, but {} has {}: make a profile with `provmark keygen --model {}`",
            profile.tokenizer,
            a.model.display(),
            tok.spec(),
            a.model.display()
        );
    }
    let embedder = if a.no_watermark {
        None
    } else {
        Some(
            Embedder::from_profile(&profile, a.account.as_deref(), model.config().vocab_size)?
                .with_skip_repeated_contexts(profile.skip_repeated_contexts),
        )
    };
    let gen = Generator::new(&model, &tok, embedder.as_ref(), sampling)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut answers = Vec::new();
    let mut write_err = None;
    gen.run(&prompts, a.batch, |ans| {
        if a.jsonl {
            let line = Line {
                index: ans.index,
                prompt: &prompts[ans.index],
                text: &ans.text,
                tokens: ans.ids.len(),
                account: a.account.as_deref(),
                watermarked: embedder.is_some(),
                finish: ans.finish,
                seed: a.seed,
            };
            let r = serde_json::to_writer(&mut out, &line)
                .map_err(std::io::Error::from)
                .and_then(|_| writeln!(out))
                .and_then(|_| out.flush());
            if let Err(e) = r {
                write_err.get_or_insert(e);
            }
        } else {
            answers.push(ans);
        }
        Ok(())
    })?;
    if let Some(e) = write_err {
        return Err(e).context("cannot write to standard output");
    }
    answers.sort_by_key(|a| a.index);
    for (k, ans) in answers.iter().enumerate() {
        if k > 0 {
            writeln!(out)?;
        }
        writeln!(out, "{}", ans.text)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The profile's tokenizer is this one (same hash and size; the path hint may differ).
pub(crate) fn same_identity(tok: &Tokenizer, profile: &provmark_core::Profile) -> bool {
    use provmark_core::TokenizerSpec::HuggingFace;
    match (tok.spec(), &profile.tokenizer) {
        (
            HuggingFace {
                sha256: a,
                vocab_size: va,
                ..
            },
            HuggingFace {
                sha256: b,
                vocab_size: vb,
                ..
            },
        ) => a.eq_ignore_ascii_case(b) && va == *vb,
        _ => false,
    }
}
