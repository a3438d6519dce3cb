//! Detection side of provmark: tokenization, scoring with dedup, exact tail probabilities, attribution, spans
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod tail;
