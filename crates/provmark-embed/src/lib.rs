//! Serving side of provmark: keyed logit bias and watermarked token selection, allocation-free per token
#![forbid(unsafe_code)]
#![deny(missing_docs)]
