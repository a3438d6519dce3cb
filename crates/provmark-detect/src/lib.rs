//! Detection side of provmark: exact evidence that token ids carry a watermark.
//!
//! * [`score_ids`] — one test of one key over token ids, with dedup and skipping rules
//!   ([`Options`]), returning [`Evidence`]: the raw [`Statistic`], scored and total tokens and the
//!   exact `log10_p`.
//! * [`attribute`] — the master key plus every listed account's key over the same positions;
//!   best account with a Bonferroni-adjusted p-value.
//! * [`find_spans`] — the most watermarked windows of a long text, paying for the window search.
//! * Building blocks for corpus scans: [`PairFingerprinter`] and [`FingerprintSet`] (global dedup),
//!   [`Accumulator`] (mergeable statistics), [`select_positions`] / [`score_selection`].
//! * [`tail`] — exact binomial and gamma upper tails in log space.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod accounts;
pub mod attribution;
pub mod error;
pub mod fingerprint;
pub mod open_model;
pub mod options;
pub mod score;
pub mod spans;
pub mod statistic;
pub mod tail;

pub use accounts::{ensure_scored, parse_accounts, read_accounts_file};
pub use attribution::{attribute, attribute_selection, AccountEvidence, Attribution};
pub use error::{DetectError, Result};
pub use fingerprint::{FingerprintSet, PairFingerprinter};
pub use open_model::{OpenModelEvidence, OpenModelTest};
pub use options::{ContextPolicy, Dedup, Options};
pub use score::{
    score_ids, score_ids_with, score_selection, select_positions, Evidence, PositionScores,
    Scratch, Selection,
};
pub use spans::{find_spans, Span, SpanOptions, SpanSearch};
pub use statistic::{Accumulator, Statistic};
pub use tail::TailProb;
