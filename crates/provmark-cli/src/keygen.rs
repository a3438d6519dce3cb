//! `provmark keygen`: create a profile from the OS RNG.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use provmark_core::{Profile, Scheme, DEFAULT_CONTEXT_WIDTH};

/// Arguments of `provmark keygen`.
#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Where to write the new profile (mode 0600; an existing file is never overwritten).
    #[arg(long)]
    out: PathBuf,
    /// Watermark scheme.
    #[arg(long, value_enum, default_value_t = SchemeName::Green)]
    scheme: SchemeName,
    /// Green fraction γ of the green-list scheme.
    #[arg(long, default_value_t = 0.25)]
    gamma: f64,
    /// Logit bias δ of the green-list scheme.
    #[arg(long, default_value_t = 2.0)]
    delta: f64,
    /// Context width h (tokens of context that key each value).
    #[arg(long, default_value_t = DEFAULT_CONTEXT_WIDTH)]
    context_width: usize,
    /// Tokenizer of the watermarked model: `o200k_base`, `cl100k_base`, or a path to a
    /// Hugging Face tokenizer.json.
    #[arg(long, default_value = "o200k_base")]
    tokenizer: String,
    /// Watermark repeated contexts too (default: repeats within one generation are sampled
    /// without the watermark).
    #[arg(long)]
    no_skip_repeated: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SchemeName {
    Green,
    Gumbel,
}

/// Runs `keygen`: prints the key id, never the secret.
pub fn run(a: KeygenArgs) -> anyhow::Result<ExitCode> {
    let scheme = match a.scheme {
        SchemeName::Green => Scheme::Green {
            gamma: a.gamma,
            delta: a.delta,
        },
        SchemeName::Gumbel => Scheme::Gumbel,
    };
    let tokenizer = provmark_tokenize::Tokenizer::from_arg(&a.tokenizer)
        .with_context(|| format!("cannot load tokenizer `{}`", a.tokenizer))?;
    let mut profile = Profile::generate(scheme, a.context_width, tokenizer.spec())?;
    profile.skip_repeated_contexts = !a.no_skip_repeated;
    profile.save_new(&a.out)?;
    println!("{}", profile.key_id());
    eprintln!(
        "provmark: wrote {} (scheme {}, context width {}, tokenizer {}); keep it secret",
        a.out.display(),
        profile.scheme.name(),
        profile.context_width,
        profile.tokenizer
    );
    Ok(ExitCode::SUCCESS)
}
