//! Typed errors of the detection crate.

/// Everything the detection library can reject. Messages are one line and never contain key
/// material; no function of this crate panics on user input.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum DetectError {
    /// The profile's scheme has no detector in this build.
    #[error("scheme `{0}` has no detector in this build of provmark-detect")]
    UnsupportedScheme(String),
    /// Two accumulators of different kinds or parameters were merged.
    #[error("cannot merge statistics: {0}")]
    MergeMismatch(String),
    /// A parameter of the call is outside its domain.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Parameter name as the user sees it.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// Byte offsets do not describe the token sequence they were given with.
    #[error("token offsets: {0}")]
    BadOffsets(String),
    /// Attribution was asked for with no account.
    #[error("no account to test")]
    NoAccounts,
    /// An account id is empty or contains a line break or control character.
    #[error("account #{index}: {reason}")]
    BadAccount {
        /// 1-based position of the account in the list.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An accounts file could not be read or holds no account id.
    #[error("accounts file {path}: {reason}")]
    AccountsFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No position of the text could be scored, so there is no test to report: a verdict over
    /// nothing would read as "not watermarked".
    #[error("nothing was scored: {total_tokens} token(s), none scorable (a position is scored once it has a full context of {context_width} token(s); repeats, special tokens and prompt contexts are skipped)")]
    NothingScored {
        /// Tokens in the text.
        total_tokens: u64,
        /// The profile's context width.
        context_width: usize,
    },
}

impl DetectError {
    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        DetectError::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}

/// Result alias for the detection crate.
pub type Result<T, E = DetectError> = std::result::Result<T, E>;
