//! `provmark keygen`: create a profile from the OS RNG, or import another system's watermark key
//! (`--import vllm|synthid`).
//!
//! Imported keys are secrets like provmark's own: they are read from a file or standard input
//! (`-`), never taken on the command line, and never printed; only the profile file holds them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use provmark_core::prf::SbwVariant;
use provmark_core::{Profile, Scheme, DEFAULT_CONTEXT_WIDTH};
use provmark_interop::import::{synthid_profile, vllm_profile, VllmImport, VllmImportAlgorithm};
use provmark_interop::keys::{read_synthid_keys, read_vllm_key};

/// Arguments of `provmark keygen`.
#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Where to write the new profile (mode 0600; an existing file is never overwritten).
    #[arg(long)]
    out: PathBuf,
    /// Import another system's watermark key instead of generating a provmark key: `vllm`
    /// (needs --key-file) or `synthid` (needs --keys-file).
    #[arg(long, value_enum, value_name = "SYSTEM")]
    import: Option<ImportKind>,
    /// Watermark scheme of a new provmark profile (default green).
    #[arg(long, value_enum)]
    scheme: Option<SchemeName>,
    /// Green fraction γ of the green-list scheme (default 0.25).
    #[arg(long)]
    gamma: Option<f64>,
    /// Logit bias δ of the green-list scheme (default 2.0).
    #[arg(long)]
    delta: Option<f64>,
    /// Context width h (tokens of context that key each value). Default: 2 for provmark
    /// profiles; vLLM's default for --import vllm (4; SBW lefthash 1).
    #[arg(long)]
    context_width: Option<usize>,
    /// Tokenizer of the watermarked model: `o200k_base`, `cl100k_base`, or a path to a
    /// Hugging Face tokenizer.json.
    #[arg(long, default_value = "o200k_base")]
    tokenizer: String,
    /// Bind the profile to this GGUF model's tokenizer (e.g. the SmolLM2 file of
    /// tools/fetch-model.sh) instead of --tokenizer.
    #[arg(long, value_name = "GGUF", conflicts_with = "tokenizer")]
    model: Option<PathBuf>,
    /// Watermark repeated contexts too (default: repeats within one generation are sampled
    /// without the watermark).
    #[arg(long)]
    no_skip_repeated: bool,
    /// --import vllm: vLLM's `algorithm`.
    #[arg(long, value_enum, default_value_t = VllmAlgorithmArg::Gumbel)]
    algorithm: VllmAlgorithmArg,
    /// --import vllm: file holding vLLM's integer watermark key (decimal or 0x hex; `-` reads
    /// standard input).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// --import vllm --algorithm dual_key_gumbel: routing probability α (default 0.1).
    #[arg(long)]
    alpha: Option<f64>,
    /// --import vllm --algorithm sbw: seeding scheme (default selfhash). `lefthash` matches
    /// vLLM's detector; `lefthash-rawsum` matches the seed vLLM's lefthash generator uses.
    #[arg(long, value_enum)]
    sbw_scheme: Option<SbwSchemeArg>,
    /// --import vllm --algorithm sbw: green fraction γ (default 0.5).
    #[arg(long)]
    sbw_gamma: Option<f64>,
    /// --import synthid: file holding the key list (JSON array or whitespace/comma separated
    /// integers; `-` reads standard input).
    #[arg(long, value_name = "FILE")]
    keys_file: Option<PathBuf>,
    /// --import synthid: n-gram length (default 5, i.e. context width 4).
    #[arg(long)]
    ngram_len: Option<usize>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SchemeName {
    Green,
    Gumbel,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ImportKind {
    Vllm,
    Synthid,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum VllmAlgorithmArg {
    Gumbel,
    #[value(name = "dual_key_gumbel", alias = "dual-key-gumbel")]
    DualKeyGumbel,
    Sbw,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SbwSchemeArg {
    Selfhash,
    Lefthash,
    #[value(name = "lefthash-rawsum")]
    LefthashRawsum,
}

/// Runs `keygen`: prints the key id, never the secret (nor an imported key).
pub fn run(a: KeygenArgs) -> anyhow::Result<ExitCode> {
    // A bundled encoding is named, not loaded (nothing to hash); a tokenizer.json is loaded for
    // its SHA-256 and vocabulary size.
    let spec = if let Some(model) = &a.model {
        model_tokenizer_spec(model)?
    } else {
        match a.tokenizer.as_str() {
            "o200k_base" | "cl100k_base" => provmark_core::TokenizerSpec::Tiktoken {
                encoding: a.tokenizer.clone(),
            },
            _ => provmark_tokenize::Tokenizer::from_arg(&a.tokenizer)
                .with_context(|| format!("cannot load tokenizer `{}`", a.tokenizer))?
                .spec(),
        }
    };
    let profile = match a.import {
        None => native(&a, spec)?,
        Some(kind) => import(&a, kind, spec)?,
    };
    profile.save_new(&a.out)?;
    println!("{}", profile.key_id());
    let imported = match a.import {
        Some(ImportKind::Vllm) => format!(", imported vLLM key, PRF {}", profile.prf),
        Some(ImportKind::Synthid) => format!(", imported SynthID-Text keys, PRF {}", profile.prf),
        None => String::new(),
    };
    eprintln!(
        "provmark: wrote {} (scheme {}, context width {}, tokenizer {}{imported}); keep it secret",
        a.out.display(),
        profile.scheme.name(),
        profile.context_width,
        profile.tokenizer
    );
    Ok(ExitCode::SUCCESS)
}

fn native(a: &KeygenArgs, tokenizer: provmark_core::TokenizerSpec) -> anyhow::Result<Profile> {
    let import_only = [
        (a.key_file.is_some(), "--key-file"),
        (a.keys_file.is_some(), "--keys-file"),
        (a.alpha.is_some(), "--alpha"),
        (a.sbw_scheme.is_some(), "--sbw-scheme"),
        (a.sbw_gamma.is_some(), "--sbw-gamma"),
        (a.ngram_len.is_some(), "--ngram-len"),
        (a.algorithm != VllmAlgorithmArg::Gumbel, "--algorithm"),
    ];
    if let Some((_, flag)) = import_only.iter().find(|(set, _)| *set) {
        bail!("{flag} needs --import vllm or --import synthid");
    }
    let scheme = match a.scheme.unwrap_or(SchemeName::Green) {
        SchemeName::Green => Scheme::Green {
            gamma: a.gamma.unwrap_or(0.25),
            delta: a.delta.unwrap_or(2.0),
        },
        SchemeName::Gumbel => {
            if a.gamma.is_some() || a.delta.is_some() {
                bail!("--gamma and --delta belong to --scheme green");
            }
            Scheme::Gumbel
        }
    };
    let mut profile = Profile::generate(
        scheme,
        a.context_width.unwrap_or(DEFAULT_CONTEXT_WIDTH),
        tokenizer,
    )?;
    profile.skip_repeated_contexts = !a.no_skip_repeated;
    Ok(profile)
}

fn import(
    a: &KeygenArgs,
    kind: ImportKind,
    tokenizer: provmark_core::TokenizerSpec,
) -> anyhow::Result<Profile> {
    let native_only = [
        (a.scheme.is_some(), "--scheme"),
        (a.gamma.is_some(), "--gamma (use --sbw-gamma)"),
        (a.delta.is_some(), "--delta"),
        (a.no_skip_repeated, "--no-skip-repeated"),
    ];
    if let Some((_, flag)) = native_only.iter().find(|(set, _)| *set) {
        bail!("{flag} does not apply to an imported key: the imported system fixes it");
    }
    match kind {
        ImportKind::Vllm => {
            if a.keys_file.is_some() || a.ngram_len.is_some() {
                bail!("--keys-file and --ngram-len belong to --import synthid");
            }
            let Some(path) = &a.key_file else {
                bail!(
                    "--import vllm needs --key-file FILE (`-` reads the key from standard input)"
                );
            };
            let opts = VllmImport {
                algorithm: match a.algorithm {
                    VllmAlgorithmArg::Gumbel => VllmImportAlgorithm::Gumbel,
                    VllmAlgorithmArg::DualKeyGumbel => VllmImportAlgorithm::DualKeyGumbel,
                    VllmAlgorithmArg::Sbw => VllmImportAlgorithm::Sbw,
                },
                context_width: a.context_width,
                alpha: a.alpha,
                sbw_variant: a.sbw_scheme.map(|s| match s {
                    SbwSchemeArg::Selfhash => SbwVariant::SelfHash,
                    SbwSchemeArg::Lefthash => SbwVariant::LeftHash,
                    SbwSchemeArg::LefthashRawsum => SbwVariant::LeftHashRawSum,
                }),
                sbw_gamma: a.sbw_gamma,
                sbw_delta: None,
            };
            let key = read_vllm_key(path).context("cannot import the vLLM key")?;
            Ok(vllm_profile(key, &opts, tokenizer).context("cannot build the profile")?)
        }
        ImportKind::Synthid => {
            if a.key_file.is_some()
                || a.alpha.is_some()
                || a.sbw_scheme.is_some()
                || a.sbw_gamma.is_some()
                || a.algorithm != VllmAlgorithmArg::Gumbel
            {
                bail!("--key-file, --algorithm, --alpha and --sbw-* belong to --import vllm");
            }
            if a.context_width.is_some() {
                bail!("--import synthid takes --ngram-len N (context width N − 1)");
            }
            let Some(path) = &a.keys_file else {
                bail!("--import synthid needs --keys-file FILE (`-` reads the keys from standard input)");
            };
            let keys = read_synthid_keys(path).context("cannot import the SynthID keys")?;
            Ok(synthid_profile(&keys, a.ngram_len, tokenizer)
                .context("cannot build the profile")?)
        }
    }
}

/// The identity of a GGUF model's tokenizer (the shipped extract's when it is the same).
fn model_tokenizer_spec(model: &std::path::Path) -> anyhow::Result<provmark_core::TokenizerSpec> {
    provmark_model::profile_tokenizer_spec(model)
        .with_context(|| format!("cannot read the tokenizer of {}", model.display()))
}
