//! Errors of the student crate.

use std::path::PathBuf;

/// What can go wrong building, training or exporting a student.
#[derive(Debug, thiserror::Error)]
pub enum StudentError {
    /// A tensor operation failed (shape mismatch, out of memory, ...).
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A model file or checkpoint is not what was expected.
    #[error("{0}")]
    Format(String),
    /// The caller asked for something that cannot be done.
    #[error("{0}")]
    Input(String),
}

/// Result with [`StudentError`].
pub type Result<T> = std::result::Result<T, StudentError>;
