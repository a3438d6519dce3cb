//! `provmark model`: the one-time model conversion the fetch script runs, and the tokenizer
//! extraction that produced `assets/smollm2/tokenizer.json`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `provmark model`.
#[derive(clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(clap::Subcommand)]
enum ModelCommand {
    /// Re-quantize a GGUF model to Q8_0 (candle's quantizer; what tools/fetch-model.sh runs).
    Convert {
        /// The GGUF file to read.
        input: PathBuf,
        /// Where to write the Q8_0 file (refuses to overwrite).
        output: PathBuf,
    },
    /// Write the Hugging Face tokenizer.json equivalent to a GGUF model's vocabulary (canonical
    /// bytes: the same vocabulary always gives the same file and the same tokenizer identity).
    Tokenizer {
        /// The GGUF model.
        model: PathBuf,
        /// Where to write tokenizer.json (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a GGUF model's architecture and tokenizer identity.
    Info {
        /// The GGUF model.
        model: PathBuf,
    },
}

/// Runs `model`.
pub fn run(a: ModelArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        ModelCommand::Convert { input, output } => {
            if output.exists() {
                anyhow::bail!("{} exists; remove it first", output.display());
            }
            provmark_model::convert_to_q8_0(&input, &output)
                .with_context(|| format!("cannot convert {}", input.display()))?;
            println!("wrote {}", output.display());
        }
        ModelCommand::Tokenizer { model, out } => {
            if out.exists() {
                anyhow::bail!("{} exists; remove it first", out.display());
            }
            let vocab = provmark_tokenize::gguf::GgufVocab::from_path(&model)?;
            let json = vocab.to_tokenizer_json()?;
            std::fs::write(&out, &json)
                .with_context(|| format!("cannot write {}", out.display()))?;
            let tok = provmark_tokenize::Tokenizer::from_file(&out)?;
            println!("wrote {} ({})", out.display(), tok.spec());
        }
        ModelCommand::Info { model } => {
            let llama = provmark_model::load(&model)?;
            let tok = provmark_tokenize::Tokenizer::from_file(&model)?;
            println!("{:?}", llama.config());
            println!("tokenizer: {}", tok.spec());
        }
    }
    Ok(ExitCode::SUCCESS)
}
