//! Errors of the evaluation library.

/// What went wrong while setting up or running an evaluation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A parameter is out of its domain (the message names it).
    #[error("invalid parameter: {0}")]
    Param(String),
    /// The simulation could not be set up (tokenizer, language).
    #[error("setup failed: {0}")]
    Setup(String),
    /// A core (profile/scheme) error.
    #[error(transparent)]
    Core(#[from] provmark_core::CoreError),
    /// A tokenizer error.
    #[error(transparent)]
    Tokenize(#[from] provmark_tokenize::TokenizeError),
    /// Bad input to the real-model experiment (the message names the file or value).
    #[error("{0}")]
    Input(String),
    /// The real model failed.
    #[error(transparent)]
    Model(#[from] provmark_model::ModelError),
    /// Detection failed.
    #[error(transparent)]
    Detect(#[from] provmark_detect::DetectError),
    /// The serving library refused a parameter.
    #[error(transparent)]
    Embed(#[from] provmark_embed::EmbedError),
    /// Training a student failed.
    #[error(transparent)]
    Student(#[from] provmark_student::StudentError),
    /// The corpus scan failed.
    #[error(transparent)]
    Scan(#[from] provmark_scan::ScanError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl EvalError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> EvalError {
        EvalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, EvalError>;
