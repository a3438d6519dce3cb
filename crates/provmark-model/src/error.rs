//! Errors of the model runner.

use std::path::PathBuf;

/// Everything that can go wrong loading or running the model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The model file is not where it was looked for.
    #[error("model file {path} not found: run `tools/fetch-model.sh` first (it fetches SmolLM2-135M-Instruct and converts it to {default})", default = crate::DEFAULT_MODEL)]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a usable GGUF model.
    #[error("not a usable model file: {0}")]
    Format(String),
    /// A request the model cannot serve (bad parameters, unknown token ids).
    #[error("{0}")]
    Input(String),
    /// The sequence reached the model's context length.
    #[error("the conversation reached the model's context length ({limit} tokens)")]
    ContextFull {
        /// The limit.
        limit: usize,
    },
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The serving library refused a step.
    #[error(transparent)]
    Embed(#[from] provmark_embed::EmbedError),
    /// The tokenizer could not be loaded.
    #[error(transparent)]
    Tokenize(#[from] provmark_tokenize::TokenizeError),
}

/// Result alias for this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
