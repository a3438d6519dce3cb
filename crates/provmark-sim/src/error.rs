//! Errors of the simulation.

/// Everything that can go wrong building or running the simulated model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A configuration field is out of its domain.
    #[error("invalid simulation setting {field}: {reason}")]
    InvalidConfig {
        /// The field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The tokenizer has too few tokens of the shapes the simulation emits.
    #[error(
        "tokenizer unsuitable for the simulation: {words} space+letter words and {openers} \
         paragraph openers (need at least 1000 and 1)"
    )]
    Support {
        /// Usable space + letters tokens found.
        words: usize,
        /// Usable paragraph openers found.
        openers: usize,
    },
    /// [`crate::SimLm::decode`] was given an id the model never emits.
    #[error("token id {0} is not one the simulated model emits; decode it with the tokenizer")]
    NotEmitted(u32),
    /// Decoding generated ids failed (cannot happen for ids the model emits).
    #[error("decoding generated text: {0}")]
    Decode(#[from] provmark_tokenize::TokenizeError),
    /// The watermark embedder rejected a step.
    #[error("watermark embedder: {0}")]
    Embed(String),
}
