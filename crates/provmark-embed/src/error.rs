//! Typed errors of the serving library. Every bad input is one of these, never a panic.

/// What can go wrong when biasing logits or choosing a token.
///
/// Messages are one line and never contain key material.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The vocabulary size is zero.
    #[error("empty vocabulary: the vocabulary size must be at least 1")]
    EmptyVocabulary,
    /// The vocabulary size does not fit in a u32 token id.
    #[error("vocabulary of {0} tokens is larger than u32 token ids allow")]
    VocabularyTooLarge(usize),
    /// A logit is NaN or +∞ (−∞ is accepted and means "masked").
    #[error("logit at position {index} is {value}; logits must be finite or -inf (masked)")]
    InvalidLogit {
        /// Position in the slice that was passed in.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// A probability is negative, NaN or infinite.
    #[error("probability at position {index} is {value}; probabilities must be finite and >= 0")]
    InvalidProbability {
        /// Position in the slice that was passed in.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// Every entry is masked (all logits −∞ or all probabilities 0), or the list is empty.
    #[error("nothing to sample: every candidate is masked (logit -inf or probability 0) or the list is empty")]
    AllMasked,
    /// Fewer context ids than the profile's context width.
    #[error("context has {len} token ids but the profile's context width is {width}")]
    ContextTooShort {
        /// Ids passed.
        len: usize,
        /// Context width h.
        width: usize,
    },
    /// A candidate token id is not below the vocabulary size.
    #[error("candidate token id {id} at position {index} is out of range for a vocabulary of {vocab} tokens")]
    CandidateOutOfRange {
        /// Position in the candidate list.
        index: usize,
        /// The id.
        id: u32,
        /// Vocabulary size.
        vocab: usize,
    },
    /// Two slices that must agree in length do not.
    #[error("length mismatch: {what}: expected {expected}, found {found}")]
    LengthMismatch {
        /// Which slices.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// The operation needs a different scheme (e.g. logit bias on a Gumbel profile).
    #[error("{operation} needs the {needs} scheme, but the profile uses {scheme}")]
    SchemeMismatch {
        /// The operation requested.
        operation: &'static str,
        /// The scheme it needs.
        needs: &'static str,
        /// The profile's scheme.
        scheme: &'static str,
    },
    /// The scheme is not supported by this version of the embedder.
    #[error("scheme {0} is not supported by this provmark-embed")]
    UnsupportedScheme(&'static str),
    /// A row of a batch call failed.
    #[error("batch row {row}: {source}")]
    Batch {
        /// Row index.
        row: usize,
        /// What went wrong in that row.
        source: Box<EmbedError>,
    },
}

/// Result alias of this crate.
pub type Result<T, E = EmbedError> = std::result::Result<T, E>;
