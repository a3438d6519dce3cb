//! Errors of the server library (the HTTP errors a client sees are [`crate::api::ApiError`]).

use std::path::PathBuf;

/// Everything that can stop the server, or an accounts-file operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The accounts file is not one this version reads.
    #[error("accounts file {path}: {reason}")]
    AccountsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A bad account name, or a name that exists already.
    #[error("account {name:?}: {reason}")]
    Account {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting that cannot work.
    #[error("{0}")]
    Config(String),
    /// The listening socket or the async runtime failed.
    #[error("network: {0}")]
    Net(std::io::Error),
    /// The model or the watermark failed outside a request.
    #[error(transparent)]
    Model(#[from] provmark_model::ModelError),
    /// The watermark key could not be set up.
    #[error(transparent)]
    Embed(#[from] provmark_embed::EmbedError),
}

impl ServeError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ServeError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = ServeError> = std::result::Result<T, E>;
