//! Typed errors of the interop crate.

/// What can go wrong when configuring or running a foreign scheme.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InteropError {
    /// A parameter is outside its domain.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Parameter name as the user sees it.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// The logits (or candidate list) are unusable.
    #[error("invalid logits: {0}")]
    InvalidLogits(String),
    /// A key file could not be read (the message names the path, never the content).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path (`<stdin>` for standard input).
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An error from the core crate.
    #[error(transparent)]
    Core(#[from] provmark_core::CoreError),
}

impl InteropError {
    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        InteropError::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}

/// Result alias for the interop crate.
pub type Result<T, E = InteropError> = std::result::Result<T, E>;
