//! Typed errors of the core crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading, creating or using a watermark profile.
///
/// Messages are one line, name the file or field at fault, and never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The profile file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File at fault.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The profile file exists already; keygen never overwrites.
    #[error("{0}: file exists; refusing to overwrite a profile")]
    Exists(PathBuf),
    /// The profile is not valid JSON or misses a field.
    #[error("{path}: malformed profile: {reason}")]
    MalformedProfile {
        /// File at fault (or `<memory>`).
        path: PathBuf,
        /// What is wrong, without secret material.
        reason: String,
    },
    /// The profile was written by a newer provmark.
    #[error("{path}: profile format version {found} is newer than this provmark supports ({supported}); upgrade provmark")]
    FutureVersion {
        /// File at fault.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Highest version this build reads.
        supported: u32,
    },
    /// A parameter is outside its domain.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Parameter name as the user sees it (e.g. `gamma`).
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("OS random number generator failed: {0}")]
    Rng(String),
}

impl CoreError {
    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        CoreError::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}

/// Result alias for the core crate.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
