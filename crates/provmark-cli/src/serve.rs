//! `provmark serve`: an OpenAI-compatible chat endpoint over a real model; every answer is
//! watermarked with the key of the account it goes to and recorded in the served log.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use provmark_serve::{Accounts, Quota, ServeConfig};
use provmark_tokenize::Tokenizer;

use crate::common::load_profile;
use crate::generate_model::same_identity;

/// Arguments of `provmark serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The GGUF model (after tools/fetch-model.sh: models/SmolLM2-135M-Instruct.Q8_0.gguf).
    #[arg(long, default_value = provmark_model::DEFAULT_MODEL)]
    model: PathBuf,
    /// Watermark profile, made for this model's tokenizer (`keygen --model GGUF`).
    #[arg(long)]
    profile: PathBuf,
    /// Accounts file (`provmark accounts add --accounts FILE NAME`).
    #[arg(long)]
    accounts: PathBuf,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Allow a non-loopback address (put TLS in front: keys travel in the clear otherwise).
    #[arg(long)]
    allow_remote: bool,
    /// Served log (JSONL, appended; rotated files become NAME.N.jsonl beside it).
    #[arg(long, default_value = "served.jsonl")]
    served_log: PathBuf,
    /// Rotate the served log past this many MiB.
    #[arg(long, default_value_t = 256)]
    served_log_rotate_mib: u64,
    /// Also write each answer's text to the served log (off: fingerprints only).
    #[arg(long)]
    log_text: bool,
    /// Serve clean answers (a baseline; the served log says `watermarked: false`).
    #[arg(long)]
    no_watermark: bool,
    /// Name clients pass as `model` (default: the model file's name without .gguf).
    #[arg(long)]
    model_id: Option<String>,
    /// Requests that may wait for the model; beyond that the server answers 503.
    #[arg(long, default_value_t = 16)]
    queue: usize,
    /// Largest request body in KiB (beyond it: 413).
    #[arg(long, default_value_t = 256)]
    max_body_kib: usize,
    /// max_tokens when a request gives none.
    #[arg(long, default_value_t = 256)]
    default_max_tokens: usize,
    /// Largest max_tokens a request may ask for.
    #[arg(long, default_value_t = 1024)]
    max_tokens_limit: usize,
    /// Temperature when a request gives none (0.7 keeps this small model fluent).
    #[arg(long, default_value_t = 0.7)]
    default_temperature: f32,
    /// Tokens each account may be served per quota window (0 = no quota).
    #[arg(long, default_value_t = 0)]
    quota_tokens: u64,
    /// The quota window in seconds.
    #[arg(long, default_value_t = 86_400)]
    quota_window_secs: u64,
}

/// Runs `serve`.
pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    if !a.listen.ip().is_loopback() && !a.allow_remote {
        bail!(
            "--listen {} is not a loopback address: add --allow-remote (and terminate TLS in front)",
            a.listen
        );
    }
    let profile = load_profile(&a.profile)?;
    let accounts = Accounts::load(&a.accounts)
        .with_context(|| format!("cannot load the accounts file {}", a.accounts.display()))?;
    let model = provmark_model::load(&a.model)?;
    let tokenizer = Tokenizer::from_file(&a.model)
        .with_context(|| format!("cannot read the tokenizer of {}", a.model.display()))?;
    if tokenizer.spec() != profile.tokenizer && !same_identity(&tokenizer, &profile) {
        bail!(
            "the profile was made for {}, but {} has {}: make a profile with `provmark keygen --model {}`",
            profile.tokenizer,
            a.model.display(),
            tokenizer.spec(),
            a.model.display()
        );
    }
    let model_id = a.model_id.clone().unwrap_or_else(|| {
        a.model
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    });
    provmark_serve::run(ServeConfig {
        model,
        tokenizer,
        profile,
        accounts,
        model_id,
        listen: a.listen,
        watermark: !a.no_watermark,
        served_log: a.served_log,
        log_text: a.log_text,
        rotate_bytes: a.served_log_rotate_mib.max(1) << 20,
        queue: a.queue,
        max_body_bytes: a.max_body_kib.max(1) << 10,
        default_max_tokens: a.default_max_tokens,
        max_tokens_limit: a.max_tokens_limit,
        default_temperature: a.default_temperature,
        quota: (a.quota_tokens > 0).then(|| Quota {
            tokens: a.quota_tokens,
            window: Duration::from_secs(a.quota_window_secs.max(1)),
        }),
    })?;
    Ok(ExitCode::SUCCESS)
}
