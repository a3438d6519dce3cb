//! Typed errors of the scan crate.

use std::path::PathBuf;

/// Everything that stops a scan or a report check. Bad *records* never do: they are skipped
/// with a [`SkipReason`](crate::SkipReason) and counted.
///
/// Messages are one line, name the file at fault, and never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// An input, output or spill file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An input path does not exist or holds no readable input file.
    #[error("{path}: {reason}")]
    Input {
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A Parquet file could not be opened or decoded as a whole.
    #[error("{path}: parquet: {reason}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// A setting is out of range.
    #[error("invalid setting `{name}`: {reason}")]
    Config {
        /// The setting.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The tokenizer named by the profile could not be loaded or does not match.
    #[error(transparent)]
    Tokenizer(#[from] provmark_tokenize::TokenizeError),
    /// The detection library refused the profile's scheme or parameters.
    #[error(transparent)]
    Detect(#[from] provmark_detect::DetectError),
    /// A report file is not a provmark evidence report.
    #[error("{path}: not a provmark evidence report: {reason}")]
    Report {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A corpus produced nothing to score: no records, every record skipped, or no token pair
    /// left after dedup, prompt and filter. A verdict over nothing would read as "clean".
    #[error("{corpus}: nothing was scored: {detail}")]
    NothingScored {
        /// `suspect corpus` or `control corpus`.
        corpus: &'static str,
        /// Counts and the likely cause, e.g. "0 of 300 records had field `txt`; fields seen:
        /// id, text".
        detail: String,
    },
    /// An output path is unsafe or unusable (it is an input, exists without `--force`, …).
    #[error("{path}: {reason}")]
    Output {
        /// The output path.
        path: PathBuf,
        /// Why it cannot be written.
        reason: String,
    },
    /// A report sealed under another key than the profile's: it cannot be verified with this
    /// profile (which says nothing about whether it was altered).
    #[error("{path}: cannot verify with this profile: the report names key {report_key}, the profile is key {profile_key}")]
    WrongProfile {
        /// The report file.
        path: PathBuf,
        /// The key id the report names.
        report_key: String,
        /// The profile's key id.
        profile_key: String,
    },
    /// A worker thread panicked (a bug; the scan is abandoned rather than reported wrongly).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ScanError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ScanError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias for the scan crate.
pub type Result<T, E = ScanError> = std::result::Result<T, E>;
